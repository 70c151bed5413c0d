import logging

import pytest
from PIL import Image

from conftest import make_image_folder, tiny_config
from infocir.data.scan import UNLABELLED, DatasetError, scan_dataset


def test_layout_with_class_names_csv(image_folder):
    res = scan_dataset(image_folder)
    assert len(res.records) == 12
    assert res.classes == ["Circle", "Square", "Star"]
    assert res.records[0].id == "circle/circle_00.png"
    assert [r.id for r in res.records] == sorted(r.id for r in res.records)
    assert not res.skipped and not res.warnings


def test_broken_and_non_image_files_are_skipped_and_reported(image_folder):
    (image_folder / "star" / "broken.png").write_bytes(b"this is not a png")
    (image_folder / "star" / "notes.txt").write_text("hello")
    (image_folder / "circle" / "truncated.jpg").write_bytes(b"\xff\xd8\xff")
    res = scan_dataset(image_folder, probe=True)
    assert len(res.records) == 12
    skipped = dict(res.skipped)
    assert set(skipped) == {"star/broken.png", "star/notes.txt", "circle/truncated.jpg"}
    assert "not an image type" in skipped["star/notes.txt"]
    report = res.report()
    assert "3 files skipped:" in report and "star/broken.png" in report


def test_missing_csv_uses_folder_names_with_a_warning(tmp_path):
    root = make_image_folder(tmp_path / "d", per_class=2, csv=False)
    res = scan_dataset(root)
    assert res.classes == ["circle", "square", "star"]
    assert any("class_names.csv not found" in w for w in res.warnings)


def test_flat_folder_is_unlabelled(tmp_path):
    root = make_image_folder(tmp_path / "d", per_class=2, csv=False)
    flat = tmp_path / "flat"
    flat.mkdir()
    for p in root.glob("*/*.png"):
        (flat / p.name).write_bytes(p.read_bytes())
    res = scan_dataset(flat)
    assert res.classes == [UNLABELLED] and len(res.records) == 6


def test_malformed_csv_and_empty_or_missing_folder(tmp_path, image_folder):
    (image_folder / "class_names.csv").write_text("folder;name\nx;y\n")
    with pytest.raises(DatasetError, match="expected a header 'dir_name,class_name'"):
        scan_dataset(image_folder)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="No readable images"):
        scan_dataset(empty)
    with pytest.raises(DatasetError, match="Dataset folder not found"):
        scan_dataset(tmp_path / "nope")


def test_ids_are_stable_and_sampling_is_deterministic(image_folder):
    a = scan_dataset(image_folder, sample_size=5)
    b = scan_dataset(image_folder, sample_size=5)
    assert [r.id for r in a.records] == [r.id for r in b.records] and len(a.records) == 5
    assert a.fingerprint() == b.fingerprint()
    full = scan_dataset(image_folder)
    assert full.fingerprint() != a.fingerprint()


def test_the_scan_opens_no_image_and_the_build_reports_the_broken_ones(image_folder, tmp_path, monkeypatch):
    """Issue 21: the scan runs at every start, with the index built or not, so it reads no image header
    (a million of them took minutes); the build, which decodes every image anyway, leaves out and reports
    the broken ones.  A second start opens no image at all."""
    from infocir.engine import RetrievalEngine

    (image_folder / "star" / "broken.png").write_bytes(b"this is not a png")
    (image_folder / "star" / "notes.txt").write_text("hello")
    real_open, opened = Image.open, []
    monkeypatch.setattr(Image, "open", lambda fp, *a, **k: opened.append(fp) or real_open(fp, *a, **k))
    res = scan_dataset(image_folder)
    assert opened == [] and len(res.records) == 13 and dict(res.skipped).keys() == {"star/notes.txt"}
    cfg = tiny_config(image_folder, tmp_path / "cache")
    engine = RetrievalEngine.from_config(cfg, progress=False)
    assert len(engine.index) == 12 and "star/broken.png" not in engine.index.row_of
    assert "star/broken.png (not a recognised image file" in engine.report() and "star/notes.txt" in engine.report()
    opened.clear()
    again = RetrievalEngine.from_config(cfg, progress=False)  # the index exists: reused, no image opened
    assert opened == [] and again.index.ids == engine.index.ids


def test_sampling_down_warns_how_many_are_left_out_and_how_to_keep_them(image_folder, caplog):
    with caplog.at_level(logging.WARNING, logger="infocir.data.scan"):
        res = scan_dataset(image_folder, sample_size=5)
    warning = next(r for r in caplog.records if "dataset.sample_size" in r.getMessage())
    assert warning.levelno == logging.WARNING
    msg = warning.getMessage()
    assert "a random 5 of the 12 images" in msg and "7 images are left out" in msg
    assert "--set dataset.sample_size=12" in msg and msg in res.warnings
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="infocir.data.scan"):
        scan_dataset(image_folder, sample_size=12)
    assert not caplog.records

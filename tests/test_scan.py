import pytest

from conftest import make_image_folder
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
    res = scan_dataset(image_folder)
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

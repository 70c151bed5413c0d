"""Dataset files: bombs, rotated and transparent images, symlinks, skipped files, in-place edits.

Category "dataset files" of the tally: every parametrised case is one bad input.
"""

from __future__ import annotations

import io
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from robust_images import arrow, bomb_png, hidden_red, sideways_with_exif

from conftest import make_image_folder, tiny_config
from infocir.data.scan import scan_dataset
from infocir.engine import RetrievalEngine, bundle_for
from infocir.index.store import load_or_build
from infocir.models.encoding import ImageReadError, open_rgb


def _rgb(im: Image.Image) -> np.ndarray:
    return np.asarray(im, np.int16)


# ----------------------------------------------------------------------------- 1. bombs and pixel caps
@pytest.mark.parametrize("side", [30000, 12000], ids=["bomb-30000", "over-cap-12000"])
def test_bomb_in_the_dataset_is_skipped_and_reported(image_folder, side):
    (image_folder / "star" / "bomb.png").write_bytes(bomb_png(side, side))
    res = scan_dataset(image_folder, probe=True)  # (without probe the scan opens nothing: the build reports it)
    assert len(res.records) == 12
    reason = dict(res.skipped)["star/bomb.png"]
    assert "megapixels" in reason and "dataset.max_image_pixels" in reason


def test_pixel_cap_is_the_dataset_setting(image_folder, tmp_path):
    """dataset.max_image_pixels reaches the scan: 64×64 images pass 4096 pixels and fail 4095."""
    assert len(scan_dataset(image_folder, max_pixels=64 * 64, probe=True).records) == 12
    (image_folder / "star" / "wide.png").write_bytes(bomb_png(65, 64))
    res = scan_dataset(image_folder, max_pixels=64 * 64, probe=True)
    assert "star/wide.png" in dict(res.skipped)
    cfg = tiny_config(image_folder, tmp_path / "cache", **{"dataset.max_image_pixels": "4096"})
    engine = RetrievalEngine.from_config(cfg, progress=False)
    assert len(engine.index) == 12 and "star/wide.png" in engine.report()


def test_open_rgb_refuses_over_the_cap_before_decoding(tmp_path):
    p = tmp_path / "big.png"
    p.write_bytes(bomb_png(12000, 12000))
    with pytest.raises(ImageReadError, match="megapixels"):
        open_rgb(p)
    with pytest.raises(ImageReadError, match="megapixels"):
        open_rgb(io.BytesIO(bomb_png(30000, 30000)))


# ----------------------------------------------------------------------------- 2. EXIF orientation, transparency
@pytest.mark.parametrize("fmt,orientation", [("PNG", 6), ("PNG", 8), ("PNG", 3), ("JPEG", 6)])
def test_exif_orientation_is_applied_when_opening(tmp_path, fmt, orientation):
    up = arrow()
    p = tmp_path / f"sideways.{fmt.lower()}"
    p.write_bytes(sideways_with_exif(up, fmt, orientation))
    got = open_rgb(p)
    assert got.size == up.size
    diff = np.abs(_rgb(got) - _rgb(up))
    assert (diff.max() == 0) if fmt == "PNG" else (diff.mean() < 4)


@pytest.fixture
def exif_folder(tmp_path):
    """Class folders plus an upright arrow and the same arrow stored sideways with Orientation=6."""
    root = make_image_folder(tmp_path / "data", per_class=2)
    (root / "arrow").mkdir()
    arrow().save(root / "arrow" / "upright.png")
    (root / "arrow" / "sideways.png").write_bytes(sideways_with_exif(arrow(), "PNG", 6))
    (root / "class_names.csv").write_text((root / "class_names.csv").read_text() + "arrow,Arrow\n")
    return root


def test_the_model_sees_the_image_upright(exif_folder, tmp_path):
    """The index build's decoder (DataLoader dataset) hands the model the same pixels for both files."""
    from infocir.index.store import DecodedImages

    cfg = tiny_config(exif_folder, tmp_path / "cache")
    scan = scan_dataset(exif_folder)
    at = {r.id: i for i, r in enumerate(scan.records)}
    ds = DecodedImages(scan.records, bundle_for(cfg).preprocess)
    a, b = ds[at["arrow/upright.png"]][0], ds[at["arrow/sideways.png"]][0]
    assert a.shape == b.shape and float((a - b).abs().max()) < 1e-6
    engine = RetrievalEngine.from_config(cfg, progress=False)
    fa, fb = (engine.index.features[engine.index.row_of[i]] for i in ("arrow/upright.png", "arrow/sideways.png"))
    assert float(fa @ fb) > 0.999
    # explanations and the reference preview open the image through the engine: upright too
    assert engine.reference_image("arrow/sideways.png").size == arrow().size


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_transparent_pixels_are_composited_on_a_neutral_background(tmp_path, mode):
    from infocir.data.images import BACKGROUND

    p = tmp_path / f"t-{mode}.png"
    hidden_red(mode).save(p)
    got = open_rgb(p)
    assert got.mode == "RGB"
    assert got.getpixel((0, 0)) == BACKGROUND  # not the red (or white) hidden under alpha 0
    assert got.getpixel((16, 16)) == (90, 90, 90)  # opaque pixels unchanged


# ----------------------------------------------------------------------------- 9. symlinks: one rule
@pytest.fixture
def outside(tmp_path):
    d = tmp_path / "elsewhere"
    d.mkdir()
    arrow().save(d / "outside.png")
    arrow(40, 40).save(d / "other.png")
    return d


def _link(link: Path, target: Path) -> None:
    try:
        link.symlink_to(target)
    except OSError:
        pytest.skip("symlinks are not available here")


def test_symlinked_file_outside_the_root_is_skipped_by_default(image_folder, outside):
    _link(image_folder / "star" / "link.png", outside / "outside.png")
    res = scan_dataset(image_folder)
    assert "star/link.png" not in [r.id for r in res.records]
    assert "dataset.symlinks" in dict(res.skipped)["star/link.png"]
    assert "star/link.png" in res.report()
    follow = scan_dataset(image_folder, symlinks="follow")
    assert "star/link.png" in [r.id for r in follow.records]


def test_symlinked_folder_outside_the_root_is_skipped_by_default(image_folder, outside):
    _link(image_folder / "linked", outside)  # a whole class folder
    _link(image_folder / "star" / "more", outside)  # a sub-folder of a class
    res = scan_dataset(image_folder)
    skipped = dict(res.skipped)
    assert len(res.records) == 12
    assert "dataset.symlinks" in skipped["linked"] and "dataset.symlinks" in skipped["star/more"]
    follow = scan_dataset(image_folder, symlinks="follow")
    ids = {r.id for r in follow.records}
    assert {"linked/outside.png", "linked/other.png", "star/more/outside.png"} <= ids


def test_symlinks_inside_the_root_and_broken_or_looping_ones(image_folder):
    _link(image_folder / "star" / "alias.png", image_folder / "circle" / "circle_00.png")
    _link(image_folder / "star" / "gone.png", image_folder / "nowhere.png")
    _link(image_folder / "star" / "loop", image_folder / "star")
    for mode in ("skip", "follow"):
        res = scan_dataset(image_folder, symlinks=mode)
        ids = [r.id for r in res.records]
        assert "star/alias.png" in ids  # a link that stays inside the dataset is an ordinary file
        assert "star/gone.png" in dict(res.skipped)
        assert len(ids) == len(set(ids)) and not any(i.startswith("star/loop/star/loop") for i in ids)


# ----------------------------------------------------------------------------- 10. one build report
def test_build_report_lists_every_skipped_file_once_and_agrees_with_itself(image_folder, tmp_path, capsys):
    from infocir.cli import main

    bad = []
    for i in range(4):
        (image_folder / "circle" / f"notes_{i}.txt").write_text("not an image")
        bad.append(f"circle/notes_{i}.txt")
    for name in ("star/star_00.png", "star/star_01.png", "square/square_02.png"):
        open(image_folder / name, "r+b").truncate(60)  # the header parses (scan passes), decoding fails (build)
        bad.append(name)
    args = [
        "build-index",
        "--dataset",
        str(image_folder),
        "--model",
        "InfoCIR-Tiny-ViT",
        "--pretrained",
        "",
        "--set",
        "model.preprocess=clip",
        "--set",
        f"index.cache_dir={tmp_path / 'cache'}",
        "--set",
        "index.chunk_size=4",
        "--set",
        "index.batch_size=4",
    ]
    for _ in range(2):  # the first run builds, the second reuses the index: the same report
        assert main(args) == 0
        out = capsys.readouterr().out
        assert "Index ready: 9 images" in out and "7 files skipped" in out
        for name in bad:
            assert out.count(name) == 1, (name, out)
        counts = {int(n) for n in re.findall(r"(\d+) images", out)}
        assert counts == {9}, out  # no line says 12 (the scan's count before decoding)
        assert not re.search(r"skipped (?!7)\d+", out), out


# ----------------------------------------------------------------------------- 11. in-place edits
@pytest.fixture
def bmp_folder(tmp_path):
    """BMP files: every 64×64 image has the same byte size, so an edit can keep the size."""
    src = make_image_folder(tmp_path / "png", per_class=2)
    root = tmp_path / "bmp"
    for p in src.glob("*/*.png"):
        (root / p.parent.name).mkdir(parents=True, exist_ok=True)
        Image.open(p).convert("RGB").save(root / p.parent.name / (p.stem + ".bmp"))
    shutil.copy(src / "class_names.csv", root)
    return root


def _edit_in_place_keeping_size_and_mtime(target: Path, source: Path) -> None:
    st = target.stat()
    data = source.read_bytes()
    assert len(data) == st.st_size
    with open(target, "r+b") as f:  # same inode, same size
        f.write(data)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # what cp -p / rsync -t restore


@pytest.mark.parametrize("mode", ["stat", "content"])
def test_in_place_edit_with_the_same_size_and_mtime_rebuilds(bmp_folder, tmp_path, mode):
    cfg = tiny_config(bmp_folder, tmp_path / "cache")
    bundle = bundle_for(cfg)
    out = tmp_path / "idx"
    scan = scan_dataset(bmp_folder, fingerprint=mode)
    before = load_or_build(bundle, scan, out, progress=False)
    target, source = bmp_folder / "star" / "star_00.bmp", bmp_folder / "circle" / "circle_01.bmp"
    _edit_in_place_keeping_size_and_mtime(target, source)
    scan2 = scan_dataset(bmp_folder, fingerprint=mode)
    assert scan2.fingerprint() != before.manifest.key.dataset_fingerprint
    after = load_or_build(bundle, scan2, out, progress=False)
    f = lambda idx, i: idx.features[idx.row_of[i]]  # noqa: E731
    assert float(f(after, "star/star_00.bmp") @ f(after, "circle/circle_01.bmp")) > 0.999
    assert float(f(before, "star/star_00.bmp") @ f(after, "star/star_00.bmp")) < 0.999


def test_content_fingerprint_ignores_a_touch(bmp_folder):
    a = scan_dataset(bmp_folder, fingerprint="content").fingerprint()
    os.utime(bmp_folder / "star" / "star_00.bmp", (1, 1))
    assert scan_dataset(bmp_folder, fingerprint="content").fingerprint() == a
    assert scan_dataset(bmp_folder).fingerprint() != a

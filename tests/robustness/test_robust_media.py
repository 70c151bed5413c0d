"""The media route: deleted, damaged and symlinked images, hostile paths; never a 500, never a file outside the index.

Category "media route" of the tally: every parametrised case and every hypothesis example is one bad input.
"""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from robust_images import arrow, bomb_png, sideways_with_exif

from conftest import make_image_folder, tiny_config
from infocir.engine import RetrievalEngine
from infocir.ui import ids
from infocir.ui.media import media_url, register_media_route


def _client(engine, thumbs: Path):
    app = Flask("media-test")
    register_media_route(app, engine, thumbs)
    return app.test_client()


@pytest.fixture
def served(tmp_path):
    root = make_image_folder(tmp_path / "data", per_class=2)
    engine = RetrievalEngine.from_config(tiny_config(root, tmp_path / "cache"), progress=False)
    return engine, _client(engine, tmp_path / "thumbs"), root


def _is_placeholder(r) -> bool:
    return r.status_code == 404 and r.mimetype == "image/png" and Image.open(io.BytesIO(r.data)).size[0] > 0


# ----------------------------------------------------------------------------- 8. deleted and damaged images
def test_deleted_image_is_a_404_with_a_placeholder(served):
    engine, client, root = served
    assert client.get(media_url("star/star_00.png")).status_code == 200  # a thumbnail is cached now
    (root / "star" / "star_00.png").unlink()
    for size in (256, 128):  # cached size and a new one
        r = client.get(media_url("star/star_00.png", size))
        assert _is_placeholder(r), r.status_code
        assert "no-store" in r.headers.get("Cache-Control", "")  # shown again once the file is back
    arrow().save(root / "star" / "star_00.png")
    assert client.get(media_url("star/star_00.png")).status_code == 200


REPLACEMENTS = {
    "garbage": b"not an image any more",
    "empty": b"",
    "truncated": None,
    "bomb": bomb_png(30000, 30000),
    "over-cap": bomb_png(12000, 12000),
}


@pytest.mark.parametrize("name", list(REPLACEMENTS))
def test_image_damaged_while_serving_is_a_404_with_a_placeholder(served, name):
    engine, client, root = served
    p = root / "circle" / "circle_01.png"
    data = REPLACEMENTS[name]
    p.write_bytes(p.read_bytes()[:80] if data is None else data)
    assert _is_placeholder(client.get(media_url("circle/circle_01.png")))


def test_image_replaced_by_a_folder_is_a_404(served):
    engine, client, root = served
    p = root / "square" / "square_00.png"
    p.unlink()
    p.mkdir()
    assert _is_placeholder(client.get(media_url("square/square_00.png")))


def test_gallery_tile_of_a_deleted_image_is_a_placeholder_tile(served):
    """Panel B through the Dash endpoint: the tile says the image is missing instead of a broken image."""
    from infocir.ui.app import create_app

    engine, _, root = served

    class _NoMap:
        map = None

        def start(self):
            pass

        def status(self):
            return "fitting", ""

    app = create_app(engine, engine.config, maps=_NoMap())
    client = app.server.test_client()
    client.get("/")
    res = engine.search("star/star_01.png", "", k=3, method="image")
    (root / "star" / "star_01.png").unlink()
    results = {
        "ids": res.ids,
        "rows": res.rows.tolist(),
        "scores": res.scores.tolist(),
        "classes": res.classes,
        "reference": {"kind": "dataset", "id": "star/star_01.png"},
        "text": "",
        "method": "image",
        "k": 3,
    }
    payload = {
        "output": f"..{ids.GALLERY}.children...{ids.GALLERY_SUMMARY}.children...{ids.BACK_TO_RESULTS}.style..."
        f"{ids.MARK_SELECTION}.style...{ids.MARK_SELECTION_NOT_RELEVANT}.style..",
        "outputs": [
            {"id": ids.GALLERY, "property": "children"},
            {"id": ids.GALLERY_SUMMARY, "property": "children"},
            {"id": ids.BACK_TO_RESULTS, "property": "style"},
            {"id": ids.MARK_SELECTION, "property": "style"},
            {"id": ids.MARK_SELECTION_NOT_RELEVANT, "property": "style"},
        ],
        "inputs": [
            {"id": ids.RESULTS_STORE, "property": "data", "value": results},
            {"id": ids.BROWSE_STORE, "property": "data", "value": None},
            {"id": ids.IDEALS_STORE, "property": "data", "value": []},
            {"id": ids.HIGHLIGHT_STORE, "property": "data", "value": None},
            {"id": ids.BENCH_TARGETS, "property": "data", "value": None},
            {"id": ids.NONREL_STORE, "property": "data", "value": []},
        ],
        "changedPropIds": [f"{ids.RESULTS_STORE}.data"],
    }
    r = client.post("/_dash-update-component", json=payload)
    assert r.status_code == 200
    tiles = r.get_json()["response"][ids.GALLERY]["children"]
    missing = [t for t in tiles if "missing" in t["props"]["className"]]
    assert [t["props"]["data-id"] for t in missing] == ["star/star_01.png"]
    assert "image missing" in str(missing[0]) and "/assets/" in str(missing[0])


# ----------------------------------------------------------------------------- 2. thumbnails upright
def test_thumbnail_of_a_rotated_photo_is_upright(tmp_path):
    root = make_image_folder(tmp_path / "data", per_class=2)
    (root / "star" / "sideways.jpg").write_bytes(sideways_with_exif(arrow(96, 64), "JPEG", 6))
    engine = RetrievalEngine.from_config(tiny_config(root, tmp_path / "cache"), progress=False)
    r = _client(engine, tmp_path / "thumbs").get(media_url("star/sideways.jpg", 64))
    assert r.status_code == 200 and Image.open(io.BytesIO(r.data)).size == (64, 43)  # landscape, as displayed


# ----------------------------------------------------------------------------- 9. the symlink rule, here too
@pytest.mark.parametrize("mode,status", [("skip", 404), ("follow", 200)])
def test_symlink_rule_is_the_same_in_the_scan_and_the_route(tmp_path, mode, status):
    root = make_image_folder(tmp_path / "data", per_class=2)
    (tmp_path / "elsewhere").mkdir()
    arrow().save(tmp_path / "elsewhere" / "x.png")
    try:
        (root / "star" / "link.png").symlink_to(tmp_path / "elsewhere" / "x.png")
    except OSError:
        pytest.skip("symlinks are not available here")
    engine = RetrievalEngine.from_config(
        tiny_config(root, tmp_path / "cache", **{"dataset.symlinks": mode}), progress=False
    )
    indexed = "star/link.png" in engine.index.row_of
    assert indexed == (mode == "follow")  # indexed exactly when it is served: no broken tiles that rank first
    assert _client(engine, tmp_path / "thumbs").get(media_url("star/link.png")).status_code == status


def test_index_row_pointing_outside_is_refused_even_in_follow_mode(served, tmp_path):
    """A tampered path (``..``) in the index never leaves the dataset folder."""
    engine, client, root = served
    secret = tmp_path / "secret.png"
    arrow().save(secret)
    row = engine.index.row_of["circle/circle_00.png"]
    engine.index.paths[row] = str(root / ".." / "secret.png")
    assert client.get(media_url("circle/circle_00.png")).status_code == 404


# ----------------------------------------------------------------------------- hostile paths, hypothesis
TRAVERSALS = [
    "../../../../etc/passwd",
    "..%2f..%2fetc%2fpasswd",
    "%2e%2e/%2e%2e/etc/passwd",
    "/etc/passwd",
    "star/../../cache/index",
    "star/star_00.png/..",
    "star%00.png",
    "STAR/STAR_00.PNG",
    "star//star_00.png",
    "./star/star_00.png",
    "C:\\Windows\\win.ini",
    "~/.ssh/id_rsa",
]


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("media")
    root = make_image_folder(tmp / "data", per_class=2)
    (tmp / "secret.txt").write_text("do not serve")
    engine = RetrievalEngine.from_config(tiny_config(root, tmp / "cache"), progress=False)
    return engine, _client(engine, tmp / "thumbs"), root


@pytest.mark.parametrize("path", TRAVERSALS)
@pytest.mark.parametrize("size", [256, 64])
def test_traversal_and_unknown_paths_are_404(shared, path, size):
    r = shared[1].get(f"/media/{size}/{path}")
    assert r.status_code in (404, 308) and b"do not serve" not in r.data and b"root:" not in r.data


@pytest.mark.parametrize("size", ["0", "-1", "99999", "256.0", "abc", "%00"])
def test_bad_sizes_are_404(shared, size):
    assert shared[1].get(f"/media/{size}/star/star_00.png").status_code == 404


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.text(max_size=60), size=st.one_of(st.sampled_from([64, 128, 256, 512]), st.integers(-10, 10**6)))
def test_random_paths_never_500_and_serve_only_indexed_ids(shared, path, size):
    engine, client, _ = shared
    r = client.get(f"/media/{size}/" + quote(path, safe="/"))
    assert r.status_code in (200, 404, 308), r.status_code
    if r.status_code == 200:
        assert path in engine.index.row_of and size in (64, 128, 256, 512)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2048), keep=st.integers(0, 400))
def test_random_bytes_in_an_indexed_file_never_500(shared, data, keep):
    engine, client, root = shared
    victim = root / "square" / "square_01.png"
    original = victim.read_bytes()
    try:
        victim.write_bytes(original[:keep] + data)
        r = client.get(media_url("square/square_01.png", 128))
        assert r.status_code in (200, 404), r.status_code
        if r.status_code == 200:
            Image.open(io.BytesIO(r.data)).load()  # a real PNG thumbnail
    finally:
        victim.write_bytes(original)

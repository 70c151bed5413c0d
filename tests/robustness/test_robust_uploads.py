"""Uploads (panel A): hostile files get a message, never an HTTP 500 or a decode that eats the machine.

Category "uploads" of the tally: every parametrised case and every hypothesis example is one bad input.
"""

from __future__ import annotations

import base64

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from robust_images import arrow, bomb_png, data_uri, png_bytes

from conftest import make_image_folder, tiny_config
from infocir.engine import RetrievalEngine
from infocir.errors import is_user_error
from infocir.ui import ids
from infocir.ui.uploads import UploadError, decode_upload

GOOD = png_bytes(arrow())

BAD_UPLOADS = {
    # name: (contents, filename, message fragment)
    "bomb-30000x30000": (data_uri(bomb_png(30000, 30000)), "bomb.png", "megapixels"),
    "over-cap-12000x12000": (data_uri(bomb_png(12000, 12000)), "big.png", "ui.max_upload_pixels"),
    "empty": ("", "x.png", "empty"),
    "no-comma": ("data:image/png;base64", "x.png", "empty"),
    "not-an-image-extension": (data_uri(GOOD), "notes.txt", "not an image file"),
    "no-extension": (data_uri(GOOD), "README", "not an image file"),
    "pdf-renamed": (data_uri(b"%PDF-1.4 not an image"), "paper.png", "not a readable image"),
    "zero-bytes": (data_uri(b""), "x.png", "not a readable image"),
    "png-signature-only": (data_uri(b"\x89PNG\r\n\x1a\n"), "x.png", "not a readable image"),
    "truncated-png": (data_uri(GOOD[: len(GOOD) // 2]), "half.png", "not a readable image"),
    "header-only-png": (data_uri(GOOD[:60]), "head.png", "not a readable image"),
    "bad-base64": ("data:image/png;base64,@@@@!!!!", "x.png", "not a readable image"),
    "too-many-mb": (data_uri(b"\0" * 1_200_000), "x.png", "limit is 1 MB"),
}


@pytest.mark.parametrize("name", list(BAD_UPLOADS))
def test_bad_upload_is_refused_with_a_message(name):
    contents, filename, fragment = BAD_UPLOADS[name]
    with pytest.raises(UploadError) as e:
        decode_upload(contents, filename, 1.0)
    assert fragment in str(e.value)


def test_pixel_cap_is_a_setting():
    """ui.max_upload_pixels: a 48×32 picture passes the default and fails a cap of 1000 pixels."""
    assert decode_upload(data_uri(GOOD), "a.png", 1.0) == GOOD
    with pytest.raises(UploadError, match="ui.max_upload_pixels"):
        decode_upload(data_uri(GOOD), "a.png", 1.0, max_pixels=1000)


@pytest.fixture(scope="module")
def engine_cfg(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("uploads")
    cfg = tiny_config(make_image_folder(tmp / "data", per_class=2), tmp / "cache")
    return RetrievalEngine.from_config(cfg, progress=False), cfg


@pytest.mark.parametrize("data", [bomb_png(30000, 30000), bomb_png(12000, 12000)], ids=["bomb", "over-cap"])
def test_engine_refuses_bomb_bytes_with_a_user_error(engine_cfg, data):
    """A script (or a stale page) handing the engine the bytes directly gets a message, not a 637 MB decode."""
    engine, _ = engine_cfg
    with pytest.raises(Exception) as e:
        engine.search(data, "", k=3, method="image")
    assert is_user_error(e.value) and "megapixels" in str(e.value)


class _NoMap:
    """The parts of MapService the app uses, without fitting anything."""

    map = None

    def start(self):
        pass

    def status(self):
        return "fitting", ""


@pytest.fixture(scope="module")
def client(engine_cfg):
    from infocir.ui.app import create_app

    engine, cfg = engine_cfg
    app = create_app(engine, cfg, maps=_NoMap())
    c = app.server.test_client()
    assert c.get("/").status_code == 200
    return c


def _upload(client, contents: str, filename: str):
    """Post what the page posts when a file is dropped on panel A's upload area."""
    deps = client.get("/_dash-dependencies").get_json()
    output = next(d["output"] for d in deps if d["inputs"] == [{"id": ids.UPLOAD, "property": "contents"}])
    payload = {
        "output": output,
        "outputs": [
            dict(zip(("id", "property"), o.rsplit(".", 1), strict=True)) for o in output.strip(".").split("...")
        ],
        "inputs": [{"id": ids.UPLOAD, "property": "contents", "value": contents}],
        "state": [
            {"id": ids.UPLOAD, "property": "filename", "value": filename},
            {"id": ids.REFERENCE, "property": "value", "value": "star/star_00.png"},
            {"id": ids.UPLOAD_REF, "property": "data", "value": None},
        ],
        "changedPropIds": [f"{ids.UPLOAD}.contents"],
    }
    return client.post("/_dash-update-component", json=payload)


@pytest.mark.parametrize("name", ["bomb-30000x30000", "over-cap-12000x12000", "truncated-png"])
def test_panel_a_shows_a_message_for_a_bomb_upload(client, name):
    contents, filename, fragment = BAD_UPLOADS[name]
    r = _upload(client, contents, filename)
    assert r.status_code == 200, r.data[:300]
    out = r.get_json()["response"]
    assert ids.REF_MODE not in out and ids.UPLOAD_REF not in out  # the reference stays what it was
    assert fragment in out[ids.UPLOAD_MESSAGE]["children"]


def test_panel_a_accepts_a_good_upload(client):
    out = _upload(client, data_uri(GOOD), "arrow.png").get_json()["response"]
    assert out[ids.REF_MODE]["data"] == "upload" and out[ids.UPLOAD_MESSAGE]["children"] == ""
    # the server keeps the image; the page gets its content key, and the component's data URI is emptied
    assert out[ids.UPLOAD_REF]["data"]["key"].startswith("upload:") and out[ids.UPLOAD]["contents"] is None
    assert out[ids.REFERENCE]["value"] is None  # the dropdown shows no id while the upload is the reference


# ----------------------------------------------------------------------------- property-based
FILENAMES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["x.png", "x.JPG", "a.gif", "b.webp", "c.tif", "d.bmp"]),
    st.text(max_size=20).map(lambda s: s + ".png"),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=4096), filename=FILENAMES, prefix=st.sampled_from([b"", GOOD[:8], GOOD[:33], b"GIF89a"]))
def test_random_bytes_either_parse_or_raise_upload_error(data, filename, prefix):
    """Any bytes under any name: the parser returns an image the engine can open, or says why not."""
    from infocir.models.encoding import open_rgb

    try:
        out = decode_upload(data_uri(prefix + data), filename, 1.0)
    except UploadError as exc:
        assert str(exc)
        return
    import io

    open_rgb(io.BytesIO(out))  # accepted uploads decode


@settings(max_examples=200, deadline=None)
@given(
    contents=st.one_of(st.text(max_size=200), st.text(max_size=100).map(lambda s: "data:image/png;base64," + s)),
    filename=FILENAMES,
)
def test_random_data_uris_never_escape_as_other_errors(contents, filename):
    try:
        decode_upload(contents, filename, 1.0)
    except UploadError:
        pass


@settings(max_examples=100, deadline=None)
@given(cut=st.integers(0, len(GOOD) - 1), flip=st.integers(0, len(GOOD) - 1), value=st.integers(0, 255))
def test_damaged_png_is_refused_or_decodes(cut, flip, value):
    """A real PNG truncated or with one byte changed: refused with a message, or accepted and decodable."""
    data = bytearray(GOOD)
    data[flip] = value
    data = bytes(data[: max(cut, 1)]) if cut < len(GOOD) // 2 else bytes(data)
    try:
        out = decode_upload("data:image/png;base64," + base64.b64encode(data).decode(), "x.png", 1.0)
    except UploadError:
        return
    import io

    from infocir.models.encoding import open_rgb

    open_rgb(io.BytesIO(out))

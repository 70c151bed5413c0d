"""Validation of uploaded reference images (dcc.Upload gives a base64 data URI)."""

from __future__ import annotations

import base64
import binascii
import io
from pathlib import PurePath

from infocir.data.images import ImageReadError, ImageTooLargeError, open_rgb
from infocir.data.scan import IMAGE_EXTENSIONS
from infocir.errors import UserError


class UploadError(UserError, ValueError):
    """An upload that cannot be used as a reference image; the message says why."""


def decode_upload(contents: str, filename: str, max_mb: float, max_pixels: int | None = None) -> bytes:
    """The uploaded file's bytes, after checking type (extension and content), size in MB and in
    pixels (``ui.max_upload_pixels``, read from the header before anything is decoded), and that it
    decodes: the engine can use whatever this returns."""
    if not contents or "," not in contents:
        raise UploadError("The upload arrived empty; please try again.")
    ext = PurePath(filename or "").suffix.lower()
    if ext not in IMAGE_EXTENSIONS:
        allowed = ", ".join(sorted(e.lstrip(".") for e in IMAGE_EXTENSIONS))
        raise UploadError(f"“{filename}” is not an image file ({ext or 'no extension'}). Upload one of: {allowed}.")
    header, b64 = contents.split(",", 1)
    try:
        data = base64.b64decode(b64, validate=False)
    except (binascii.Error, ValueError):
        raise UploadError(f"“{filename}” could not be read (bad encoding).") from None
    size_mb = len(data) / 1e6
    if size_mb > max_mb:
        raise UploadError(f"“{filename}” is {size_mb:.1f} MB; the limit is {max_mb:g} MB (ui.max_upload_mb).")
    try:
        open_rgb(io.BytesIO(data), max_pixels, "ui.max_upload_pixels")  # the pixel cap is checked before decoding
    except ImageTooLargeError as exc:
        raise UploadError(f"“{filename}” was refused: the {exc}.") from None
    except ImageReadError:
        raise UploadError(f"“{filename}” is not a readable image (corrupt or another format renamed).") from None
    return data


UPLOAD_ROUTE = "/upload"
UPLOAD_SIZES = (128, 256, 512)


def upload_url(key: str, size: int = 256) -> str:
    """The address of an upload's thumbnail: ``/upload/<size>/<hash>`` for the key ``upload:<hash>``."""
    return f"{UPLOAD_ROUTE}/{size}/{key.split(':', 1)[-1]}"


class UploadGone(UserError, LookupError):
    """The browser names an upload the server no longer holds (restarted, or evicted by newer uploads)."""


class UploadStore:
    """Uploaded reference images, kept on the server under the engine's ``reference_key`` (a content
    hash, "upload:<sha256 prefix>"), so the browser holds only that key and never sends the image again.

    Bounded per process (``max_items`` and ``max_bytes``, least recently used out first).  It is
    content-addressed: two sessions that upload the same file share one entry, and an entry says
    nothing about who uploaded it; everything else about a session stays in its browser."""

    def __init__(self, max_items: int = 64, max_bytes: int = 256_000_000):
        import threading
        from collections import OrderedDict

        self.max_items, self.max_bytes = max_items, max_bytes
        self._data: OrderedDict[str, bytes] = OrderedDict()
        self._thumbs: dict[tuple[str, int], bytes] = {}
        self._lock = threading.Lock()

    def put(self, data: bytes) -> str:
        from infocir.engine import RetrievalEngine

        key = RetrievalEngine.reference_key(bytes(data))
        with self._lock:
            self._data[key] = bytes(data)
            self._data.move_to_end(key)
            while len(self._data) > 1 and (len(self._data) > self.max_items or self.nbytes > self.max_bytes):
                old, _ = self._data.popitem(last=False)
                for t in [t for t in self._thumbs if t[0] == old]:
                    del self._thumbs[t]
        return key

    @property
    def nbytes(self) -> int:
        return sum(len(v) for v in self._data.values())

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._data

    def get(self, key: str) -> bytes:
        """The bytes of an upload; UploadGone (a message for the page) when the server no longer has them."""
        with self._lock:
            data = self._data.get(key)
            if data is not None:
                self._data.move_to_end(key)
                return data
        raise UploadGone(
            "The uploaded reference image is no longer on the server (it restarted, or many images "
            "were uploaded since): upload it again, or pick a dataset image."
        )

    def thumbnail(self, key: str, size: int, max_pixels: int | None) -> bytes | None:
        """A PNG of the upload no larger than ``size`` px (made once per size), or None when it is gone."""
        try:
            data = self.get(key)
        except UploadGone:
            return None
        with self._lock:
            png = self._thumbs.get((key, size))
        if png is None:
            im = open_rgb(io.BytesIO(data), max_pixels, "ui.max_upload_pixels")
            im.thumbnail((size, size))
            buf = io.BytesIO()
            im.save(buf, "PNG")
            png = buf.getvalue()
            with self._lock:
                if key in self._data:
                    self._thumbs[(key, size)] = png
        return png


def register_upload_route(server, store: UploadStore, max_pixels: int | None) -> None:
    """``/upload/<size>/<hash>``: a thumbnail of an upload the store holds (404 with no body otherwise)."""
    import re

    from flask import Response, abort

    @server.route(f"{UPLOAD_ROUTE}/<int:size>/<digest>")
    def _upload_thumb(size: int, digest: str):
        if size not in UPLOAD_SIZES or not re.fullmatch(r"[0-9a-f]{16,64}", digest):
            abort(404)
        png = store.thumbnail(f"upload:{digest}", size, max_pixels)
        if png is None:
            abort(404)
        response = Response(png, mimetype="image/png")
        response.headers["Cache-Control"] = "private, max-age=3600"  # the address names the content
        return response

"""The image route: serves thumbnails of indexed dataset images only (never arbitrary paths).

An image that is gone, damaged or over the pixel cap answers 404 with a placeholder picture (not a
500), so every <img> that points here shows a neutral tile instead of a broken one; the dataset's
symlink rule (``dataset.symlinks``) is the scan's own, through ``scan.symlink_refusal``."""

from __future__ import annotations

import hashlib
import io
import stat
from pathlib import Path

from flask import Flask, Response, abort, send_file
from PIL import Image, ImageDraw

from infocir.data.images import ImageReadError, open_rgb
from infocir.data.scan import symlink_refusal
from infocir.engine import RetrievalEngine
from infocir.index.manifest import atomic_write_bytes

ROUTE = "/media"
SIZES = (64, 128, 256, 512)
THUMB_VERSION = 2  # 2: EXIF orientation applied, transparency on the neutral background


def media_url(image_id: str, size: int = 256) -> str:
    return f"{ROUTE}/{size}/{image_id}"


def placeholder_png(side: int = 256) -> bytes:
    """A light grey square with a crossed-out frame: "this image cannot be shown"."""
    im = Image.new("RGB", (side, side), (236, 238, 241))
    d = ImageDraw.Draw(im)
    m, w = side // 4, max(2, side // 48)
    d.rectangle([m, m, side - m, side - m], outline=(160, 166, 176), width=w)
    d.line([m, m, side - m, side - m], fill=(160, 166, 176), width=w)
    d.line([m, side - m, side - m, m], fill=(160, 166, 176), width=w)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def register_media_route(server: Flask, engine: RetrievalEngine, thumb_dir: Path) -> None:
    """``/media/<size>/<image id>``: a cached PNG thumbnail of an image that is in the index."""
    root = engine.scan.root.resolve()
    symlinks = engine.config.dataset.symlinks
    max_pixels = engine.config.dataset.max_image_pixels
    placeholder = placeholder_png()

    def unavailable() -> Response:
        response = Response(placeholder, status=404, mimetype="image/png")
        response.headers["Cache-Control"] = "no-store"  # shown again as soon as the file is back
        return response

    @server.route(f"{ROUTE}/<int:size>/<path:image_id>")
    def _media(size: int, image_id: str):
        row = engine.index.row_of.get(image_id)
        if row is None or size not in SIZES:
            abort(404)
        path = Path(engine.index.paths[row])
        if symlink_refusal(path, root, symlinks):  # the scan's rule: what it skips is never served
            return unavailable()
        try:
            st = path.stat()
        except OSError:  # deleted (or its folder) while the server runs
            return unavailable()
        if not stat.S_ISREG(st.st_mode):
            return unavailable()
        key = hashlib.sha256(
            f"v{THUMB_VERSION}:{path}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}:{size}".encode()
        ).hexdigest()[:24]
        thumb = thumb_dir / f"{key}.png"
        if not thumb.exists():
            try:
                im = open_rgb(path, max_pixels)  # upright, flattened, refused over the cap before decoding
            except ImageReadError:  # damaged or replaced while the server runs
                return unavailable()
            im.thumbnail((size, size))
            buf = io.BytesIO()
            im.save(buf, "PNG")
            try:
                atomic_write_bytes(thumb, buf.getvalue())
            except OSError:  # thumbnail cache not writable (disk full, read-only): serve it uncached
                return Response(buf.getvalue(), mimetype="image/png")
        return send_file(thumb, mimetype="image/png", max_age=3600)

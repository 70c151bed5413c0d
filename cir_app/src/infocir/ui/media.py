"""The image route: serves thumbnails of indexed dataset images only (never arbitrary paths)."""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

from flask import Flask, abort, send_file
from PIL import Image

from infocir.engine import RetrievalEngine
from infocir.index.manifest import atomic_write_bytes

ROUTE = "/media"


def media_url(image_id: str, size: int = 256) -> str:
    return f"{ROUTE}/{size}/{image_id}"


def register_media_route(server: Flask, engine: RetrievalEngine, thumb_dir: Path) -> None:
    """``/media/<size>/<image id>``: a cached PNG thumbnail of an image that is in the index."""
    root = engine.scan.root.resolve()

    @server.route(f"{ROUTE}/<int:size>/<path:image_id>")
    def _media(size: int, image_id: str):
        row = engine.index.row_of.get(image_id)
        if row is None or size not in (64, 128, 256, 512):
            abort(404)
        path = Path(engine.index.paths[row]).resolve()
        if root not in path.parents:  # ids come from the index, but a symlink could point outside
            abort(404)
        key = hashlib.sha256(f"{path}:{path.stat().st_mtime_ns}:{size}".encode()).hexdigest()[:24]
        thumb = thumb_dir / f"{key}.png"
        if not thumb.exists():
            with Image.open(path) as im:
                im = im.convert("RGB")
                im.thumbnail((size, size))
                buf = io.BytesIO()
                im.save(buf, "PNG")
            atomic_write_bytes(thumb, buf.getvalue())
        response = send_file(thumb, mimetype="image/png", max_age=3600)
        return response

"""Hostile and awkward image files for the robustness tests (built in memory, never decoded here)."""

from __future__ import annotations

import base64
import functools
import io
import struct
import zlib

import numpy as np
from PIL import Image

ORIENTATION = 0x0112  # the EXIF Orientation tag


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


@functools.lru_cache(maxsize=4)
def bomb_png(width: int, height: int) -> bytes:
    """A valid 1-bit greyscale PNG of ``width``×``height`` black pixels: ~110 KB on disk for
    30000×30000, 900 megapixels (GBs of RGB) once decoded."""
    row = b"\0" * (1 + (width + 7) // 8)
    comp = zlib.compressobj(9)
    block = row * 512
    parts = [comp.compress(block) for _ in range(height // 512)]
    parts += [comp.compress(row * (height % 512)), comp.flush()]
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"".join(parts)) + _chunk(b"IEND", b"")


def arrow(width: int = 48, height: int = 32) -> Image.Image:
    """An upright, asymmetric RGB picture (no rotation or flip of it equals itself)."""
    a = np.full((height, width, 3), 235, np.uint8)
    a[: height // 4, :, :] = (200, 30, 30)  # red band on top
    a[:, : width // 5, :] = (30, 30, 200)  # blue band on the left
    a[height // 2 - 2 : height // 2 + 2, width // 5 :, :] = (20, 20, 20)  # the shaft
    a[height // 3 : 2 * height // 3, width - 6 :, :] = (20, 160, 20)  # the head, on the right
    return Image.fromarray(a, "RGB")


def sideways_with_exif(upright: Image.Image, fmt: str = "PNG", orientation: int = 6) -> bytes:
    """What a camera writes: pixels stored rotated, plus the EXIF tag that tells viewers to turn them back."""
    stored = {
        6: upright.transpose(Image.Transpose.ROTATE_90),
        8: upright.transpose(Image.Transpose.ROTATE_270),
        3: upright.transpose(Image.Transpose.ROTATE_180),
    }[orientation]
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    buf = io.BytesIO()
    stored.save(buf, fmt, exif=exif, **({"quality": 95} if fmt == "JPEG" else {}))
    return buf.getvalue()


def png_bytes(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def data_uri(data: bytes, mime: str = "image/png") -> str:
    """What dcc.Upload hands the callback."""
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def hidden_red(mode: str = "RGBA", side: int = 32) -> Image.Image:
    """A transparent image whose invisible pixels are pure red (an opaque grey square in the middle)."""
    a = np.zeros((side, side, 4), np.uint8)
    a[..., 0] = 255  # red under alpha 0: shown by a plain convert("RGB")
    a[side // 4 : 3 * side // 4, side // 4 : 3 * side // 4] = (90, 90, 90, 255)
    im = Image.fromarray(a, "RGBA")
    if mode == "RGBA":
        return im
    if mode == "LA":
        la = np.zeros((side, side, 2), np.uint8)
        la[..., 0] = 255  # white under alpha 0
        la[side // 4 : 3 * side // 4, side // 4 : 3 * side // 4] = (90, 255)
        return Image.fromarray(la, "LA")
    if mode == "P":
        p = Image.new("P", (side, side), 0)
        p.putpalette([255, 0, 0] + [90, 90, 90] + [0, 0, 0] * 254)
        p.paste(1, (side // 4, side // 4, 3 * side // 4, 3 * side // 4))
        p.info["transparency"] = 0
        return p
    raise ValueError(mode)

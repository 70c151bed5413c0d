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

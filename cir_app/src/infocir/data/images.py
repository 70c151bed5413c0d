"""The one place images are opened: a pixel cap checked on the header, EXIF orientation applied,
transparency composited on a neutral background.

Every reader (the dataset scan, the index build, uploads, thumbnails, explanations) goes through
here, so the model, the thumbnails and the saliency maps all see the picture the browser shows.
Light on purpose (Pillow only): the scan and the upload parser import it without torch.
"""

from __future__ import annotations

import warnings
from struct import error as struct_error

from PIL import Image, ImageOps, UnidentifiedImageError

from infocir.errors import UserError

# Defaults of dataset.max_image_pixels and ui.max_upload_pixels: a 48-megapixel phone photo passes;
# the 12000×12000 (144 MP, ~3 s and 637 MB per decode) and 30000×30000 PNGs of issue 16 do not.
DEFAULT_MAX_PIXELS = 50_000_000
# The most either setting may allow: above it Pillow refuses the file itself (DecompressionBombError
# at twice Image.MAX_IMAGE_PIXELS), so a larger setting could not take effect.
PILLOW_MAX_PIXELS = 2 * 89_478_485
# Transparent pixels are shown on this neutral grey, not as the colours stored under alpha 0.
BACKGROUND = (128, 128, 128)


# Every open here checks its own, lower cap from the header first, so Pillow's generic warning between
# 89 and 179 megapixels says nothing new (and would fill the log of a server that refuses such uploads).
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


class ImageReadError(UserError, ValueError):
    """An image file or upload cannot be decoded (or is over the pixel cap)."""


class ImageTooLargeError(ImageReadError):
    """More pixels than the configured cap (refused from the header, before decoding)."""


def pixel_problem(
    size: tuple[int, int], max_pixels: int | None, setting: str = "dataset.max_image_pixels"
) -> str | None:
    """None if an image of ``size`` = (w, h) is within ``max_pixels``, else the sentence saying why not."""
    limit = DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
    w, h = size
    if w * h <= limit:
        return None
    return (
        f"{w}×{h} = {w * h / 1e6:.1f} megapixels, over the limit of {limit / 1e6:g} megapixels "
        f"({setting}): a decompression bomb, or an image to downscale first"
    )


def _bomb_sentence(max_pixels: int | None, setting: str) -> str:
    limit = DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
    return (
        f"over {PILLOW_MAX_PIXELS / 1e6:.0f} megapixels, more than Pillow decodes, and over the limit of "
        f"{limit / 1e6:g} megapixels ({setting}): a decompression bomb, or an image to downscale first"
    )


def probe(path_or_file, max_pixels: int | None = None, setting: str = "dataset.max_image_pixels") -> str | None:
    """Header-only check for the dataset scan: None when the file is an image within the cap, else why not."""
    try:
        with Image.open(path_or_file) as im:
            return pixel_problem(im.size, max_pixels, setting)
    except Image.DecompressionBombError:
        return _bomb_sentence(max_pixels, setting)
    except UnidentifiedImageError:
        return "not a recognised image"
    except OSError as exc:
        return f"cannot open: {exc.strerror or exc}"
    except (ValueError, SyntaxError) as exc:  # malformed headers some plugins report this way
        return f"cannot open: {exc}"


def flatten(im: Image.Image) -> Image.Image:
    """RGB of an image as displayed: transparency composited on BACKGROUND (never the hidden colours)."""
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        try:
            rgba = im.convert("RGBA")
        except (ValueError, OSError):  # an exotic mode without an RGBA conversion: drop the alpha instead
            return im.convert("RGB")
        out = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        out.alpha_composite(rgba)
        return out.convert("RGB")
    return im.convert("RGB")


def _upright(im: Image.Image, in_place: bool = False) -> Image.Image:
    """``im`` turned as its EXIF Orientation says (unchanged when the tag is absent or unreadable)."""
    try:
        if in_place:
            ImageOps.exif_transpose(im, in_place=True)
            return im
        return ImageOps.exif_transpose(im)
    except (ValueError, OSError, SyntaxError, KeyError, TypeError, struct_error):  # malformed EXIF: show it as stored
        return im


def to_rgb(im: Image.Image) -> Image.Image:
    """An opened PIL image as the browser shows it: EXIF orientation applied, transparency flattened."""
    return flatten(_upright(im))


def open_rgb(path_or_file, max_pixels: int | None = None, setting: str = "dataset.max_image_pixels") -> Image.Image:
    """Open an image as RGB, upright and flattened, refusing more than ``max_pixels`` before decoding;
    raises ImageReadError with the reason instead of PIL's exceptions."""
    try:
        with Image.open(path_or_file) as im:
            problem = pixel_problem(im.size, max_pixels, setting)
            if problem:
                raise ImageTooLargeError(f"image is {problem}")
            im.load()
            return flatten(_upright(im, in_place=True))
    except ImageReadError:
        raise
    except Image.DecompressionBombError:
        raise ImageTooLargeError(f"image is {_bomb_sentence(max_pixels, setting)}") from None
    except UnidentifiedImageError:
        raise ImageReadError("not a recognised image file (use PNG, JPEG, WebP, GIF, BMP or TIFF)") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageReadError(f"cannot decode image: {exc}") from None

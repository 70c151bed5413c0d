"""Explaining one image: preprocess it exactly as the index did, run an explainer on the
model's patch grid, and map the grid back onto the image as displayed (undoing the
centre crop, or the targetpad padding)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from PIL import Image

from infocir.explain.base import ImageExplainer, Target
from infocir.models.encoders import targetpad_padding


@dataclass(frozen=True)
class InputBox:
    """The square region of the original image plane that the model input shows, in original
    pixels; it extends past the image where targetpad added padding."""

    left: float
    top: float
    side: float


def input_box(size: tuple[int, int], kind: str, target_ratio: float = 1.25) -> InputBox:
    """Where the model's square input sits on an image of ``size`` = (w, h).

    The shortest side of the (padded) image is resized and the centre cropped.  ``targetpad``
    first pads an elongated image (ratio ≥ ``target_ratio``) until its ratio is ``target_ratio``
    (SEARLE), so the square input shows a wider part of the image and, where the padding shows,
    bars beyond its edges (negative ``left``/``top``)."""
    w, h = size
    hp, vp = targetpad_padding(size, target_ratio) if kind == "targetpad" else (0, 0)
    side = float(min(w + 2 * hp, h + 2 * vp))
    return InputBox((w - side) / 2, (h - side) / 2, side)


def align_to_image(
    grid: np.ndarray,
    size: tuple[int, int],
    kind: str,
    out_size: tuple[int, int] | None = None,
    target_ratio: float = 1.25,
) -> np.ndarray:
    """Upsample a patch-grid saliency [gh, gw] (bilinear) onto the image as shown: an array
    [H, W] for ``out_size`` = (W, H) (default: the image size).  Parts of the image the model
    never saw (cropped away) get 0; padding bars are cut off."""
    w, h = size
    W, H = out_size or size
    sx, sy = W / w, H / h
    box = input_box(size, kind, target_ratio)
    bw, bh = max(1, round(box.side * sx)), max(1, round(box.side * sy))
    up = np.asarray(Image.fromarray(np.asarray(grid, np.float32), mode="F").resize((bw, bh), Image.Resampling.BILINEAR))
    x0, y0 = round(box.left * sx), round(box.top * sy)
    out = np.zeros((H, W), np.float32)
    # Intersection of the box (in display pixels) with the display canvas.
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(W, x0 + bw), min(H, y0 + bh)
    if cx1 > cx0 and cy1 > cy0:
        out[cy0:cy1, cx0:cx1] = up[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
    return out


@dataclass
class ImageSaliency:
    """One explanation: the patch-grid map, the map aligned to the displayed image, and the score."""

    explainer: str
    grid: np.ndarray  # [gh, gw], non-negative
    aligned: np.ndarray  # [H, W] on the display size
    score: float  # the target score of the unmodified image
    seconds: float
    target: str = "similarity to the composed query"  # what the score is, for captions and saved files
    # Explainers whose map is a ReLU'd sum (``ImageExplainer.signed``): the map before the ReLU on the patch
    # grid, and its negative part (the evidence *against* the score) aligned like ``aligned``.
    signed: np.ndarray | None = None
    against: np.ndarray | None = None

    @property
    def empty(self) -> bool:
        """No patch raises the score (a ReLU'd map that is zero everywhere): nothing to show."""
        return is_empty(self.grid)

    @property
    def against_share(self) -> float | None:
        """The share of the signed map's absolute mass that lowers the score (0 … 1; None without a signed
        map).  Above one half, most of what the explainer reads from the image points away from the target,
        and the published (positive) map shows the smaller remainder."""
        return None if self.signed is None else against_share(self.signed)


MOSTLY_AGAINST = 0.5  # above this share of a signed map's evidence lowering the score, panel F says so


def against_share(signed: np.ndarray) -> float:
    """Σ max(−s, 0) / Σ |s| of a signed map (0 for a map that is zero everywhere)."""
    s = np.asarray(signed, np.float64)
    total = float(np.abs(s).sum())
    return float(np.clip(-s, 0, None).sum()) / total if total > 0 else 0.0


def is_empty(grid: np.ndarray) -> bool:
    """True for a map with no positive value: an explainer found no evidence *for* the target."""
    return not bool((np.asarray(grid) > 0).any())


def display_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    w, h = size
    s = min(1.0, max_side / max(w, h))
    return max(1, round(w * s)), max(1, round(h * s))


def explain_image(
    bundle, image: Image.Image, target: Target, explainer: ImageExplainer, max_side: int = 256
) -> ImageSaliency:
    """Saliency of ``image`` for ``target`` with ``explainer`` (the bundle's own preprocessing)."""

    t0 = time.perf_counter()
    image = image.convert("RGB")
    pixels = bundle.pixels([image])
    grid, signed = explainer.maps(bundle.model, pixels, target)
    grid = np.nan_to_num(np.asarray(grid, np.float32))
    with bundle.encoding():
        score = float(target(bundle.model.encode_image(pixels))[0])

    def aligned(g: np.ndarray) -> np.ndarray:
        return align_to_image(
            g, image.size, bundle.preprocess_kind, display_size(image.size, max_side), bundle.targetpad_ratio
        )

    against = None
    if signed is not None:
        signed = np.nan_to_num(np.asarray(signed, np.float32))
        against = aligned(np.clip(-signed, 0, None))  # alignment is linear: the negative part, aligned
    seconds = time.perf_counter() - t0
    return ImageSaliency(explainer.name, grid, aligned(grid), score, seconds, signed=signed, against=against)

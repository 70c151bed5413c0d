"""Saliency maps as images: a transparent heat layer to stack over the original (the browser
sets its opacity, so the slider never recomputes anything)."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

# A perceptually ordered dark-purple → red → yellow ramp (stops of an inferno-like map).
_STOPS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
_COLOURS = np.array([[20, 11, 52], [120, 28, 109], [212, 72, 66], [250, 153, 8], [252, 255, 164]], np.float32)


def heat_rgba(saliency: np.ndarray) -> Image.Image:
    """Colour-mapped RGBA image of a non-negative map; alpha grows with saliency so that the
    unimportant regions leave the original visible."""
    s = np.asarray(saliency, np.float32)
    hi = float(s.max()) if s.size else 0.0
    n = s / hi if hi > 0 else np.zeros_like(s)
    rgb = np.stack([np.interp(n, _STOPS, _COLOURS[:, c]) for c in range(3)], -1)
    alpha = 255 * np.clip(0.15 + 0.85 * n, 0, 1)
    return Image.fromarray(np.dstack([rgb, alpha]).astype(np.uint8), "RGBA")


def heat_uri(sal) -> str:
    """The heat layer of an ImageSaliency as a PNG data URI, encoded once per map (the panel polls
    several times a second; re-encoding on every poll made the polls pile up)."""
    cached = getattr(sal, "_heat_uri", None)
    if cached is None:
        cached = png_data_uri(heat_rgba(sal.aligned))
        sal._heat_uri = cached
    return cached


def legend_rgba(height: int = 160, width: int = 14) -> Image.Image:
    """The colour scale of ``heat_rgba`` as a vertical strip, high at the top: the same ramp and the same
    alpha, so the legend looks like the maps it explains (each map is scaled to its own maximum)."""
    ramp = np.linspace(1.0, 0.0, max(2, int(height)), dtype=np.float32)[:, None].repeat(max(1, int(width)), 1)
    return heat_rgba(ramp)


def legend_uri(height: int = 160, width: int = 14) -> str:
    """``legend_rgba`` as a PNG data URI (built once per process)."""
    key = (int(height), int(width))
    if key not in _LEGENDS:
        _LEGENDS[key] = png_data_uri(legend_rgba(height, width))
    return _LEGENDS[key]


_LEGENDS: dict[tuple[int, int], str] = {}


def png_data_uri(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def save_saliency(sal, image: Image.Image, out_dir, stem: str) -> list:
    """Write ``stem.png`` (the map over the image, at display size) and ``stem.npy`` (the patch
    grid, float32) into ``out_dir``, as the original InfoCIR's output folder holds them."""
    from pathlib import Path

    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem)[:120]
    png, npy = out / f"{safe}.png", out / f"{safe}.npy"
    blend(image, sal.aligned).save(png)
    np.save(npy, np.asarray(sal.grid, np.float32))
    return [png, npy]


def blend(image: Image.Image, saliency: np.ndarray, opacity: float = 0.6) -> Image.Image:
    """The original with the heat layer composited at ``opacity`` (for files and reports)."""
    base = image.convert("RGBA").resize(saliency.shape[::-1])
    heat = heat_rgba(saliency)
    heat.putalpha(Image.fromarray((np.asarray(heat)[..., 3] * opacity).astype(np.uint8)))
    return Image.alpha_composite(base, heat).convert("RGB")

"""Saliency maps as images: a transparent heat layer to stack over the original (the browser
sets its opacity, so the slider never recomputes anything)."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

# Ramps per side of the evidence (``EVIDENCE``): what raises the score in a perceptually ordered
# dark-purple → red → yellow (inferno-like stops); what lowers it in dark-blue → teal → pale green
# (YlGnBu-like stops), so the two are never mistaken for each other.
_STOPS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
_RAMPS = {
    "for": np.array([[20, 11, 52], [120, 28, 109], [212, 72, 66], [250, 153, 8], [252, 255, 164]], np.float32),
    "against": np.array([[8, 29, 88], [37, 52, 148], [34, 94, 168], [65, 182, 196], [199, 233, 180]], np.float32),
}
EVIDENCE = {"for": "raises the score", "against": "lowers the score", "both": "raises (warm) and lowers (blue)"}


def heat_rgba(saliency: np.ndarray, evidence: str = "for") -> Image.Image:
    """Colour-mapped RGBA image of a map, in ``evidence``'s ramp; alpha grows with saliency so that the
    unimportant regions leave the original visible.  ``for`` and ``against`` take a non-negative map;
    ``both`` a signed one: positive values in the ``for`` ramp, negative in the ``against`` ramp, both
    scaled to the largest magnitude so the two sides compare."""
    if evidence not in EVIDENCE:
        raise ValueError(f"unknown evidence {evidence!r}; choose from {', '.join(EVIDENCE)}")
    s = np.asarray(saliency, np.float32)
    mag = np.abs(s) if evidence == "both" else s
    hi = float(mag.max()) if s.size else 0.0
    n = mag / hi if hi > 0 else np.zeros_like(s)

    def ramp(side: str) -> np.ndarray:
        return np.stack([np.interp(n, _STOPS, _RAMPS[side][:, c]) for c in range(3)], -1)

    rgb = np.where((s < 0)[..., None], ramp("against"), ramp("for")) if evidence == "both" else ramp(evidence)
    alpha = 255 * np.clip(0.15 + 0.85 * n, 0, 1)
    return Image.fromarray(np.dstack([rgb, alpha]).astype(np.uint8), "RGBA")


def heat_uri(sal, evidence: str = "for") -> str:
    """The heat layer of an ImageSaliency as a PNG data URI, encoded once per map and side (the panel
    polls several times a second; re-encoding on every poll made the polls pile up).  ``against`` shows
    the map's negative part (``ImageSaliency.against``), ``both`` the signed map (the published map minus
    that part: alignment is linear); a map without a sign falls back to ``for``."""
    against = sal.against
    key = evidence if evidence in ("against", "both") and against is not None else "for"
    cached = getattr(sal, "_heat_uris", None)
    if cached is None:
        cached = sal._heat_uris = {}
    if key not in cached:
        layer = {"for": lambda: sal.aligned, "against": lambda: against, "both": lambda: sal.aligned - against}[key]
        cached[key] = png_data_uri(heat_rgba(layer(), key))
    return cached[key]


def legend_rgba(height: int = 160, width: int = 14, evidence: str = "for") -> Image.Image:
    """The colour scale of ``heat_rgba`` as a vertical strip, high at the top: the same ramp and the same
    alpha, so the legend looks like the maps it explains (each map is scaled to its own maximum)."""
    low = -1.0 if evidence == "both" else 0.0  # both: raises at the top, nothing in the middle, lowers below
    ramp = np.linspace(1.0, low, max(2, int(height)), dtype=np.float32)[:, None].repeat(max(1, int(width)), 1)
    return heat_rgba(ramp, evidence)


def legend_uri(height: int = 160, width: int = 14, evidence: str = "for") -> str:
    """``legend_rgba`` as a PNG data URI (built once per process and ramp)."""
    key = (int(height), int(width), evidence)
    if key not in _LEGENDS:
        _LEGENDS[key] = png_data_uri(legend_rgba(height, width, evidence))
    return _LEGENDS[key]


_LEGENDS: dict[tuple[int, int, str], str] = {}


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
    written = [png, npy]
    if sal.signed is not None:
        # the map before its ReLU: where the image's evidence lowers the score too (negative values)
        written.append(out / f"{safe}-signed.npy")
        np.save(written[-1], np.asarray(sal.signed, np.float32))
    return written


def blend(image: Image.Image, saliency: np.ndarray, opacity: float = 0.6) -> Image.Image:
    """The original with the heat layer composited at ``opacity`` (for files and reports)."""
    base = image.convert("RGBA").resize(saliency.shape[::-1])
    heat = heat_rgba(saliency)
    heat.putalpha(Image.fromarray((np.asarray(heat)[..., 3] * opacity).astype(np.uint8)))
    return Image.alpha_composite(base, heat).convert("RGB")

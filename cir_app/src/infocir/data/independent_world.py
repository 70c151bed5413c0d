"""An independent renderer for the demo world's vocabulary: a test the demo model never trained on.

The demo model is trained on ``demo_world.render``.  To know whether it learned *shapes* rather
than *that renderer*, this module draws the same attribute vocabulary (8 shapes, 8 colour names,
2 sizes, 5 backgrounds, 3 styles) with code that shares nothing with it:

* shapes are implicit regions (inequalities and half-planes) with other proportions, not PIL polygons;
* rasterisation is hand-written: coverage sampled on a 3× grid and box-averaged (no PIL drawing,
  no Gaussian blur, no Lanczos resize);
* objects sit **anywhere** in the frame, at **any rotation**, with the size drawn from a range
  (small: 15–38 % of the side, large: 55–80 %), stroke widths from a range;
* its own palette (each colour name jittered), backgrounds at random angles and spacings,
  radial as well as linear gradients.

``render(attrs, rng)`` returns an image and the object's mask like ``demo_world.render``;
``generate_dataset`` writes a dataset in the same layout (class folders, ``attributes.csv``,
``masks.npz``, ``queries.json``) so every evaluation that runs on the demo world runs on it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from infocir.data.demo_world import SHAPES, Attributes, all_combinations, write_world

SUPERSAMPLE = 3
_SALT = 31  # keeps these random streams apart from the demo world's for equal seeds
# Extent of the object's bounding circle as a fraction of the image side, by size.
EXTENT = {"small": (0.15, 0.38), "large": (0.55, 0.80)}
# Our own palette (not the training generator's), jittered per image.
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (204, 32, 48),
    "orange": (250, 128, 10),
    "yellow": (250, 214, 50),
    "green": (36, 150, 64),
    "blue": (28, 84, 204),
    "purple": (118, 48, 172),
    "pink": (248, 124, 196),
    "brown": (134, 82, 44),
}


# --------------------------------------------------------------------------- shapes as regions
def _inside_polygon(x: np.ndarray, y: np.ndarray, vertices: list[tuple[float, float]]) -> np.ndarray:
    """Even-odd rule: a point is inside when a ray to +x crosses the boundary an odd number of times."""
    inside = np.zeros(x.shape, bool)
    n = len(vertices)
    for i in range(n):
        x0, y0 = vertices[i]
        x1, y1 = vertices[(i + 1) % n]
        straddles = (y0 > y) != (y1 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            cross_x = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= straddles & (x < cross_x)
    return inside


def _star_vertices(points: int = 5, inner: float = 0.5) -> list[tuple[float, float]]:
    out = []
    for k in range(2 * points):
        r = 1.0 if k % 2 == 0 else inner
        a = math.pi / 2 + k * math.pi / points
        out.append((r * math.cos(a), r * math.sin(a)))
    return out


def shape_region(shape: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Boolean region of ``shape`` in unit coordinates (y up, the shape within the unit disc)."""
    if shape == "circle":
        return x * x + y * y <= 0.95**2
    if shape == "square":
        return (np.abs(x) <= 0.68) & (np.abs(y) <= 0.68)
    if shape == "triangle":
        verts = [(math.cos(a), math.sin(a)) for a in (math.pi / 2, math.pi / 2 + 2.0944, math.pi / 2 + 4.1888)]
        return _inside_polygon(x, y, verts)
    if shape == "star":
        return _inside_polygon(x, y, _star_vertices(5, 0.48))
    if shape == "heart":
        # The classic algebraic heart (x² + y² − 1)³ − x²y³ ≤ 0, scaled into the unit disc.
        u, v = x * 1.25, y * 1.25 + 0.15
        return (u * u + v * v - 1) ** 3 - u * u * v**3 <= 0
    if shape == "cross":
        arm = 0.34
        return ((np.abs(x) <= arm) & (np.abs(y) <= 0.9)) | ((np.abs(y) <= arm) & (np.abs(x) <= 0.9))
    if shape == "crescent":
        outer = x * x + y * y <= 0.92**2
        bite = (x - 0.42) ** 2 + (y - 0.12) ** 2 <= 0.76**2
        return outer & ~bite
    if shape == "arrow":
        shaft = (x >= -0.92) & (x <= 0.2) & (np.abs(y) <= 0.22)
        head = _inside_polygon(x, y, [(0.2, 0.62), (0.95, 0.0), (0.2, -0.62)])
        return shaft | head
    raise KeyError(shape)


# --------------------------------------------------------------------------- backgrounds
def _pale(rng: np.random.Generator) -> np.ndarray:
    base = rng.uniform(214, 246)
    return np.clip(base + rng.uniform(-8, 8, 3), 0, 255)


def _background(kind: str, xs: np.ndarray, ys: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """RGB float background over pixel coordinates in [0, 1)."""
    paper = _pale(rng)
    ink = paper * rng.uniform(0.74, 0.86)
    h, w = xs.shape
    img = np.broadcast_to(paper, (h, w, 3)).copy()
    angle = rng.uniform(0, math.pi)
    u = xs * math.cos(angle) + ys * math.sin(angle)
    v = -xs * math.sin(angle) + ys * math.cos(angle)
    period = rng.uniform(0.09, 0.17)
    phase = rng.uniform(0, 1)
    if kind == "striped":
        band = ((u / period + phase) % 1.0) < rng.uniform(0.35, 0.55)
        img[band] = ink
    elif kind == "dotted":
        radius = period * rng.uniform(0.16, 0.26)
        du = (u / period + phase) % 1.0 - 0.5
        dv = (v / period + phase) % 1.0 - 0.5
        img[(du * du + dv * dv) * period * period <= radius * radius] = ink
    elif kind == "grid":
        width = rng.uniform(0.08, 0.16)
        lines = (((u / period + phase) % 1.0) < width) | (((v / period + phase) % 1.0) < width)
        img[lines] = ink
    elif kind == "gradient":
        if rng.random() < 0.5:
            t = np.clip(u - u.min(), 0, None) / max(1e-6, float(u.max() - u.min()))
        else:
            cx, cy = rng.uniform(0.2, 0.8, 2)
            t = np.clip(np.hypot(xs - cx, ys - cy) / 0.8, 0, 1)
        dark = paper * rng.uniform(0.6, 0.72)
        img = paper * (1 - t[..., None]) + dark * t[..., None]
    return img


# --------------------------------------------------------------------------- one image
@dataclass(frozen=True)
class Placement:
    """Where and how large the object is drawn (fractions of the side; angle in radians)."""

    cx: float
    cy: float
    extent: float
    angle: float


def sample_placement(size: str, rng: np.random.Generator) -> Placement:
    """Size from ``EXTENT``, any rotation, the centre anywhere that keeps the object in the frame."""
    extent = float(rng.uniform(*EXTENT[size]))
    r = extent / 2
    return Placement(
        float(rng.uniform(r, 1 - r)), float(rng.uniform(r, 1 - r)), extent, float(rng.uniform(0, 2 * math.pi))
    )


def render(
    attrs: Attributes, rng: np.random.Generator, side: int = 128, placement: Placement | None = None
) -> tuple[Image.Image, np.ndarray]:
    """Draw one object: the RGB image (``side``×``side``) and its boolean mask."""
    place = placement or sample_placement(attrs.size, rng)
    n = side * SUPERSAMPLE
    grid = (np.arange(n) + 0.5) / n
    xs, ys = np.meshgrid(grid, grid)
    # Unit coordinates of the object: centred, scaled to its extent, rotated, y pointing up.
    c, s = math.cos(place.angle), math.sin(place.angle)
    dx, dy = (xs - place.cx) / (place.extent / 2), -(ys - place.cy) / (place.extent / 2)
    ux, uy = c * dx + s * dy, -s * dx + c * dy
    region = shape_region(attrs.shape, ux, uy)

    colour = np.clip(np.array(PALETTE[attrs.colour], float) + rng.uniform(-14, 14, 3), 0, 255)
    img = _background(attrs.background, xs, ys, rng)
    # Stroke width in supersampled pixels: 4–9 % of the object's extent.
    stroke = max(2, int(round(rng.uniform(0.04, 0.09) * place.extent * n)))
    if attrs.style == "filled":
        img[region] = colour
    elif attrs.style == "outline":
        ring = region & ~ndimage.binary_erosion(region, iterations=stroke)
        img[ring] = colour
    else:  # sketch: hatching at a random angle inside, and a thin contour with gaps
        ha = rng.uniform(0, math.pi)
        hatch_period = rng.uniform(0.025, 0.045)
        t = (xs * math.cos(ha) + ys * math.sin(ha)) / hatch_period
        hatch = region & ((t % 1.0) < rng.uniform(0.3, 0.5))
        thin = max(1, stroke // 3)
        contour = region & ~ndimage.binary_erosion(region, iterations=thin)
        gaps = np.sin(np.arctan2(dy, dx) * rng.integers(5, 11) + rng.uniform(0, 6)) > -0.6
        img[hatch | (contour & gaps)] = colour * rng.uniform(0.8, 1.0)
    # Box-filter anti-aliasing: average each SUPERSAMPLE×SUPERSAMPLE cell.
    img = img.reshape(side, SUPERSAMPLE, side, SUPERSAMPLE, 3).mean((1, 3))
    mask = region.reshape(side, SUPERSAMPLE, side, SUPERSAMPLE).mean((1, 3)) >= 0.5
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB"), mask


# --------------------------------------------------------------------------- datasets
@dataclass(frozen=True)
class IndependentWorldSpec:
    """What a generated independent dataset holds (stored in ``world.json``)."""

    seed: int = 77
    replicates: int = 1  # images per attribute combination (1920 each)
    side: int = 128
    n_queries: int = 300
    # The CIR test changes colour, shape or size (background and style stay).
    query_attributes: tuple[str, ...] = ("colour", "shape", "size")
    renderer: str = "independent"
    version: int = 1


def render_seeded(
    attrs: Attributes, seed: int, replicate: int, combination: int, side: int = 128
) -> tuple[Image.Image, np.ndarray]:
    """``render`` with the random stream ``render_pool`` gives replicate ``replicate`` of combination
    number ``combination``: the same image and mask as in the pool."""
    return render(attrs, np.random.default_rng([seed, replicate, combination, _SALT]), side)


def render_pool(seed: int, replicates: int, side: int = 128) -> tuple[list[Image.Image], np.ndarray]:
    """``replicates`` × every combination: images and attribute indices ``[N, 5]`` (combination-major)."""
    images, rows = [], []
    for rep in range(replicates):
        for ci, a in enumerate(all_combinations()):
            img, _ = render_seeded(a, seed, rep, ci, side)
            images.append(img)
            rows.append(a.indices())
    return images, np.array(rows, np.int64)


def generate_dataset(
    root: str | os.PathLike, spec: IndependentWorldSpec = IndependentWorldSpec(), workers: int = 2
) -> Path:
    """Write an independent-renderer dataset in the demo world's layout (``demo_world.write_world``);
    image ``ci`` of replicate ``rep`` is the one ``render_pool(spec.seed, ...)`` draws."""
    return write_world(Path(root), spec, render, workers=workers, salt=(_SALT,))


__all__ = [
    "EXTENT",
    "PALETTE",
    "SHAPES",
    "IndependentWorldSpec",
    "Placement",
    "generate_dataset",
    "render",
    "render_pool",
    "sample_placement",
    "shape_region",
]

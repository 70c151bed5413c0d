"""A second *training* renderer: every shape drawn from a family of proportions (training data only).

``demo_world.render_varied`` moves, turns and stretches one fixed outline per shape, so a model
trained on it learns *those outlines*: on ``independent_world`` (other proportions, other
rasterisation) its shape accuracy stays near 50 % (README, issue 20).  This renderer draws each
shape from a parameterised family instead, e.g. a star's inner radius, a cross's arm width, a
crescent's bite, an arrow's head, a square's corner rounding, a heart's lobes, so the label has to
be carried by the shape, not by one polygon.  It also varies the drawing itself:

* the object is a mask built from primitives (polygons added and cut away), drawn with PIL at a
  random internal resolution (1×–4× the output: aliased to smooth edges) and downsampled with a
  random filter;
* styles act on the mask: filled (with or without a rim), outline (a ring of random width, from a
  distance transform), sketch (hatching at a random angle plus a broken contour);
* backgrounds are computed (stripes, dots, grid at any angle and spacing; linear or radial
  gradients) on a random pale paper colour; colours are the world's names, jittered.

It shares no code with ``independent_world`` (the test renderer), which stays unseen in training.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from infocir.data.demo_world import COLOURS, Attributes

# Radius of the object's bounding circle as a fraction of the image side, by size (a little wider
# than demo_world.VARIATION; the test renderer's ranges are not used to choose these).
RADIUS = {"small": (0.065, 0.21), "large": (0.26, 0.44)}
Primitive = tuple[np.ndarray, int]  # unit-disc polygon (x right, y down) and 255 (add) or 0 (cut)


def _ring(n: int, r: float = 1.0, cx: float = 0.0, cy: float = 0.0, aspect: float = 1.0) -> np.ndarray:
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    return np.stack([cx + r * aspect * np.cos(t), cy + r * np.sin(t)], 1)


def _rounded_rect(hw: float, hh: float, corner: float) -> np.ndarray:
    """Rectangle of half-sizes ``hw``×``hh`` with quarter-circle corners of radius ``corner``."""
    if corner <= 0:
        return np.array([(-hw, -hh), (hw, -hh), (hw, hh), (-hw, hh)])
    pts = []
    for (sx, sy), a0 in (((1, 1), 0.0), ((-1, 1), 90.0), ((-1, -1), 180.0), ((1, -1), 270.0)):
        cx, cy = sx * (hw - corner), sy * (hh - corner)
        for a in np.radians(np.linspace(a0, a0 + 90, 6)):
            pts.append((cx + corner * math.cos(a), cy + corner * math.sin(a)))
    return np.array(pts)


def shape_primitives(shape: str, rng: np.random.Generator) -> list[Primitive]:
    """One random member of ``shape``'s family, as primitives within the unit disc (pointing up)."""
    u = rng.uniform
    if shape == "circle":
        return [(_ring(64, u(0.85, 0.97), aspect=u(0.88, 1.0)), 255)]
    if shape == "square":
        h = u(0.6, 0.74)
        aspect = u(0.88, 1.12)
        return [(_rounded_rect(h * aspect, h / aspect, h * u(0, 0.22) if rng.random() < 0.5 else 0.0), 255)]
    if shape == "triangle":
        angles = np.radians(-90 + np.arange(3) * 120 + rng.normal(0, 5, 3))
        radii = u(0.85, 1.0, 3)
        return [(np.stack([radii * np.cos(angles), radii * np.sin(angles)], 1), 255)]
    if shape == "star":
        inner = u(0.36, 0.6)
        k = np.arange(10)
        r = np.where(k % 2 == 0, u(0.9, 1.0), inner)
        a = -math.pi / 2 + k * math.pi / 5
        return [(np.stack([r * np.cos(a), r * np.sin(a)], 1), 255)]
    if shape == "heart":
        t = np.linspace(0, 2 * math.pi, 72, endpoint=False)
        x = 16 * np.sin(t) ** 3
        y = 13 * np.cos(t) - u(3.5, 6.5) * np.cos(2 * t) - u(1.2, 2.8) * np.cos(3 * t) - np.cos(4 * t)
        pts = np.stack([x * u(0.9, 1.1), -y], 1)
        pts -= pts.mean(0)
        return [(pts / np.abs(pts).max() * 0.92, 255)]
    if shape == "cross":
        arm, reach = u(0.17, 0.38), u(0.82, 0.96)
        return [(_rounded_rect(arm, reach, 0.0), 255), (_rounded_rect(reach, arm, 0.0), 255)]
    if shape == "crescent":
        # A disc with an offset disc cut away; the bite always leaves a visible horn shape.
        bite, offset = float(u(0.72, 0.92)), float(u(0.3, 0.6))
        return [(_ring(64, 0.95), 255), (_ring(64, bite, cx=offset, cy=float(u(-0.1, 0.1))), 0)]
    if shape == "arrow":
        shaft, head_len, head_w = u(0.11, 0.28), u(0.35, 0.65), u(0.45, 0.78)
        neck = 0.95 - head_len
        return [
            (np.array([(-0.95, -shaft), (neck + 0.02, -shaft), (neck + 0.02, shaft), (-0.95, shaft)]), 255),
            (np.array([(neck, -head_w), (0.97, 0.0), (neck, head_w)]), 255),
        ]
    raise ValueError(f"unknown shape {shape!r}")


def _paper(rng: np.random.Generator) -> np.ndarray:
    return np.clip(rng.uniform(205, 250) + rng.normal(0, 8, 3), 0, 255)


def _background(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """float RGB [n, n, 3] of one background ``kind`` at a random angle, spacing and phase."""
    paper = _paper(rng)
    ink = paper * rng.uniform(0.7, 0.88)
    yy, xx = (np.mgrid[0:n, 0:n] + 0.5) / n
    angle = rng.uniform(0, math.pi)
    u = xx * math.cos(angle) + yy * math.sin(angle)
    v = -xx * math.sin(angle) + yy * math.cos(angle)
    period = rng.uniform(0.08, 0.2)
    fu, fv = (u / period + rng.uniform()) % 1.0, (v / period + rng.uniform()) % 1.0
    if kind == "plain":
        on = np.zeros((n, n), bool)
    elif kind == "striped":
        on = fu < rng.uniform(0.3, 0.6)
    elif kind == "dotted":
        on = (fu - 0.5) ** 2 + (fv - 0.5) ** 2 < rng.uniform(0.1, 0.3) ** 2
    elif kind == "grid":
        w = rng.uniform(0.05, 0.14)
        on = (fu < w) | (fv < w)
    elif kind == "gradient":
        if rng.random() < 0.5:
            t = np.clip(u - u.min(), 0, None) / max(u.max() - u.min(), 1e-6)
        else:
            cx, cy = rng.uniform(0, 1, 2)
            t = np.clip(np.hypot(xx - cx, yy - cy) / rng.uniform(0.6, 1.1), 0, 1)
        dark = paper * rng.uniform(0.6, 0.75)
        return paper * (1 - t[..., None]) + dark * t[..., None]
    else:
        raise ValueError(f"unknown background {kind!r}")
    return np.where(on[..., None], ink, paper)


def _mask(prims: list[Primitive], n: int, radius: float, centre: np.ndarray, rot: np.ndarray) -> np.ndarray:
    img = Image.new("L", (n, n), 0)
    draw = ImageDraw.Draw(img)
    for poly, fill in prims:
        pts = poly @ rot.T * radius + centre
        draw.polygon([tuple(p) for p in pts], fill=fill)
    return np.asarray(img) > 127


def render_family(attrs: Attributes, rng: np.random.Generator, side: int = 128) -> tuple[Image.Image, np.ndarray]:
    """Draw one object of ``attrs`` (a random member of its shape's family); image and boolean mask."""
    scale = int(rng.choice([1, 2, 3, 4]))
    n = side * scale
    lo, hi = RADIUS[attrs.size]
    radius = rng.uniform(lo, hi) * n
    centre = rng.uniform(radius * 0.97, n - radius * 0.97, 2)
    angle = rng.uniform(0, 2 * math.pi)
    stretch = np.diag(rng.uniform(0.88, 1.12, 2))
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]) @ stretch
    if rng.random() < 0.5:
        rot = rot @ np.diag([-1.0, 1.0])  # mirror image
    region = _mask(shape_primitives(attrs.shape, rng), n, radius, centre, rot)

    img = _background(attrs.background, n, rng)
    colour = np.clip(np.array(COLOURS[attrs.colour], float) * rng.uniform(0.85, 1.12) + rng.normal(0, 10, 3), 0, 255)
    depth = ndimage.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]  # pixels to the outside
    stroke = max(1.0, rng.uniform(0.07, 0.2) * radius)
    if attrs.style == "filled":
        img[region] = colour
        if rng.random() < 0.5:  # a rim in a darker or lighter shade
            rim = region & (depth <= max(1.0, stroke * 0.35))
            img[rim] = np.clip(colour * rng.uniform(0.65, 1.25), 0, 255)
    elif attrs.style == "outline":
        img[region & (depth <= stroke)] = colour
    else:  # sketch: hatching at a random angle inside, and a broken contour
        yy, xx = np.mgrid[0:n, 0:n]
        a = rng.uniform(0, math.pi)
        period = max(3.0, radius * rng.uniform(0.14, 0.26))
        hatch = ((xx * math.cos(a) + yy * math.sin(a)) / period) % 1.0 < rng.uniform(0.3, 0.55)
        contour = region & (depth <= max(1.0, stroke * 0.45))
        gaps = np.sin(np.arctan2(yy - centre[1], xx - centre[0]) * rng.integers(4, 10) + rng.uniform(0, 6))
        img[(region & hatch) | (contour & (gaps > -0.5))] = colour * rng.uniform(0.8, 1.0)
    out = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
    if scale > 1:
        resample = [Image.Resampling.BOX, Image.Resampling.BILINEAR, Image.Resampling.LANCZOS][int(rng.integers(3))]
        out = out.resize((side, side), resample)
        region = region.reshape(side, scale, side, scale).mean((1, 3)) >= 0.5
    return out, region

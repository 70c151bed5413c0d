"""A user uploads a shape drawn by someone else: does the demo model find that shape?

Two drawers the model never trained on: the project's independent renderer and a third one
written here with PIL's own primitives (ellipse, regular polygons, rectangles) and a new palette.
Each drawing is used as the reference of a query that keeps the shape and changes another
attribute; the query succeeds when the top 5 results show the drawing's shape.
"""

import math

import numpy as np
import pytest
from PIL import Image, ImageDraw

from infocir.data import demo_world as W
from infocir.data import independent_world as I

# A palette unlike both renderers' (muted, darker tones).
THIRD_PALETTE = {
    "red": (170, 20, 30),
    "orange": (230, 120, 40),
    "yellow": (225, 190, 20),
    "green": (70, 130, 40),
    "blue": (40, 60, 160),
    "purple": (100, 40, 140),
    "pink": (230, 100, 160),
    "brown": (100, 60, 30),
}
# Modifications that keep the shape: the target shares it.
KEEP_SHAPE = ("make it {colour}", "on a striped background", "as a sketch", "make it bigger", "in {colour} instead")


def third_drawer(shape: str, colour: str, rng: np.random.Generator, side: int = 128) -> Image.Image:
    """PIL primitives, placed anywhere: a different hand again from both demo renderers."""
    img = Image.new("RGB", (side, side), tuple(int(v) for v in rng.integers(225, 250, 3)))
    d = ImageDraw.Draw(img)
    r = rng.uniform(0.2, 0.36) * side
    cx, cy = rng.uniform(r, side - r, 2)
    fill = THIRD_PALETTE[colour]
    rot = float(rng.uniform(0, 360))
    if shape == "circle":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif shape == "square":
        d.regular_polygon((cx, cy, r), 4, rotation=rot, fill=fill)
    elif shape == "triangle":
        d.regular_polygon((cx, cy, r), 3, rotation=rot, fill=fill)
    elif shape in ("star", "arrow", "cross"):
        if shape == "star":
            pts = [(1.0 if k % 2 == 0 else 0.45, k * math.pi / 5) for k in range(10)]
            pts = [(rad * math.cos(a), rad * math.sin(a)) for rad, a in pts]
        elif shape == "arrow":
            pts = [(-1, -0.25), (0.1, -0.25), (0.1, -0.65), (1, 0), (0.1, 0.65), (0.1, 0.25), (-1, 0.25)]
        else:
            a = 0.32
            pts = [
                (-a, -1),
                (a, -1),
                (a, -a),
                (1, -a),
                (1, a),
                (a, a),
                (a, 1),
                (-a, 1),
                (-a, a),
                (-1, a),
                (-1, -a),
                (-a, -a),
            ]
        t = math.radians(rot)
        d.polygon(
            [
                (cx + r * (x * math.cos(t) - y * math.sin(t)), cy + r * (x * math.sin(t) + y * math.cos(t)))
                for x, y in pts
            ],
            fill=fill,
        )
    elif shape == "heart":
        # Two discs and a triangle.
        for sx in (-1, 1):
            d.ellipse(
                [cx + sx * r * 0.45 - r * 0.5, cy - r * 0.75, cx + sx * r * 0.45 + r * 0.5, cy + r * 0.25], fill=fill
            )
        d.polygon([(cx - r * 0.93, cy - r * 0.1), (cx + r * 0.93, cy - r * 0.1), (cx, cy + r)], fill=fill)
    elif shape == "crescent":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
        off = r * 0.45
        bg = img.getpixel((0, 0))
        d.ellipse([cx - r + off, cy - r - off * 0.2, cx + r * 0.85 + off, cy + r * 0.8 - off * 0.2], fill=bg)
    return img


def _drawings(n_per_shape: int):
    """(shape, image) pairs: half from the independent renderer, half from the third drawer."""
    out = []
    for si, shape in enumerate(W.SHAPES):
        for k in range(n_per_shape):
            rng = np.random.default_rng([11, si, k])
            colour = list(W.COLOURS)[int(rng.integers(8))]
            if k % 2 == 0:
                attrs = W.Attributes(shape, colour, "large", W.BACKGROUNDS[k % 5], "filled")
                img, _ = I.render(attrs, rng)
            else:
                img = third_drawer(shape, colour, rng)
            out.append((shape, colour, img))
    return out


def shape_hits(engine, drawings, method: str = "searle", k: int = 5) -> tuple[float, float]:
    """(share of queries whose top k hold the drawing's shape, mean share of the top k that do)."""
    hit, precision = [], []
    for qi, (shape, colour, img) in enumerate(drawings):
        other = [c for c in W.COLOURS if c != colour][qi % 7]
        text = KEEP_SHAPE[qi % len(KEEP_SHAPE)].format(colour=other)
        res = engine.search(img, text, k=k, method=method)
        shapes = [iid.split("/")[0] for iid in res.ids]
        hit.append(shape in shapes)
        precision.append(shapes.count(shape) / k)
    return float(np.mean(hit)), float(np.mean(precision))


@pytest.mark.slow
def test_drawings_by_other_hands_retrieve_their_shape(demo_world_engine):
    engine, _ = demo_world_engine
    drawings = _drawings(6)  # 48 queries: 24 per drawer
    hit, precision = shape_hits(engine, drawings)
    # Measured on this world: 1.0 with the shipped (issue-20, stage-5) model, both drawers, precision@5
    # 0.929 (0.975, 0.967, 0.871 and 0.85 with the round-6 to round-3 students); 0.896 with the stage-4 model,
    # 0.729 before stage 4.
    # Issue 20 asks for 0.90.
    assert hit >= 0.95 and precision >= 0.90, (hit, precision)

"""The independent renderer: the demo vocabulary drawn by code that shares no drawing with the
training generator, objects anywhere, at any rotation, 15–80 % of the side."""

import ast
import csv
import inspect
import json
import math

import numpy as np
import pytest

from infocir.data import demo_world as W
from infocir.data import independent_world as I


def test_shares_no_drawing_code_with_the_training_generator():
    tree = ast.parse(inspect.getsource(I))
    imported = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            imported.setdefault(node.module, set()).update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            for a in node.names:
                imported.setdefault(a.name, set())
    # From the training generator only the vocabulary and the dataset file writer.
    assert imported["infocir.data.demo_world"] <= {
        "ATTRIBUTES",
        "SHAPES",
        "VALUES",
        "Attributes",
        "all_combinations",
        "write_world",
    }
    # PIL only wraps the finished array: no PIL drawing, filtering or resampling.
    assert imported.get("PIL") == {"Image"}
    source = inspect.getsource(I)
    for call in ("ImageDraw", "ImageFilter", ".resize(", ".filter(", "GaussianBlur"):
        assert call not in source


def _bbox(mask):
    ys, xs = np.nonzero(mask)
    return xs.min(), xs.max(), ys.min(), ys.max()


@pytest.mark.parametrize("size", W.SIZES)
def test_objects_are_anywhere_at_any_rotation_within_their_size_range(size):
    lo, hi = I.EXTENT[size]
    centres, angles = [], []
    for k in range(60):
        rng = np.random.default_rng([3, k])
        place = I.sample_placement(size, rng)
        assert lo <= place.extent <= hi
        r = place.extent / 2
        assert r <= place.cx <= 1 - r and r <= place.cy <= 1 - r  # the object stays in the frame
        centres.append((place.cx, place.cy))
        angles.append(place.angle)
        # The drawn circle's mask has the sampled extent (0.95 of the bounding circle's diameter).
        attrs = W.Attributes("circle", "red", size, "plain", "filled")
        _, mask = I.render(attrs, np.random.default_rng(0), side=128, placement=place)
        x0, x1, y0, y1 = _bbox(mask)
        assert abs((x1 - x0 + 1) / 128 - 0.95 * place.extent) < 0.03
        assert abs((x0 + x1 + 1) / 256 - place.cx) < 0.02 and abs((y0 + y1 + 1) / 256 - place.cy) < 0.02
    centres_ = np.array(centres)
    # Not near-central: the centres reach every quadrant, and rotations cover the circle.
    quadrants = {(cx > 0.5, cy > 0.5) for cx, cy in centres_}
    assert len(quadrants) == 4
    assert np.ptp(angles) > 1.5 * math.pi


def test_filled_objects_are_their_colour_and_the_mask_is_the_object():
    for ci, colour in enumerate(W.COLOURS):
        attrs = W.Attributes(W.SHAPES[ci], colour, "large", "striped", "filled")
        img, mask = I.render(attrs, np.random.default_rng(ci))
        arr = np.asarray(img, float)
        inner = mask & np.roll(mask, 2, 0) & np.roll(mask, -2, 0) & np.roll(mask, 2, 1) & np.roll(mask, -2, 1)
        mean = arr[inner].mean(0)
        assert np.abs(mean - np.array(I.PALETTE[colour])).max() < 16  # the palette ± its jitter
        # Outside the object: the pale background, far from the object's colour.
        assert np.abs(arr[~mask].mean(0) - mean).max() > 40


def test_outline_and_sketch_leave_the_inside_mostly_background():
    for style, (lo, hi) in (("outline", (0.05, 0.6)), ("sketch", (0.1, 0.75)), ("filled", (0.95, 1.0))):
        attrs = W.Attributes("square", "blue", "large", "plain", style)
        img, mask = I.render(attrs, np.random.default_rng(1))
        arr = np.asarray(img, float)
        blue = np.abs(arr - np.array(I.PALETTE["blue"])).max(-1) < 60
        assert lo <= blue[mask].mean() <= hi, style


def test_render_is_deterministic_and_every_shape_differs():
    a = W.Attributes("star", "green", "large", "grid", "filled")
    i1, m1 = I.render(a, np.random.default_rng(5))
    i2, m2 = I.render(a, np.random.default_rng(5))
    assert np.array_equal(np.asarray(i1), np.asarray(i2)) and np.array_equal(m1, m2)
    # Same placement, different shapes: different regions.
    place = I.Placement(0.5, 0.5, 0.7, 0.0)
    masks = {
        s: I.render(W.Attributes(s, "red", "large", "plain", "filled"), np.random.default_rng(0), placement=place)[1]
        for s in W.SHAPES
    }
    for s in W.SHAPES:
        for t in W.SHAPES:
            if s < t:
                iou = (masks[s] & masks[t]).sum() / (masks[s] | masks[t]).sum()
                assert iou < 0.9, (s, t, iou)


def test_generated_dataset_has_the_demo_layout_and_colour_shape_size_queries(tmp_path):
    spec = I.IndependentWorldSpec(seed=3, replicates=1, side=32, n_queries=30)  # small images: fast
    root = I.generate_dataset(tmp_path / "indep", spec, workers=1)
    rows = list(csv.DictReader(open(root / "attributes.csv")))
    assert len(rows) == len(W.all_combinations())
    assert {p.name for p in root.iterdir() if p.is_dir()} == set(W.SHAPES)
    queries = json.loads((root / "queries.json").read_text())
    assert len(queries) == 30 and {q["attribute"] for q in queries} == {"colour", "shape", "size"}
    by_id = {r["image_id"]: r for r in rows}
    for q in queries:
        ref = by_id[q["reference_id"]]
        for t in q["target_ids"]:
            tgt = by_id[t]
            assert tgt[q["attribute"]] == q["new_value"] != ref[q["attribute"]]
            assert all(tgt[a] == ref[a] for a in W.ATTRIBUTES if a != q["attribute"])
    masks = W.read_masks(root)
    assert len(masks) == len(rows)
    # The files are the renderer's images: the first is combination 0 drawn with render_pool's stream.
    first = rows[0]
    assert first["image_id"] == W.image_id(W.all_combinations()[0], 0)
    expected, _ = I.render(W.all_combinations()[0], np.random.default_rng([3, 0, 0, I._SALT]), 32)
    from PIL import Image

    assert np.array_equal(np.asarray(Image.open(root / first["image_id"]).convert("RGB")), np.asarray(expected))

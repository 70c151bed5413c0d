"""The committed demo CLIP and its SEARLE φ: they load offline and their answers are meaningful."""

import json

import numpy as np
import pytest

from infocir.config import AppConfig
from infocir.engine import bundle_for
from infocir.models.encoders import ASSET_DIR, file_sha256
from infocir.models.textual_inversion import load_phi

WEIGHTS = ASSET_DIR / "InfoCIR-Demo-ViT.pt"
PHI = ASSET_DIR / "InfoCIR-Demo-ViT.searle-phi.pt"
pytestmark = pytest.mark.skipif(not WEIGHTS.exists(), reason="demo weights not trained yet")


@pytest.fixture(scope="module")
def bundle():
    return bundle_for(AppConfig())  # the defaults: the demo model with pretrained='demo'


def test_committed_weights_load_offline_with_manifest(bundle):
    assert bundle.name == "InfoCIR-Demo-ViT" and bundle.weights_hash == file_sha256(WEIGHTS)
    assert WEIGHTS.stat().st_size <= 25e6 and PHI.stat().st_size <= 10e6
    manifest = json.loads((ASSET_DIR / "InfoCIR-Demo-ViT.manifest.json").read_text())
    assert manifest["config"]["vision_cfg"]["patch_size"] == 8 and "student" in manifest["evaluation_heldout"]
    phi = load_phi(PHI, bundle.embed_dim, bundle.token_dim)
    assert phi.layers[0].in_features == bundle.embed_dim and phi.layers[6].out_features == bundle.token_dim


def test_zero_shot_attributes_far_above_chance(bundle):
    from infocir.models.train_demo import evaluate

    images, attrs = _subset(bundle.image_size, "standard")
    res = evaluate(bundle, images, attrs)
    # chance: shape/colour 1/8, background 1/5, style 1/3; the trained model measured ≥ 0.95 on all of them
    assert res["zero_shot_shape"] >= 0.80
    assert res["zero_shot_colour"] >= 0.90
    assert res["zero_shot_background"] >= 0.80 and res["zero_shot_style"] >= 0.80


def test_searle_beats_the_baselines_on_demo_queries(demo_world_engine):
    from infocir.evaluation.benchmarks import demo_benchmark
    from infocir.evaluation.harness import evaluate

    engine, root = demo_world_engine
    r = evaluate(engine, demo_benchmark(root), ["image", "text", "average", "searle"])
    best_baseline = max(r[m]["mAP@10"] for m in ("image", "text", "average"))
    assert r["searle"]["mAP@10"] > best_baseline


# Bars on the independent renderer, a little under what the shipped (issue-20, stage-5) model measures
# on these 320 images: colour ≥ 0.994, size ≥ 0.987 (all, small, large), shape 0.875 (small 0.807,
# large 0.943); the round-6 student before stage 5: colour 1.0, size ≥ 0.994, shape 0.881 (0.807,
# 0.956); the earlier issue-20 students: shape 0.869 (0.789, 0.950), 0.834 (0.727, 0.943); the
# stage-4 model: colour 0.969, size 0.912, shape 0.397.  Issue 20 asks for shape ≥ 0.90 for small
# and large objects; the shipped model does not reach it on small ones (see README).
COLOUR_BAR, SIZE_BAR = 0.95, 0.95
SHAPE_BAR, SHAPE_SMALL_BAR, SHAPE_LARGE_BAR = 0.86, 0.78, 0.93


def _subset(size: int, renderer: str = "independent", n: int = 320, seed: int = 2024):
    """``n`` fresh images (a spread of attribute combinations) drawn by the training generator
    (``standard``) or the independent renderer, as model input, with their attribute indices."""
    import torch

    from infocir.data import demo_world as W
    from infocir.data import independent_world as I
    from infocir.models.train_demo import _input_transform

    tf = _input_transform(size)
    combos = W.all_combinations()
    draw = W.render if renderer == "standard" else I.render
    pick = np.random.default_rng(seed).choice(len(combos), n, replace=False)
    images, rows = [], []
    for ci in pick:
        a = combos[ci]
        img, _ = draw(a, np.random.default_rng([seed, int(ci)]))
        images.append(tf(img))
        rows.append(a.indices())
    return torch.stack(images), torch.tensor(rows)


def test_zero_shot_on_images_drawn_by_the_independent_renderer(bundle):
    """Images from code the model never trained on (objects anywhere, any rotation, 15–80 % of the side)."""
    from infocir.models.train_demo import encode_images, evaluate_features

    images, attrs = _subset(bundle.image_size)
    feats = encode_images(bundle, images)
    res = evaluate_features(bundle, feats, attrs)
    small = attrs[:, 2] == 0
    res_small = evaluate_features(bundle, feats[bundle.tensor(small)], attrs[small])
    res_large = evaluate_features(bundle, feats[bundle.tensor(~small)], attrs[~small])
    for r in (res, res_small, res_large):
        assert r["zero_shot_colour"] >= COLOUR_BAR and r["zero_shot_size"] >= SIZE_BAR
    assert res["zero_shot_shape"] >= SHAPE_BAR, res
    assert res_small["zero_shot_shape"] >= SHAPE_SMALL_BAR, res_small
    assert res_large["zero_shot_shape"] >= SHAPE_LARGE_BAR, res_large

    # evaluate-demo's breakdown of the same predictions adds back up to the accuracy above.
    from infocir.data.demo_world import SHAPES
    from infocir.models.demo_eval import shape_breakdown, shape_predictions

    rows = attrs.numpy()
    parts = shape_breakdown(shape_predictions(bundle, feats), rows, top=100)
    counts = np.bincount(rows[:, 0], minlength=len(SHAPES))
    from_parts = sum(counts[SHAPES.index(name)] * r for name, r in parts.by_shape.items()) / len(rows)
    assert from_parts == pytest.approx(res["zero_shot_shape"])
    assert sum(n for *_, n in parts.mistakes) == round((1 - res["zero_shot_shape"]) * len(rows))


def test_shape_breakdown_by_hand():
    """Five images counted by hand: rates per drawn shape and per (size, style), the mistakes in
    order, and classes absent from the images left out rather than reported as 0 %."""
    from infocir.data.demo_world import SHAPES
    from infocir.models.demo_eval import shape_breakdown

    heart, circle, cross, star = (SHAPES.index(s) for s in ("heart", "circle", "cross", "star"))
    # columns: shape, colour, size (0 small, 1 large), background, style (0 filled, 1 outline, 2 sketch)
    rows = np.array(
        [[heart, 0, 0, 0, 0], [heart, 1, 0, 0, 1], [heart, 0, 1, 0, 0], [cross, 0, 0, 0, 2], [circle, 0, 1, 0, 1]]
    )
    called = np.array([circle, circle, heart, star, circle])
    got = shape_breakdown(called, rows)
    assert got.by_shape == {"circle": 1.0, "heart": pytest.approx(1 / 3), "cross": 0.0}
    assert got.by_style == {
        "small": {"filled": 0.0, "outline": 0.0, "sketch": 0.0},
        "large": {"filled": 1.0, "outline": 1.0},
    }
    assert got.mistakes == [("heart", "circle", 2), ("cross", "star", 1)]
    assert shape_breakdown(called, rows, top=1).mistakes == [("heart", "circle", 2)]

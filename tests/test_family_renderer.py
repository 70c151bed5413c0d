"""The second training renderer: shape families, placement, sizes and styles, checked on its masks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from infocir.data import demo_world as W
from infocir.data.family_renderer import RADIUS, render_family, shape_primitives

BASE = W.Attributes("star", "red", "large", "plain", "filled")


def test_a_seed_draws_the_same_image_and_another_seed_another():
    a, _ = render_family(BASE, np.random.default_rng([1, 2]), 64)
    b, _ = render_family(BASE, np.random.default_rng([1, 2]), 64)
    c, _ = render_family(BASE, np.random.default_rng([1, 3]), 64)
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))
    assert a.size == (64, 64) and a.mode == "RGB"


@pytest.mark.parametrize("shape", W.SHAPES)
def test_each_shape_is_one_object_inside_the_frame_with_the_size_s_area(shape):
    side = 96
    areas = {}
    for size in W.SIZES:
        fractions = []
        for i in range(12):
            _, mask = render_family(BASE.replace("shape", shape).replace("size", size), np.random.default_rng(i), side)
            assert mask.any(), (shape, size, i)
            # the object never touches the border much: it is placed wholly inside the frame
            border = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
            assert border.mean() < 0.05
            fractions.append(mask.mean())
            if size == "large":  # one connected object (a cross's arms and an arrow's head included);
                # a sharp tip can leave a stray pixel where the mask is downsampled
                labels, k = ndimage.label(mask, structure=np.ones((3, 3)))
                assert np.bincount(labels[mask]).max() >= 0.97 * mask.sum(), (shape, i, k)
        areas[size] = np.median(fractions)
    # an object's area is at most its bounding disc's: π r²; large objects cover far more than small ones
    hi = RADIUS["small"][1]
    assert areas["small"] <= np.pi * hi**2
    assert areas["large"] > 3 * areas["small"]


def test_proportions_vary_within_a_family():
    """Two draws of one shape differ in proportion, not only in pose (e.g. a star's inner radius)."""
    stars = [shape_primitives("star", np.random.default_rng(i))[0][0] for i in range(20)]
    inner = [np.linalg.norm(p[1::2], axis=1).mean() / np.linalg.norm(p[0::2], axis=1).mean() for p in stars]
    assert max(inner) - min(inner) > 0.1
    crosses = [shape_primitives("cross", np.random.default_rng(i))[0][0] for i in range(20)]
    arm = [np.abs(p[:, 0]).max() for p in crosses]  # half-width of the vertical arm
    assert max(arm) - min(arm) > 0.08


@pytest.mark.parametrize("style", W.VALUES["style"])
def test_styles_paint_the_object_s_inside_or_its_edge(style):
    rng = np.random.default_rng(5)
    img, mask = render_family(BASE.replace("style", style).replace("background", "plain"), rng, 128)
    px = np.asarray(img, float)
    red = (px[..., 0] - px[..., 1:].mean(-1)) > 60  # the red object's pixels on a pale plain paper
    inside = red[mask].mean()
    if style == "filled":
        assert inside > 0.8
    elif style == "outline":  # a ring: the interior's core stays paper
        core = ndimage.binary_erosion(mask, iterations=6)
        assert 0.1 < inside < 0.9 and red[core].mean() < 0.5
    else:  # sketch: hatching covers part of the inside
        assert 0.15 < inside < 0.85
    assert red[~ndimage.binary_dilation(mask, iterations=2)].mean() < 0.01


def test_training_pools_take_the_family_renderer():
    from infocir.models.train_demo import build_pool

    images, attrs = build_pool(3, 1, 32, workers=1, renderer="family")
    assert images.shape == (1920, 3, 32, 32) and str(images.dtype) == "torch.uint8"
    assert attrs[:, 0].tolist() == [c.indices()[0] for c in W.all_combinations()]

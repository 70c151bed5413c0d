"""Quality of a CLIP model on freshly drawn demo-vocabulary images (what ``evaluate-demo`` prints).

Three renderers draw the held-out images:

* ``standard``: the generator the model trained on, in the shipped world's layout;
* ``varied``: the same generator with ``demo_world.render_varied`` (training used other seeds);
* ``independent``: ``data.independent_world``, code the model never saw (other outlines,
  rasterisation, palette; objects anywhere, any rotation, 15–80 % of the side).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from infocir.models.encoders import ClipBundle

DEMO_RENDERERS = ("standard", "varied", "independent")


def heldout_images(renderer: str, seed: int, replicates: int, size: int):
    """uint8 images ``[N, 3, size, size]`` (open_clip's resize + centre crop) and attribute indices ``[N, 5]``."""
    import torch

    from infocir.models.train_demo import _input_transform, build_pool

    if renderer not in DEMO_RENDERERS:
        raise ValueError(f"renderer must be one of {DEMO_RENDERERS}, not {renderer!r}")
    if renderer != "independent":
        return build_pool(seed, replicates, size, renderer=renderer)
    from infocir.data.independent_world import render_pool

    images, attrs = render_pool(seed, replicates)
    tf = _input_transform(size)
    return torch.stack([tf(im) for im in images]), torch.from_numpy(attrs)  # host: uint8, moved in _normalize


def evaluate_bundle(
    bundle: ClipBundle, seed: int = 999, replicates: int = 1, renderer: str = "standard"
) -> dict[str, float]:
    """Zero-shot accuracy per attribute, for all images and for small and large objects separately,
    and full-caption text→image Recall@1/@10.

    The images are freshly rendered with ``seed`` (the shipped dataset uses seed 0 and training
    used 1234), one per attribute combination by default (1,920 images).
    """
    report = heldout_report(bundle, seed, replicates, renderer)
    return {**report.figures, "n_images": report.n_images}


@dataclass(frozen=True)
class HeldoutReport:
    """What ``evaluate-demo`` prints: ``evaluate_bundle``'s figures and where shape fails."""

    figures: dict[str, float]
    shapes: ShapeBreakdown
    n_images: int


def heldout_report(
    bundle: ClipBundle, seed: int = 999, replicates: int = 1, renderer: str = "standard"
) -> HeldoutReport:
    """``evaluate_bundle``'s figures and the ``ShapeBreakdown`` from one encoding of the images."""
    return report_on(bundle, *heldout_images(renderer, seed, replicates, bundle.image_size))


def report_on(bundle: ClipBundle, images, attrs) -> HeldoutReport:
    """``heldout_report`` on images already rendered (uint8 ``[N, 3, S, S]``, attribute rows ``[N, 5]``)."""
    from infocir.models.train_demo import encode_images

    bundle.model.eval()
    feats = encode_images(bundle, images)
    return HeldoutReport(
        figures=_figures(bundle, feats, attrs),
        shapes=shape_breakdown(shape_predictions(bundle, feats), attrs.numpy()),
        n_images=len(images),
    )


def _figures(bundle: ClipBundle, feats, attrs) -> dict[str, float]:
    from infocir.data.demo_world import SIZES
    from infocir.models.train_demo import evaluate_features

    res = evaluate_features(bundle, feats, attrs)  # the size subsets are slices of the one encoding
    size_col = attrs[:, 2].numpy()
    for si, size in enumerate(SIZES):
        sel = np.flatnonzero(size_col == si)
        part = evaluate_features(bundle, feats[bundle.tensor(sel)], attrs[sel])
        for key in ("zero_shot_shape", "zero_shot_colour", "zero_shot_size"):
            res[f"{key}_{size}"] = part[key]
    return res


@dataclass(frozen=True)
class ShapeBreakdown:
    """Where zero-shot shape fails: accuracy by drawn shape, by style for each object size, and the
    commonest mistakes as (drawn, called, count), most frequent first."""

    by_shape: dict[str, float]
    by_style: dict[str, dict[str, float]]
    mistakes: list[tuple[str, str, int]]


def shape_breakdown(predicted: np.ndarray, attrs: np.ndarray, top: int = 6) -> ShapeBreakdown:
    """``ShapeBreakdown`` of predicted shape indices ``[N]`` against attribute rows ``[N, 5]``
    (``demo_world.ATTRIBUTES`` order); classes absent from the images are left out."""
    from infocir.data.demo_world import ATTRIBUTES, SHAPES, SIZES, STYLES

    shape, size, style = (attrs[:, ATTRIBUTES.index(a)] for a in ("shape", "size", "style"))
    right = predicted == shape

    def rate(sel: np.ndarray) -> float | None:
        return float(right[sel].mean()) if sel.any() else None

    by_shape = {s: r for i, s in enumerate(SHAPES) if (r := rate(shape == i)) is not None}
    by_style = {
        z: {st: r for k, st in enumerate(STYLES) if (r := rate((size == j) & (style == k))) is not None}
        for j, z in enumerate(SIZES)
        if (size == j).any()
    }
    pairs = Counter(zip(shape[~right].tolist(), predicted[~right].tolist(), strict=True))
    mistakes = [(SHAPES[d], SHAPES[c], n) for (d, c), n in pairs.most_common(top)]
    return ShapeBreakdown(by_shape, by_style, mistakes)


def shape_predictions(bundle: ClipBundle, feats) -> np.ndarray:
    """Zero-shot shape index per unit image feature row (the prompts ``evaluate_features`` scores)."""
    from infocir.models.train_demo import attribute_text_features

    return (feats @ attribute_text_features(bundle)["shape"].T).argmax(1).cpu().numpy()

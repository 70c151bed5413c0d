"""Quality of a CLIP model on freshly drawn demo-vocabulary images (what ``evaluate-demo`` prints).

Three renderers draw the held-out images:

* ``standard``: the generator the model trained on, in the shipped world's layout;
* ``varied``: the same generator with ``demo_world.render_varied`` (training used other seeds);
* ``independent``: ``data.independent_world``, code the model never saw (other outlines,
  rasterisation, palette; objects anywhere, any rotation, 15–80 % of the side).
"""

from __future__ import annotations

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
    images, attrs = heldout_images(renderer, seed, replicates, bundle.image_size)
    res = evaluate_images(bundle, images, attrs)
    res["n_images"] = len(images)
    return res


def evaluate_images(bundle: ClipBundle, images, attrs) -> dict[str, float]:
    """``evaluate_bundle``'s figures on given uint8 images ``[N, 3, S, S]`` and attribute rows ``[N, 5]``."""
    from infocir.data.demo_world import SIZES
    from infocir.models.train_demo import encode_images, evaluate_features

    bundle.model.eval()
    feats = encode_images(bundle, images)  # once: the size subsets are slices of it
    res = evaluate_features(bundle, feats, attrs)
    size_col = attrs[:, 2].numpy()
    for si, size in enumerate(SIZES):
        sel = np.flatnonzero(size_col == si)
        part = evaluate_features(bundle, feats[bundle.tensor(sel)], attrs[sel])
        for key in ("zero_shot_shape", "zero_shot_colour", "zero_shot_size"):
            res[f"{key}_{size}"] = part[key]
    return res

"""Faithfulness of saliency maps (pytorch-grad-cam style deletion / insertion), and how much of
a map's mass falls on the object (the demo world knows every object's mask).

Deletion: patches are replaced by the baseline (the normalised dataset mean, i.e. 0) in
decreasing saliency order and the target score is tracked; a faithful map makes it fall fast
(low area under the curve).  Insertion starts from the baseline image and adds patches in the
same order; a faithful map makes the score rise fast (high area).  Curves are taken over the
fraction of patches changed, so the area is the mean score along the curve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from infocir.explain.base import Target, patch_grid

if TYPE_CHECKING:
    import torch


@dataclass
class Curves:
    deletion: np.ndarray  # score after removing the first j patches, j = 0..n
    insertion: np.ndarray  # score after inserting the first j patches

    @property
    def deletion_auc(self) -> float:
        return auc(self.deletion)

    @property
    def insertion_auc(self) -> float:
        return auc(self.insertion)


def auc(curve: np.ndarray) -> float:
    """Area under a curve sampled at evenly spaced fractions 0..1 (trapezoid rule)."""
    c = np.asarray(curve, np.float64)
    return float(((c[1:] + c[:-1]) / 2).mean()) if len(c) > 1 else float(c.mean())


def patch_masks(order: np.ndarray, grid: tuple[int, int], side: int) -> torch.Tensor:
    """Pixel masks [n+1, 1, side, side] (host, float32): row j keeps exactly the first j patches of ``order``."""
    import torch

    gh, gw = grid
    n = gh * gw
    position = np.empty(n, np.int64)
    position[order] = np.arange(n)  # where each patch comes in the order
    keep = (position[None, :] < np.arange(n + 1)[:, None]).astype(np.float32)
    m = torch.from_numpy(keep).reshape(n + 1, 1, gh, gw)  # host: the caller moves the masks with bundle.tensor
    return torch.nn.functional.interpolate(m, size=(side, side), mode="nearest")


def deletion_insertion(bundle, pixels: torch.Tensor, target: Target, saliency: np.ndarray, batch: int = 64) -> Curves:
    """Deletion and insertion curves of ``saliency`` (on the patch grid) for one preprocessed image
    [1, 3, S, S] on the bundle's device."""
    import torch

    model = bundle.model
    grid = patch_grid(model.visual)
    order = np.argsort(-np.asarray(saliency, np.float64).ravel(), kind="stable")
    masks = bundle.tensor(patch_masks(order, grid, pixels.shape[-1]))
    baseline = torch.zeros_like(pixels)

    def scores(images: torch.Tensor) -> np.ndarray:
        out = []
        with bundle.encoding():
            for i in range(0, len(images), batch):
                out.append(bundle.numpy(target(model.encode_image(images[i : i + batch]))))
        return np.concatenate(out)

    deleted = pixels * (1 - masks) + baseline * masks
    inserted = baseline * (1 - masks) + pixels * masks
    return Curves(scores(deleted), scores(inserted))


def mask_mass(saliency: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(fraction of the saliency mass inside ``mask``, the mask's share of the area); both maps on
    the same pixel grid.  Their ratio is 1 for a map that ignores the object; the fraction is nan for an
    empty map (no positive mass: it points nowhere)."""
    s = np.clip(np.asarray(saliency, np.float64), 0, None)
    m = np.asarray(mask, bool)
    total = s.sum()
    return (float(s[m].sum() / total) if total > 0 else float("nan")), float(m.mean())

"""Faithfulness of saliency maps (pytorch-grad-cam style deletion / insertion), and how much of
a map's mass falls on the object (the demo world knows every object's mask).

Deletion: patches are replaced by the baseline (the normalised dataset mean, i.e. 0) in
decreasing saliency order and the target score is tracked; a faithful map makes it fall fast
(low area under the curve).  Insertion starts from a canvas and adds patches in the same order; a
faithful map makes the score rise fast (high area).  Curves are taken over the fraction of patches
changed, so the area is the mean score along the curve.

Two insertion canvases: ``mean`` (the deletion baseline) and ``blur``, RISE's (Petsiuk et al.,
BMVC 2018: a blurred copy of the image, their kernel 11 px wide with sigma 5 on a 224-px input,
here scaled to the input's side).  On a mean canvas the first patches inserted also restore the
background's colour, which every caption names; on a blurred one the background is there from the
start and the curve asks which patches' detail the score needs.
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


INSERTION_CANVASES = ("mean", "blur")
RISE_SIDE, RISE_KERNEL, RISE_SIGMA = 224, 11, 5.0  # RISE's blur: an 11-px kernel, sigma 5, on 224-px inputs


def rise_kernel(side: int) -> tuple[int, float]:
    """(kernel width, sigma) of RISE's insertion blur scaled from its 224-px input to ``side`` px:
    exactly (11, 5.0) at 224; the width is odd and at least 3."""
    width = max(3, int(round(RISE_KERNEL * side / RISE_SIDE)) | 1)
    return width, RISE_SIGMA * side / RISE_SIDE


def blurred(pixels: torch.Tensor) -> torch.Tensor:
    """``pixels`` [N, C, S, S] blurred by RISE's Gaussian scaled to S (per channel, reflected
    borders: padding with zeros would pull the border towards the mean colour)."""
    import torch

    width, sigma = rise_kernel(pixels.shape[-1])
    x = torch.arange(width, dtype=torch.float32) - (width - 1) / 2  # host: moved to the pixels' device below
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = (g / g.sum()).to(device=pixels.device, dtype=pixels.dtype)
    c = pixels.shape[1]
    pad = width // 2
    out = torch.nn.functional.pad(pixels, (pad, pad, pad, pad), mode="reflect")
    out = torch.nn.functional.conv2d(out, g.view(1, 1, 1, width).expand(c, 1, 1, width), groups=c)
    return torch.nn.functional.conv2d(out, g.view(1, 1, width, 1).expand(c, 1, width, 1), groups=c)


def deletion_insertion(
    bundle, pixels: torch.Tensor, target: Target, saliency: np.ndarray, batch: int = 64, canvas: str = "mean"
) -> Curves:
    """Deletion and insertion curves of ``saliency`` (on the patch grid) for one preprocessed image
    [1, 3, S, S] on the bundle's device; ``canvas`` is what insertion starts from (``INSERTION_CANVASES``)."""
    import torch

    if canvas not in INSERTION_CANVASES:
        raise ValueError(f"unknown insertion canvas {canvas!r}; choose one of {', '.join(INSERTION_CANVASES)}")
    model = bundle.model
    grid = patch_grid(model.visual)
    order = np.argsort(-np.asarray(saliency, np.float64).ravel(), kind="stable")
    masks = bundle.tensor(patch_masks(order, grid, pixels.shape[-1]))
    baseline = torch.zeros_like(pixels)
    start = blurred(pixels) if canvas == "blur" else baseline

    def scores(images: torch.Tensor) -> np.ndarray:
        out = []
        with bundle.encoding():
            for i in range(0, len(images), batch):
                out.append(bundle.numpy(target(model.encode_image(images[i : i + batch]))))
        return np.concatenate(out)

    deleted = pixels * (1 - masks) + baseline * masks
    inserted = start * (1 - masks) + pixels * masks
    return Curves(scores(deleted), scores(inserted))


def mask_mass(saliency: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(fraction of the saliency mass inside ``mask``, the mask's share of the area); both maps on
    the same pixel grid.  Their ratio is 1 for a map that ignores the object; the fraction is nan for an
    empty map (no positive mass: it points nowhere)."""
    s = np.clip(np.asarray(saliency, np.float64), 0, None)
    m = np.asarray(mask, bool)
    total = s.sum()
    return (float(s[m].sum() / total) if total > 0 else float("nan")), float(m.mean())


def object_contribution(signed: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Mean of a signed map (aligned to the image) over the object's pixels and over the rest: a negative
    object mean says the object's values lower the score, so the ReLU'd map can only show the rest.  And
    the mass/area of its magnitude |s| (``abs_mass_ratio``): whether the evidence, of either sign, is on
    the object."""
    m = np.asarray(mask, bool)
    s = np.asarray(signed, np.float64)
    frac, area = mask_mass(np.abs(s), m)
    return {
        "object_contribution": float(s[m].mean()) if m.any() else float("nan"),
        "background_contribution": float(s[~m].mean()) if (~m).any() else float("nan"),
        "abs_mass_ratio": frac / area if area > 0 else float("nan"),  # frac is nan for a map zero everywhere
    }

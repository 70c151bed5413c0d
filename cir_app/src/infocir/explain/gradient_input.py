"""Gradient × input: the plain baseline explainer (Simonyan et al. / Shrikumar et al.), pooled
onto the patch grid so it is compared with Grad-ECLIP at the same resolution."""

from __future__ import annotations

import numpy as np

from infocir.explain.base import ImageExplainer, Target, patch_grid, register
from infocir.models.encoders import host_numpy


@register
class GradientInput(ImageExplainer):
    name = "gradient_input"
    label = "Gradient × input"
    order = 20
    description = "|∂S/∂pixel · pixel| summed over colour channels, averaged per patch."

    def grid(self, model, pixels, target: Target) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        gh, gw = patch_grid(model.visual)
        with torch.enable_grad():
            x = pixels.detach().clone().requires_grad_(True)
            score = target(model.encode_image(x)).sum()
            (grad,) = torch.autograd.grad(score, x)
        # Pixels are normalised around the dataset mean, so "input" is the deviation from it.
        rel = (grad * x).sum(1, keepdim=True).abs()
        return host_numpy(F.adaptive_avg_pool2d(rel, (gh, gw))[0, 0])

"""Attention rollout (Abnar & Zuidema, 2020): the class token's attention propagated through
all layers, (0.5·A + 0.5·I) per layer with heads averaged.  It ignores the target: the same
map for every query, which is exactly what makes it a useful contrast to Grad-ECLIP."""

from __future__ import annotations

import numpy as np

from infocir.explain.base import (
    ExplainerUnsupported,
    ImageExplainer,
    Target,
    batch_first,
    capture,
    patch_grid,
    qkv,
    register,
)
from infocir.models.encoders import host_numpy


@register
class AttentionRollout(ImageExplainer):
    name = "rollout"
    label = "Attention rollout"
    order = 30
    description = "Class-token attention multiplied through the layers; independent of the query."
    needs_target = False

    def grid(self, model, pixels, target: Target) -> np.ndarray:
        import torch

        visual = model.visual
        blocks = list(visual.transformer.resblocks)
        gh, gw = patch_grid(visual)
        with torch.inference_mode(), capture([b.attn for b in blocks]) as recs:
            model.encode_image(pixels)
            joint: torch.Tensor | None = None
            for b, rec in zip(blocks, recs, strict=True):
                q, k, _ = qkv(b.attn, batch_first(rec.inputs[-1], b.attn))
                d = q.shape[-1]
                a = torch.softmax(torch.einsum("blhd,bmhd->bhlm", q, k) / d**0.5, dim=-1).mean(1)[0]  # [L, L]
                a = 0.5 * a + 0.5 * torch.eye(a.shape[0], device=a.device, dtype=a.dtype)
                a = a / a.sum(-1, keepdim=True)
                joint = a if joint is None else a @ joint
        if joint is None:
            raise ExplainerUnsupported("attention rollout needs at least one attention block")
        return host_numpy(joint[0, -gh * gw :]).reshape(gh, gw)

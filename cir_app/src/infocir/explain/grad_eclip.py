"""Grad-ECLIP (Zhao et al.) for open_clip ViT image towers.

In the last transformer block: g = ∂S/∂O_cls, the gradient of the target score with respect to
the class token's attention output *before* the output projection; λ_i = min-max normalised
cos(Q_cls, K_i) over the patch tokens; per head h the map is λ_i,h · Σ_c g_c,h · V_i,c,h, and
the heads are summed before the ReLU.  The result lives on the model's real patch grid.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from infocir.explain.base import (
    ExplainerUnsupported,
    ImageExplainer,
    Target,
    batch_first,
    capture,
    minmax,
    patch_grid,
    qkv,
    register,
)
from infocir.models.encoders import host_numpy

if TYPE_CHECKING:
    import torch


def last_attention(visual):
    """The last block's ``nn.MultiheadAttention`` of an open_clip VisionTransformer."""
    return attentions(visual, 1)[-1]


def attentions(visual, layers: int = 1) -> list:
    """The ``nn.MultiheadAttention`` of the last ``layers`` blocks (0: every block) of an open_clip
    VisionTransformer, first to last."""
    blocks = list(getattr(getattr(visual, "transformer", None), "resblocks", None) or [])
    blocks = blocks[-layers:] if layers > 0 else blocks
    if not blocks or not all(hasattr(b, "attn") and hasattr(b.attn, "in_proj_weight") for b in blocks):
        raise ExplainerUnsupported(
            f"Grad-ECLIP needs an open_clip ViT image tower; {type(visual).__name__} has no standard attention blocks."
        )
    return [b.attn for b in blocks]


def attention_contributions(attn, x_in, g_out, anchor: int, keys: slice) -> torch.Tensor:
    """Σ_h λ_i,h · Σ_c g_c,h · V_i,c,h for the key positions ``keys``, with ``anchor`` (CLS or EOT)
    as the query: the core of Grad-ECLIP, shared by the image and the text explainers. ``x_in`` is
    the block's attention input, ``g_out`` the score's gradient at the attention output. [B, n_keys]."""
    import torch.nn.functional as F

    x_in, g_out = batch_first(x_in, attn), batch_first(g_out, attn)
    # Through the output projection: ∂S/∂O = ∂S/∂(O·Wᵀ + b) · W.
    g = g_out[:, anchor] @ attn.out_proj.weight  # [B, W]
    q, k, v = qkv(attn, x_in)
    B, _, H, d = q.shape
    g = g.reshape(B, H, d)
    lam = minmax(F.cosine_similarity(q[:, anchor].unsqueeze(1), k[:, keys], dim=-1), dim=1)  # [B, n, H]
    contrib = (v[:, keys] * g.unsqueeze(1)).sum(-1)  # [B, n, H]
    return (lam * contrib).sum(-1)


@register
class GradECLIP(ImageExplainer):
    name = "grad_eclip"
    label = "Grad-ECLIP"
    order = 10
    signed = True  # the published map is a ReLU'd sum: ``maps`` also gives the sum before it
    description = (
        "Gradient-weighted value features of the last attention block, spatially weighted by query-key similarity."
    )

    def __init__(self, layers: int = 1):
        """``layers``: sum the map over the last n blocks (0: all), each block's contributions ReLU'd; the
        default, the last block alone, is the published method.  More blocks localise the object better on
        the demo model (referring segmentation, ``explain.segmentation``)."""
        if layers < 0:
            raise ValueError(f"layers must be 0 (all) or positive, not {layers}")
        self.layers = layers

    def grid(self, model, pixels, target: Target) -> np.ndarray:
        return self.maps(model, pixels, target)[0]

    def signed_grid(self, model, pixels, target: Target) -> np.ndarray:
        """The map before its ReLU (summed over the blocks): negative where a patch's values move the
        class token away from the target.  ``grid`` keeps only the positive part, so a map whose object
        reads against the target shows the background's small remainder; this says which it was."""
        return self._published_and_signed(model, pixels, target)[1]

    def maps(self, model, pixels, target: Target) -> tuple[np.ndarray, np.ndarray | None]:
        return self._published_and_signed(model, pixels, target)

    def _published_and_signed(self, model, pixels, target: Target) -> tuple[np.ndarray, np.ndarray]:
        """(the published map, the signed map) from one forward and backward."""
        import torch

        parts = self._contributions(model, pixels, target)
        h = torch.relu(parts[0]) if len(parts) == 1 else torch.stack([torch.relu(c) for c in parts]).sum(0)
        return self._on_grid(model, h), self._on_grid(model, torch.stack(parts).sum(0))

    def _contributions(self, model, pixels, target: Target) -> list:
        """Per block (first to last), Σ_h λ·g·V of every token but the class token, [1, n] each."""
        import torch

        attns = attentions(model.visual, self.layers)
        with torch.enable_grad(), capture(attns) as recs:
            pixels = pixels.detach().clone().requires_grad_(True)
            score = target(model.encode_image(pixels)).sum()
            grads = torch.autograd.grad(score, [rec.outputs[-1] for rec in recs])
            return [
                attention_contributions(attn, rec.inputs[-1], g_out, anchor=0, keys=slice(1, None)).detach()
                for attn, rec, g_out in zip(attns, recs, grads, strict=True)
            ]

    @staticmethod
    def _on_grid(model, h) -> np.ndarray:
        gh, gw = patch_grid(model.visual)
        return host_numpy(h[0])[-gh * gw :].reshape(gh, gw)


@register
class GradECLIPMagnitude(GradECLIP):
    """Grad-ECLIP's evidence of either sign: |Σ_h λ·g·V| instead of its ReLU.  Not the published map: where
    the object's values move the class token away from the target, the ReLU keeps only the background's
    remainder, while the magnitude keeps the object.  ``explain-eval`` measures it beside the published
    map; panel F shows the same evidence with its sign ("both")."""

    name = "grad_eclip_magnitude"
    label = "Grad-ECLIP magnitude"
    order = 11
    in_ui = False  # panel F shows this evidence with its sign (the "both" view of Grad-ECLIP)
    signed = False
    description = "The magnitude of Grad-ECLIP's map before its ReLU: evidence for and against the score."

    def maps(self, model, pixels, target: Target) -> tuple[np.ndarray, np.ndarray | None]:
        return np.abs(self._published_and_signed(model, pixels, target)[1]), None

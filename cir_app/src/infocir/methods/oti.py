"""OTI: per-query optimisation of the pseudo-word token (SEARLE's optimisation-based textual
inversion), then the SEARLE prompt. Slow (hundreds of steps) but needs no trained φ; tokens
are cached per (reference, model) so repeating a query is instant."""

from __future__ import annotations

import numpy as np

from infocir.methods.base import MethodContext, Param, Query
from infocir.methods.registry import register
from infocir.methods.searle import Searle
from infocir.models.encoding import l2_normalize

REG_SUFFIXES = ("is shown", "is in the picture", "is the main subject", "is centred in the image")


@register
class OTI(Searle):
    name = "oti"
    order = 21
    parameters = {
        "steps": Param(350, int, 1, 10000, "AdamW steps per reference"),
        "reg_weight": Param(0.5, float, 0.0, 100.0, "weight of the phrase regulariser"),
        "progress": Param(None, object, help="callable(step, total) for progress reports"),
    }
    label = "OTI (optimised token)"
    reference_differentiable = False  # the token is optimised per reference, not a function of it
    slow = True  # hundreds of optimisation steps per new reference
    uses_phi = False
    description = (
        "Optimises the pseudo-word token for the reference (350 AdamW steps), then 'a photo of $ that {text}'."
    )

    def availability(self, ctx: MethodContext) -> tuple[bool, str]:
        return True, ""

    def _concept(self, ctx: MethodContext, query: Query) -> str:
        """The class name whose text best matches the reference: the regulariser's concept word."""
        classes = sorted(set(ctx.index.classes))
        feats = l2_normalize(ctx.encode_text([f"a photo of a {c}" for c in classes]))
        return classes[int(np.argmax(feats @ query.require_reference()))]

    def pseudo_token(self, ctx: MethodContext, query: Query):
        from infocir.models.textual_inversion import oti, regulariser_targets

        steps = int(self.params["steps"])
        reg_weight = float(self.params["reg_weight"])
        raw = query.require_reference(raw=True)
        key = ("oti", query.reference_key or raw.tobytes(), ctx.bundle.weights_hash, steps, reg_weight)
        cache = ctx.cache.setdefault("oti_tokens", {})
        if key not in cache:
            b = ctx.bundle
            concept = "a " + self._concept(ctx, query)
            targets = [regulariser_targets(b, [concept], [s]) for s in REG_SUFFIXES]
            cache[key] = oti(
                b,
                b.tensor(raw[None]),
                reg_targets=targets,
                steps=steps,
                reg_weight=reg_weight,
                progress=self.params.get("progress"),
            ).detach()
        return cache[key]

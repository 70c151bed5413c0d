"""Rocchio relevance feedback (seed 003): move the composed query toward the images marked
relevant and away from those marked non-relevant, q' = α·q + β·mean(rel) − γ·mean(nonrel)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from infocir.methods.base import CIRMethod, MethodContext, MissingInput, Query
from infocir.methods.registry import create_method, register
from infocir.models.encoding import l2_normalize


def rocchio(q: np.ndarray, relevant: np.ndarray, nonrelevant: np.ndarray, alpha: float, beta: float, gamma: float) -> np.ndarray:
    """The Rocchio update of a unit query [D] from feature rows [n, D]; renormalised."""
    out = alpha * q
    if len(relevant):
        out = out + beta * relevant.mean(0)
    if len(nonrelevant):
        out = out - gamma * nonrelevant.mean(0)
    return l2_normalize(out)


@register
class Feedback(CIRMethod):
    name = "feedback"
    label = "Relevance feedback (Rocchio)"
    description = "The base method's query moved toward images marked relevant and away from non-relevant ones."

    def _base(self, ctx: MethodContext) -> CIRMethod:
        name = self.params.get("base") or ctx.config.feedback.base_method
        base = create_method(name)
        if not base.availability(ctx)[0]:
            base = create_method("average")  # a φ-less setup still gets feedback on a vector method
        return base

    def availability(self, ctx: MethodContext) -> tuple[bool, str]:
        return True, ""

    def check(self, ctx: MethodContext, query: Query) -> None:
        self._base(ctx).check(ctx, query)

    def compose(self, ctx: MethodContext, query: Query) -> np.ndarray:
        base = self._base(ctx)
        q = base.compose(ctx, query)
        if q is None:
            raise MissingInput(f"Relevance feedback needs a method that composes one query vector, not {base.label}.")
        fb = ctx.config.feedback

        def rows(ids: Sequence[str]) -> np.ndarray:
            r = [ctx.index.row_of[i] for i in ids if i in ctx.index.row_of]
            return ctx.index.features[r] if r else np.zeros((0, ctx.index.dim), np.float32)

        return rocchio(q, rows(self.params.get("relevant", ())), rows(self.params.get("nonrelevant", ())),
                       float(self.params.get("alpha", fb.alpha)), float(self.params.get("beta", fb.beta)),
                       float(self.params.get("gamma", fb.gamma)))

"""Rocchio relevance feedback (seed 003): move the composed query toward the images marked
relevant and away from those marked non-relevant, q' = α·q + β·mean(rel) − γ·mean(nonrel)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from infocir.methods.base import CIRMethod, MethodContext, MissingInput, Param, Query
from infocir.methods.registry import create_method, fallback_method_name, register
from infocir.models.encoding import l2_normalize


def _or(value, default):
    """A parameter left at None takes the configured value."""
    return default if value is None else value


def rocchio(
    q: np.ndarray, relevant: np.ndarray, nonrelevant: np.ndarray, alpha: float, beta: float, gamma: float
) -> np.ndarray:
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
    order = 40
    parameters = {
        "base": Param(None, str, help="the vector method whose query is moved (default: feedback.base_method)"),
        "relevant": Param((), (list, tuple), help="ids of images marked relevant"),
        "nonrelevant": Param((), (list, tuple), help="ids of images marked not relevant"),
        "alpha": Param(None, float, 0.0, 100.0, "weight of the original query (default: feedback.alpha)"),
        "beta": Param(None, float, 0.0, 100.0, "weight of the relevant mean (default: feedback.beta)"),
        "gamma": Param(None, float, 0.0, 100.0, "weight of the non-relevant mean (default: feedback.gamma)"),
    }
    label = "Relevance feedback (Rocchio)"
    description = "The base method's query moved toward images marked relevant and away from non-relevant ones."

    def _base(self, ctx: MethodContext) -> CIRMethod:
        name = self.params["base"] or ctx.config.feedback.base_method
        base = create_method(name)
        if not base.availability(ctx)[0]:
            base = create_method(fallback_method_name(ctx))  # a φ-less setup still gets feedback on a vector method
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
            return ctx.index.rows([ctx.index.row_of[i] for i in ids if i in ctx.index.row_of])  # float32 copies

        return rocchio(
            q,
            rows(self.params["relevant"] or ()),
            rows(self.params["nonrelevant"] or ()),
            float(_or(self.params["alpha"], fb.alpha)),
            float(_or(self.params["beta"], fb.beta)),
            float(_or(self.params["gamma"], fb.gamma)),
        )

"""Rocchio relevance feedback (seed 003): move the composed query toward the images marked
relevant and away from those marked non-relevant, q' = α·q + β·mean(rel) − γ·mean(nonrel).

Iterations (the page's "Refine", ``evaluation/feedback_iterations.py``) are ``rounds``: each round's marks
move the query the previous round produced, so a history of rounds is enough to recompute any step: no
vector is kept anywhere to reproduce one."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from infocir.methods.base import CIRMethod, MethodContext, MethodParameterError, MissingInput, Param, Query
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
        "rounds": Param(
            (),
            (list, tuple),
            help="earlier iterations, applied in order before relevant/nonrelevant: each a mapping with "
            "relevant, nonrelevant and optionally alpha, beta, gamma",
        ),
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
        for step in self.steps(ctx):
            q = self.apply(ctx, q, step)
        return q

    def steps(self, ctx: MethodContext) -> list[dict]:
        """The Rocchio steps to apply, in order: each round, then this call's own marks (when it has any)
        with this call's weights; a round's missing weight is this call's (else the configured one)."""
        p = self.params
        weights = {w: float(_or(p[w], getattr(ctx.config.feedback, w))) for w in ("alpha", "beta", "gamma")}
        out = [round_step(r, weights, i) for i, r in enumerate(p["rounds"] or ())]
        if p["relevant"] or p["nonrelevant"] or not out:
            out.append({"relevant": list(p["relevant"] or ()), "nonrelevant": list(p["nonrelevant"] or ()), **weights})
        return out

    @staticmethod
    def marked_rows(ctx: MethodContext, ids: Sequence[str]) -> np.ndarray:
        """The unit features [n, D] of the marked ids (float32 copies; unknown ids are ignored)."""
        return ctx.index.rows([ctx.index.row_of[i] for i in ids if i in ctx.index.row_of])

    @staticmethod
    def apply(ctx: MethodContext, q: np.ndarray, step: dict) -> np.ndarray:
        """One Rocchio step of ``q`` with the marks (image ids; unknown ids are ignored) and weights of ``step``."""
        rel, non = Feedback.marked_rows(ctx, step["relevant"]), Feedback.marked_rows(ctx, step["nonrelevant"])
        return rocchio(q, rel, non, step["alpha"], step["beta"], step["gamma"])

    def composes_from_image(self, ctx: MethodContext) -> bool:
        return self._base(ctx).composes_from_image(ctx)  # as differentiable as the query it moves

    def compose_from_image(self, ctx: MethodContext, query: Query, image_emb):
        """``compose`` as a differentiable function of the reference's raw embedding [B, D]: the base method's
        ``compose_from_image``, then every Rocchio step of ``steps`` in torch (the marked rows are constants on
        the model's device), so a candidate's reference map follows the query the marks moved."""
        import torch.nn.functional as F

        base = self._base(ctx)
        if not base.composes_from_image(ctx):
            raise NotImplementedError(
                f"feedback on {base.name} does not compose from the reference image differentiably"
            )
        q = F.normalize(base.compose_from_image(ctx, query, image_emb), dim=-1)
        for step in self.steps(ctx):
            rel, non = (
                ctx.bundle.tensor(self.marked_rows(ctx, step[k])).to(q.dtype) for k in ("relevant", "nonrelevant")
            )
            out = step["alpha"] * q
            if len(rel):
                out = out + step["beta"] * rel.mean(0)
            if len(non):
                out = out - step["gamma"] * non.mean(0)
            q = F.normalize(out, dim=-1)
        return q


def round_step(r: object, weights: dict[str, float], i: int) -> dict:
    """A round of the ``rounds`` parameter, checked: its marks as lists of ids and its three weights."""
    if not isinstance(r, dict):
        raise MethodParameterError(f"feedback: rounds[{i}] must be a mapping, got {type(r).__name__}")
    unknown = set(r) - {"relevant", "nonrelevant", "alpha", "beta", "gamma"}
    if unknown:
        raise MethodParameterError(f"feedback: rounds[{i}] has unknown keys {sorted(unknown)}")
    step: dict = {}
    for key in ("relevant", "nonrelevant"):
        ids = r.get(key) or []
        if not isinstance(ids, (list, tuple)) or not all(isinstance(x, str) for x in ids):
            raise MethodParameterError(f"feedback: rounds[{i}].{key} must be a list of image ids")
        step[key] = list(ids)
    for w, default in weights.items():
        value = r.get(w, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 100.0:
            raise MethodParameterError(f"feedback: rounds[{i}].{w} must be a number from 0 to 100, got {value!r}")
        step[w] = float(value)
    return step

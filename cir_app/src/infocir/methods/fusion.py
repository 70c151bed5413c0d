"""Rank fusion (seed 003): several ranked lists — other methods or other phrasings — vote.

Item at 0-based rank i of a list gets log(1/(i+1)) + offset (offset 2.0: the top item gets
2.0), clipped at 0 so deep ranks never count against an item; votes sum over lists.
Items with equal votes are ordered by their mean normalised score across the lists.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from infocir.index.backends import top_k
from infocir.methods.base import CIRMethod, Composition, MethodContext, MethodParameterError, Param, Query, zscore
from infocir.methods.registry import create_method, register


def rank_votes(rank_lists: Sequence[Sequence[int] | np.ndarray], n: int, offset: float = 2.0) -> np.ndarray:
    """Summed log-rank votes [n] for lists of row numbers (best first)."""
    votes = np.zeros(n, np.float64)
    for ranked in rank_lists:
        for i, row in enumerate(ranked):
            v = math.log(1.0 / (i + 1)) + offset
            if v <= 0:
                break
            votes[row] += v
    return votes


@register
class Fusion(CIRMethod):
    name = "fusion"
    order = 50
    parameters = {
        "methods": Param(None, (list, tuple), help="member methods (default: searle, average, weicom, basic)"),
        "texts": Param(None, (list, tuple), help="phrasings of the modification to fuse (default: the query text)"),
        "depth": Param(100, int, 1, 100000, "ranks each list contributes"),
        "offset": Param(2.0, float, 0.0, 1000.0, "vote = log(1 / rank) + offset, clipped at 0 (rank from 1)"),
        "weights": Param(None, (list, tuple), help="a vote weight per member method, in order (default: all 1)"),
    }
    label = "Rank fusion"
    description = "Log-rank voting over several methods (and/or phrasings) of the same query."

    def _members(self, ctx: MethodContext) -> list[str]:
        wanted = self.params["methods"] or ("searle", "average", "weicom", "basic")
        out = []
        for name in wanted:
            m = create_method(name)
            if m.name != self.name and m.availability(ctx)[0]:
                out.append(name)
        return out

    def _weights(self, ctx: MethodContext) -> dict[str, float]:
        """Each requested member's vote weight (1 unless ``weights`` gives them, one per requested member)."""
        wanted = list(self.params["methods"] or ("searle", "average", "weicom", "basic"))
        weights = self.params["weights"]
        if weights is None:
            return dict.fromkeys(wanted, 1.0)
        if len(weights) != len(wanted):
            raise MethodParameterError(f"fusion: {len(weights)} weights for {len(wanted)} member methods")
        for w in weights:
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0.0 <= w <= 100.0:
                raise MethodParameterError(f"fusion: a weight must be a number from 0 to 100, got {w!r}")
        return {name: float(w) for name, w in zip(wanted, weights, strict=True)}

    def score(self, ctx: MethodContext, query: Query) -> Composition:
        texts = list(self.params["texts"] or [query.text])
        depth = int(self.params["depth"])
        weight_of = self._weights(ctx)
        votes = np.zeros(len(ctx.index), np.float64)
        norm_scores = []
        lists = 0
        for name in self._members(ctx):
            m = create_method(name)
            for text in texts:
                q = Query(text, query.reference_raw, query.reference_row, query.reference_image, query.reference_key)
                s = m.score(ctx, q).scores.astype(np.float64)
                votes += weight_of[name] * rank_votes([top_k(s, depth)], len(ctx.index), float(self.params["offset"]))
                norm_scores.append(zscore(s))
                lists += 1
        tie = np.mean(norm_scores, axis=0)
        tie = (tie - tie.min()) / max(tie.max() - tie.min(), 1e-12)
        return Composition(scores=(votes + 1e-3 * tie).astype(np.float32), extras={"lists": lists})

"""Two-phase multimedia query (QT-FIRS report): the text alone retrieves the top m images (phase 1, through the
search backend, so an approximate index serves it); the reference image's similarity re-ranks those m (phase 2,
scored exactly on the m rows only); the two orderings are fused with rank fusion's log-rank votes
(``fusion.rank_votes``), weighted by ``text_weight`` and ``image_weight``.

Votes are zero past rank e^offset (7 with the default offset 2), so candidates further down are ordered by the
weighted mean of their standardised text and image similarities; images outside the m never rank above them.
"""

from __future__ import annotations

import numpy as np

from infocir.index.backends import score_rows, top_k
from infocir.methods.base import CIRMethod, Composition, MethodContext, Param, Query, zscore
from infocir.methods.fusion import rank_votes
from infocir.methods.registry import register


@register
class TwoPhase(CIRMethod):
    name = "two_phase"
    order = 55
    label = "Two-phase (text, then image)"
    description = "The text retrieves the top m; the reference image re-ranks them; log-rank votes fuse both lists."
    parameters = {
        "m": Param(None, int, 1, 10_000_000, "images the text retrieves in phase 1 (default: two_phase.m)"),
        "text_weight": Param(None, float, 0.0, 1000.0, "weight of the text list's votes (default: two_phase)"),
        "image_weight": Param(None, float, 0.0, 1000.0, "weight of the image list's votes (default: two_phase)"),
        "offset": Param(2.0, float, 0.0, 1000.0, "vote = log(1 / rank) + offset, clipped at 0 (rank from 1)"),
    }

    def _setting(self, ctx: MethodContext, name: str):
        value = self.params[name]
        return getattr(ctx.config.two_phase, name) if value is None else value

    def score(self, ctx: MethodContext, query: Query) -> Composition:
        n = len(ctx.index)
        m = min(int(self._setting(ctx, "m")), n)
        w_text, w_image = float(self._setting(ctx, "text_weight")), float(self._setting(ctx, "image_weight"))
        text_rows, text_scores = ctx.backend.search(ctx.text_unit(query.text), m)  # phase 1: best text first
        image_scores = score_rows(ctx.index.features, query.require_reference(), text_rows)  # phase 2: the m only
        image_order = text_rows[top_k(image_scores, len(text_rows))]
        offset = float(self.params["offset"])
        votes = w_text * rank_votes([text_rows], n, offset) + w_image * rank_votes([image_order], n, offset)
        # Beyond the voting ranks: the weighted mean of the standardised similarities, scaled into [0, 1e-3).
        blend = (w_text * zscore(text_scores) + w_image * zscore(image_scores)) / max(w_text + w_image, 1e-12)
        blend = (blend - blend.min()) / max(float(blend.max() - blend.min()), 1e-12)
        candidate = votes[text_rows] + 1e-3 * 0.999 * blend
        scores = np.full(n, float(candidate.min()) - 1.0 if len(candidate) else 0.0, np.float64)
        scores[text_rows] = candidate
        return Composition(scores=scores.astype(np.float32), extras={"m": m, "phase1_rows": text_rows})

"""Re-run the original prompt and every candidate, score each against the ideals, rank the rows."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from infocir.enhance.base import KEPT, EnhancementError
from infocir.metrics import prompt_metrics

if TYPE_CHECKING:
    from infocir.engine import Reference, RetrievalEngine

Progress = Callable[[int, int], None]
COLUMNS = ("ndcg", "map", "mrr", "coverage", "mean_rank", "mean_similarity")
LOWER_IS_BETTER = frozenset({"mean_rank"})
RANKING_RULE = "Ranked by nDCG@k, then mAP@k, then coverage, then mean rank of the ideals (lower is better)."


@dataclass
class PromptRow:
    """One scored prompt: its metrics against the ideals and its top-k (ids and scores, best first)."""

    text: str
    is_baseline: bool
    metrics: dict[str, float]
    ids: list[str]
    scores: list[float]


@dataclass
class EnhancementResult:
    """The enhancement table.  ``rows[0]`` is the original prompt (the baseline); ``order`` lists row
    indices best first by the ranking rule; ``best`` maps each column to the row(s) holding its best value."""

    rows: list[PromptRow]
    order: list[int]
    best: dict[str, list[int]]
    k: int
    method: str
    ideals: list[str]
    provider: str = ""
    message: str = ""
    elapsed_s: float = 0.0
    ranking_rule: str = RANKING_RULE
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def baseline(self) -> PromptRow:
        return self.rows[0]

    @property
    def best_candidate(self) -> PromptRow | None:
        """The best-ranked row that is not the baseline (None without candidates)."""
        return next((self.rows[i] for i in self.order if not self.rows[i].is_baseline), None)

    def to_dict(self) -> dict[str, Any]:
        """Small, JSON-ready (NaN becomes None) — for a ``dcc.Store``."""

        def clean(x: Any) -> Any:
            if isinstance(x, float):
                return None if math.isnan(x) else x
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            if isinstance(x, list):
                return [clean(v) for v in x]
            return x

        return clean(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnhancementResult:
        rows = [
            PromptRow(**{**r, "metrics": {k: float("nan") if v is None else v for k, v in r["metrics"].items()}})
            for r in data["rows"]
        ]
        return cls(**{**data, "rows": rows})


def rank_key(metrics: dict[str, float]) -> tuple[float, ...]:
    """Sort key for the ranking rule (smaller sorts first); NaN counts as worst."""

    def val(x: float, worst: float) -> float:
        return worst if x is None or math.isnan(x) else x

    return (
        -val(metrics["ndcg"], -1.0),
        -val(metrics["map"], -1.0),
        -val(metrics["coverage"], -1.0),
        val(metrics["mean_rank"], math.inf),
    )


def rank_rows(rows: Sequence[PromptRow]) -> list[int]:
    """Row indices best first; ties keep table order (so the baseline wins a tie)."""
    return sorted(range(len(rows)), key=lambda i: rank_key(rows[i].metrics))


def best_per_column(rows: Sequence[PromptRow], tol: float = 1e-9) -> dict[str, list[int]]:
    """Each column's best value's rows (highest, or lowest for mean rank); ties mark every holder."""
    out: dict[str, list[int]] = {}
    for col in COLUMNS:
        vals = [(i, r.metrics.get(col, float("nan"))) for i, r in enumerate(rows)]
        vals = [(i, v) for i, v in vals if v is not None and not math.isnan(v)]
        if not vals:
            out[col] = []
            continue
        target = (min if col in LOWER_IS_BETTER else max)(v for _, v in vals)
        out[col] = [i for i, v in vals if abs(v - target) <= tol]
    return out


def score_prompts(
    engine: RetrievalEngine,
    reference: Reference,
    original: str,
    candidates: Sequence[str],
    ideals: Sequence[str],
    k: int | None = None,
    method: str | None = None,
    progress: Progress | None = None,
    exclude_reference: bool = False,
    method_params: dict | None = None,
) -> EnhancementResult:
    """Search with the original (row 0, the baseline) and each candidate using ``method`` and ``k``
    (and ``exclude_reference`` and ``method_params``, as the page searched), and score every ranking with
    :func:`infocir.metrics.prompt_metrics` against ``ideals``.

    Mean similarity is the mean score of the ideals over the whole index (not only the top-k).
    ``progress(done, total)`` is called after every search.
    """
    t0 = time.perf_counter()
    k = int(k or engine.config.retrieval.default_k)
    method = method or engine.config.retrieval.method
    ideal_rows = {i: engine.index.row_of[i] for i in dict.fromkeys(ideals) if i in engine.index.row_of}
    if not ideal_rows:
        raise EnhancementError(f"Mark at least one ideal image from the indexed dataset first; {KEPT}.")
    texts = [original]
    seen = {original.strip().lower()}
    for c in candidates:
        if c.strip() and c.strip().lower() not in seen:
            seen.add(c.strip().lower())
            texts.append(c)
    # One batched pass fills the engine's text cache for the methods that encode the plain text.
    engine.encode_text(texts)
    rows: list[PromptRow] = []
    for i, text in enumerate(texts):
        res = engine.search(
            reference, text, k=k, method=method, exclude_reference=exclude_reference, **(method_params or {})
        )
        ideal_scores = res.scores_at(np.fromiter(ideal_rows.values(), np.int64, len(ideal_rows)))
        sims = (
            None if ideal_scores is None else {iid: float(s) for iid, s in zip(ideal_rows, ideal_scores, strict=True)}
        )
        rows.append(
            PromptRow(
                text,
                i == 0,
                prompt_metrics(res.ids, list(ideal_rows), k, sims),
                list(res.ids),
                [round(float(s), 5) for s in res.scores],
            )
        )
        if progress is not None:
            progress(i + 1, len(texts))
    return EnhancementResult(
        rows=rows,
        order=rank_rows(rows),
        best=best_per_column(rows),
        k=k,
        method=method,
        ideals=list(ideal_rows),
        elapsed_s=time.perf_counter() - t0,
    )

"""Pseudo relevance feedback iterations, evaluated as the QT-FIRS report does (seed 003, Tables 1–2).

Each query is ranked by its method (iteration 0).  At each further iteration, a query whose best target is
not within the *breaking rank* is refined: the top P images of its current ranking are taken as relevant (and,
optionally, the bottom P' of its top ``depth`` as not relevant), and Rocchio moves the query the previous
iteration produced (the ``feedback`` method's ``rounds``).  Queries already within the breaking rank keep their
ranking.  Per iteration: R@1/5/10 (the share of queries whose best target is within the top K), and the median
and mean rank of the best target."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from infocir.errors import UserError
from infocir.evaluation.benchmarks import Benchmark
from infocir.evaluation.harness import first_rank, query_gallery, query_reference, rankable_scores, target_rows
from infocir.evaluation.rank_table import RECALL_AT, rank_summary
from infocir.index.backends import top_k


class NoQueryVector(UserError, ValueError):
    """The method fuses scores instead of composing one query vector: Rocchio has nothing to move."""


@dataclass(frozen=True)
class PseudoFeedback:
    """The report's protocol: ``iterations`` refinements, top ``positives`` relevant, ``negatives`` from the bottom
    of the top ``depth`` not relevant (the report's evaluation uses none), refine only where the best target is
    ranked below ``breaking_rank``."""

    iterations: int = 1
    positives: int = 3
    negatives: int = 0
    breaking_rank: int = 1
    depth: int = 10

    def __post_init__(self) -> None:
        for name, low in (("iterations", 0), ("positives", 0), ("negatives", 0), ("breaking_rank", 1), ("depth", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise UserError(f"pseudo feedback: {name} must be a whole number ≥ {low}, got {value!r}")
        if self.positives + self.negatives == 0 and self.iterations:
            raise UserError("pseudo feedback: positives and negatives are both 0, so no iteration could move a query")
        if self.positives + self.negatives > self.depth:
            raise UserError(
                f"pseudo feedback: {self.positives} positives and {self.negatives} negatives do not fit in the top "
                f"{self.depth}"
            )


def pseudo_marks(ranked: list[str], positives: int, negatives: int, depth: int) -> dict[str, list[str]]:
    """The marks pseudo feedback takes from a ranking: its top ``positives`` relevant, the last ``negatives`` of
    its top ``depth`` not relevant (never the same image twice)."""
    top = list(ranked[:positives])
    shown = ranked[:depth]
    bottom = [i for i in shown[max(0, len(shown) - negatives) :] if i not in top] if negatives else []
    return {"relevant": top, "nonrelevant": bottom}


def feedback_iterations(
    engine, bench: Benchmark, method: str, setup: PseudoFeedback, exclude_reference: bool = True
) -> list[dict]:
    """The table rows, one per iteration (0 = the method alone): R@1/5/10 and ``refined`` as percentages of the
    queries, ``median_rank`` and ``mean_rank`` over the queries whose targets can be ranked."""
    ranks: list[list[int | None]] = [[] for _ in range(setup.iterations + 1)]
    refined = [0] * (setup.iterations + 1)
    depth = max(setup.depth, *RECALL_AT)
    images: dict = {}
    for q in bench.queries:
        reference, gallery = query_reference(q, images), query_gallery(engine, q)
        rounds: list[dict] = []
        rank: int | None = None
        ranked: list[str] = []
        for it in range(setup.iterations + 1):
            if it and rank is not None and rank <= setup.breaking_rank:
                ranks[it].append(rank)  # found: the user stops refining, the ranking stays
                continue
            if it:
                rounds.append(pseudo_marks(ranked, setup.positives, setup.negatives, setup.depth))
                refined[it] += 1
                comp = engine.compose(reference, q.text, "feedback", base=method, rounds=rounds)
            else:
                comp = engine.compose(reference, q.text, method)
            if comp.query_vector is None:
                raise NoQueryVector(f"Pseudo feedback needs a method that composes one query vector, not {method!r}.")
            scores = rankable_scores(engine, q, comp.scores, gallery, exclude_reference)
            n_valid = int(np.isfinite(scores).sum())
            ranked = [engine.index.ids[r] for r in top_k(scores, min(depth, n_valid))]
            rank = first_rank(ranked, q.target_ids, scores, target_rows(engine, q))
            ranks[it].append(rank)
    n = max(1, len(bench.queries))
    return [_row(it, r, 100.0 * refined[it] / n) for it, r in enumerate(ranks)]


def _row(iteration: int, ranks: list[int | None], refined_pct: float) -> dict:
    return {"iteration": iteration, **rank_summary(ranks), "refined": refined_pct}


def format_iterations(tables: dict[str, list[dict]], setup: PseudoFeedback) -> str:
    """The report's table shape (Model, Iteration, R@1, R@5, R@10, Med r, Mean r), plus the share refined."""
    head = (
        f"Pseudo feedback: top {setup.positives} relevant, {setup.negatives} not relevant, breaking rank "
        f"{setup.breaking_rank}\n| method | iteration | R@1 | R@5 | R@10 | Med r | Mean r | refined % |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for method, rows in tables.items():
        for r in rows:
            lines.append(
                f"| {method} | {r['iteration']} | {r['R@1']:.2f} | {r['R@5']:.2f} | {r['R@10']:.2f} | "
                f"{r['median_rank']:.1f} | {r['mean_rank']:.2f} | {r['refined']:.1f} |"
            )
    return "\n".join(lines)

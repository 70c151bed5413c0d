"""Methods side by side (issue 18 §2): two or three methods' top-k for one query, compared.

Given each method's ranked ids (best first) and, optionally, the images that count as relevant (the
page's ideals or a benchmark query's ground-truth targets), ``compare_methods`` gives

* for each tile of each list, its rank in every other list (None: not in that top-k);
* overlap@k for every pair of methods: |top-k(A) ∩ top-k(B)| / k;
* each method's AP@k, R@k (any relevant image in the top k, the CIR definition), the relevant images
  found in the top k and the rank of the first relevant image (``infocir.metrics``, as the evaluation
  harness scores them);
* the rank matrix of F3's heatmap across methods: rows = methods, columns = the union of the top-k
  lists, cell = rank or None, and as F3 draws it (``as_delta_table``: missing = k + 1, Δ against the
  first method).

No Dash and no engine here: the dashboard's "Methods side by side" section, scripts and notebooks
share it.  ``first_relevant_rank`` reads a full ranking (every image's score) for the first relevant
rank beyond the top k.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from infocir import metrics as M
from infocir.evaluation import harness
from infocir.explain.rank_delta import RankDeltaTable


@dataclass(frozen=True)
class MethodScores:
    """One method's top-k against the relevant images."""

    ap: float  # AP@k (CIRCO's: divided by min(relevant, k))
    recall: float  # R@k: 1.0 when any relevant image is in the top k
    found: int  # relevant images in the top k
    relevant: int  # how many images count as relevant
    first_rank: int | None  # rank of the best-ranked relevant image (beyond k when the full ranking was given)


@dataclass(frozen=True)
class MethodComparison:
    methods: list[str]  # in the order chosen; the first is the heatmap's baseline
    k: int
    lists: dict[str, list[str]]  # each method's top k
    cross_ranks: dict[str, list[dict[str, int | None]]]  # method → per tile: {other method: rank or None}
    overlap: list[list[float]]  # [i][j] = overlap@k of methods i and j (1.0 on the diagonal)
    scores: dict[str, MethodScores] | None  # None: nothing counts as relevant
    images: list[str]  # the heatmap's columns
    ranks: list[list[int | None]]  # [method][image]: rank in that method's top k, None when absent

    def overlap_of(self, a: str, b: str) -> float:
        return self.overlap[self.methods.index(a)][self.methods.index(b)]

    def as_delta_table(self, labels: Sequence[str] | None = None) -> RankDeltaTable:
        """The rank matrix as F3's heatmap takes it (``figures.rank_delta_figure``): missing = k + 1 and
        Δ = rank under the method minus rank under the first method, so the first row is the baseline."""
        ranks = np.array([[self.k + 1 if r is None else r for r in row] for row in self.ranks], dtype=int)
        ranks = ranks.reshape(len(self.methods), len(self.images))
        delta = ranks - ranks[:1] if len(ranks) else ranks
        return RankDeltaTable(list(self.images), list(labels or self.methods), ranks, delta)


def overlap_at_k(a: Sequence[str], b: Sequence[str], k: int) -> float:
    """|top-k(a) ∩ top-k(b)| / k: the share of k slots the two methods agree on (order ignored)."""
    if k < 1:
        raise ValueError("k must be at least 1")
    return len(set(a[:k]) & set(b[:k])) / k


def rank_positions(ranked: Sequence[str], k: int) -> dict[str, int]:
    """1-based rank of each id in the top ``k`` (the first occurrence, should an id repeat)."""
    pos: dict[str, int] = {}
    for i, iid in enumerate(ranked[:k]):
        pos.setdefault(iid, i + 1)
    return pos


def method_scores(
    ranked: Sequence[str], relevant: Iterable[str], k: int, first_rank: int | None = None
) -> MethodScores:
    """AP@k, R@k, the relevant images found and the first relevant rank of one top-k list.  ``first_rank``:
    that rank read from the full ranking (``first_relevant_rank``); without it, only the top k is read and a
    list with no relevant image has None."""
    rel = set(relevant)
    top = list(ranked[:k])
    in_top = [r for r, rank in M.ranks_of(top, rel, k).items() if rank <= k]
    if first_rank is None and in_top:
        first_rank = min(M.ranks_of(top, in_top, k).values())
    return MethodScores(
        ap=M.average_precision_at_k(top, rel, k),
        recall=M.recall_at_k(top, rel, k),
        found=len(in_top),
        relevant=len(rel),
        first_rank=first_rank,
    )


def first_relevant_rank(
    top: Sequence[str],
    relevant: Iterable[str],
    scores: np.ndarray | None,
    row_of: Mapping[str, int],
    excluded_rows: Iterable[int] = (),
) -> int | None:
    """Rank of the best-ranked relevant image in the full ranking: its place in ``top`` when it is there,
    else one more than the number of rankable images scored above it (the evaluation harness's rule,
    ``harness.first_rank``).  ``scores``: every image's score (None: the top k only); ``excluded_rows``:
    rows the search may not rank (the reference left out of its own results).  None: no relevant image can
    be ranked."""
    rel = list(relevant)
    if scores is None:
        return method_scores(top, rel, len(top) or 1).first_rank if top else None
    full = np.asarray(scores, dtype=np.float64).copy()
    for row in excluded_rows:
        full[int(row)] = -np.inf
    return harness.first_rank(list(top), rel, full, [row_of[r] for r in rel if r in row_of])


def column_order(lists: Sequence[Sequence[str]], k: int) -> list[str]:
    """The heatmap's columns: the first method's top k in its order, then what only the others found, by
    their best rank among them (ties: first seen).  The first row then reads 1…k and the images the
    baseline missed gather on the right, the best of them first."""
    union = list(dict.fromkeys(i for ranked in lists for i in ranked[:k]))
    seen = {iid: j for j, iid in enumerate(union)}
    base = rank_positions(lists[0], k) if lists else {}
    others = [rank_positions(ranked, k) for ranked in lists[1:]]
    missing = k + 1

    def key(iid: str) -> tuple[int, int, int]:
        best_other = min((p.get(iid, missing) for p in others), default=missing)
        return (base.get(iid, missing), best_other, seen[iid])

    return sorted(union, key=key)


def compare_methods(
    rankings: Mapping[str, Sequence[str]],
    k: int,
    relevant: Iterable[str] | None = None,
    first_ranks: Mapping[str, int | None] | None = None,
) -> MethodComparison:
    """Compare the methods' rankings (method → ranked ids, best first, in the order to show them) at ``k``.
    ``relevant``: the images that count as relevant (None or empty: no metrics); ``first_ranks``: each
    method's first relevant rank in its full ranking (``first_relevant_rank``), when known."""
    if k < 1:
        raise ValueError("k must be at least 1")
    methods = list(rankings)
    lists = {m: list(rankings[m])[:k] for m in methods}
    positions = {m: rank_positions(lists[m], k) for m in methods}
    cross = {m: [{o: positions[o].get(iid) for o in methods if o != m} for iid in lists[m]] for m in methods}
    overlap = [[overlap_at_k(lists[a], lists[b], k) for b in methods] for a in methods]
    rel = list(dict.fromkeys(relevant or ()))
    scores = None
    if rel:
        given = first_ranks or {}
        scores = {m: method_scores(lists[m], rel, k, given.get(m)) for m in methods}
    images = column_order([lists[m] for m in methods], k)
    ranks = [[positions[m].get(iid) for iid in images] for m in methods]
    return MethodComparison(methods, k, lists, cross, overlap, scores, images, ranks)

"""Ranking metrics (pure numpy), as defined in ../shared/ALGORITHMS.md.

Every function takes a ranked list of item ids (best first) and the set of relevant ids
("ideals" or ground-truth targets).  ``k`` cuts the ranking; a ``k`` larger than the list
uses the whole list.  Missing ideals count at rank ``k + 1`` where a rank is needed.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import TypeVar

import numpy as np

Id = TypeVar("Id", bound=Hashable)  # an item id: a path string, a row number, ...


def _topk(ranked: Sequence[Id], k: int | None) -> list[Id]:
    if k is not None and k < 1:
        raise ValueError("k must be at least 1")
    return list(ranked if k is None else ranked[:k])


def _rel(ranked: Sequence[Id], relevant: Iterable[Id], k: int | None) -> tuple[np.ndarray, int]:
    rel_set = set(relevant)
    top = _topk(ranked, k)
    return np.array([1.0 if r in rel_set else 0.0 for r in top]), len(rel_set)


def recall_at_k(ranked: Sequence[Id], relevant: Iterable[Id], k: int) -> float:
    """1.0 if any relevant item is in the top ``k``, else 0.0 (the CIR definition)."""
    rel, m = _rel(ranked, relevant, k)
    return float(rel.any()) if m else 0.0


def average_precision_at_k(ranked: Sequence[Id], relevant: Iterable[Id], k: int) -> float:
    """CIRCO AP@K = (1 / min(m, K)) · Σ_{i≤K} P@i · rel(i); 0 when there is no relevant item."""
    rel, m = _rel(ranked, relevant, k)
    if m == 0 or not rel.any():
        return 0.0
    precision = np.cumsum(rel) / np.arange(1, len(rel) + 1)
    return float((precision * rel).sum() / min(m, k))


def average_precision_interpolated(ranked: Sequence[Id], relevant: Iterable[Id]) -> float:
    """i-CIR's AP, as the authors' evaluation computes it (``compute_ap`` in billpsomas/icir, the
    Oxford/Paris-buildings rule): the precision–recall curve integrated with the trapezoidal rule.
    The j-th relevant item (0-based) at 0-based rank r adds (1/m)·(P₀ + P₁)/2 with P₀ = j/r (1 when
    r = 0) and P₁ = (j+1)/(r+1); m = the number of relevant items.  Use the full ranking (they rank
    the whole per-instance database).  Their code divides by m + 1e-5; this divides by m."""
    rel, m = _rel(ranked, relevant, None)
    if m == 0:
        return 0.0
    ap = 0.0
    for j, r in enumerate(np.flatnonzero(rel)):
        p0 = 1.0 if r == 0 else j / r
        p1 = (j + 1) / (r + 1)
        ap += (p0 + p1) / 2.0 / m
    return float(ap)


def ndcg_at_k(ranked: Sequence[Id], relevant: Iterable[Id], k: int) -> float:
    """Binary nDCG@K: Σ rel_i / log2(i+1) over the ideal DCG with min(m, K) relevant items on top."""
    rel, m = _rel(ranked, relevant, k)
    if m == 0:
        return 0.0
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = float((rel * discounts[: len(rel)]).sum())
    idcg = float(discounts[: min(m, k)].sum())
    return dcg / idcg


def reciprocal_rank(ranked: Sequence[Id], relevant: Iterable[Id], k: int | None = None) -> float:
    """1 / rank of the first relevant item within the (cut) list; 0 if none appears."""
    rel, _ = _rel(ranked, relevant, k)
    hits = np.flatnonzero(rel)
    return float(1.0 / (hits[0] + 1)) if len(hits) else 0.0


def coverage(ranked: Sequence[Id], relevant: Iterable[Id], k: int) -> float:
    """Fraction of the relevant items found in the top ``k``."""
    rel, m = _rel(ranked, relevant, k)
    return float(rel.sum() / m) if m else 0.0


def ranks_of(ranked: Sequence[Id], items: Iterable[Id], k: int) -> dict[Id, int]:
    """1-based rank of each item within the top ``k``; ``k + 1`` when it is not there."""
    pos = {r: i + 1 for i, r in enumerate(_topk(ranked, k))}
    return {it: pos.get(it, k + 1) for it in items}


def mean_rank(ranked: Sequence[Id], relevant: Iterable[Id], k: int) -> float:
    """Mean rank of the relevant items (missing ones at ``k + 1``); nan when there are none."""
    r = list(ranks_of(ranked, set(relevant), k).values())
    return float(np.mean(r)) if r else float("nan")


def mean_similarity(scores: Mapping[Id, float], relevant: Iterable[Id]) -> float:
    """Mean similarity score of the relevant items (``scores`` over the whole collection)."""
    vals = [float(scores[r]) for r in relevant if r in scores]
    return float(np.mean(vals)) if vals else float("nan")


def rank_delta(ranked_a: Sequence[Id], ranked_b: Sequence[Id], k: int) -> dict[Id, int]:
    """For every item in the union of both top-``k`` lists: rank under A minus rank under B
    (missing = ``k + 1``).  Negative means the item ranks better (higher) under A."""
    top_a, top_b = _topk(ranked_a, k), _topk(ranked_b, k)
    union = list(dict.fromkeys([*top_a, *top_b]))
    ra, rb = ranks_of(top_a, union, k), ranks_of(top_b, union, k)
    return {it: ra[it] - rb[it] for it in union}


def prompt_metrics(
    ranked: Sequence[Id], ideals: Iterable[Id], k: int, scores: Mapping[Id, float] | None = None
) -> dict[str, float]:
    """The prompt-enhancement table's columns for one ranking against the chosen ideals."""
    ideals = list(ideals)
    out = {
        "ndcg": ndcg_at_k(ranked, ideals, k),
        "map": average_precision_at_k(ranked, ideals, k),
        "mrr": reciprocal_rank(ranked, ideals, k),
        "coverage": coverage(ranked, ideals, k),
        "mean_rank": mean_rank(ranked, ideals, k),
    }
    out["mean_similarity"] = mean_similarity(scores, ideals) if scores is not None else float("nan")
    return out

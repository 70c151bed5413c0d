"""F3's data: ranks of every image in the union of several top-k lists, and their change
against the original prompt (missing = k + 1, as in ``metrics.rank_delta``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from infocir.metrics import rank_delta, ranks_of


@dataclass
class RankDeltaTable:
    images: list[str]  # columns: the union of all top-k lists
    prompts: list[str]  # rows: the original first
    ranks: np.ndarray  # int [prompts, images], k + 1 where missing
    delta: np.ndarray  # int [prompts, images]: rank under the prompt minus rank under the original


def rank_delta_table(
    original: Sequence[str],
    others: Sequence[tuple[str, Sequence[str]]],
    k: int,
    original_label: str = "original",
    sort_by: str | None = None,
) -> RankDeltaTable:
    """Columns are ordered by the original rank, or by Δ of the prompt named ``sort_by``
    (most improved first, ties by original rank)."""
    lists = [(original_label, list(original)[:k])] + [(label, list(ids)[:k]) for label, ids in others]
    union = list(dict.fromkeys(i for _, ids in lists for i in ids))
    base = ranks_of(lists[0][1], union, k)
    ranks = np.array([[ranks_of(ids, union, k)[i] for i in union] for _, ids in lists], dtype=int)
    delta = np.array([[rank_delta(ids, lists[0][1], k).get(i, 0) for i in union] for _, ids in lists], dtype=int)
    labels = [label for label, _ in lists]
    order = sorted(range(len(union)), key=lambda j: base[union[j]])
    if sort_by in labels and sort_by != original_label:
        r = labels.index(sort_by)
        order = sorted(order, key=lambda j: (delta[r, j], base[union[j]]))
    return RankDeltaTable([union[j] for j in order], labels, ranks[:, order], delta[:, order])


def largest_changes(table: RankDeltaTable, n: int | None) -> RankDeltaTable:
    """The ``n`` images whose rank moved most under any compared prompt (largest |Δ| over the rows
    after the original; ties: the table's own order), kept in the table's column order.  ``n`` of None
    or at least the number of images keeps them all."""
    total = len(table.images)
    if n is None or n >= total:
        return table
    n = max(1, int(n))
    moved = np.abs(table.delta[1:]).max(axis=0) if len(table.prompts) > 1 else np.zeros(total, int)
    keep = sorted(sorted(range(total), key=lambda j: (-int(moved[j]), j))[:n])
    return RankDeltaTable(
        [table.images[j] for j in keep], list(table.prompts), table.ranks[:, keep], table.delta[:, keep]
    )

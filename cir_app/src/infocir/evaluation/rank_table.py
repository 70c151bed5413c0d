"""The QT-FIRS report's table shape (seed 003): R@1, R@5, R@10 (the share of queries whose best target is within
the top K), and the median and mean rank of the best target, from each query's rank of its best target."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

RECALL_AT = (1, 5, 10)
COLUMNS = ("R@1", "R@5", "R@10", "median_rank", "mean_rank")


def rank_summary(ranks: Sequence[int | None]) -> dict[str, float]:
    """R@1/5/10 in % of all queries (a query whose targets cannot be ranked counts as a miss), and the median and
    mean rank over the queries whose targets can be ranked."""
    found = [r for r in ranks if r is not None]
    n = max(1, len(ranks))
    out = {f"R@{k}": 100.0 * sum(r <= k for r in found) / n for k in RECALL_AT}
    out["median_rank"] = float(np.median(found)) if found else math.nan
    out["mean_rank"] = float(np.mean(found)) if found else math.nan
    return out


def format_rank_table(rows: dict[str, dict[str, float]], extra: Sequence[str] = (), first: str = "method") -> str:
    """A Markdown table: one row per key of ``rows`` with R@1/5/10, Med r, Mean r and the ``extra`` columns."""
    names = {"median_rank": "Med r", "mean_rank": "Mean r"}
    cols = [*COLUMNS, *extra]
    head = f"| {first} | " + " | ".join(names.get(c, c) for c in cols) + " |"
    lines = [head, "|---|" + "---:|" * len(cols)]
    for name, r in rows.items():
        cells = []
        for c in cols:
            v = r.get(c, math.nan)
            cells.append(v if isinstance(v, str) else f"{v:.1f}" if c == "median_rank" else f"{v:.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)

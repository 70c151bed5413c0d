"""The benchmark query browser's table (failure analysis): one row per query of a benchmark with each
method's AP@k, first-target rank and R@k, and the aggregate row the harness's ``evaluate`` reports.

The per-query figures are the harness's own (``harness.query_results``): the same ranking rule (the
reference left out, per-query galleries), the same AP and recall, so the aggregate row is ``evaluate``'s
mean for the same method and k.  No Dash here: the dashboard's "Benchmark queries" view, scripts and
notebooks share it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from infocir.evaluation.benchmarks import Benchmark, load_benchmark
from infocir.evaluation.harness import query_results


@dataclass
class QueryTable:
    """``rows``: one dict per query, in benchmark order: ``query`` (its position in the benchmark),
    ``reference_id``, ``text``, ``group`` (e.g. the attribute a demo query changes), ``targets`` (the
    target ids) and ``methods``: {method: {"ap": AP@k, "first_rank": int | None, "recall": R@k}} (fractions).
    ``aggregate``: {method: {"mAP@k": %, "R@k": %, "median_first_rank": float | None}}, the harness's means."""

    benchmark: str
    k: int
    methods: list[str]
    rows: list[dict[str, Any]]
    aggregate: dict[str, dict[str, float | None]]
    seconds: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    def flat_rows(self) -> list[dict[str, Any]]:
        """One flat dict per query (CSV/JSON export): the query's fields, then per method
        ``<method> AP@k``, ``<method> first rank``, ``<method> R@k``."""
        out = []
        for r in self.rows:
            flat: dict[str, Any] = {
                "query": r["query"],
                "reference_id": r["reference_id"],
                "text": r["text"],
                "group": r["group"],
                "targets": len(r["targets"]),
            }
            for m in self.methods:
                v = r["methods"][m]
                flat[f"{m} AP@{self.k}"] = v["ap"]
                flat[f"{m} first rank"] = v["first_rank"]
                flat[f"{m} R@{self.k}"] = v["recall"]
            out.append(flat)
        return out

    def fields(self) -> list[str]:
        cols = ["query", "reference_id", "text", "group", "targets"]
        for m in self.methods:
            cols += [f"{m} AP@{self.k}", f"{m} first rank", f"{m} R@{self.k}"]
        return cols

    def to_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "k": self.k,
            "methods": list(self.methods),
            "rows": self.rows,
            "aggregate": self.aggregate,
            "seconds": self.seconds,
            "meta": self.meta,
        }


def query_table(
    engine,
    bench: Benchmark | None = None,
    methods: list[str] | str | None = None,
    k: int = 10,
    exclude_reference: bool = True,
) -> QueryTable:
    """The per-query table of ``methods`` (default: the configured method) at cut-off ``k`` over
    ``bench`` (default: the demo world's ``queries.json`` beside the engine's dataset)."""
    if bench is None:
        bench = load_benchmark("demo", engine)
    if methods is None:
        methods = [engine.config.retrieval.method]
    elif isinstance(methods, str):
        methods = [methods]
    k = int(k)
    if k < 1:
        raise ValueError("k must be at least 1")
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = [
        {
            "query": i,
            "reference_id": q.reference_id or q.reference_path,
            "text": q.text,
            "group": q.group,
            "targets": list(q.target_ids),
            "methods": {},
        }
        for i, q in enumerate(bench.queries)
    ]
    aggregate: dict[str, dict[str, float | None]] = {}
    for m in methods:
        per_query = query_results(engine, bench, m, exclude_reference, cutoffs=(k,))
        for row, r in zip(rows, per_query, strict=True):
            row["methods"][m] = {
                "ap": float(r[f"mAP@{k}"]),
                "first_rank": r["first_target_rank"],
                "recall": float(r[f"R@{k}"]),
            }
        firsts = [r["first_target_rank"] for r in per_query if r["first_target_rank"] is not None]
        aggregate[m] = {
            # the harness's means (evaluate's figures): 100 × the mean over the queries
            f"mAP@{k}": 100 * float(np.mean([r[f"mAP@{k}"] for r in per_query])) if per_query else float("nan"),
            f"R@{k}": 100 * float(np.mean([r[f"R@{k}"] for r in per_query])) if per_query else float("nan"),
            "median_first_rank": float(np.median(firsts)) if firsts else None,
        }
    return QueryTable(
        bench.name,
        k,
        list(methods),
        rows,
        aggregate,
        seconds=time.perf_counter() - t0,
        meta={"queries": len(bench.queries), "images": len(engine.index), "model": engine.bundle.name},
    )


def worst_first(table: QueryTable, method: str | None = None) -> list[dict[str, Any]]:
    """The rows sorted worst first for ``method`` (default: the table's first): lowest AP@k, then the
    furthest first target (none at all is worst), then benchmark order."""
    m = method or table.methods[0]

    def key(r):
        v = r["methods"][m]
        rank = v["first_rank"]
        return (v["ap"], -(rank if rank is not None else float("inf")), r["query"])

    return sorted(table.rows, key=key)

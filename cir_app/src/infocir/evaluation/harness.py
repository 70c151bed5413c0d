"""Run CIR methods over a benchmark and score them like the papers do."""
from __future__ import annotations

import csv
import json
import logging
import time
from pathlib import Path

import numpy as np

from infocir import metrics as M
from infocir.evaluation.benchmarks import Benchmark
from infocir.index.backends import top_k

log = logging.getLogger(__name__)


def evaluate_method(engine, bench: Benchmark, method: str, exclude_reference: bool = True, **params) -> dict[str, float]:
    """Mean metrics of ``method`` over the benchmark's queries (the reference is removed from
    its own ranking, as CIRR/CIRCO evaluation does), plus per-group mAP@10 and the p50 latency."""
    map_ks, recall_ks = bench.metrics.get("map", ()), bench.metrics.get("recall", ())
    depth = max((*map_ks, *recall_ks, 10))
    rows: dict[str, list[float]] = {}
    groups: dict[str, list[float]] = {}
    latencies = []
    for q in bench.queries:
        t0 = time.perf_counter()
        comp = engine.compose(q.reference_id, q.text, method, **params)
        scores = comp.scores.astype(np.float64, copy=True)
        if exclude_reference and q.reference_id in engine.index.row_of:
            scores[engine.index.row_of[q.reference_id]] = -np.inf
        ranked = [engine.index.ids[r] for r in top_k(scores, depth)]
        latencies.append(time.perf_counter() - t0)
        for k in map_ks:
            rows.setdefault(f"mAP@{k}", []).append(M.average_precision_at_k(ranked, q.target_ids, k))
        for k in recall_ks:
            rows.setdefault(f"R@{k}", []).append(M.recall_at_k(ranked, q.target_ids, k))
        if q.group:
            groups.setdefault(q.group, []).append(M.average_precision_at_k(ranked, q.target_ids, 10))
    out = {name: 100 * float(np.mean(v)) for name, v in rows.items()}
    out.update({f"mAP@10[{g}]": 100 * float(np.mean(v)) for g, v in sorted(groups.items())})
    out["p50_ms"] = 1000 * float(np.median(latencies)) if latencies else float("nan")
    out["queries"] = len(bench.queries)
    return out


def evaluate(engine, bench: Benchmark, methods: list[str], **params) -> dict[str, dict[str, float]]:
    results = {}
    for m in methods:
        log.info("evaluating %s on %s (%d queries)", m, bench.name, len(bench.queries))
        results[m] = evaluate_method(engine, bench, m, **params)
    return results


def format_table(results: dict[str, dict[str, float]], columns: list[str] | None = None) -> str:
    """A plain-text (and Markdown-compatible) table: methods × metrics."""
    if not results:
        return "(no results)"
    columns = columns or [c for c in next(iter(results.values())) if c != "queries"]
    head = "| method | " + " | ".join(columns) + " |"
    sep = "|---|" + "---:|" * len(columns)
    lines = [head, sep]
    for m, r in results.items():
        lines.append(f"| {m} | " + " | ".join(f"{r.get(c, float('nan')):.2f}" for c in columns) + " |")
    return "\n".join(lines)


def write_results(results: dict[str, dict[str, float]], out: Path, meta: dict) -> None:
    """``results.json`` (with ``meta``) and ``results.csv`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    cols = sorted({c for r in results.values() for c in r})
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", *cols])
        for m, r in results.items():
            w.writerow([m, *(r.get(c, "") for c in cols)])

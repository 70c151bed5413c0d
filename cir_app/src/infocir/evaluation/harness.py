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
from infocir.methods.registry import METHODS

log = logging.getLogger(__name__)


def query_reference(q, cache: dict):
    """The query's reference as the engine takes it: an index id, or an image loaded from a file."""
    if not q.reference_path:
        return q.reference_id or None  # "": a text-only query (the captions benchmark)
    if q.reference_path not in cache:
        from infocir.models.encoding import open_rgb

        cache.clear()  # one decoded image at a time: queries of a reference come in a row
        cache[q.reference_path] = open_rgb(q.reference_path)
    return cache[q.reference_path]


def _query_metrics(bench: Benchmark, q, ranked: list[str], n_valid: int, scores: np.ndarray, row_of) -> dict:
    """The benchmark's metrics of one query (fractions), from its ranking and the method's raw scores."""
    m = bench.metrics
    r: dict[str, float] = {}
    for k in m.get("map", ()):
        r[f"mAP@{k}"] = M.average_precision_at_k(ranked, q.target_ids, k)
    if m.get("full_map"):
        r["mAP"] = M.average_precision_at_k(ranked, q.target_ids, max(1, n_valid))
    if m.get("interp_map"):
        r["mAP_interp"] = M.average_precision_interpolated(ranked, q.target_ids)
    for k in m.get("recall", ()):
        r[f"R@{k}"] = M.recall_at_k(ranked, q.target_ids, k)
    if m.get("subset_recall", ()) and q.subset:
        # CIRR subset recall: rank only the members of the query's image set
        sub_ranked = sorted(q.subset, key=lambda i: -float(scores[row_of[i]]))
        for k in m["subset_recall"]:
            r[f"Rs@{k}"] = M.recall_at_k(sub_ranked, q.target_ids, k)
    if "mAP@10" in bench.group_metrics and "mAP@10" not in r:
        r["mAP@10"] = M.average_precision_at_k(ranked, q.target_ids, 10)
    return r


def _means(bench: Benchmark, per_query: list[dict[str, float]], latencies: list[float]) -> dict[str, float]:
    """Mean of each column (in %), per group for ``bench.group_metrics``, the p50 latency, the query count."""
    out: dict[str, float] = {}
    for c in bench.columns():
        vals = [r[c] for r in per_query if c in r]
        if vals:
            out[c] = 100 * float(np.mean(vals))
    for metric in bench.group_metrics:
        for g in sorted({q.group for q in bench.queries if q.group}):
            vals = [r[metric] for r, q in zip(per_query, bench.queries, strict=True) if q.group == g and metric in r]
            if vals:
                out[f"{metric}[{g}]"] = 100 * float(np.mean(vals))
    if bench.metrics.get("rank"):
        ranks = [r["first_target_rank"] for r in per_query if r.get("first_target_rank") is not None]
        out["Med r"] = float(np.median(ranks)) if ranks else float("nan")
        out["Mean r"] = float(np.mean(ranks)) if ranks else float("nan")
    out["p50_ms"] = 1000 * float(np.median(latencies)) if latencies else float("nan")
    out["queries"] = len(bench.queries)
    return out


def query_results(
    engine, bench: Benchmark, method: str, exclude_reference: bool = True, cutoffs: tuple[int, ...] = (), **params
) -> list[dict[str, float]]:
    """Each query's metrics (fractions, as ``_query_metrics`` names them), in ``bench.queries`` order, plus
    ``first_target_rank`` (1-based rank of the best-ranked target in the full ranking; None when no target
    can be ranked, e.g. outside the query's gallery) and ``latency_s``.  ``cutoffs``: extra K for which
    ``mAP@K`` and ``R@K`` are added.  The reference is removed from its own ranking, as CIRR/CIRCO
    evaluation does; per-query galleries restrict the ranking."""
    m = bench.metrics
    full = bool(m.get("full_map") or m.get("interp_map"))
    # a method that searches the query's own database when the benchmark gives one (BASIC: its mean and
    # query expansion come from the instance's database, as the i-CIR authors run it)
    gallery_aware = bool(getattr(METHODS.get(method), "gallery_aware", False))
    depth = max((*m.get("map", ()), *m.get("recall", ()), *cutoffs, 10))
    out: list[dict[str, float]] = []
    images: dict = {}
    row_of = engine.index.row_of
    for q in bench.queries:
        t0 = time.perf_counter()
        gallery = query_gallery(engine, q)
        extra = {"gallery": gallery} if gallery_aware and gallery is not None else {}
        comp = engine.compose(query_reference(q, images), q.text, method, **params, **extra)
        scores = rankable_scores(engine, q, comp.scores, gallery, exclude_reference)
        n_valid = int(np.isfinite(scores).sum())
        ranked = [engine.index.ids[r] for r in top_k(scores, n_valid if full else depth)]
        latency = time.perf_counter() - t0
        r: dict = _query_metrics(bench, q, ranked, n_valid, comp.scores, row_of)
        for k in cutoffs:
            r.setdefault(f"mAP@{k}", M.average_precision_at_k(ranked, q.target_ids, k))
            r.setdefault(f"R@{k}", M.recall_at_k(ranked, q.target_ids, k))
        r["first_target_rank"] = first_rank(ranked, q.target_ids, scores, target_rows(engine, q))
        r["latency_s"] = latency
        out.append(r)
    return out


def rankable_rows(engine, q, gallery: np.ndarray | None, exclude_reference: bool) -> np.ndarray:
    """bool [N]: the rows a query may rank: its gallery (when the benchmark gives one), without the reference
    itself when ``exclude_reference`` (``search(exclude_reference=)``'s rule)."""
    n = len(engine.index)
    ok = np.ones(n, bool)
    if gallery is not None:
        ok[:] = False
        ok[gallery] = True
    own = engine.reference_row(q.reference_id) if exclude_reference else None
    if own is not None:
        ok[own] = False
    return ok


def rankable_scores(engine, q, scores: np.ndarray, gallery: np.ndarray | None, exclude_reference: bool) -> np.ndarray:
    """A float64 copy of a query's scores with what it may not rank (``rankable_rows``) at -inf."""
    out = scores.astype(np.float64, copy=True)
    out[~rankable_rows(engine, q, gallery, exclude_reference)] = -np.inf
    return out


def target_rows(engine, q) -> list[int]:
    """The index rows of a query's targets (those the index holds)."""
    return [engine.index.row_of[t] for t in q.target_ids if t in engine.index.row_of]


def query_gallery(engine, q) -> np.ndarray | None:
    """The index rows a query ranks within (its benchmark gallery), or None: the whole index."""
    return None if q.candidates is None else np.array([engine.index.row_of[c] for c in q.candidates], np.int64)


def first_rank(ranked: list[str], targets, scores: np.ndarray, target_rows: list[int]) -> int | None:
    """1-based rank of the best target: its place in ``ranked`` when it is there (the ranking the metrics
    read, ties broken as the search breaks them), else one more than the number of rankable images scored
    above it; None when every target is unrankable (-inf: outside the gallery, or the reference itself)."""
    wanted = set(targets)
    for i, iid in enumerate(ranked):
        if iid in wanted:
            return i + 1
    best = max((float(scores[r]) for r in target_rows), default=-np.inf)
    if not np.isfinite(best):
        return None
    return int(np.sum(scores > best)) + 1


def evaluate_method(
    engine, bench: Benchmark, method: str, exclude_reference: bool = True, **params
) -> dict[str, float]:
    """Mean metrics of ``method`` over the benchmark's queries (in %), the per-group figures
    named by ``bench.group_metrics`` and the p50 latency (each query's figures: ``query_results``)."""
    per_query = query_results(engine, bench, method, exclude_reference, **params)
    return _means(bench, per_query, [r["latency_s"] for r in per_query])


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

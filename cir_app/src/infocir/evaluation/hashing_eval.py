"""Semantic hashing against float search, evaluated as the QT-FIRS report does (seed 003): per threshold rule
(median, mean) and with or without exact re-ranking of a short list, R@1/5/10 and the median and mean rank of each
query's best target, beside the storage per image and the query time, as ratios to float search.

Ranks are exact positions in each search's full order, not only within the top k: float search orders by cosine;
Hamming search by distance to the query's code (ties by row, as ``HashingBackend``); with re-ranking, the first
``rerank`` of the Hamming order are re-ordered by cosine and the rest keep their Hamming places."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from infocir.errors import UserError
from infocir.evaluation.benchmarks import Benchmark
from infocir.evaluation.harness import query_gallery, query_reference, rankable_rows, target_rows
from infocir.evaluation.rank_table import rank_summary
from infocir.index.backends import top_k
from infocir.index.hashing_backend import HashingBackend, hamming


def float_rank(scores: np.ndarray, targets: list[int], ok: np.ndarray) -> int | None:
    """1-based rank of the best target when every allowed image is ordered by score (ties by row)."""
    best = [t for t in targets if ok[t]]
    if not best:
        return None
    t = min(best, key=lambda r: (-scores[r], r))
    above = (scores > scores[t]) | ((scores == scores[t]) & (np.arange(len(scores)) < t))
    return int(np.sum(above & ok)) + 1


def hamming_rank(dist: np.ndarray, scores: np.ndarray, targets: list[int], ok: np.ndarray, rerank: int) -> int | None:
    """1-based rank of the best target in Hamming order (ties by row), the first ``rerank`` re-ordered by score."""
    best = [t for t in targets if ok[t]]
    if not best:
        return None
    rows = np.arange(len(dist))
    key = dist.astype(np.int64) * len(dist) + rows  # distance, then row: one sortable number per image
    key = np.where(ok, key, np.iinfo(np.int64).max)
    position = {t: int(np.sum(key < key[t])) + 1 for t in best}  # Hamming places
    if rerank > 0:
        short = np.argsort(key, kind="stable")[: min(rerank, int(ok.sum()))]
        in_short = [t for t in best if position[t] <= len(short)]
        if in_short:
            s = scores[short]
            return min(int(np.sum((s > scores[t]) | ((s == scores[t]) & (short < t)))) + 1 for t in in_short)
    return min(position.values())


def _one_blas_thread():
    """Time searches on one BLAS thread, as the server answers queries (``model.query_threads``): on shared cores a
    second thread waits for a scheduler slice (~8 ms) and the float search's time would measure that wait."""
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
    except ImportError:
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def hashing_table(
    engine,
    bench: Benchmark,
    method: str,
    rules: tuple[str, ...] = ("median", "mean"),
    rerank: int = 1000,
    exclude_reference: bool = True,
    timing_k: int = 10,
) -> dict[str, dict]:
    """Rows: float search, then each rule with Hamming ranking alone and with re-ranking of ``rerank``."""
    feats = engine.index.features
    f32 = np.asarray(feats, np.float32)  # one float32 copy, as the exact backend keeps (not converted per query)
    backends = {rule: HashingBackend(feats, config=_with_rule(engine.config, rule, rerank)) for rule in rules}
    names = ["float (cosine)"] + [f"{r}, {how}" for r in rules for how in ("Hamming only", f"re-ranked {rerank}")]
    ranks: dict[str, list] = {name: [] for name in names}
    seconds: dict[str, list[float]] = {name: [] for name in names}
    images: dict = {}
    with _one_blas_thread():
        for q in bench.queries:
            comp = engine.compose(query_reference(q, images), q.text, method)
            if comp.query_vector is None:
                raise UserError(f"Hashing search needs a method that composes one query vector, not {method!r}.")
            v = np.asarray(comp.query_vector, np.float32)
            ok = rankable_rows(engine, q, query_gallery(engine, q), exclude_reference)
            targets = target_rows(engine, q)
            t0 = time.perf_counter()
            scores = f32 @ v
            top_k(scores, timing_k)
            seconds[names[0]].append(time.perf_counter() - t0)
            ranks[names[0]].append(float_rank(scores, targets, ok))
            for rule, backend in backends.items():
                code = backend.code_of(v)
                t0 = time.perf_counter()
                dist = hamming(backend.codes, code)
                top_k(-dist.astype(np.float32), timing_k)
                seconds[f"{rule}, Hamming only"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                backend._search(v, timing_k)  # Hamming, then the short list re-ranked by cosine
                seconds[f"{rule}, re-ranked {rerank}"].append(time.perf_counter() - t0)
                ranks[f"{rule}, Hamming only"].append(hamming_rank(dist, scores, targets, ok, 0))
                ranks[f"{rule}, re-ranked {rerank}"].append(hamming_rank(dist, scores, targets, ok, rerank))
    float_bytes = feats.dtype.itemsize * feats.shape[1]
    code_bytes = (feats.shape[1] + 7) // 8
    base_ms = 1000 * float(np.median(seconds[names[0]]))
    out = {}
    for name in names:
        ms = 1000 * float(np.median(seconds[name]))
        # Hamming alone reads the codes; re-ranking also reads the short list's float features: both are kept
        stored = float_bytes if name == names[0] else code_bytes + (float_bytes if "re-ranked" in name else 0)
        out[name] = {
            **rank_summary(ranks[name]),
            "bytes/image": f"{stored}",
            "storage ×": f"{stored / float_bytes:.3f}",
            "ms/query": f"{ms:.2f}",
            "time ×": f"{ms / base_ms:.2f}",
        }
    return out


def _with_rule(cfg, rule: str, rerank: int):
    """The configuration with ``hashing.threshold`` = ``rule`` and a short list of ``rerank`` (timed as searched)."""
    return replace(cfg, hashing=replace(cfg.hashing, threshold=rule, rerank=rerank))

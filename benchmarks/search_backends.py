"""Search backends side by side on synthetic clustered unit vectors: build seconds, query latency (p50/p95,
one thread), recall@10 against exact search, and memory.  Prints a markdown table.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/search_backends.py                    # 10k and 100k, d = 128, 512
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/search_backends.py --sizes 1000000 --dims 512

Vectors: ``--clusters`` centres plus Gaussian noise, normalised, stored as float16 in a memory-mapped .npy as the
index stores them; queries are data points plus noise (a composed query lands near images).  The exact
backend runs in both forms: a float32 copy in RAM (``retrieval.exact_ram_mb`` large enough, the default up to
1M × 1024) and blockwise from the float16 map (``exact_ram_mb`` too small).  Queries run with one torch and one
BLAS thread, as the server answers them (``model.query_threads``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from infocir.config import AppConfig, apply_overrides
from infocir.index.backends import create_backend, score_rows, top_k


def clustered(n: int, dim: int, clusters: int, seed: int = 0, block: int = 100_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    out = np.empty((n, dim), np.float16)
    for s in range(0, n, block):
        m = min(block, n - s)
        x = centres[rng.integers(0, clusters, m)] + 0.6 * rng.normal(size=(m, dim)).astype(np.float32)
        out[s : s + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def demo_source(n_queries: int) -> tuple[np.ndarray, np.ndarray]:
    """The default demo world's unit image features and the composed (average) query vectors of its first
    ``n_queries`` benchmark queries."""
    from infocir.engine import RetrievalEngine
    from infocir.evaluation.benchmarks import demo_benchmark

    engine = RetrievalEngine.from_config(AppConfig(), progress=False)
    bench = demo_benchmark(engine.scan.root)
    queries = [engine.compose(q.reference_id, q.text, "average").query_vector for q in bench.queries[:n_queries]]
    return np.asarray(engine.index.features, np.float32), np.stack(queries).astype(np.float32)


def tiled(features: np.ndarray, n: int, jitter: float = 0.05, seed: int = 0) -> np.ndarray:
    """``features`` repeated to n rows, each copy after the first jittered and renormalised (distinct vectors
    around the same images), as float16."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, features.shape[1]), np.float16)
    for start in range(0, n, len(features)):
        part = features[: min(len(features), n - start)].copy()
        if start:
            part += jitter * rng.normal(size=part.shape).astype(np.float32) / np.sqrt(part.shape[1])
            part /= np.linalg.norm(part, axis=1, keepdims=True)
        out[start : start + len(part)] = part
    return out


def exact_top(features: np.ndarray, queries: np.ndarray, k: int) -> list[set[int]]:
    return [set(top_k(score_rows(features, q), k).tolist()) for q in queries]


def latency(backend, queries: np.ndarray, rounds: int = 2) -> tuple[float, float]:
    """p50 and p95 milliseconds of one top-10 search, over every query, ``rounds`` times."""
    times = []
    for _ in range(rounds):
        for x in queries:
            t0 = time.perf_counter()
            backend.search(x, 10)
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))]


def flat_comparison(feats: np.ndarray, queries: np.ndarray, rounds: int = 3) -> dict[str, float]:
    """p50 ms of the exact backend (float32 copy), FAISS's float16 flat index (the ``faiss-flat`` backend,
    ``SQfp16``) and FAISS's float32 flat index (``IndexFlatIP``, the issue's "FAISS flat"), interleaved query by
    query so that whatever else runs on the machine weighs on all three alike."""
    import faiss

    cfg = apply_overrides(AppConfig(), {"faiss.threads": "0", "retrieval.exact_ram_mb": "1000000"})
    exact = create_backend("exact", feats, config=cfg)
    sq16 = create_backend("faiss-flat", feats, config=cfg)
    flat32 = faiss.IndexFlatIP(feats.shape[1])
    flat32.add(exact.features)  # the same float32 values the exact backend scores
    faiss.omp_set_num_threads(1)
    runs = {
        "exact": lambda x: exact.search(x, 10),
        "faiss-flat (SQfp16)": lambda x: sq16.search(x, 10),
        "IndexFlatIP (float32)": lambda x: flat32.search(x[None], 10),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for x in queries:
            for name, run in runs.items():
                t0 = time.perf_counter()
                run(x)
                times[name].append((time.perf_counter() - t0) * 1000)
    return {name: statistics.median(t) for name, t in times.items()}


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000", help="comma-separated N")
    ap.add_argument("--dims", default="128,512", help="comma-separated D")
    ap.add_argument("--clusters", type=int, default=200)
    ap.add_argument(
        "--source",
        choices=("synthetic", "demo"),
        default="synthetic",
        help="demo: the demo world's image features (the demo model, D = 128) tiled with jitter to N, queried with "
        "the composed (average) vectors of its benchmark queries; --dims is ignored",
    )
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--backends", default="exact,exact-blockwise,faiss-flat,faiss-ivf,faiss-hnsw,hashing")
    ap.add_argument("--nprobe", default="8,16,32", help="IVF nprobe values measured on one built index")
    ap.add_argument("--ef-search", default="64,128,256", help="HNSW efSearch values measured on one built index")
    ap.add_argument("--rerank", default="0,200,1000", help="hashing: short-list lengths measured on one set of codes")
    ap.add_argument(
        "--flat-ratio",
        action="store_true",
        help="also time exact, FAISS float16 flat and FAISS float32 flat interleaved query by query (their ratios)",
    )
    ap.add_argument("--hnsw-max", type=int, default=200_000, help="skip HNSW above this N (its build is slow)")
    args = ap.parse_args()
    import faiss
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(limits=1, user_api="blas")  # as model.query_threads = 1 does in the server
    rows = []
    ratios: list[tuple[int, int, dict[str, float]]] = []
    print(f"# search backends ({os.cpu_count()} cores here; queries on one thread)", file=sys.stderr)
    demo = demo_source(args.queries) if args.source == "demo" else None
    dims = [demo[0].shape[1]] if demo is not None else list(map(int, args.dims.split(",")))
    for n in map(int, args.sizes.split(",")):
        for dim in dims:
            with tempfile.TemporaryDirectory() as tmp:
                data = tiled(demo[0], n) if demo is not None else clustered(n, dim, args.clusters)
                np.save(Path(tmp) / "f.npy", data)
                feats = np.load(Path(tmp) / "f.npy", mmap_mode="r")
                rng = np.random.default_rng(1)
                if demo is not None:
                    q = demo[1]
                else:
                    picks = rng.choice(n, args.queries, replace=False)
                    q = np.asarray(feats[picks], np.float32) + 0.3 * rng.normal(size=(args.queries, dim)) / np.sqrt(dim)
                    q = (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)
                truth = exact_top(feats, q, 10)
                for name in args.backends.split(","):
                    if name == "faiss-hnsw" and n > args.hnsw_max:
                        continue
                    variants = {"faiss-ivf": args.nprobe, "faiss-hnsw": args.ef_search, "hashing": args.rerank}.get(
                        name, ""
                    )
                    before = rss_mb()
                    t0 = time.perf_counter()
                    # builds on every core; exact-blockwise: no RAM for a float32 copy, float16 converted per query
                    ram = "0" if name == "exact-blockwise" else "4096"
                    cfg = apply_overrides(AppConfig(), {"faiss.threads": "0", "retrieval.exact_ram_mb": ram})
                    backend = create_backend(name.replace("-blockwise", ""), feats, config=cfg)
                    build = time.perf_counter() - t0
                    mem = rss_mb() - before
                    faiss.omp_set_num_threads(1)
                    for v in variants.split(",") if variants else [""]:
                        if name == "faiss-ivf":
                            faiss.extract_index_ivf(backend.index).nprobe = int(v)
                        if name == "faiss-hnsw":
                            faiss.downcast_index(backend.index).hnsw.efSearch = int(v)
                        if name == "hashing":
                            backend.params = dataclasses.replace(backend.params, rerank=int(v))
                        hits = sum(
                            len(set(backend.search(x, 10)[0].tolist()) & t) for x, t in zip(q, truth, strict=True)
                        )
                        p50, p95 = latency(backend, q)
                        knob = {"faiss-ivf": "nprobe", "faiss-hnsw": "efSearch", "hashing": "rerank"}.get(name, "")
                        label = name + (f" ({knob} {v})" if v else "")
                        rows.append((n, dim, label, build, p50, p95, hits / (10 * len(q)), mem))
                        print(f"{n:>9} {dim:>4} {label:<26} {rows[-1][4]:8.2f} ms", file=sys.stderr)
                    del backend
                if args.flat_ratio:
                    p50 = flat_comparison(feats, q)
                    ratios.append((n, dim, p50))
    print("| N | D | backend | build s | p50 ms | p95 ms | recall@10 | memory MB |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|")
    for n, dim, label, build, p50, p95, recall, mem in rows:
        print(f"| {n:,} | {dim} | {label} | {build:.1f} | {p50:.2f} | {p95:.2f} | {recall:.3f} | {mem:.0f} |")
    if ratios:
        print("\nInterleaved query by query (p50 ms, one thread):\n")
        heads = ["N", "D", "exact", "FAISS flat float16 (SQfp16)", "FAISS flat float32 (IndexFlatIP)"]
        print("| " + " | ".join([*heads, "exact / fp16", "exact / fp32"]) + " |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for n, dim, p in ratios:
            e, h, f = p["exact"], p["faiss-flat (SQfp16)"], p["IndexFlatIP (float32)"]
            print(f"| {n:,} | {dim} | {e:.1f} | {h:.1f} | {f:.1f} | {e / h:.2f} | {e / f:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

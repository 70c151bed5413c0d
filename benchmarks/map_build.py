"""How long the embedding map (panel D) takes to build for N images: the reducer fitted on a sample
(``umap.fit_sample``) and every other image placed with its ``transform``, as ``MapService`` does it.

    python benchmarks/map_build.py --n 100000 1000000 [--dim 512] [--fit-sample 20000]

The features are synthetic clustered unit vectors (float16, as the index stores them), written to a memory-mapped
file so that a million rows do not have to fit in RAM twice.  Prints, per N: the fit seconds, the placing seconds
(and rows per second), the total, and the peak resident memory."""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from infocir.config import UMAPConfig
from infocir.projection.embedding_map import fit_map


def clustered_features(path: Path, n: int, dim: int, clusters: int = 64, seed: int = 0) -> np.ndarray:
    """``n`` unit vectors around ``clusters`` random centres, float16, memory-mapped at ``path``."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(n, dim))
    for start in range(0, n, 50_000):
        m = min(50_000, n - start)
        x = centres[rng.integers(0, clusters, m)] + 0.6 * rng.standard_normal((m, dim)).astype(np.float32)
        out[start : start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    out.flush()
    return np.load(path, mmap_mode="r")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[100_000])
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--fit-sample", type=int, default=UMAPConfig().fit_sample)
    args = ap.parse_args()
    cfg = replace(UMAPConfig(), fit_sample=args.fit_sample)
    print("| N | dim | fit sample | fit s | place s | rows/s placed | total s | peak RSS MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.n:
            feats = clustered_features(Path(tmp) / f"f{n}.npy", n, args.dim)
            marks: dict[str, float] = {}
            t0 = time.perf_counter()

            def progress(msg: str, marks=marks, t0=t0) -> None:
                if msg.startswith("placing") and "place" not in marks:
                    marks["place"] = time.perf_counter() - t0  # the fit has ended

            m = fit_map(feats, cfg, progress=progress)
            total = time.perf_counter() - t0
            fit = marks.get("place", total)
            placed = n - min(n, args.fit_sample or n)
            rate = placed / max(total - fit, 1e-9) if placed else 0.0
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            assert m.coords.shape == (n, 2) and np.isfinite(m.coords).all()
            print(
                f"| {n:,} | {args.dim} | {min(n, args.fit_sample or n):,} | {fit:.1f} | {total - fit:.1f} | "
                f"{rate:,.0f} | {total:.1f} | {peak:,.0f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Query latency per CIR method (composed query built + exact search), dataset-id reference.

    python benchmarks/query_latency.py --images 10000 [--model InfoCIR-Demo-ViT --pretrained demo]
    python benchmarks/query_latency.py --threads 0,1 --busy 1    # torch's default vs 1 thread, one core kept busy

Uses a synthetic index of ``--images`` rows (features drawn from the real model's image
features of the demo world, tiled) so 10k-image figures need no 10k-image build.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--model", default="InfoCIR-Demo-ViT")
    ap.add_argument("--pretrained", default="demo")
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--methods", default="image,text,average,product,weicom,searle,basic,feedback,fusion,oti")
    ap.add_argument("--threads", default="1", help="model.query_threads values to compare, e.g. 0,1 (0: torch default)")
    ap.add_argument("--busy", type=int, default=0, help="processes that keep a core busy while measuring")
    ap.add_argument("--backend", default="exact", help="retrieval.backend (exact, faiss-flat, faiss-ivf, ...)")
    ap.add_argument(
        "--jitter", type=float, default=0.02, help="noise added to the tiled copies so they are distinct vectors"
    )
    args = ap.parse_args()
    import numpy as np

    from infocir.config import AppConfig, apply_overrides
    from infocir.engine import RetrievalEngine, use_query_threads
    from infocir.index.manifest import IndexKey, IndexManifest
    from infocir.index.store import FeatureIndex
    from search_backends import tiled  # the sibling script's tiling (run from benchmarks/, as documented)

    with tempfile.TemporaryDirectory() as tmp:
        cfg = apply_overrides(
            AppConfig(),
            {
                "model.name": args.model,
                "model.pretrained": args.pretrained,
                "index.cache_dir": tmp,
                "dataset.demo_replicates": "1",
            },
        )
        base = RetrievalEngine.from_config(cfg, progress=False)
        reps = -(-args.images // len(base.index))
        # tiled copies of the demo world's features, each copy after the first jittered and renormalised
        feats = tiled(np.asarray(base.index.features, np.float32), args.images, args.jitter).astype(np.float32)
        n = len(feats)
        ids = [f"{i // len(base.index)}/{base.index.ids[i % len(base.index)]}" for i in range(n)]
        key = IndexKey(base.bundle.name, base.bundle.weights_hash, base.bundle.preprocess_kind, "synthetic", "float32")
        index = FeatureIndex(
            feats,
            np.tile(base.index.norms, reps)[:n],
            ids,
            [base.index.classes[i % len(base.index)] for i in range(n)],
            [base.index.paths[i % len(base.index)] for i in range(n)],
            IndexManifest(key, "synthetic", n, feats.shape[1], 0, ""),
        )
        t0 = time.perf_counter()
        cfg = apply_overrides(cfg, {"retrieval.backend": args.backend})
        engine = RetrievalEngine(cfg, base.bundle, base.scan, index)
        print(f"backend {engine.backend.name} ready in {time.perf_counter() - t0:.1f} s")
        rng = np.random.default_rng(0)
        refs = [ids[i] for i in rng.choice(n, args.queries, replace=False)]
        import torch

        default_threads = torch.get_num_threads()
        busy = [_burn() for _ in range(args.busy)]
        try:
            for threads in [int(t) for t in args.threads.split(",")]:
                engine.config = apply_overrides(engine.config, {"model.query_threads": str(threads)})
                torch.set_num_threads(default_threads)  # 0 below means torch's default, whatever ran before
                n_threads = use_query_threads(engine.config)
                print(
                    f"model={args.model} images={n} queries={args.queries} torch threads={n_threads} "
                    f"busy processes={args.busy} (dataset-id references, backend {engine.backend.name})"
                )
                _measure(engine, args, refs, f"t{threads}")
        finally:
            for p in busy:
                p.terminate()
    return 0


def _burn():
    """A process that keeps one core busy (another user of the machine)."""
    import multiprocessing as mp

    p = mp.get_context("spawn").Process(target=_spin, daemon=True)
    p.start()
    return p


def _spin() -> None:
    while True:
        pass


def _measure(engine, args, refs, tag: str) -> None:
    texts = ["make it red", "as a sketch", "on a striped background", "turn it into a star", "make it bigger"]
    print(f"{'method':<10} {'p50 ms':>8} {'p90 ms':>8}")
    for m in args.methods.split(","):
        info = {x.name: x for x in engine.methods()}[m]
        if not info.available:
            print(f"{m:<10} unavailable: {info.reason[:60]}")
            continue
        times = []
        qs = refs[:5] if m == "oti" else refs  # OTI optimises per reference: a few suffice
        for i, ref in enumerate(qs):
            text = f"{texts[i % len(texts)]} {m} {i} {tag}"  # unique text: no cache hits
            t0 = time.perf_counter()
            engine.search(ref, text, k=24, method=m)
            times.append(1000 * (time.perf_counter() - t0))
        times.sort()
        print(f"{m:<10} {statistics.median(times):8.1f} {times[int(0.9 * (len(times) - 1))]:8.1f}")


if __name__ == "__main__":
    raise SystemExit(main())

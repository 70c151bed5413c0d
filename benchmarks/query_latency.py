"""Query latency per CIR method (composed query built + exact search), dataset-id reference.

    python benchmarks/query_latency.py --images 10000 [--model InfoCIR-Demo-ViT --pretrained demo]

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
    args = ap.parse_args()
    import numpy as np

    from infocir.config import AppConfig, apply_overrides
    from infocir.engine import RetrievalEngine
    from infocir.index.manifest import IndexKey, IndexManifest
    from infocir.index.store import FeatureIndex

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
        feats = np.tile(base.index.features, (reps, 1))[: args.images]
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
        engine = RetrievalEngine(cfg, base.bundle, base.scan, index)
        rng = np.random.default_rng(0)
        refs = [ids[i] for i in rng.choice(n, args.queries, replace=False)]
        texts = ["make it red", "as a sketch", "on a striped background", "turn it into a star", "make it bigger"]
        print(f"model={args.model} images={n} queries={args.queries} (dataset-id references, exact numpy search)")
        print(f"{'method':<10} {'p50 ms':>8} {'p90 ms':>8}")
        for m in args.methods.split(","):
            info = {x.name: x for x in engine.methods()}[m]
            if not info.available:
                print(f"{m:<10} unavailable: {info.reason[:60]}")
                continue
            times = []
            qs = refs[:5] if m == "oti" else refs  # OTI optimises per reference: a few suffice
            for i, ref in enumerate(qs):
                t0 = time.perf_counter()
                engine.search(ref, f"{texts[i % len(texts)]} {m} {i}", k=24, method=m)  # unique text: no cache hits
                times.append(1000 * (time.perf_counter() - t0))
            times.sort()
            print(f"{m:<10} {statistics.median(times):8.1f} {times[int(0.9 * (len(times) - 1))]:8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

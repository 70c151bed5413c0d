"""Index-build throughput (images/s) for an open_clip architecture with random weights.

    python benchmarks/index_build.py --model ViT-B-32 --images 256
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="ViT-B-32")
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    import resource

    import torch

    from infocir.data.demo_world import DemoWorldSpec, generate_dataset
    from infocir.data.scan import scan_dataset
    from infocir.index.store import build_index
    from infocir.models.encoders import load_clip

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = generate_dataset(Path(tmp) / "world", DemoWorldSpec(replicates=1))
        scan = scan_dataset(root, sample_size=args.images)
        bundle = load_clip(args.model, None, preprocess="targetpad")
        t0 = time.perf_counter()
        build_index(bundle, scan, Path(tmp) / "index", batch_size=args.batch, progress=False)
        dt = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"model={args.model} (random weights) images={len(scan.records)} batch={args.batch} "
          f"threads={torch.get_num_threads()} cores={os.cpu_count()}")
    print(f"build time {dt:.1f} s  ->  {len(scan.records) / dt:.1f} images/s   peak RSS {rss:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

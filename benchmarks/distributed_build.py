"""Index-build throughput (images/s): the single-process build against the Ray Data build (``build-index
--distributed ray``) with N actors, on the same demo-world images and the demo model.

    python benchmarks/distributed_build.py [--images 1920] [--workers 2] [--chunk 1024] [--batch 64]

The demo world is generated into a temporary folder (1,920 images at one replicate).  The Ray figures are for a
local Ray started once (its start is printed apart): ``build`` includes starting the actor pool (each actor imports
torch and loads the model); ``pool busy`` is the images over the seconds from the first actor call's start to the
last one's end (the pool's rate once its actors run).  Each build's index is checked against the single-process one.
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
    ap.add_argument("--images", type=int, default=1920)
    ap.add_argument("--workers", type=int, nargs="+", default=[2], help="Ray actor pool sizes to compare")
    ap.add_argument("--chunk", type=int, default=1024, help="index.chunk_size (a chunk is the unit an actor takes)")
    ap.add_argument("--batch", type=int, default=64, help="index.batch_size")
    args = ap.parse_args()

    import numpy as np
    import torch

    from infocir.config import AppConfig
    from infocir.data.demo_world import DemoWorldSpec, generate_dataset
    from infocir.data.scan import scan_dataset
    from infocir.engine import bundle_for
    from infocir.index.distributed import RayIndexBuilder, ray_session
    from infocir.index.store import build_index, load_index

    cfg = AppConfig()  # the demo model (InfoCIR-Demo-ViT, its committed weights)
    bundle = bundle_for(cfg)
    with tempfile.TemporaryDirectory() as tmp:
        root = generate_dataset(Path(tmp) / "world", DemoWorldSpec(replicates=1))
        scan = scan_dataset(root, sample_size=args.images)
        n = len(scan.records)
        print(
            f"model={bundle.name} device={bundle.device} images={n} chunk={args.chunk} batch={args.batch} "
            f"cores={os.cpu_count()} torch threads={torch.get_num_threads()}"
        )
        t0 = time.perf_counter()
        build_index(bundle, scan, Path(tmp) / "local", batch_size=args.batch, chunk_size=args.chunk, progress=False)
        local_s = time.perf_counter() - t0
        print(f"{'build':<24} {'seconds':>8} {'img/s':>7} {'pool busy s':>12} {'img/s':>7}")
        print(f"{'single process':<24} {local_s:8.1f} {n / local_s:7.1f}")
        reference = load_index(Path(tmp) / "local")
        t0 = time.perf_counter()
        with ray_session(None, max([os.cpu_count() or 1, *args.workers])):
            print(f"(local Ray started in {time.perf_counter() - t0:.1f} s)")
            for w in args.workers:
                builder = RayIndexBuilder(cfg.model, workers=w)
                out = Path(tmp) / f"ray{w}"
                t0 = time.perf_counter()
                builder.build(bundle, scan, out, batch_size=args.batch, chunk_size=args.chunk, progress=False)
                ray_s = time.perf_counter() - t0
                busy = builder.busy_s
                rate = f"{n / busy:7.1f}" if busy > 0 else f"{'—':>7}"
                print(f"{f'Ray, {w} actor(s)':<24} {ray_s:8.1f} {n / ray_s:7.1f} {busy:12.1f} {rate}")
                idx = load_index(out)
                same = idx.ids == reference.ids
                diff = float(np.abs(np.asarray(idx.features, np.float32) - np.asarray(reference.features)).max())
                print(f"    same rows: {same}, largest feature difference: {diff:.2g}, actors: {len(builder.actors)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Index-build throughput (images/s) against its two bounds, for an open_clip architecture with
random weights.

    python benchmarks/index_build.py --model ViT-B-32 --images 256 [--workers 0 1 2] [--photo 640x480]

For each worker count it measures, in one run and on the same images:
  * decode bound: decode + preprocess alone through the build's DataLoader (same workers);
  * model-only bound: the same batches, already decoded and in memory, through the encoder;
  * build: ``build_index`` end to end (decode overlapped with encode, chunks written to disk);
and prints build / min(bounds), the ratio the GPU issue asks to be >= 0.8.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def photo_folder(src_root: Path, out: Path, size: tuple[int, int], limit: int) -> Path:
    """Demo images re-saved as JPEG photos of ``size`` (decode cost like a real collection's)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = sorted(p for p in src_root.rglob("*.png"))[:limit]
    for p in paths:
        rel = p.relative_to(src_root).with_suffix(".jpg")
        (out / rel.parent).mkdir(parents=True, exist_ok=True)
        im = np.asarray(Image.open(p).convert("RGB").resize(size, Image.BILINEAR), np.int16)
        noisy = np.clip(im + rng.normal(0, 6, im.shape), 0, 255).astype(np.uint8)  # photo-like entropy
        Image.fromarray(noisy).save(out / rel, quality=90)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="ViT-B-32")
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--workers", type=int, nargs="+", default=[-1], help="DataLoader workers to compare (-1: auto)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--photo", default="", help="re-save the images as JPEG photos of WxH, e.g. 640x480")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    import resource

    import torch

    from infocir.data.demo_world import DemoWorldSpec, generate_dataset
    from infocir.data.scan import scan_dataset
    from infocir.index.store import auto_num_workers
    from infocir.index.throughput import measure
    from infocir.models.encoders import load_clip

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = generate_dataset(Path(tmp) / "world", DemoWorldSpec(replicates=1))
        if args.photo:
            w, h = (int(v) for v in args.photo.lower().split("x"))
            root = photo_folder(root, Path(tmp) / "photos", (w, h), args.images)
        scan = scan_dataset(root, sample_size=args.images)
        bundle = load_clip(args.model, None, preprocess="targetpad", device=args.device, precision=args.precision)
        print(
            f"model={args.model} (random weights) device={bundle.device} precision={bundle.precision} "
            f"images={len(scan.records)} ({args.photo or 'demo PNG'}) batch={args.batch} "
            f"threads={torch.get_num_threads()} cores={os.cpu_count()}"
        )
        print(f"{'workers':>8} {'decode img/s':>13} {'model img/s':>12} {'build img/s':>12} {'build/min':>10}")
        for i, wk in enumerate(args.workers):
            workers = auto_num_workers(bundle.device) if wk < 0 else wk
            r = measure(bundle, scan, args.batch, workers, Path(tmp) / f"index{i}")
            label = f"{workers}{' (auto)' if wk < 0 else ''}"
            print(
                f"{label:>8} {r['decode_img_s']:13.1f} {r['model_img_s']:12.1f}"
                f" {r['build_img_s']:12.1f} {r['ratio']:10.2f}"
            )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

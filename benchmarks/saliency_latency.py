"""Seconds per saliency map (and per token attribution) on CPU, per explainer and model.

    python benchmarks/saliency_latency.py [--models InfoCIR-Demo-ViT:demo,ViT-B-32:] [--repeats 10]

Each entry is MODEL:PRETRAINED ("demo" = the committed weights, empty = random weights: the
ViT-B-32 *architecture* costs the same with random or pretrained weights).  Timings exclude
the one-off model load and include preprocessing, the explainer and the upsampling.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="InfoCIR-Demo-ViT:demo,ViT-B-32:")
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    import numpy as np
    import torch

    from infocir.config import AppConfig, apply_overrides
    from infocir.data import demo_world as W
    from infocir.engine import bundle_for
    from infocir.explain.base import create_explainer, list_explainers, patch_grid, similarity_target
    from infocir.explain.image import explain_image
    from infocir.explain.text_attribution import TOKEN_METHODS, text_attribution

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    rng = np.random.default_rng(0)
    images = [
        W.render(W.Attributes("star", "red", "large", "striped", "filled"), rng, side=256)[0]
        for _ in range(args.repeats)
    ]
    for spec in args.models.split(","):
        name, _, pretrained = spec.partition(":")
        cfg = apply_overrides(AppConfig(), {"model.name": name, "model.pretrained": pretrained})
        b = bundle_for(cfg)
        target = similarity_target(np.random.default_rng(1).normal(size=b.embed_dim).astype(np.float32), b)
        print(
            f"\n{name} ({'random weights' if not pretrained else pretrained}), input {b.image_size} px, "
            f"patch grid {'×'.join(map(str, patch_grid(b.model.visual)))}"
        )
        for ex in list_explainers():
            explainer = create_explainer(ex.name)
            explain_image(b, images[0], target, explainer)  # warm-up
            times = [explain_image(b, im, target, explainer).seconds for im in images]
            print(
                f"  {ex.label:<22} median {statistics.median(times):.3f} s/map"
                f"  (min {min(times):.3f}, max {max(times):.3f})"
            )
        pseudo = torch.randn(1, b.token_dim)
        for m, label in TOKEN_METHODS.items():
            text_attribution(b, "a photo of $ that make it red", target, pseudo, method=m)
            t0 = time.perf_counter()
            for _ in range(args.repeats):
                text_attribution(b, "a photo of $ that make it red", target, pseudo, method=m)
            print(f"  words: {label:<15} {(time.perf_counter() - t0) / args.repeats * 1000:.1f} ms per prompt")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

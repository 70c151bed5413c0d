"""Text encoding per prompt: open_clip's ``encode_text`` over the whole context against ``encode_texts`` (cut after
the end-of-text token), on one thread.  Random weights for the public architectures (no download).

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/text_encoding.py [--models InfoCIR-Demo-ViT:demo,ViT-B-32:]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from infocir.config import AppConfig, apply_overrides
from infocir.engine import bundle_for
from infocir.models.encoding import encode_texts

PROMPTS = ["make it red", "change the star into a heart", "a large blue square with stripes instead", "$ but green"]


def per_prompt_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        for p in PROMPTS:
            t0 = time.perf_counter()
            fn([p])
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="InfoCIR-Demo-ViT:demo,ViT-B-32:")
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print("| model | context | full encode_text ms | cut after end-of-text ms | speed-up | max abs difference |")
    print("|---|---:|---:|---:|---:|---:|")
    for spec in args.models.split(","):
        name, _, pretrained = spec.partition(":")
        b = bundle_for(apply_overrides(AppConfig(), {"model.name": name, "model.pretrained": pretrained}))

        def full(texts, b=b):
            with torch.no_grad():
                return b.model.encode_text(b.tokens(texts)).float().numpy()

        full(PROMPTS), encode_texts(b, PROMPTS)  # warm-up
        diff = float(np.abs(full(PROMPTS) - encode_texts(b, PROMPTS)).max())
        a = per_prompt_ms(full, args.repeats)
        c = per_prompt_ms(lambda t, b=b: encode_texts(b, t), args.repeats)
        ctx = int(b.model.positional_embedding.shape[0])
        print(f"| {name} | {ctx} | {a:.2f} | {c:.2f} | {a / c:.1f}× | {diff:.1e} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

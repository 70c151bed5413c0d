"""Host work of the demo training's steps, and how much of it ``StepBatches`` takes off the loop.

A teacher step samples 256 captions and tokenises them, a student step of function matching mirrors,
turns and crops 64 images: work the GPU waits for.  This prints each step's host milliseconds (one
thread, the real tokenizer, pools of the training size's images), then the loop's milliseconds a step
when the device's part of the step is a wait of ``--device-ms`` (what the GPU would take; the H200's
teacher step took about 120 ms in all), without workers and with 1 and 2.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/train_host_work.py [--steps 40] [--device-ms 60 30]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from infocir.data import demo_world as W
from infocir.models import train_demo as T
from infocir.models.encoders import load_clip
from infocir.models.prefetch import StepBatches


def pool(replicates: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Random 64-px uint8 images with the demo world's attribute rows, replicate-major as ``training_pool``."""
    attrs = torch.tensor([c.indices() for c in W.all_combinations()] * replicates)
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (len(attrs), 3, 64, 64), dtype=torch.uint8, generator=g), attrs, replicates


def host_ms(make, steps: int) -> float:
    times = []
    for st in range(steps):
        t0 = time.perf_counter()
        make(st)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def loop_ms(make, steps: int, device_ms: float, workers: int) -> float:
    """Milliseconds a step of a loop that takes each step's batch, then waits ``device_ms``."""
    ahead = StepBatches(make, steps + 5, workers)
    ahead(0)  # the workers' start is paid once per phase, not per step
    t0 = time.perf_counter()
    for st in range(1, steps + 1):
        ahead(st)
        time.sleep(device_ms / 1e3)
    return (time.perf_counter() - t0) * 1e3 / steps


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--replicates", type=int, default=4, help="pool size in 1,920s (the recipe's: 16 + 32)")
    ap.add_argument("--device-ms", type=float, nargs=2, default=[60.0, 30.0], help="teacher, student")
    args = ap.parse_args()
    torch.set_num_threads(1)
    tokenizer = load_clip(T.TEACHER, None, preprocess="clip", device="cpu", precision="fp32").tokenizer
    data = pool(args.replicates)
    teacher_recipe = T.Recipe(teacher_rotate=True)
    student_recipe = T.Recipe(student_rotate=True, student_crop_area=0.35, student_mixup=0.4)
    makes = {
        "teacher (256 captions)": lambda st: T.teacher_batch(st, 1, 0.0, data, teacher_recipe, tokenizer),
        "student (64 matched views)": lambda st: T.student_views(st, data[0], student_recipe),
    }
    print("| step | host ms | device ms (a wait) | loop ms, no workers | 1 worker | 2 workers |")
    print("|---|---:|---:|---:|---:|---:|")
    for (name, make), device_ms in zip(makes.items(), args.device_ms, strict=True):
        row = [loop_ms(make, args.steps, device_ms, w) for w in (0, 1, 2)]
        print(
            f"| {name} | {host_ms(make, args.steps):.1f} | {device_ms:.0f} | "
            + " | ".join(f"{v:.1f}" for v in row)
            + " |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Train the demo CLIP with the issue-20 recipe inside a wall-clock deadline (a lent GPU machine), then φ.

The session's GPU time is short and fixed, so the step counts are not guessed: after the pools are
rendered, 40 teacher and 40 student steps are timed and the schedules are sized to the time left
before ``--deadline`` (seconds from the start), keeping a reserve for φ, evaluation and packing.

Outputs in ``--out``: ``log.txt``, ``eval.json`` (teacher and student on the independent and the
standard renderer) and ``weights.tar.part-*`` (the float16 student, its manifest, the float16
teacher, then φ and its manifest), split below the device tool's 16 MB per file.

    python scripts/train_demo_gpu.py --out "$OUT" --deadline 560
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tarfile
import time
from dataclasses import asdict, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cir_app" / "src"))

import torch  # noqa: E402

from infocir.models import train_demo as T  # noqa: E402
from infocir.models.demo_eval import evaluate_images, heldout_images  # noqa: E402
from infocir.models.encoders import load_clip  # noqa: E402
from infocir.models.train_phi import PhiRecipe, train_phi  # noqa: E402

log = logging.getLogger("train_demo_gpu")
PART = 15_000_000


def render_independent(path: Path) -> None:
    images, attrs = heldout_images("independent", 999, 1, 64)
    T._atomic_save({"images": images, "attrs": attrs}, path)


def pack(files: list[Path], out: Path, name: str) -> None:
    tar = out / f"{name}.tar"
    with tarfile.open(tar, "w") as tf:
        for f in files:
            tf.add(f, arcname=f.name)
    data = tar.read_bytes()
    tar.unlink()
    for i in range(0, len(data), PART):
        (out / f"{name}.tar.part-{i // PART}").write_bytes(data[i : i + PART])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--workdir", type=Path, default=Path(".gpuwork"))
    ap.add_argument("--deadline", type=float, default=560.0, help="seconds from start for everything")
    ap.add_argument("--reserve", type=float, default=150.0, help="seconds kept for evaluation, packing and φ")
    ap.add_argument("--replicates", type=int, default=16)
    ap.add_argument("--family-replicates", type=int, default=32)
    ap.add_argument("--teacher-share", type=float, default=0.55)
    ap.add_argument("--max-steps", type=int, default=8000)
    ap.add_argument("--probe-steps", type=int, default=40)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--phi-steps", type=int, default=PhiRecipe.phi_steps, help="φ distillation steps")
    ap.add_argument("--oti-steps", type=int, default=PhiRecipe.oti_steps, help="OTI steps per batch")
    ap.add_argument("--teacher-weights", type=Path, help="distil the student from this saved teacher only")
    ap.add_argument("--pretrain-steps", type=int, default=0, help="stage 1b steps (scaled like the teacher's)")
    ap.add_argument("--no-phi", action="store_true", help="stop after the student")
    ap.add_argument("--render-independent", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.render_independent:
        render_independent(args.render_independent)
        return 0
    t0 = time.time()
    args.out.mkdir(parents=True, exist_ok=True)
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(message)s",
        handlers=[logging.StreamHandler(sys.stdout), logging.FileHandler(args.out / "log.txt")],
    )
    indep_path = work / "independent-999-1-64.pt"
    bg = None
    if not indep_path.exists():
        bg = subprocess.Popen(
            [sys.executable, __file__, "--out", str(args.out), "--render-independent", str(indep_path)]
        )
    recipe = T.Recipe(
        pool_replicates=args.replicates,
        family_replicates=args.family_replicates,
        attribute_weight=1.0,
        teacher_rotate=True,
        student_rotate=True,
        teacher_focus_steps=0,
        student_batch=128,
        student_lr=1e-3,
        student_stop_at=0,
        general_steps=0,
    )
    # Pools first, in worker processes, before CUDA is initialised in this one.
    T.cached_pool(work, "train", recipe.seed, recipe.pool_replicates, 64)
    T.cached_pool(work, "train", recipe.seed, recipe.family_replicates, 64, "family")
    T.cached_pool(work, "heldout", recipe.heldout_seed, 1, 64)
    phi_recipe = PhiRecipe(family_replicates=1, oti_steps=args.oti_steps, phi_steps=args.phi_steps)
    if not args.no_phi:
        (work / "phi").mkdir(exist_ok=True)
        T.cached_pool(work / "phi", "phi", phi_recipe.seed, phi_recipe.replicates, 64)
        T.cached_pool(work / "phi", "phi", phi_recipe.seed, phi_recipe.family_replicates, 64, "family")
    log.info("pools ready at %.0f s", time.time() - t0)

    probe = work / "probe"
    probe.mkdir(exist_ok=True)
    for f in work.glob("pool-*.pt"):
        if not (probe / f.name).exists():
            (probe / f.name).symlink_to(f)
    n = args.probe_steps
    tw = args.teacher_weights.resolve() if args.teacher_weights else None
    T.train(
        probe,
        replace(recipe, teacher_steps=n, student_steps=n),
        out_dir=probe / "out",
        device=args.device,
        teacher_weights=tw,
    )
    t_step = torch.load(probe / "teacher.ckpt.pt", weights_only=False)["elapsed"] / n if tw is None else 0.0
    s_step = torch.load(probe / "student.ckpt.pt", weights_only=False)["elapsed"] / n
    budget = args.deadline - (time.time() - t0) - args.reserve
    # Loading the pools and building the models again costs about what the probe's own set-up did.
    share = args.teacher_share if tw is None else 0.0
    teacher_steps = max(n, min(args.max_steps, int(budget * share / t_step))) if tw is None else 0
    student_steps = max(n, min(args.max_steps, int(budget * (1 - share) / s_step)))
    log.info(
        "probe: teacher %.1f ms/step, student %.1f ms/step; %.0f s left for training: %d + %d steps",
        1e3 * t_step,
        1e3 * s_step,
        budget,
        teacher_steps,
        student_steps,
    )
    recipe = replace(recipe, teacher_steps=teacher_steps, student_steps=student_steps)
    out_dir = work / "out"
    manifest = T.train(work, recipe, out_dir=out_dir, device=args.device, teacher_weights=tw)
    log.info("trained at %.0f s: %s", time.time() - t0, json.dumps(manifest["training_minutes"]))

    teacher_b = load_clip(T.TEACHER, None, preprocess="clip", device=args.device, precision="fp32")
    teacher_path = tw or work / f"{T.TEACHER}.pt"
    T.load_teacher(teacher_b, teacher_path)
    teacher_b.model.eval()
    student_b = load_clip(
        T.STUDENT, str(out_dir / f"{T.STUDENT}.pt"), preprocess="clip", device=args.device, precision="fp32"
    )
    if bg is not None:
        bg.wait()
    ind = torch.load(indep_path)
    ho = torch.load(work / f"pool-heldout-{recipe.heldout_seed}-1-64.pt")
    report = {
        "recipe": asdict(recipe),
        "device": str(student_b.device),
        "training_minutes": manifest["training_minutes"],
        "probe_ms_per_step": {"teacher": 1e3 * t_step, "student": 1e3 * s_step},
    }
    for name, b in (("teacher", teacher_b), ("student", student_b)):
        report[name] = {
            "independent": evaluate_images(b, ind["images"], ind["attrs"]),
            "standard": evaluate_images(b, ho["images"], ho["attrs"]),
        }
        log.info("%s independent: %s", name, json.dumps(report[name]["independent"]))
    (args.out / "eval.json").write_text(json.dumps(report, indent=1))
    files = [out_dir / f"{T.STUDENT}.pt", out_dir / f"{T.STUDENT}.manifest.json"]
    pack(files + ([teacher_path] if tw is None else []), args.out, "weights")
    log.info("packed the weights at %.0f s", time.time() - t0)

    if args.no_phi or args.deadline - (time.time() - t0) < 90:
        log.info("no time left for φ")
        return 0
    train_phi(work / "phi", phi_recipe, out_dir=out_dir, device=args.device)
    pack([out_dir / f"{T.STUDENT}.searle-phi.pt", out_dir / f"{T.STUDENT}.searle-phi.manifest.json"], args.out, "phi")
    log.info("done at %.0f s", time.time() - t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

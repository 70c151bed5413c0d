"""Train the demo CLIP with any ``train-demo-clip`` recipe inside a wall-clock deadline (a lent GPU machine), then φ.

The session's GPU time is short and fixed, so the step counts are not guessed: after the pools are
rendered, every stage of the recipe runs ``--probe-steps`` steps, and the whole recipe is then scaled
(``train_demo.scaled``: every stage × one factor, learning rates unchanged) to the time left before
``--deadline`` (seconds from the start), keeping ``--reserve`` for evaluation, packing and φ; ``--factor F``
skips the probe and scales by F.  ``--teacher-only`` trains, scores and packs the teacher alone: a
session's device time (15 minutes) holds the full teacher or the student rounds, not both, so one call
can make the teacher and a later one (``--teacher-weights``) the student.

Outputs in ``--out``: ``log.txt``, ``eval.json`` (the factor, the steps each stage ran, and teacher
and student on the independent and the standard renderer, with where shape fails) and
``weights.tar.part-*`` (the float16 student, its manifest, the float16 teacher when it trained here),
then ``phi.tar.part-*``, split below the device tool's 16 MB per file.  The recipe flags are
``train-demo-clip``'s (``--help``); e.g. the student rounds alone from a teacher and a student that
travel with the repository (ignored paths named in the tool's ``carry``):

    python scripts/train_demo_gpu.py --out "$OUT" --deadline 540 --teacher-weights teacher.pt \\
        --student-init student.pt --student-rotate --general-steps 0 --student-rounds 20000:3e-4:0
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tarfile
import time
from dataclasses import asdict, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cir_app" / "src"))

import torch  # noqa: E402

from infocir.models import train_demo as T  # noqa: E402
from infocir.models.demo_eval import heldout_images, report_on  # noqa: E402
from infocir.models.encoders import load_clip  # noqa: E402
from infocir.models.train_phi import PhiRecipe, train_phi  # noqa: E402

log = logging.getLogger("train_demo_gpu")
PART = 15_000_000
SIZE = 64  # both towers' input side


def pack(files: list[Path], out: Path, name: str) -> None:
    """``files`` as one tar split into parts small enough for the device tool to bring back."""
    tar = out / f"{name}.tar"
    with tarfile.open(tar, "w") as tf:
        for f in files:
            tf.add(f, arcname=f.name)
    data = tar.read_bytes()
    tar.unlink()
    for i in range(0, len(data), PART):
        (out / f"{name}.tar.part-{i // PART}").write_bytes(data[i : i + PART])


def render_pools(work: Path, recipe: T.Recipe, phi: PhiRecipe | None) -> None:
    """Every pool the recipe reads, rendered into ``work`` by worker processes before CUDA starts here."""
    T.training_pool(work, recipe, SIZE)
    T.cached_pool(work, "heldout", recipe.heldout_seed, 1, SIZE)
    if recipe.general_steps:
        T.cached_pool(work, "train", recipe.seed, recipe.varied_replicates, SIZE, "varied")
        T.cached_pool(work, "heldout", recipe.heldout_seed, 1, SIZE, "varied")
    if recipe.student_look or recipe.focus_schedule is not None:
        for r in recipe.focus_renderers:
            T.cached_pool(work, "focus", recipe.seed, recipe.focus_replicates, SIZE, r, masks=True)
            T.cached_pool(work, "focus-heldout", recipe.seed + 1, 1, SIZE, r, masks=True)
    if phi is not None:
        (work / "phi").mkdir(exist_ok=True)
        T.cached_pool(work / "phi", "phi", phi.seed, phi.replicates, SIZE)
        if phi.family_replicates:
            T.cached_pool(work / "phi", "phi", phi.seed, phi.family_replicates, SIZE, "family")


def seconds_per_step(probe: Path, stages: list[tuple[str, int]]) -> dict[str, float]:
    """Each probed stage's seconds per step after its first ``WARM_STEPS``, read from the checkpoints ``train``
    left in ``probe``."""
    return {name: T.seconds_per_step(torch.load(probe / f"{name}.ckpt.pt", weights_only=False)) for name, _ in stages}


def fit_factor(stages: list[tuple[str, int]], per_step: dict[str, float], seconds: float) -> float:
    """The factor (at most 1) by which every stage's steps shrink so that ``stages`` (name, steps) take
    ``seconds`` at ``per_step`` seconds per step of each; 0 when no time is left."""
    needed = sum(steps * per_step[name] for name, steps in stages)
    return min(1.0, max(seconds, 0.0) / needed) if needed > 0 else 1.0


def main(argv: list[str] | None = None) -> int:
    ap = T.build_parser()
    ap.description = __doc__.splitlines()[0]
    ap.set_defaults(workdir=".gpuwork", out_dir=None)
    ap.add_argument("--out", type=Path, required=True, help="where the log, eval.json and the packed weights go")
    ap.add_argument("--deadline", type=float, default=540.0, help="seconds from start for everything")
    ap.add_argument("--reserve", type=float, default=150.0, help="seconds kept for evaluation, packing and φ")
    ap.add_argument("--probe-steps", type=int, default=40, help="steps each stage runs to time it")
    ap.add_argument(
        "--factor", type=float, default=0.0, help="skip the probe and scale every stage's steps by this (0 < F ≤ 1)"
    )
    ap.add_argument("--phi-steps", type=int, default=PhiRecipe.phi_steps, help="φ distillation steps")
    ap.add_argument("--oti-steps", type=int, default=PhiRecipe.oti_steps, help="OTI steps per batch")
    ap.add_argument("--no-phi", action="store_true", help="stop after the student")
    args = ap.parse_args(argv)
    try:
        recipe = T.recipe_from_args(args)
        if args.from_shipped:
            raise ValueError("--from-shipped is not a deadline run: use train-demo-clip")
        if args.probe_steps <= 0 or args.deadline <= args.reserve:
            raise ValueError("--probe-steps must be positive and --deadline longer than --reserve")
        if not 0 <= args.factor <= 1:
            raise ValueError("--factor must be in (0, 1], or 0 to probe")
    except ValueError as e:
        ap.error(str(e))
    t0 = time.time()
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(args.workdir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    out_dir = Path(args.out_dir).resolve() if args.out_dir else work / "out"
    fmt = "%(asctime)s %(name)s %(message)s"
    logging.basicConfig(level=logging.INFO, format=fmt, stream=sys.stdout)
    file_log = logging.FileHandler(args.out / "log.txt")  # comes back from the device with the weights
    file_log.setFormatter(logging.Formatter(fmt))
    root = logging.getLogger()
    root.addHandler(file_log)
    root.setLevel(logging.INFO)
    try:
        return run(args, recipe, work, out_dir, t0)
    finally:
        root.removeHandler(file_log)
        file_log.close()


def probe_stages(
    args: argparse.Namespace, recipe: T.Recipe, work: Path, teacher_file: Path | None, student_init: Path | None
) -> dict[str, float]:
    """Every stage of ``recipe`` run for ``--probe-steps`` in ``work/probe``; each stage's seconds per step."""
    probe = work / "probe"
    probe.mkdir(exist_ok=True)
    for f in work.glob("pool-*.pt"):
        if not (probe / f.name).exists():
            (probe / f.name).symlink_to(f)
    probe_recipe = T.with_steps(recipe, lambda _: args.probe_steps)
    T.train(
        probe,
        probe_recipe,
        probe / "out",
        args.device,
        teacher_weights=teacher_file,
        student_init=student_init,
        host_workers=args.host_workers,
        teacher_only=args.teacher_only,
    )
    return seconds_per_step(probe, stages_run(probe_recipe, args))


def stages_run(recipe: T.Recipe, args: argparse.Namespace) -> list[tuple[str, int]]:
    """The stages (name, steps) this run trains: the recipe's, the teacher's alone with ``--teacher-only``."""
    stages = T.stage_steps(recipe, teacher_from_file=args.teacher_weights is not None)
    return [(name, steps) for name, steps in stages if not args.teacher_only or name.startswith("teacher")]


def run(args: argparse.Namespace, recipe: T.Recipe, work: Path, out_dir: Path, t0: float) -> int:
    """Pools, probe, the scaled recipe, evaluation, packing and φ; ``main`` has checked the options."""
    teacher_file = Path(args.teacher_weights).resolve() if args.teacher_weights else None
    student_init = Path(args.student_init).resolve() if args.student_init else None
    phi_recipe = (
        None
        if args.no_phi or args.teacher_only
        else PhiRecipe(family_replicates=1, oti_steps=args.oti_steps, phi_steps=args.phi_steps)
    )
    if torch.cuda.is_available():  # float32 training: TF32 tensor cores and tuned convolutions on a GPU
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    # the varied renders of stage 4 and the masked renders of the look term and stage 5: the student's alone
    pools_for = replace(recipe, general_steps=0, student_look=0.0, attention_focus=()) if args.teacher_only else recipe
    render_pools(work, pools_for, phi_recipe)
    heldout = {r: heldout_images(r, recipe.heldout_seed, 1, SIZE) for r in ("independent", "standard")}
    log.info("pools ready at %.0f s", time.time() - t0)

    per_step: dict[str, float] = {}
    n = args.probe_steps
    if args.factor:  # a factor known from an earlier probe: all the time goes to training
        factor = args.factor
        log.info("factor %.3f given: no probe", factor)
    else:
        per_step = probe_stages(args, recipe, work, teacher_file, student_init)
        full = stages_run(recipe, args)
        # The full run loads the pools and builds the models again: about what the probe's own set-up cost.
        budget = args.deadline - (time.time() - t0) - args.reserve
        factor = fit_factor(full, per_step, budget)
        log.info(
            "probe (ms/step): %s; the recipe needs %.0f s, %.0f s are left: factor %.3f",
            json.dumps({k: round(1e3 * v, 1) for k, v in per_step.items()}),
            sum(steps * per_step[name] for name, steps in full),
            budget,
            factor,
        )
        if factor == 0:
            log.error("no time is left to train after the probe: raise --deadline or lower --reserve")
            return 2
    recipe = T.scaled(recipe, factor, floor=n)
    manifest = T.train(
        work,
        recipe,
        out_dir,
        args.device,
        teacher_weights=teacher_file,
        student_init=student_init,
        host_workers=args.host_workers,
        teacher_only=args.teacher_only,
    )
    log.info("trained at %.0f s: %s", time.time() - t0, json.dumps(manifest["training_minutes"]))

    teacher_b = load_clip(T.TEACHER, None, preprocess="clip", device=args.device, precision="fp32")
    teacher_path = teacher_file or work / f"{T.TEACHER}.pt"
    T.load_teacher(teacher_b, teacher_path)
    models = {"teacher": teacher_b}
    if not args.teacher_only:
        models["student"] = load_clip(
            T.STUDENT, str(out_dir / f"{T.STUDENT}.pt"), preprocess="clip", device=args.device, precision="fp32"
        )
    report: dict = {
        "recipe": asdict(recipe),
        "factor": factor,
        "stages": dict(stages_run(recipe, args)),
        "device": str(teacher_b.device),
        "training_minutes": manifest["training_minutes"],
        "probe_ms_per_step": {k: 1e3 * v for k, v in per_step.items()},
    }
    for name, b in models.items():
        report[name] = {}
        for renderer, (images, attrs) in heldout.items():
            r = report_on(b, images, attrs)
            report[name][renderer] = {**r.figures, "shapes": asdict(r.shapes)}
        log.info("%s independent: %s", name, json.dumps(report[name]["independent"]))
    (args.out / "eval.json").write_text(json.dumps(report, indent=1))
    files = [] if args.teacher_only else [out_dir / f"{T.STUDENT}.pt", out_dir / f"{T.STUDENT}.manifest.json"]
    pack(files + ([] if teacher_file else [teacher_path]), args.out, "weights")
    log.info("packed the weights at %.0f s", time.time() - t0)

    if phi_recipe is None or args.deadline - (time.time() - t0) < 90:
        log.info("no φ (--no-phi, or under 90 s left)")
        return 0
    train_phi(work / "phi", phi_recipe, out_dir=out_dir, device=args.device)
    pack([out_dir / f"{T.STUDENT}.searle-phi.pt", out_dir / f"{T.STUDENT}.searle-phi.manifest.json"], args.out, "phi")
    log.info("done at %.0f s", time.time() - t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Device check: every CLI path and engine entry point on one device, as a table, plus CPU-vs-device
agreement.  Anyone with a GPU can run it; it needs no network.

    python benchmarks/gpu_check.py --device cuda            # the full check (a few minutes on an H100)
    python benchmarks/gpu_check.py --device cpu --quick     # the same steps, small, on the CPU

Each step prints: step, ok/FAILED (with the error's first line), seconds, throughput.  Agreement
(when the device is not the CPU, or with --agreement): evaluate's mAP@10 per method within 0.5
points of the CPU's, the same top-10 for 20 queries, Grad-ECLIP maps with Spearman >= 0.99.
Exit status 1 when any step failed or an agreement bar was missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROWS: list[dict] = []


def step(name: str, fn: Callable[[], str | None]) -> object:
    """Run one check, record ok/failed, seconds and the throughput string ``fn`` returns."""
    t0 = time.perf_counter()
    try:
        out = fn()
        ROWS.append({"step": name, "ok": True, "seconds": time.perf_counter() - t0, "throughput": out or ""})
    except Exception as exc:  # a check tool reports every failure and goes on
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        ROWS.append(
            {
                "step": name,
                "ok": False,
                "seconds": time.perf_counter() - t0,
                "throughput": f"{type(exc).__name__}: {first}",
            }
        )
        if os.environ.get("GPU_CHECK_TRACEBACKS"):
            traceback.print_exc()
    r = ROWS[-1]
    print(f"  {'ok ' if r['ok'] else 'FAILED'} {r['step']:<44} {r['seconds']:7.1f}s  {r['throughput']}", flush=True)
    return r


def cli(args: list[str], common: list[str]) -> str:
    """Run ``infocir <args>`` in a fresh process (the console script's code path)."""
    cmd = [sys.executable, "-c", "from infocir.cli import main; raise SystemExit(main())", *args, *common]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        raise RuntimeError(f"exit {p.returncode}: {(p.stderr or p.stdout).strip().splitlines()[-1:]}")
    return ""


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--quick", action="store_true", help="small sizes (CI-friendly); the full check uses more images")
    ap.add_argument("--agreement", action="store_true", help="compare with the CPU even when --device is cpu")
    ap.add_argument("--json", help="write the table (and agreement figures) as JSON")
    ap.add_argument("--workdir", help="keep the demo world and indexes here (default: a temporary folder)")
    return ap.parse_args()


REF, TEXT = "star/star_00000.png", "make it red"


def cli_steps(tmp: Path, common: list[str]) -> None:
    """The CLI paths, each in a fresh process."""
    print("CLI")
    step("build-index (demo world, 1,920 images)", lambda: cli(["build-index"], common))
    for m in ("searle", "oti", "basic"):
        step(
            f"search --method {m}",
            lambda m=m: cli(["search", "-r", REF, "-t", TEXT, "-k", "5", "--method", m], common),
        )
    step("methods", lambda: cli(["methods"], common))
    step(
        "evaluate --limit 10",
        lambda: cli(
            ["evaluate", "--limit", "10", "--out", str(tmp / "eval"), "--method", "searle", "--method", "basic"], common
        ),
    )
    step("explain-eval --queries 2", lambda: cli(["explain-eval", "--queries", "2", "--out", str(tmp / "xe")], common))
    step("evaluate-demo", lambda: cli(["evaluate-demo"], common))


def method_steps(e) -> None:
    """Every method the engine lists: one warm-up search, then the mean of five."""
    for info in e.methods():
        if not info.available:
            ROWS.append(
                {"step": f"method {info.name}", "ok": True, "seconds": 0, "throughput": f"unavailable: {info.reason}"}
            )
            continue
        params: dict = {"steps": 20} if info.name == "oti" else {}
        if info.name == "feedback":
            params = {"relevant": ["circle/circle_00000.png"], "nonrelevant": ["square/square_00000.png"]}

        def run(name=info.name, params=params) -> str:
            e.search(REF, TEXT, k=10, method=name, **params)
            t0, n = time.perf_counter(), 5
            for i in range(n):
                e.search(REF, f"{TEXT} {i}", k=10, method=name, **params)
            return f"{(time.perf_counter() - t0) / n * 1000:.1f} ms/query"

        step(f"method {info.name}", run)


def explanation_steps(e, maps) -> None:
    """Every explainer, every word-attribution method, deletion/insertion, enhancement, explain-eval."""
    from infocir.enhance import enhance
    from infocir.explain.base import create_explainer, list_explainers, similarity_target
    from infocir.explain.evaluate import explain_eval
    from infocir.explain.faithfulness import deletion_insertion
    from infocir.explain.text_attribution import TOKEN_METHODS
    from infocir.models.demo_eval import evaluate_bundle

    res = e.search(REF, TEXT, k=5, method="searle")
    for cls in list_explainers():
        step(
            f"explainer {cls.name}",
            lambda c=cls: f"{maps.saliency(res.query_vector, c.name, image_id=res.ids[1]).seconds:.3f} s/map",
        )
    for m in TOKEN_METHODS:
        step(f"token method {m}", lambda m=m: f"{maps.tokens('searle', REF, TEXT, res.ids[0], m).seconds:.3f} s")

    def faithfulness() -> str:
        b = e.bundle
        px = b.pixels([e.reference_image(res.ids[0])])
        tgt = similarity_target(res.query_vector, b)
        c = deletion_insertion(b, px, tgt, create_explainer("grad_eclip").grid(b.model, px, tgt))
        return f"deletion {c.deletion_auc:.3f} insertion {c.insertion_auc:.3f}"

    step("deletion / insertion", faithfulness)
    step(
        "enhancement (offline)",
        lambda: f"{len(enhance(e, REF, 'change it', ideals=list(res.ids[1:3]), k=10, provider='offline').rows)} rows",
    )
    step("explain-eval (engine)", lambda: _xe(e, explain_eval))
    step("evaluate-demo (engine)", lambda: f"shape {evaluate_bundle(e.bundle)['zero_shot_shape']:.3f}")


def training_steps(tmp: Path, device: str) -> None:
    """Both training scripts, a few steps each."""
    print("training")

    def train_clip() -> str:
        from infocir.models.train_demo import Recipe, train

        r = Recipe(
            pool_replicates=1,
            teacher_steps=4,
            teacher_focus_steps=2,
            student_steps=4,
            student_stop_at=0,
            teacher_batch=64,
            student_batch=32,
            varied_replicates=1,
            general_steps=4,
            general_batch=32,
            caption_weight=0.1,  # stage 4's optional caption loss too: its text batch goes through the bundle
        )
        man = train(tmp / "train-clip", r, tmp / "train-clip-out", device=device)
        return f"trained on {man['device']}"

    def train_phi_steps() -> str:
        from infocir.models.encoders import ASSET_DIR
        from infocir.models.train_phi import PhiRecipe, train_phi

        out = tmp / "train-phi-out"
        out.mkdir(exist_ok=True)
        shutil.copy(ASSET_DIR / "InfoCIR-Demo-ViT.pt", out / "InfoCIR-Demo-ViT.pt")
        train_phi(tmp / "train-phi", PhiRecipe(oti_steps=3, oti_batch=960, phi_steps=3), out, device=device)
        return ""

    step("train-demo-clip (4+2+4+4 steps)", train_clip)
    step("train-demo-phi (3 OTI + 3 φ steps)", train_phi_steps)


def index_build_steps(root: Path, n_img: int, tmp: Path, args: argparse.Namespace) -> None:
    """Index builds with the real architectures (random weights) against their throughput bounds."""
    import torch

    from infocir.data.scan import scan_dataset
    from infocir.index.throughput import measure
    from infocir.models.encoders import load_clip

    print("index build (random weights)")
    scan = scan_dataset(root, sample_size=n_img)
    for arch in ("ViT-B-32", "ViT-L-14"):

        def build(arch=arch) -> str:
            b = load_clip(arch, None, preprocess="targetpad", device=args.device, precision=args.precision)
            batch = 256 if torch.device(b.device).type == "cuda" else 32
            r = measure(b, scan, batch, _workers(b), tmp / f"idx-{arch}")
            return (
                f"{r['build_img_s']:.0f} img/s (model-only {r['model_img_s']:.0f}, decode {r['decode_img_s']:.0f}, "
                f"ratio {r['ratio']:.2f}, {r['workers']} workers)"
            )

        step(f"build-index {arch} ({len(scan.records)} images)", build)


def cpu_agreement(e, cfg, maps, n_queries: int) -> dict:
    """evaluate's mAP@10 per method, the top-10 and Grad-ECLIP maps: device against a fresh CPU engine."""
    from scipy.stats import spearmanr

    from infocir.config import apply_overrides
    from infocir.engine import RetrievalEngine
    from infocir.evaluation.benchmarks import demo_benchmark
    from infocir.evaluation.harness import evaluate_method
    from infocir.explain.service import ExplanationService

    print("agreement with the CPU")
    bench = demo_benchmark(e.scan.root)
    bench.queries = bench.queries[:n_queries]
    cpu = RetrievalEngine.from_config(
        apply_overrides(cfg, {"model.device": "cpu", "model.precision": "fp32", "retrieval.backend": "exact"}),
        progress=False,
    )
    agreement: dict = {}
    for m in ("searle", "average", "basic", "image", "text"):
        a, c = evaluate_method(e, bench, m), evaluate_method(cpu, bench, m)
        key = "mAP@10"
        agreement[f"mAP@10 {m}"] = {"device": a[key], "cpu": c[key], "ok": abs(a[key] - c[key]) <= 0.5}
    qs = bench.queries[:20]
    same = sum(
        e.search(q.reference_id, q.text, k=10, method="searle").ids
        == cpu.search(q.reference_id, q.text, k=10, method="searle").ids
        for q in qs
    )
    agreement["same top-10 (searle)"] = {"device": same, "cpu": len(qs), "ok": same == len(qs)}
    maps_cpu = ExplanationService(cpu, max_side=128)
    rhos = []
    for q in bench.queries[:10]:
        r = cpu.search(q.reference_id, q.text, k=1, method="searle")
        g1 = maps.saliency(r.query_vector, "grad_eclip", image_id=r.ids[0]).grid.ravel()
        g2 = maps_cpu.saliency(r.query_vector, "grad_eclip", image_id=r.ids[0]).grid.ravel()
        rhos.append(float(spearmanr(g1, g2).statistic))
    agreement["Grad-ECLIP Spearman (min of 10)"] = {"device": min(rhos), "cpu": 1.0, "ok": min(rhos) >= 0.99}
    for name, a in agreement.items():
        print(f"  {'ok ' if a['ok'] else 'MISSED'} {name:<44} device {a['device']:.3f}  cpu {a['cpu']:.3f}")
    return agreement


def main() -> int:
    args = parse_args()
    import torch

    from infocir.config import AppConfig, apply_overrides
    from infocir.engine import RetrievalEngine
    from infocir.explain.service import ExplanationService

    tmp = Path(args.workdir or tempfile.mkdtemp(prefix="gpu-check-"))
    n_img = 64 if args.quick else 2048
    n_queries = 8 if args.quick else 60
    base = {"index.cache_dir": str(tmp / "cache"), "dataset.demo_replicates": "1", "model.precision": args.precision}
    cfg = apply_overrides(AppConfig(), {**base, "model.device": args.device})
    common = [f"--set={k}={v}" for k, v in {**base, "model.device": args.device}.items()]
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"device={args.device} precision={args.precision} torch={torch.__version__} GPU={gpu} cores={os.cpu_count()}")

    cli_steps(tmp, common)
    print("engine")
    holder: dict = {}

    def load() -> str:
        holder["engine"] = RetrievalEngine.from_config(cfg, progress=False)
        e = holder["engine"]
        return f"{e.bundle.device} {e.bundle.precision}, backend {e.backend.name}"

    step("load engine (index reused)", load)
    e = holder.get("engine")
    if e is None:
        return report(args, {})
    method_steps(e)
    maps = ExplanationService(e, max_side=128)
    explanation_steps(e, maps)
    training_steps(tmp, args.device)
    index_build_steps(e.scan.root, n_img, tmp, args)
    agreement: dict = {}
    if torch.device(e.bundle.device).type != "cpu" or args.agreement:
        agreement = cpu_agreement(e, cfg, maps, n_queries)
    if not args.workdir:
        shutil.rmtree(tmp, ignore_errors=True)
    return report(args, agreement)


def _workers(bundle) -> int:
    from infocir.index.store import auto_num_workers

    return auto_num_workers(bundle.device)


def _xe(engine, explain_eval) -> str:
    from infocir.data.demo_world import read_queries

    out = explain_eval(engine, read_queries(engine.scan.root)[:2], method="searle")
    return f"{out['queries']} queries, Grad-ECLIP deletion AUC {out['image']['grad_eclip']['deletion_auc']:.3f}"


def report(args, agreement: dict) -> int:
    failed = [r for r in ROWS if not r["ok"]]
    missed = [k for k, a in agreement.items() if not a["ok"]]
    print("\n| step | result | seconds | throughput / note |\n| --- | --- | --- | --- |")
    for r in ROWS:
        print(f"| {r['step']} | {'ok' if r['ok'] else 'FAILED'} | {r['seconds']:.1f} | {r['throughput']} |")
    print(f"\n{len(ROWS) - len(failed)}/{len(ROWS)} steps ok; agreement bars missed: {len(missed)}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": ROWS, "agreement": agreement}, indent=1))
    return 1 if failed or missed else 0


if __name__ == "__main__":
    raise SystemExit(main())

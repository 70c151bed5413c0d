"""The benchmark suite in one command: every script at small sizes (a few minutes on two cores), or at the
sizes the results file quotes with ``--full``; writes one markdown report with the machine described.

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks                    # small: benchmarks/results/suite-small.md
    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks --full             # 100k / 1M sizes (an hour or more)
    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks --only search,map  # some of them

Each script runs in its own process (fresh memory figures, no JIT or thread state carried over); its printed
tables go into the report verbatim, with the command, its wall time and the load average before and after it
(other processes on the machine move every latency figure: the report says when they were there).  A script
that fails is reported with the end of its error output and the suite goes on.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


@dataclasses.dataclass(frozen=True)
class Bench:
    """One script of the suite and its arguments at the two sizes."""

    key: str
    title: str
    script: str
    small: tuple[str, ...]
    full: tuple[str, ...]
    needs: str = ""  # an executable that must be on PATH (the browser benchmarks need chromium)


SUITE: tuple[Bench, ...] = (
    Bench(
        "build",
        "Index build throughput against its bounds (ViT-B-32, random weights)",
        "index_build.py",
        ("--images", "64", "--workers", "0"),
        ("--images", "256", "--workers", "0", "1", "2"),
    ),
    Bench(
        "distributed",
        "Index build on Ray Data (build-index --distributed ray) against the single process (demo model)",
        "distributed_build.py",
        ("--images", "480", "--chunk", "64", "--workers", "2"),
        ("--images", "1920", "--chunk", "128", "--workers", "1", "2"),
    ),
    Bench(
        "query",
        "Query latency per CIR method (demo model, exact backend, one query thread)",
        "query_latency.py",
        ("--images", "10000", "--queries", "20"),
        ("--images", "100000", "--queries", "50", "--threads", "0,1", "--busy", "1"),
    ),
    Bench(
        "search",
        "Search backends: latency, recall@10 against exact, memory",
        "search_backends.py",
        ("--sizes", "10000", "--dims", "128,512", "--queries", "20", "--flat-ratio"),
        ("--sizes", "100000,1000000", "--dims", "128,512", "--queries", "30", "--hnsw-max", "100000", "--flat-ratio"),
    ),
    Bench(
        "memory",
        "Index load: memory-mapped features against a float32 copy",
        "index_memory.py",
        ("--n", "20000"),
        ("--n", "1000000"),
    ),
    Bench(
        "map",
        "Panel D's map: UMAP fit on a sample, the rest placed",
        "map_build.py",
        ("--n", "10000"),
        ("--n", "100000", "1000000"),
    ),
    Bench(
        "page",
        "The dashboard in headless Chromium: first render, Search → gallery + map, lasso → gallery",
        "browser_map_scale.py",
        ("--sizes", "10000", "--runs", "3"),
        ("--sizes", "10000", "100000", "1000000", "--runs", "5"),
        needs="chromium",
    ),
    Bench(
        "text",
        "Text encoding: full context against the cut after end-of-text",
        "text_encoding.py",
        ("--repeats", "3"),
        ("--repeats", "10"),
    ),
    Bench(
        "saliency",
        "Seconds per saliency map and per word attribution",
        "saliency_latency.py",
        ("--models", "InfoCIR-Demo-ViT:demo", "--repeats", "2"),
        ("--repeats", "10"),
    ),
)


def machine() -> list[str]:
    """What the figures depend on: CPU, cores, memory, versions, the commit."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    versions = []
    for mod in ("numpy", "torch", "faiss", "open_clip", "umap", "dash"):
        try:
            versions.append(f"{mod} {__import__(mod).__version__}")
        except Exception:  # noqa: BLE001 - a missing optional package is a line in the report, not an error
            versions.append(f"{mod} absent")
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    return [
        f"- CPU: {cpu}, {os.cpu_count()} cores; memory {mem}; {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}; {', '.join(versions)}",
        f"- commit {commit or 'unknown'}; started {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
    ]


def load() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def run(bench: Bench, full: bool, timeout: float) -> list[str]:
    """Run one script; its report section (markdown lines)."""
    args = bench.full if full else bench.small
    cmd = [sys.executable, str(HERE / bench.script), *args]
    shown = " ".join(["python", f"benchmarks/{bench.script}", *args])
    out = [f"## {bench.title}", "", f"    {shown}", ""]
    if bench.needs and shutil.which(bench.needs) is None:
        return out + [f"Not run: `{bench.needs}` is not installed.", ""]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT / "cir_app" / "src")}
    before, t0 = load(), time.perf_counter()
    print(f"==> {shown}", file=sys.stderr, flush=True)
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return out + [f"Stopped after {timeout:.0f} s (--timeout).", ""]
    wall = time.perf_counter() - t0
    out.append(f"{wall:.0f} s; load average before {before}, after {load()} (1 / 5 / 15 min).")
    out.append("")
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        return out + [f"**Failed** (exit {proc.returncode}):", "", "```", tail, "```", ""]
    return out + [proc.stdout.rstrip(), ""]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--full", action="store_true", help="the large sizes (100k and 1M rows): an hour or more")
    keys = ",".join(b.key for b in SUITE)
    ap.add_argument("--only", default="", help=f"comma-separated subset of: {keys}")
    ap.add_argument("--out", type=Path, help="report file (default benchmarks/results/suite-small.md or -full.md)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds allowed per script")
    args = ap.parse_args(argv)
    chosen = [b for b in SUITE if not args.only or b.key in args.only.split(",")]
    unknown = set(filter(None, args.only.split(","))) - {b.key for b in SUITE}
    if unknown:
        ap.error(f"unknown benchmark(s) {', '.join(sorted(unknown))}; choose from {keys}")
    size = "full" if args.full else "small"
    out_path = args.out or HERE / "results" / f"suite-{size}.md"
    header = machine()
    lines = [f"# Benchmark suite ({size} sizes)", "", *header, ""]
    t0 = time.perf_counter()
    for bench in chosen:
        lines += run(bench, args.full, args.timeout)
    lines.insert(2 + len(header), f"- whole suite: {time.perf_counter() - t0:.0f} s")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text("\n".join(lines) + "\n")
    print(f"report: {out_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

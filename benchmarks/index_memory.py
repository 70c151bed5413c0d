"""Memory and time of loading an index of N images: the memory-mapped ``load_index`` against the
previous load (``np.load`` of ``features.npy`` converted to a float32 copy in RAM).

    python benchmarks/index_memory.py --n 200000 --dim 512 [--dtype float16] [--keep DIR]

Writes a synthetic index (random unit features, ids ``class_XXXX/img_NNNNNNN.jpg`` over 1000 classes)
with ``store.write_index_files``, the writer the build uses, so the files are the real format; then
loads it in a fresh process per mode and prints the seconds, the growth of the process's resident
memory (VmRSS, split into RssAnon, private memory, and RssFile, pages of the memory-mapped file that
the page cache can drop), the peak during the load (VmHWM) and the memory held by the ids/classes/paths lists and
the id → row dict.  It also times one exact search both ways (a float32 matrix in RAM, and the
float16 memmap converted block by block) for the search backend's choice.  Numbers only, no asserts.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

N_CLASSES = 1000


def write_synthetic(out: Path, n: int, dim: int, dtype: str) -> None:
    import numpy as np

    from infocir.data.scan import ImageRecord, ScanResult
    from infocir.index.manifest import IndexKey
    from infocir.index.store import write_index_files

    root = Path("/data/synthetic-images")
    records = []
    for i in range(n):
        rid = f"class_{i % N_CLASSES:04d}/img_{i:07d}.jpg"
        records.append(ImageRecord(id=rid, path=str(root / rid), class_name=f"class_{i % N_CLASSES:04d}"))
    scan = ScanResult(root=root, records=records)
    raw = np.random.default_rng(0).standard_normal((n, dim), dtype=np.float32)
    key = IndexKey("synthetic", "synthetic", "synthetic", "synthetic", dtype)
    out.mkdir(parents=True, exist_ok=True)
    write_index_files(out, key, scan, raw, np.arange(n))


def _reset_peak() -> bool:
    """Reset this process's peak resident size (VmHWM) to its current size (Linux ≥ 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _status() -> dict[str, int]:
    """VmRSS, VmHWM (peak), RssAnon and RssFile of this process, in bytes (Linux)."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[name] = int(value.split()[0]) * 1024
    return out


def load_index_before(out_dir: Path):
    """The previous ``load_index`` (before the memmap): the whole matrix read, checked and converted to
    float32 in RAM, the metadata read as one dict per row, every class name its own string."""
    import numpy as np

    from infocir.index.manifest import IndexManifest
    from infocir.index.store import FeatureIndex, verify_checksums

    manifest = IndexManifest.read(out_dir / "manifest.json")
    verify_checksums(out_dir, manifest)
    features = np.load(out_dir / "features.npy", allow_pickle=False)
    norms = np.load(out_dir / "norms.npy", allow_pickle=False)
    with open(out_dir / "metadata.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    ids = [r["id"] for r in rows]
    classes = [r["class"] for r in rows]
    rel = [r["path"] for r in rows]
    for arr in (features, norms):
        assert np.isfinite(arr).all()
    root = Path(manifest.dataset_root)
    return FeatureIndex(
        features=features.astype(np.float32),
        norms=norms.astype(np.float32),
        ids=ids,
        classes=classes,
        paths=[str(root / p) for p in rel],
        manifest=manifest,
    )


def _objects_bytes(container, counted: list | None = None) -> int:
    """The list (or dict) and the distinct objects it holds (shared strings counted once), leaving out
    the objects of ``counted`` (the id strings, which are also the keys of the id → row dict)."""
    items = list(container.items()) if isinstance(container, dict) else [(x,) for x in container]
    skip = {id(x) for x in counted} if counted is not None else set()
    seen: dict[int, int] = {}
    for item in items:
        for obj in item:
            if id(obj) not in skip:
                seen.setdefault(id(obj), sys.getsizeof(obj))
    return sys.getsizeof(container) + sum(seen.values())


def _search_ms(features, queries, exact_f32: bool) -> float:
    """Milliseconds per query of an exact search over ``features``."""
    import numpy as np

    from infocir.index.store import feature_blocks

    if exact_f32:
        t = time.perf_counter()
        for q in queries:
            np.argmax(features @ q)
        return (time.perf_counter() - t) * 1000 / len(queries)
    t = time.perf_counter()
    for q in queries:
        s = np.concatenate([np.asarray(b, np.float32) @ q for b in feature_blocks(features)])
        np.argmax(s)
    return (time.perf_counter() - t) * 1000 / len(queries)


def measure(out_dir: Path, mode: str) -> dict:
    """Load the index in this (fresh) process and report what it cost."""
    import gc

    import numpy as np

    from infocir.index.store import load_index

    gc.collect()
    reset = _reset_peak()
    before = _status()
    t = time.perf_counter()
    idx = load_index_before(out_dir) if mode == "before" else load_index(out_dir)
    seconds = time.perf_counter() - t
    after = _status()
    # the peak during the load: VmHWM after a reset, else ru_maxrss (the whole process's, imports included)
    peak = after["VmHWM"] if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    queries = np.random.default_rng(1).standard_normal((5, idx.dim)).astype(np.float32)
    stages = _stages(out_dir, idx) if mode == "now" else {}
    return {
        "mode": mode,
        "features": f"{type(idx.features).__name__} {idx.features.dtype}",
        "seconds": seconds,
        "rss": after["VmRSS"] - before["VmRSS"],
        "anon": after["RssAnon"] - before["RssAnon"],
        "file": after["RssFile"] - before["RssFile"],
        "peak_over_start": peak - before["VmRSS"],
        "ids": _objects_bytes(idx.ids),
        "classes": _objects_bytes(idx.classes),
        "paths": _objects_bytes(idx.paths),
        "row_of": _objects_bytes(idx.row_of, counted=idx.ids),
        "search_ms": _search_ms(idx.features, queries, exact_f32=idx.features.dtype == np.float32),
        "stages": stages,
    }


def _stages(out_dir: Path, idx) -> dict[str, float]:
    """Seconds of each step of ``load_index``, each run again on its own (the files in the page cache)."""
    from infocir.index import store

    def clock(fn) -> float:
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    rel: list[str] = []
    return {
        "checksums": clock(lambda: store.verify_checksums(out_dir, idx.manifest)),
        "NaN check": clock(lambda: store.all_finite(idx.features)),
        "metadata.csv": clock(lambda: rel.extend(store._read_metadata(out_dir / "metadata.csv")[2])),
        "paths": clock(lambda: store._absolute_paths(Path(idx.manifest.dataset_root), rel)),
        "id → row dict": clock(lambda: {i: r for r, i in enumerate(idx.ids)}),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200_000, help="rows of the synthetic index")
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--dtype", default="float16", choices=("float16", "float32"), help="index.dtype on disk")
    ap.add_argument("--keep", default="", help="write (or reuse) the index in this folder instead of a temporary one")
    ap.add_argument("--measure", default="", help=argparse.SUPPRESS)  # internal: DIR,MODE in a fresh process
    args = ap.parse_args()
    if args.measure:
        folder, mode = args.measure.rsplit(",", 1)
        print(json.dumps(measure(Path(folder), mode)))
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.keep or tmp) / "index"
        if not (out / "manifest.json").is_file():
            t = time.perf_counter()
            write_synthetic(out, args.n, args.dim, args.dtype)
            print(
                f"wrote a synthetic index of {args.n:,} × {args.dim} ({args.dtype}) in {time.perf_counter() - t:.1f}s"
            )
        size, meta = ((out / name).stat().st_size / 2**20 for name in ("features.npy", "metadata.csv"))
        print(f"features.npy: {size:,.0f} MiB; metadata.csv: {meta:,.0f} MiB")
        print(
            f"{'load':<7}{'features':<18}{'seconds':>8}{'RSS +MiB':>10}{'anon':>8}{'file':>8}{'peak +MiB':>11}"
            f"{'ids':>8}{'classes':>9}{'paths':>8}{'row_of':>8}{'search ms':>11}"
        )
        mib = 2**20
        for mode in ("before", "now"):
            cmd = [sys.executable, __file__, "--measure", f"{out},{mode}"]
            r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            print(
                f"{mode:<7}{r['features']:<18}{r['seconds']:>8.2f}{r['rss'] / mib:>10,.0f}{r['anon'] / mib:>8,.0f}"
                f"{r['file'] / mib:>8,.0f}{r['peak_over_start'] / mib:>11,.0f}{r['ids'] / mib:>8,.0f}"
                f"{r['classes'] / mib:>9,.0f}{r['paths'] / mib:>8,.0f}{r['row_of'] / mib:>8,.0f}{r['search_ms']:>11.1f}"
            )
            if r.get("stages"):
                print(
                    "       now, by stage (s, run again after the load): "
                    + ", ".join(f"{k} {v:.2f}" for k, v in r["stages"].items())
                )
    print(
        "(MiB over the process before the load. anon: private memory; file: pages of the memory-mapped "
        "features.npy, shared with the page cache and dropped under memory pressure. ids/classes/paths: the "
        "lists with their strings; row_of: the id → row dict and its row numbers (its keys are the ids' "
        "strings). search ms: one exact search, float32 in RAM (before) or the memmap converted to float32 "
        "block by block (now).)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A large collection for the real dashboard without encoding it: N images made of a dataset's real features.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/large_world.py --n 100000 [--out ~/.cache/infocir-large-world]

Writes, under ``--out``:

* ``dataset/``: a copy of the base dataset's folder (by default the demo world: its images, class_names.csv,
  attributes.csv, captions.csv), the folder the server is pointed at (``--dataset``); shared by every N;
* ``n<N>/``: the ``index.cache_dir`` for N images, holding the index in the store's own format at the folder
  the engine looks in (``index_dir_for``): ``features.npy`` (float16, memory-mappable), ``norms.npy``,
  ``metadata.csv`` and ``manifest.json`` (last, with the files' checksums), byte for byte what
  ``store.write_index_files`` writes for the same rows (tests/test_large_world.py checks it), written block by
  block so that a million rows never sit in memory as float32; and the map cache of panel D in
  ``MapService``'s own format (``map-<tag>/``, keyed by the index's manifest and ``[umap]``), so the page
  loads the map instead of fitting UMAP for minutes.

Row ``i`` is a copy of base image ``i mod B`` (B base images): copy 0 is the image itself (its id, its
feature: demo queries and benchmark ids still work), copy ``c`` ≥ 1 has the id ``<stem>~<c><ext>``
(e.g. ``star/star_00042~17.png``), the same image file and class, and the base feature plus Gaussian noise
(``--noise`` per dimension on the unit feature: cosine 0.92-0.97, mean 0.947, to its image at the default 0.03
and the demo model's 128 dimensions) with the base norm, so a composed query retrieves sensibly.  (attributes.csv
names copy 0 only: coloured by an attribute, the copies show as missing.)  Its map position is its image's
position on the base map plus a small Gaussian jitter (``--map-jitter`` × the map's spread); the base map is the
dataset's own map (loaded from the app's cache of the base dataset, or fitted once on the B base images, about a
minute for the demo world, and kept in ``base-map/``), whose fitted reducer places queries.  Not a UMAP of the
noisy features: fitting and placing a million rows takes ~400 s (benchmarks/map_build.py), and what is measured
here is serving.

The index's key is the one the engine computes for the copied folder (model, weights, preprocessing, the
folder's fingerprint, dtype), so ``infocir serve --dataset <out>/dataset --set index.cache_dir=<out>/n<N>``
loads it as a finished build.  ``ensure_world`` rewrites a world whose parameters or key no longer match.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from infocir.config import AppConfig, apply_overrides
from infocir.data.scan import ScanResult, scan_dataset
from infocir.index.manifest import CacheCorruptError, IndexManifest, atomic_write_bytes, atomic_write_text
from infocir.index.store import file_checksums, index_dir_for, index_key
from infocir.models.encoding import l2_normalize
from infocir.projection.embedding_map import EmbeddingMap, fit_map, load_map, map_dir, map_key, save_map

log = logging.getLogger("large_world")
WORLD_VERSION = 1
BLOCK = 65_536  # rows generated at once (the noise is seeded per block: the same world for the same parameters)
DEFAULT_OUT = Path("~/.cache/infocir-large-world").expanduser()


@dataclass
class World:
    """A written world: where it is and how to serve it."""

    n: int
    dataset: Path  # the folder the server scans (--dataset)
    cache: Path  # index.cache_dir
    index_dir: Path
    map_dir: Path
    overrides: dict[str, str] = field(default_factory=dict)  # further config (e.g. the model), as --set values

    def config(self) -> AppConfig:
        return world_config(self.dataset, self.cache, self.overrides)

    def serve_args(self) -> list[str]:
        """``infocir serve`` arguments that serve this world."""
        args = ["--dataset", str(self.dataset), "--set", f"index.cache_dir={self.cache}"]
        for k, v in self.overrides.items():
            args += ["--set", f"{k}={v}"]
        return args


def world_config(dataset: Path, cache: Path, overrides: Mapping[str, str] = ()) -> AppConfig:
    return apply_overrides(
        AppConfig(), {**dict(overrides), "dataset.root": str(dataset), "index.cache_dir": str(cache)}
    )


def scan_for(cfg: AppConfig) -> ScanResult:
    """The dataset scan ``RetrievalEngine.from_config`` makes for ``cfg`` (its fingerprint is in the index key)."""
    ds = cfg.dataset
    return scan_dataset(
        Path(ds.root).expanduser().resolve(),
        ds.class_names_file,
        ds.sample_size or None,
        cfg.model.seed,
        ds.max_image_pixels,
        ds.symlinks,
        ds.fingerprint,
    )


# --------------------------------------------------------------------------- rows of the world
def copy_id(base_id: str, copy: int) -> str:
    """The id of copy ``copy`` of a base image: the base id itself for copy 0, else ``<stem>~<copy><ext>``."""
    if copy == 0:
        return base_id
    stem, dot, ext = base_id.rpartition(".")
    return f"{stem}~{copy}.{ext}" if dot and "/" not in ext else f"{base_id}~{copy}"


def raw_blocks(
    unit: np.ndarray, norms: np.ndarray, n: int, noise: float, seed: int, block: int = BLOCK
) -> Iterator[np.ndarray]:
    """The raw features (norm × unit, as ``encode_image`` returns them) of rows 0..n-1, ``block`` rows at a time:
    row i is base row i mod B; copy 0 exactly, the others with ``noise`` × N(0, 1) added to the unit feature."""
    b = len(unit)
    for start in range(0, n, block):
        rows = np.arange(start, min(n, start + block))
        src = rows % b
        x = np.asarray(unit[src], np.float32)
        eps = np.random.default_rng([seed, start]).standard_normal(x.shape, dtype=np.float32) * np.float32(noise)
        eps[rows < b] = 0.0
        yield (x + eps) * np.asarray(norms[src], np.float32)[:, None]


def write_index(
    out_dir: Path,
    base,
    base_root: Path,
    key,
    scan: ScanResult,
    n: int,
    noise: float,
    seed: int,
    source: dict | None = None,
) -> IndexManifest:
    """The index of the world in ``out_dir``, in ``store.write_index_files``' format, block by block.  ``base`` is
    the base ``FeatureIndex`` (ids, classes, features, norms; its paths under ``base_root``, the same relative
    paths under ``scan.root``, the copy)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "manifest.json").unlink(missing_ok=True)  # not an index until the new manifest lands
    dtype = np.float16 if key.dtype == "float16" else np.float32
    b, dim = len(base), base.dim
    rel = [Path(p).relative_to(base_root).as_posix() for p in base.paths]
    tmp = out_dir / "features.npy.tmp"
    feats = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=(n, dim))
    norms = np.empty(n, np.float32)
    at = 0
    for raw in raw_blocks(base.features, base.norms, n, noise, seed):
        m = len(raw)
        norms[at : at + m] = np.linalg.norm(raw, axis=1).astype(np.float32)
        feats[at : at + m] = l2_normalize(raw).astype(dtype)
        at += m
    feats.flush()
    del feats
    os.replace(tmp, out_dir / "features.npy")
    buf = io.BytesIO()
    np.save(buf, norms)  # as store._save_npy
    atomic_write_bytes(out_dir / "norms.npy", buf.getvalue())
    tmp = out_dir / "metadata.csv.tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as f:  # as store._write_metadata writes it (csv, \r\n)
        w = csv.writer(f)
        w.writerow(["row", "id", "class", "path"])
        for i in range(n):
            r = i % b
            w.writerow([i, copy_id(base.ids[r], i // b), base.classes[r], rel[r]])
    os.replace(tmp, out_dir / "metadata.csv")
    manifest = IndexManifest(
        key=key,
        dataset_root=str(scan.root),
        count=n,
        dim=dim,
        skipped=len(scan.skipped),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        source=source or {},
        checksums=file_checksums(out_dir),
    )
    atomic_write_text(out_dir / "manifest.json", manifest.to_json())
    return manifest


def base_map(base_engine, cfg: AppConfig, keep: Path | None = None) -> EmbeddingMap:
    """The base dataset's own map for ``cfg.umap`` (what MapService fits for it): loaded from ``keep`` when a
    previous world saved it there or from the app's map cache of the base dataset, else fitted on every base
    image (and saved in ``keep``)."""
    key = map_key(base_engine.index.manifest, cfg.umap)
    engine = base_engine
    app_cache = map_dir(index_dir_for(engine.config.cache_dir, engine.scan.root, engine.bundle.name), cfg.umap)
    for folder in (keep, app_cache):  # ours, or the one the app saved when it served the base dataset (read only)
        try:
            m = load_map(folder, key, len(engine.index)) if folder is not None else None
        except CacheCorruptError:
            m = None
        if m is not None:
            return m
    t0 = time.perf_counter()
    m = fit_map(base_engine.index.features, cfg.umap)
    log.info("fitted the base map of %d images in %.0f s", len(base_engine.index), time.perf_counter() - t0)
    if keep is not None:
        save_map(m, keep, key)
    return m


def world_coords(base_coords: np.ndarray, n: int, jitter: float, seed: int) -> np.ndarray:
    """Row i at its base image's position (copy 0 exactly), the others jittered by ``jitter`` × the map's spread."""
    b = len(base_coords)
    src = np.arange(n) % b
    scale = float(np.mean(np.std(base_coords, axis=0))) or 1.0
    coords = base_coords[src].astype(np.float32)
    noise = np.random.default_rng([seed, 1]).standard_normal((n, 2)).astype(np.float32) * np.float32(jitter * scale)
    noise[:b] = 0.0
    return coords + noise


# --------------------------------------------------------------------------- the world
def params(n: int, noise: float, jitter: float, seed: int, overrides: Mapping[str, str]) -> dict:
    return {
        "version": WORLD_VERSION,
        "n": n,
        "noise": noise,
        "map_jitter": jitter,
        "seed": seed,
        "overrides": dict(overrides),
    }


def world_at(out: Path, n: int, overrides: Mapping[str, str] = ()) -> World:
    """Where the world of ``n`` images under ``out`` is (written or not)."""
    dataset, cache = out / "dataset", out / f"n{n}"
    cfg = world_config(dataset, cache, overrides)
    index_dir = index_dir_for(cache, dataset.resolve(), cfg.model.name)  # the bundle's name is the model's name
    return World(n, dataset, cache, index_dir, map_dir(index_dir, cfg.umap), dict(overrides))


def copy_dataset(src: Path, dst: Path) -> None:
    """A copy of the base dataset folder (once; every N shares it)."""
    if dst.is_dir():
        return
    tmp = dst.with_name(dst.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp, symlinks=True)
    os.replace(tmp, dst)


def write_world(
    base_engine,
    n: int,
    out: Path,
    overrides: Mapping[str, str] = (),
    noise: float = 0.03,
    jitter: float = 0.01,
    seed: int = 0,
) -> World:
    """Write the world of ``n`` images under ``out`` from ``base_engine`` (its dataset, index and model; the
    engine must be built with ``overrides`` too, so that its model is the one the world is served with)."""
    out = Path(out).expanduser().absolute()
    t0 = time.perf_counter()
    copy_dataset(base_engine.scan.root, out / "dataset")
    world = world_at(out, n, overrides)
    cfg = world.config()
    scan = scan_for(cfg)
    missing = set(base_engine.index.ids) - {r.id for r in scan.records}
    if missing:
        raise SystemExit(
            f"{out / 'dataset'} lacks {len(missing)} images of the base index (e.g. {sorted(missing)[0]}): "
            "delete it to copy the base dataset again"
        )
    shutil.rmtree(world.cache, ignore_errors=True)  # with its derived caches (FAISS, map, thumbnails)
    key = index_key(base_engine.bundle, scan, cfg.index.dtype)
    p = params(n, noise, jitter, seed, overrides)
    source = {
        "imported_from": "benchmarks/large_world.py",
        "format": "large world: base features + noise",
        "base_dataset": str(base_engine.scan.root),
        "base_rows": len(base_engine.index),
        **{k: v for k, v in p.items() if k != "overrides"},
    }
    manifest = write_index(world.index_dir, base_engine.index, base_engine.scan.root, key, scan, n, noise, seed, source)
    t_index = time.perf_counter() - t0
    bm = base_map(base_engine, cfg, out / "base-map")
    coords = world_coords(bm.coords, n, jitter, seed)
    save_map(EmbeddingMap(coords, bm.style_direction, bm.pca, bm.reducer), world.map_dir, map_key(manifest, cfg.umap))
    atomic_write_text(world.cache / "world.json", json.dumps({**p, "key": asdict(key)}, indent=1))
    log.info(
        "wrote %s images (index %.1f s, total %.1f s) in %s", f"{n:,}", t_index, time.perf_counter() - t0, world.cache
    )
    return world


def is_current(world: World, noise: float, jitter: float, seed: int) -> bool:
    """The world is written with these parameters, and its key is still the one the server computes for its
    folder (the folder's fingerprint changes if its files are touched: the server would then rebuild the index,
    encoding the base images only)."""
    try:
        stored = json.loads((world.cache / "world.json").read_text())
        manifest = IndexManifest.read(world.index_dir / "manifest.json")
    except Exception:  # noqa: BLE001 - absent or unreadable: write it again
        return False
    if {k: v for k, v in stored.items() if k != "key"} != params(world.n, noise, jitter, seed, world.overrides):
        return False
    if not (world.map_dir / "manifest.json").exists():
        return False
    return manifest.key.dataset_fingerprint == scan_for(world.config()).fingerprint()


def base_engine_for(overrides: Mapping[str, str] = (), base_dataset: str = "", base_cache: str = ""):
    """The base dataset's engine (default: the demo world, as ``infocir serve`` without --dataset loads it)."""
    from infocir.engine import RetrievalEngine

    o = dict(overrides)
    if base_dataset:
        o["dataset.root"] = base_dataset
    if base_cache:
        o["index.cache_dir"] = base_cache
    return RetrievalEngine.from_config(apply_overrides(AppConfig(), o), progress=False)


def ensure_world(
    n: int,
    out: Path = DEFAULT_OUT,
    overrides: Mapping[str, str] = (),
    noise: float = 0.03,
    jitter: float = 0.01,
    seed: int = 0,
    base_dataset: str = "",
    base_cache: str = "",
) -> tuple[World, bool]:
    """The world of ``n`` images under ``out``, written unless a current one is there: (world, written now)."""
    out = Path(out).expanduser().absolute()
    if (out / "dataset").is_dir():
        world = world_at(out, n, overrides)
        if is_current(world, noise, jitter, seed):
            return world, False
    base = base_engine_for(overrides, base_dataset, base_cache)
    return write_world(base, n, out, overrides, noise, jitter, seed), True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[100_000])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--noise", type=float, default=0.03, help="per-dimension noise on the unit features")
    ap.add_argument("--map-jitter", type=float, default=0.01, help="map jitter, as a fraction of the map's spread")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--base-dataset", default="", help="base dataset folder (default: the demo world)")
    ap.add_argument("--base-cache", default="", help="the base dataset's index.cache_dir (default: the config's)")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE", help="model etc.")
    ap.add_argument("--force", action="store_true", help="write again even if a current world is there")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    overrides = dict(s.split("=", 1) for s in args.set)
    for n in args.n:
        if args.force:
            base = base_engine_for(overrides, args.base_dataset, args.base_cache)
            world, written = write_world(base, n, args.out, overrides, args.noise, args.map_jitter, args.seed), True
        else:
            world, written = ensure_world(
                n, args.out, overrides, args.noise, args.map_jitter, args.seed, args.base_dataset, args.base_cache
            )
        print(f"{n:,} images ({'written' if written else 'already there'}): {world.index_dir}")
        print("  serve: HF_HUB_OFFLINE=1 infocir serve " + " ".join(world.serve_args()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

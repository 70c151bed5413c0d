"""The feature index: build (batched, resumable, atomic), load, and validate against a manifest.

Files in an index folder:
    features.npy   [N, D] L2-normalised image features (float16 or float32)
    norms.npy      [N]    norms of the raw ``encode_image`` features (SEARLE's φ needs raw features)
    metadata.csv   row, id, class, path (path relative to the dataset root)
    manifest.json  IndexManifest; written last, so its presence marks a complete build
A build in progress keeps finished chunks in ``.partial/``; a rerun with the same key resumes.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from infocir.data.scan import ImageRecord, ScanResult
from infocir.index.manifest import (
    CacheCorruptError,
    IndexKey,
    IndexManifest,
    atomic_write_bytes,
    atomic_write_text,
)
from infocir.models.encoders import ClipBundle
from infocir.models.encoding import ImageReadError, encode_images, l2_normalize, open_rgb

log = logging.getLogger(__name__)
REBUILD_HINT = "Rebuild with: python cir_app/run.py build-index --rebuild"
ProgressFn = Callable[[int, int], None]


@dataclass
class FeatureIndex:
    """Normalised features and their metadata, in row order."""

    features: np.ndarray  # float32 [N, D], unit rows
    norms: np.ndarray  # float32 [N]
    ids: list[str]
    classes: list[str]
    paths: list[str]  # absolute
    manifest: IndexManifest

    def __post_init__(self) -> None:
        self.row_of = {i: r for r, i in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])

    def raw_feature(self, row: int) -> np.ndarray:
        """The unnormalised ``encode_image`` output of a row (norm × unit feature)."""
        return self.features[row] * self.norms[row]


def index_key(bundle: ClipBundle, scan: ScanResult, dtype: str) -> IndexKey:
    return IndexKey(
        model_name=bundle.name,
        weights_hash=bundle.weights_hash,
        preprocess=bundle.preprocess_kind,
        dataset_fingerprint=scan.fingerprint(),
        dtype=dtype,
    )


def _save_npy(path: Path, arr: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, arr)
    atomic_write_bytes(path, buf.getvalue())


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise CacheCorruptError(f"Index file {path} is corrupt or unreadable ({exc}). {REBUILD_HINT}") from None


def _encode_chunk(bundle: ClipBundle, records: list[ImageRecord], batch_size: int, pool: ThreadPoolExecutor,
                  on_batch: Callable[[int], None]) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
    """Raw features of the readable records of a chunk, their positions, and the failures."""
    def load(r: ImageRecord):
        try:
            return open_rgb(r.path), None
        except ImageReadError as exc:
            return None, str(exc)

    feats, keep, failed = [], [], []
    for start in range(0, len(records), batch_size):
        batch = records[start : start + batch_size]
        loaded = list(pool.map(load, batch))
        imgs = []
        for j, (im, err) in enumerate(loaded):
            if im is None:
                failed.append((batch[j].id, err))
            else:
                imgs.append(im)
                keep.append(start + j)
        if imgs:
            feats.append(encode_images(bundle, imgs))
        on_batch(len(batch))
    dim = bundle.embed_dim
    return (np.concatenate(feats) if feats else np.zeros((0, dim), np.float32)), np.array(keep, np.int64), failed


def build_index(
    bundle: ClipBundle,
    scan: ScanResult,
    out_dir: Path,
    dtype: str = "float16",
    batch_size: int = 64,
    chunk_size: int = 1024,
    progress: bool = True,
) -> IndexManifest:
    """Encode every record of ``scan`` into ``out_dir``; resumes a build interrupted with the same key."""
    out_dir.mkdir(parents=True, exist_ok=True)
    key = index_key(bundle, scan, dtype)
    partial = out_dir / ".partial"
    plan = {"key": asdict(key), "ids": [r.id for r in scan.records], "chunk_size": chunk_size}
    plan_path = partial / "plan.json"
    if partial.exists():
        try:
            same = json.loads(plan_path.read_text()) == plan
        except (OSError, ValueError):
            same = False
        if not same:
            log.info("Discarding an unfinished build made with other settings.")
            shutil.rmtree(partial)
    partial.mkdir(exist_ok=True)
    atomic_write_text(plan_path, json.dumps(plan))

    records = scan.records
    n_chunks = (len(records) + chunk_size - 1) // chunk_size
    done = [c for c in range(n_chunks) if (partial / f"chunk_{c:05d}.npz").exists()]
    if done:
        log.info("Resuming index build: %d of %d chunks already encoded.", len(done), n_chunks)
    from tqdm import tqdm

    bar = tqdm(total=len(records), initial=min(len(records), len(done) * chunk_size), unit="img",
               desc="Encoding images", disable=not progress)
    t0 = time.time()
    with ThreadPoolExecutor(max_workers=2) as pool:
        for c in range(n_chunks):
            path = partial / f"chunk_{c:05d}.npz"
            if path.exists():
                continue
            chunk = records[c * chunk_size : (c + 1) * chunk_size]
            feats, keep, failed = _encode_chunk(bundle, chunk, batch_size, pool, bar.update)
            buf = io.BytesIO()
            np.savez(buf, feats=feats, keep=keep + c * chunk_size, failed=np.array(failed, dtype=str).reshape(-1, 2))
            atomic_write_bytes(path, buf.getvalue())
    bar.close()
    elapsed = time.time() - t0

    feats, keep, failed = [], [], []
    for c in range(n_chunks):
        with np.load(partial / f"chunk_{c:05d}.npz") as z:
            feats.append(z["feats"])
            keep.append(z["keep"])
            failed += [tuple(x) for x in z["failed"]]
    raw = np.concatenate(feats).astype(np.float32)
    rows = np.concatenate(keep)
    if len(rows) == 0:
        raise ImageReadError(f"None of the {len(records)} images could be decoded; nothing to index.")
    norms = np.linalg.norm(raw, axis=1).astype(np.float32)
    unit = l2_normalize(raw).astype(np.float16 if dtype == "float16" else np.float32)
    _save_npy(out_dir / "features.npy", unit)
    _save_npy(out_dir / "norms.npy", norms)
    meta = io.StringIO()
    w = csv.writer(meta)
    w.writerow(["row", "id", "class", "path"])
    for i, r in enumerate(rows):
        rec = records[int(r)]
        w.writerow([i, rec.id, rec.class_name, Path(rec.path).relative_to(scan.root).as_posix()])
    atomic_write_text(out_dir / "metadata.csv", meta.getvalue())
    manifest = IndexManifest(
        key=key,
        dataset_root=str(scan.root),
        count=len(rows),
        dim=int(unit.shape[1]),
        skipped=len(scan.skipped) + len(failed),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    atomic_write_text(out_dir / "manifest.json", manifest.to_json())
    shutil.rmtree(partial, ignore_errors=True)
    if failed:
        log.warning("%d images failed to decode and were left out, e.g. %s", len(failed), ", ".join(f for f, _ in failed[:3]))
    if elapsed > 0 and len(records):
        log.info("Encoded %d images in %.1fs (%.1f img/s)", len(records), elapsed, len(records) / elapsed)
    return manifest


def load_index(out_dir: Path, dataset_root: Path | None = None) -> FeatureIndex:
    """Load a complete index; CacheCorruptError (naming the file) if any file is unreadable or inconsistent."""
    manifest = IndexManifest.read(out_dir / "manifest.json")
    features = _load_npy(out_dir / "features.npy")
    norms = _load_npy(out_dir / "norms.npy")
    meta_path = out_dir / "metadata.csv"
    try:
        with open(meta_path, newline="") as f:
            rows = list(csv.DictReader(f))
        ids = [r["id"] for r in rows]
        classes = [r["class"] for r in rows]
        rel = [r["path"] for r in rows]
    except (OSError, KeyError, csv.Error, UnicodeDecodeError) as exc:
        raise CacheCorruptError(f"Index file {meta_path} is corrupt or unreadable ({exc}). {REBUILD_HINT}") from None
    for name, n in (("features.npy", len(features)), ("norms.npy", len(norms)), ("metadata.csv", len(ids))):
        if n != manifest.count:
            raise CacheCorruptError(
                f"Index file {out_dir / name} holds {n} rows but the manifest says {manifest.count}. {REBUILD_HINT}"
            )
    if features.ndim != 2 or features.shape[1] != manifest.dim:
        raise CacheCorruptError(f"Index file {out_dir / 'features.npy'} has shape {features.shape}, expected [*, {manifest.dim}]. {REBUILD_HINT}")
    root = Path(dataset_root or manifest.dataset_root)
    return FeatureIndex(
        features=features.astype(np.float32),
        norms=norms.astype(np.float32),
        ids=ids,
        classes=classes,
        paths=[str(root / p) for p in rel],
        manifest=manifest,
    )


def index_dir_for(cache_dir: Path, dataset_root: Path, model_name: str) -> Path:
    """One folder per (dataset folder, model name); other weights or a changed folder rebuild in place."""
    import hashlib

    tag = hashlib.sha256(str(dataset_root).encode()).hexdigest()[:10]
    safe_model = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in model_name)
    return cache_dir / "index" / f"{dataset_root.name}-{tag}" / safe_model


def load_or_build(
    bundle: ClipBundle,
    scan: ScanResult,
    out_dir: Path,
    dtype: str = "float16",
    batch_size: int = 64,
    chunk_size: int = 1024,
    rebuild: bool = False,
    progress: bool = True,
) -> FeatureIndex:
    """Reuse the index in ``out_dir`` when its manifest matches; otherwise (re)build it, saying why."""
    manifest_path = out_dir / "manifest.json"
    if manifest_path.exists() and not rebuild:
        manifest = IndexManifest.read(manifest_path)
        diff = manifest.key.differences(index_key(bundle, scan, dtype))
        if not diff:
            return load_index(out_dir, scan.root)
        log.warning("Index in %s was built with different %s; rebuilding.", out_dir, ", ".join(diff))
    elif rebuild:
        log.info("Rebuilding the index in %s as requested.", out_dir)
    else:
        log.info("No index yet in %s; building it (first run).", out_dir)
    if manifest_path.exists():
        manifest_path.unlink()  # the old files are no longer a valid index until the new manifest lands
    build_index(bundle, scan, out_dir, dtype, batch_size, chunk_size, progress)
    return load_index(out_dir, scan.root)

"""The feature index: build (batched, resumable, atomic), load, and validate against a manifest.

Files in an index folder:
    features.npy   [N, D] L2-normalised image features (float16 or float32)
    norms.npy      [N]    norms of the raw ``encode_image`` features (SEARLE's φ needs raw features)
    metadata.csv   row, id, class, path (path relative to the dataset root)
    manifest.json  IndexManifest; written last, so its presence marks a complete build; it holds
                   the SHA-256 of the three files above, verified on every load
``load_index`` memory-maps ``features.npy`` read-only in its stored dtype (no float32 copy of the
matrix): consumers take float32 of the rows they use (``FeatureIndex.rows``) or go through it in
blocks (``feature_blocks``, ``feature_mean``).
A build in progress keeps finished chunks in ``.partial/``; a rerun with the same key resumes, after
checking each chunk (a damaged one is encoded again).  ``.build.lock`` keeps a second build of the
same index out while one runs.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np

from infocir.data.scan import ImageRecord, ScanResult
from infocir.errors import UserError
from infocir.index.manifest import (
    CacheCorruptError,
    IndexKey,
    IndexManifest,
    atomic_write_bytes,
    atomic_write_text,
)
from infocir.models.encoders import ClipBundle
from infocir.models.encoding import ImageReadError, encode_pixels, l2_normalize, open_rgb

log = logging.getLogger(__name__)
REBUILD_HINT = "Rebuild with: python cir_app/run.py build-index --rebuild"
ProgressFn = Callable[[int, int], None]
# Encodes the chunks of a build not yet in ``.partial`` and saves each as a chunk file (``_save_chunk``); returns
# the seconds it took.  Arguments: bundle, records, partial folder, chunk_size, batch_size, finished chunks,
# num_workers, max_pixels, progress.  ``_encode_chunks`` here; Ray Data's in ``index.distributed``.
ChunkEncoder = Callable[..., float]


# Rows per block when a pass over the whole matrix must not materialise it (NaN check, means): at
# 512 dimensions a block is 64 MB as float16, 128 MB as float32.
BLOCK_ROWS = 65_536
RowSelection = Sequence[int] | np.ndarray


def feature_blocks(
    features: np.ndarray, rows: RowSelection | None = None, block: int = BLOCK_ROWS
) -> Iterator[np.ndarray]:
    """The rows of ``features`` (all, or ``rows`` in the order given) in blocks of at most ``block``
    rows, each in the stored dtype; nothing larger than one block is read into memory at a time."""
    if rows is None:
        for s in range(0, len(features), block):
            yield features[s : s + block]
        return
    sel = np.asarray(rows, np.int64)
    for s in range(0, len(sel), block):
        yield features[sel[s : s + block]]


def feature_mean(features: np.ndarray, rows: RowSelection | None = None, block: int = BLOCK_ROWS) -> np.ndarray:
    """float64 mean [D] of the rows of ``features`` (all, or ``rows``), accumulated block by block:
    no float32/float64 copy of the whole (memory-mapped, float16) matrix."""
    total = np.zeros(features.shape[1], np.float64)
    n = 0
    for b in feature_blocks(features, rows, block):
        total += b.sum(axis=0, dtype=np.float64)
        n += len(b)
    return total / max(n, 1)


def all_finite(features: np.ndarray, block: int = BLOCK_ROWS) -> bool:
    """No NaN or infinite value anywhere in ``features``, checked block by block in the stored dtype."""
    return all(bool(np.isfinite(b).all()) for b in feature_blocks(features, None, block))


@dataclass
class FeatureIndex:
    """Normalised features and their metadata, in row order.

    ``features`` is read-only for everyone: [N, D] unit rows, float16 or float32 (the stored
    ``index.dtype``), possibly a read-only memmap of ``features.npy``.  Take float32 copies of the
    rows you use (``row``, ``rows``, ``raw_feature``), the mean through ``mean``; code that truly
    needs every row in float32 (the 2-D map's fit) converts it itself and says so."""

    features: np.ndarray  # [N, D] unit rows, float16 or float32, possibly a read-only memmap
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

    def row(self, row: int) -> np.ndarray:
        """The unit feature of one row: a float32 copy [D] (writable, not a view of the index)."""
        return np.array(self.features[int(row)], dtype=np.float32)

    def rows(self, rows: RowSelection) -> np.ndarray:
        """The unit features of ``rows`` (in that order): a float32 copy [n, D]."""
        sel = np.asarray(rows, np.int64).reshape(-1)
        if not len(sel):
            return np.zeros((0, self.dim), np.float32)
        return np.array(self.features[sel], dtype=np.float32)

    def mean(self, rows: RowSelection | None = None) -> np.ndarray:
        """float64 mean [D] of the unit features of every row (or of ``rows``), computed blockwise."""
        return feature_mean(self.features, rows)

    def raw_feature(self, row: int) -> np.ndarray:
        """The unnormalised ``encode_image`` output of a row (norm × unit feature), float32 [D]."""
        return self.row(row) * np.float32(self.norms[row])


def index_key(bundle: ClipBundle, scan: ScanResult, dtype: str) -> IndexKey:
    return IndexKey(
        model_name=bundle.name,
        weights_hash=bundle.weights_hash,
        preprocess=bundle.preprocess_id,
        dataset_fingerprint=scan.fingerprint(),
        dtype=dtype,
    )


def _save_npy(path: Path, arr: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, arr)
    atomic_write_bytes(path, buf.getvalue())


def _load_npy(path: Path, mmap: bool = False) -> np.ndarray:
    """The array in ``path``; ``mmap``: memory-mapped read-only (pages read on use, no copy in RAM)."""
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise CacheCorruptError(f"Index file {path} is corrupt or unreadable ({exc}). {REBUILD_HINT}") from None


CHECKED_FILES = ("features.npy", "norms.npy", "metadata.csv")


def file_checksums(out_dir: Path) -> dict[str, str]:
    """SHA-256 of the index files the manifest vouches for (written into it, verified by ``load_index``)."""
    out = {}
    for name in CHECKED_FILES:
        with open(out_dir / name, "rb") as f:
            out[name] = hashlib.file_digest(f, "sha256").hexdigest()
    return out


def verify_checksums(out_dir: Path, manifest: IndexManifest) -> None:
    """CacheCorruptError naming the first index file whose bytes are not the ones the build wrote
    (damaged, reordered, NaN written in, another build's file copied over)."""
    if set(manifest.checksums) != set(CHECKED_FILES):
        raise CacheCorruptError(
            f"Index manifest {out_dir / 'manifest.json'} has no checksums of its files "
            f"(written before they were recorded, or edited). {REBUILD_HINT}"
        )
    try:
        actual = file_checksums(out_dir)
    except OSError as exc:
        raise CacheCorruptError(f"Index file {exc.filename} is unreadable ({exc.strerror}). {REBUILD_HINT}") from None
    for name in CHECKED_FILES:
        if actual[name] != manifest.checksums[name]:
            raise CacheCorruptError(
                f"Index file {out_dir / name} does not match the checksum in its manifest: it was "
                f"changed after the build (damaged, reordered or edited). {REBUILD_HINT}"
            )


class BuildLockedError(UserError, RuntimeError):
    """Another build of the same index is running."""


class BuildLock:
    """``.build.lock`` in the index folder, held for the whole build (``flock``; ``msvcrt.locking`` on Windows).

    A second build of the same index gets BuildLockedError naming the holder instead of racing it for
    the chunk files.  The operating system drops the lock when its process ends however it ends, so a
    lock file left by a crash or a kill is stale by construction: the next build takes it over and says so."""

    NAME = ".build.lock"

    def __init__(self, out_dir: Path):
        self.path = Path(out_dir) / self.NAME
        self._fd: int | None = None

    @staticmethod
    def _try_lock(fd: int) -> None:
        if sys.platform == "win32":
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    @staticmethod
    def _holder(fd: int) -> str:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            return os.read(fd, 300).decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def __enter__(self) -> BuildLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            existed = self.path.exists()
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                self._try_lock(fd)
            except OSError:
                holder = self._holder(fd)
                os.close(fd)
                raise BuildLockedError(
                    f"The index in {self.path.parent} cannot be built now: another build is running "
                    f"({holder or 'its process is starting'}). Wait for it to finish (or stop it) and run again; "
                    "a lock left by a build that crashed is taken over automatically."
                ) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the previous holder removed the file between our open and our lock: again
        previous = self._holder(fd)
        if existed or previous:
            log.warning(
                "Took over a stale build lock in %s (%s): that build stopped without finishing.",
                self.path.parent,
                previous or "no holder recorded",
            )
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {stamp}".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            self.path.unlink(missing_ok=True)  # while still holding it: nobody can take a lock on the old file
        except OSError:
            pass
        finally:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def auto_num_workers(device: Any) -> int:
    """Decoding workers for ``index.num_workers = -1``.

    On a CPU-only machine the workers compete with the encoder for the same cores: with 2 cores,
    decoding in the main process measured fastest (benchmarks/index_build.py, README).  With a
    GPU the cores only decode, so use them all but one."""
    import torch

    cores = os.cpu_count() or 1
    if torch.device(device).type == "cpu":
        return 0 if cores <= 2 else min(4, cores // 2)
    return max(1, min(16, cores - 1))


class DecodedImages:
    """Map-style dataset for the build's DataLoader: record i → (pixels [3,S,S] or None, i, error).

    Images open through ``open_rgb``: over ``max_pixels`` refused before decoding, EXIF orientation
    applied, transparency on a neutral background (what the browser shows is what is encoded)."""

    def __init__(self, records: list[ImageRecord], preprocess: Callable, max_pixels: int | None = None):
        self.records, self.preprocess, self.max_pixels = records, preprocess, max_pixels

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int):
        try:
            pixels = self.preprocess(open_rgb(self.records[i].path, self.max_pixels))  # host: moved in encode_pixels
            return pixels, i, ""
        except ImageReadError as exc:
            return None, i, str(exc)


def collate_decoded(items: list) -> tuple[Any, list[int], list[tuple[int, str]]]:
    """Stack the decoded images of a batch; keep the positions of the good ones and the failures."""
    import torch

    good = [(x, i) for x, i, _ in items if x is not None]
    pixels = torch.stack([x for x, _ in good]) if good else None
    return pixels, [i for _, i in good], [(i, err) for x, i, err in items if x is None]


def build_batches(n_records: int, chunk_size: int, batch_size: int, skip_chunks: set[int]) -> list[list[int]]:
    """Record positions per batch; batches never straddle a chunk, so each chunk is saved as soon
    as its last batch is encoded."""
    out = []
    for c in range((n_records + chunk_size - 1) // chunk_size):
        if c in skip_chunks:
            continue
        end = min(n_records, (c + 1) * chunk_size)
        out += [list(range(s, min(end, s + batch_size))) for s in range(c * chunk_size, end, batch_size)]
    return out


def decoded_batches(
    bundle: ClipBundle,
    records: list[ImageRecord],
    batches: list[list[int]],
    num_workers: int,
    max_pixels: int | None = None,
):
    """A DataLoader that decodes and preprocesses ``batches`` (in order) in ``num_workers``
    processes while the main process encodes; pinned memory when the model is on CUDA."""
    import torch
    from torch.utils.data import DataLoader, Dataset

    cuda = torch.device(bundle.device).type == "cuda"
    # DecodedImages is a map-style dataset (__len__, __getitem__) without subclassing torch's Dataset,
    # so that this module does not import torch.
    dataset = cast("Dataset[tuple[Any, int, str]]", DecodedImages(records, bundle.preprocess, max_pixels))
    return DataLoader(
        dataset,
        batch_sampler=batches,
        num_workers=num_workers,
        collate_fn=collate_decoded,
        pin_memory=cuda,
        prefetch_factor=4 if num_workers else None,
        persistent_workers=False,
    )


def _save_chunk(path: Path, feats: list[np.ndarray], keep: list[int], failed: list[tuple[str, str]], dim: int) -> None:
    """One finished chunk of the build: raw features, their record positions and the failures."""
    buf = io.BytesIO()
    np.savez(
        buf,
        feats=np.concatenate(feats) if feats else np.zeros((0, dim), np.float32),
        keep=np.array(keep, np.int64),
        failed=np.array(failed, dtype=str).reshape(-1, 2),
    )
    atomic_write_bytes(path, buf.getvalue())


def _read_chunk(path: Path, c: int, chunk_size: int, n_records: int, dim: int):
    """A finished chunk's (feats, keep, failed), or None when the file is damaged or does not belong to this
    build (truncated by a crash or a full disk, bytes that fail the zip CRC, another build's file, rows
    outside the chunk)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            feats, keep, failed = z["feats"], z["keep"], z["failed"]
    except Exception:  # noqa: BLE001 - any unreadable chunk (BadZipFile, EOFError, KeyError, ...) is encoded again
        return None
    lo, hi = c * chunk_size, min(n_records, (c + 1) * chunk_size)
    if (
        feats.ndim != 2
        or feats.shape[1] != dim
        or keep.ndim != 1
        or len(keep) != len(feats)
        or failed.ndim != 2
        or failed.shape[1] != 2
        or len(keep) + len(failed) != hi - lo
        or (len(keep) and (keep.min() < lo or keep.max() >= hi))
    ):
        return None
    return feats, keep, failed


def build_index(
    bundle: ClipBundle,
    scan: ScanResult,
    out_dir: Path,
    dtype: str = "float16",
    batch_size: int = 64,
    chunk_size: int = 1024,
    progress: bool = True,
    num_workers: int = -1,
    max_pixels: int | None = None,
    fresh: bool = False,
    encode: ChunkEncoder | None = None,
    source: dict[str, Any] | None = None,
) -> IndexManifest:
    """Encode every record of ``scan`` into ``out_dir``; resumes a build interrupted with the same key
    unless ``fresh`` (``--rebuild``), which discards it.

    Decoding overlaps encoding (``num_workers`` DataLoader processes; -1 picks by device and cores).
    Images over ``max_pixels`` (dataset.max_image_pixels) are left out and reported.  One build per
    index folder at a time: a second one gets BuildLockedError.

    ``encode`` replaces the encoding of the chunks (``index.distributed``: a Ray Data actor pool); the plan,
    the resume, the merge and the manifest stay these.  ``source``: what the manifest records about how the
    features were made (the encoder may fill it in while it runs; empty for this process's own build)."""
    with BuildLock(out_dir):
        return _build_locked(
            bundle,
            scan,
            out_dir,
            dtype,
            batch_size,
            chunk_size,
            progress,
            num_workers,
            max_pixels,
            fresh,
            encode or _encode_chunks,
            source if source is not None else {},
        )


def _prepare_partial(out_dir: Path, plan: dict, fresh: bool) -> Path:
    """The ``.partial`` folder of this build: an unfinished build with the same plan is kept (resumed),
    one with another plan, or any with ``fresh``, is discarded."""
    partial = out_dir / ".partial"
    plan_path = partial / "plan.json"
    if partial.exists() and fresh:
        log.info("Discarding the unfinished build in %s (--rebuild).", partial)
        shutil.rmtree(partial)
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
    return partial


def _finished_chunks(partial: Path, n_chunks: int, chunk_size: int, n_records: int, dim: int) -> list[int]:
    """The chunks an interrupted build already encoded; damaged ones are deleted (encoded again)."""
    done = []
    for c in range(n_chunks):
        chunk = partial / f"chunk_{c:05d}.npz"
        if not chunk.exists():
            continue
        if _read_chunk(chunk, c, chunk_size, n_records, dim) is None:
            log.warning("Discarding the damaged chunk %s of the unfinished build; it is encoded again.", chunk)
            chunk.unlink()
        else:
            done.append(c)
    if done:
        log.info("Resuming index build: %d of %d chunks already encoded.", len(done), n_chunks)
    return done


def _encode_chunks(
    bundle: ClipBundle,
    records: list[ImageRecord],
    partial: Path,
    chunk_size: int,
    batch_size: int,
    done: list[int],
    num_workers: int,
    max_pixels: int | None,
    progress: bool,
) -> float:
    """Encode every chunk not in ``done`` and save each as it completes; returns the seconds it took."""
    from tqdm import tqdm

    n_chunks = (len(records) + chunk_size - 1) // chunk_size
    bar = tqdm(
        total=len(records),
        initial=min(len(records), len(done) * chunk_size),
        unit="img",
        desc="Encoding images",
        disable=not progress,
    )
    t0 = time.time()
    workers = auto_num_workers(bundle.device) if num_workers < 0 else num_workers
    batches = build_batches(len(records), chunk_size, batch_size, set(done))
    log.info("Encoding on %s (%s) with %d decoding worker(s).", bundle.device, bundle.precision, workers)
    pending: dict[int, tuple[list, list, list]] = {}
    remaining = {c: 0 for c in range(n_chunks)}
    for b in batches:
        remaining[b[0] // chunk_size] += 1
    for pixels, kept, bad in decoded_batches(bundle, records, batches, workers, max_pixels):
        c = (kept or [i for i, _ in bad])[0] // chunk_size
        feats, keep, failed = pending.setdefault(c, ([], [], []))
        if pixels is not None:
            feats.append(encode_pixels(bundle, pixels))
            keep += kept
        failed += [(records[i].id, err) for i, err in bad]
        bar.update(len(kept) + len(bad))
        remaining[c] -= 1
        if remaining[c] == 0:
            feats, keep, failed = pending.pop(c)
            _save_chunk(partial / f"chunk_{c:05d}.npz", feats, keep, failed, bundle.embed_dim)
    bar.close()
    return time.time() - t0


def _gather_chunks(
    partial: Path, n_chunks: int, chunk_size: int, n_records: int, dim: int
) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
    """Every chunk's raw features [N, dim] (float32), their record positions [N] and the failures."""
    feats, keep, failed = [], [], []
    for c in range(n_chunks):
        chunk = _read_chunk(partial / f"chunk_{c:05d}.npz", c, chunk_size, n_records, dim)
        if chunk is None:  # only if something outside this build changed .partial while it held the lock
            raise CacheCorruptError(f"Chunk {partial / f'chunk_{c:05d}.npz'} changed during the build. {REBUILD_HINT}")
        feats.append(chunk[0])
        keep.append(chunk[1])
        failed += [(str(a), str(b)) for a, b in chunk[2]]
    raw = np.concatenate(feats).astype(np.float32) if feats else np.zeros((0, dim), np.float32)
    rows = np.concatenate(keep) if keep else np.zeros(0, np.int64)
    return raw, rows, failed


def _write_metadata(path: Path, scan: ScanResult, rows: np.ndarray) -> None:
    meta = io.StringIO()
    w = csv.writer(meta)
    w.writerow(["row", "id", "class", "path"])
    for i, r in enumerate(rows):
        rec = scan.records[int(r)]
        w.writerow([i, rec.id, rec.class_name, Path(rec.path).relative_to(scan.root).as_posix()])
    atomic_write_text(path, meta.getvalue())


def write_index_files(
    out_dir: Path,
    key: IndexKey,
    scan: ScanResult,
    raw: np.ndarray,
    rows: np.ndarray,
    failed: Sequence[tuple[str, str]] = (),
    source: dict[str, Any] | None = None,
) -> IndexManifest:
    """Write a finished index: the raw features [N, D] of ``scan.records[rows]`` normalised and stored in
    ``key.dtype``, their norms, the metadata, and the manifest last (with the files' checksums).
    ``source``: the manifest's record of how the features were made (empty: encoded by this process)."""
    norms = np.linalg.norm(raw, axis=1).astype(np.float32)
    unit = l2_normalize(raw).astype(np.float16 if key.dtype == "float16" else np.float32)
    _save_npy(out_dir / "features.npy", unit)
    _save_npy(out_dir / "norms.npy", norms)
    _write_metadata(out_dir / "metadata.csv", scan, rows)
    manifest = IndexManifest(
        key=key,
        dataset_root=str(scan.root),
        count=len(rows),
        dim=int(unit.shape[1]),
        skipped=len(scan.skipped) + len(failed),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        source=dict(source or {}),
        failed=[list(f) for f in failed],
        checksums=file_checksums(out_dir),
    )
    atomic_write_text(out_dir / "manifest.json", manifest.to_json())
    return manifest


def _build_locked(
    bundle: ClipBundle,
    scan: ScanResult,
    out_dir: Path,
    dtype: str,
    batch_size: int,
    chunk_size: int,
    progress: bool,
    num_workers: int,
    max_pixels: int | None,
    fresh: bool,
    encode: ChunkEncoder,
    source: dict[str, Any],
) -> IndexManifest:
    key = index_key(bundle, scan, dtype)
    # the old files are no longer an index until the new manifest lands
    (out_dir / "manifest.json").unlink(missing_ok=True)
    plan = {"key": asdict(key), "ids": [r.id for r in scan.records], "chunk_size": chunk_size}
    partial = _prepare_partial(out_dir, plan, fresh)
    records = scan.records
    n_chunks = (len(records) + chunk_size - 1) // chunk_size
    done = _finished_chunks(partial, n_chunks, chunk_size, len(records), bundle.embed_dim)
    elapsed = encode(bundle, records, partial, chunk_size, batch_size, done, num_workers, max_pixels, progress)
    raw, rows, failed = _gather_chunks(partial, n_chunks, chunk_size, len(records), bundle.embed_dim)
    if len(rows) == 0:
        raise ImageReadError(f"None of the {len(records)} images could be decoded; nothing to index.")
    manifest = write_index_files(out_dir, key, scan, raw, rows, failed, source)
    shutil.rmtree(partial, ignore_errors=True)
    if elapsed > 0 and len(records):
        log.info("Encoded %d images in %.1fs (%.1f img/s)", len(records), elapsed, len(records) / elapsed)
    return manifest


def _read_metadata(meta_path: Path) -> tuple[list[str], list[str], list[str]]:
    """(ids, classes, relative paths) of ``metadata.csv``; class names are shared strings (a million rows
    of a few hundred classes hold a few hundred objects, not a million)."""
    try:
        with open(meta_path, newline="") as f:
            reader = csv.reader(f)
            header = next(reader, [])
            at = {name: header.index(name) for name in ("id", "class", "path")}
            ids, classes, rel = [], [], []
            shared: dict[str, str] = {}
            for line in reader:
                ids.append(line[at["id"]])
                c = line[at["class"]]
                classes.append(shared.setdefault(c, c))
                rel.append(line[at["path"]])
    except (OSError, ValueError, IndexError, csv.Error, UnicodeDecodeError) as exc:
        raise CacheCorruptError(f"Index file {meta_path} is corrupt or unreadable ({exc}). {REBUILD_HINT}") from None
    return ids, classes, rel


def _absolute_paths(root: Path, rel: list[str]) -> list[str]:
    """``str(root / p)`` for every relative POSIX path; on POSIX by string concatenation (the same
    strings: the paths were written normalised by ``as_posix``), a few times faster at a million rows."""
    if os.sep == "/" and root.is_absolute() and all(p and not p.startswith("/") for p in rel):
        prefix = str(root).rstrip("/") + "/"
        return [prefix + p for p in rel]
    return [str(root / p) for p in rel]


def load_index(out_dir: Path, dataset_root: Path | None = None) -> FeatureIndex:
    """Load a complete index; CacheCorruptError (naming the file) if any file is unreadable or inconsistent.

    ``features.npy`` is memory-mapped read-only in its stored dtype (float16 by default): the matrix is
    not copied into RAM, its pages are read on use (the checksum read has usually left them in the
    page cache)."""
    manifest = IndexManifest.read(out_dir / "manifest.json")
    verify_checksums(out_dir, manifest)
    features = _load_npy(out_dir / "features.npy", mmap=True)
    norms = _load_npy(out_dir / "norms.npy")
    ids, classes, rel = _read_metadata(out_dir / "metadata.csv")
    for name, n in (("features.npy", len(features)), ("norms.npy", len(norms)), ("metadata.csv", len(ids))):
        if n != manifest.count:
            raise CacheCorruptError(
                f"Index file {out_dir / name} holds {n} rows but the manifest says {manifest.count}. {REBUILD_HINT}"
            )
    if features.ndim != 2 or features.shape[1] != manifest.dim:
        raise CacheCorruptError(
            f"Index file {out_dir / 'features.npy'} has shape {features.shape}, expected [*, {manifest.dim}]. "
            f"{REBUILD_HINT}"
        )
    if features.dtype not in (np.float16, np.float32):
        raise CacheCorruptError(
            f"Index file {out_dir / 'features.npy'} holds {features.dtype} values, expected float16 or float32. "
            f"{REBUILD_HINT}"
        )
    # The checksum vouches for the bytes; a build that wrote NaN is still unusable.  Checked block by
    # block in the stored dtype, so no float32 copy of the matrix is made.
    finite = {"features.npy": all_finite(features, BLOCK_ROWS), "norms.npy": bool(np.isfinite(norms).all())}
    for name, ok in finite.items():
        if not ok:
            raise CacheCorruptError(f"Index file {out_dir / name} holds NaN or infinite values. {REBUILD_HINT}")
    root = Path(dataset_root or manifest.dataset_root)
    return FeatureIndex(
        features=features,
        norms=norms.astype(np.float32),
        ids=ids,
        classes=classes,
        paths=_absolute_paths(root, rel),
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
    num_workers: int = -1,
    max_pixels: int | None = None,
    builder: Callable[..., IndexManifest] | None = None,
) -> FeatureIndex:
    """Reuse the index in ``out_dir`` when its manifest matches; otherwise (re)build it, saying why.
    ``rebuild`` also discards an unfinished build (``.partial``) instead of resuming it.  ``builder``: called
    as ``build_index`` is, instead of it (``index.distributed.RayIndexBuilder.build``)."""
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
    build = builder or build_index
    build(bundle, scan, out_dir, dtype, batch_size, chunk_size, progress, num_workers, max_pixels, fresh=rebuild)
    return load_index(out_dir, scan.root)


def index_report(scan: ScanResult, index: FeatureIndex) -> str:
    """The one report of a build (or of a reused index): the images indexed and every file left out,
    those the scan skipped and those the build could not decode, each listed once."""
    m = index.manifest
    skipped = sorted(dict([*scan.skipped, *((i, why) for i, why in m.failed)]).items())
    lines = [
        f"Index ready: {len(index)} images in {len(set(index.classes))} classes under {scan.root} "
        f"(model {m.key.model_name}, dim {m.dim})."
    ]
    if skipped:
        lines.append(f"{len(skipped)} files skipped:")
        lines += [f"  {p} ({why})" for p, why in skipped]
    lines += scan.warnings
    return "\n".join(lines)

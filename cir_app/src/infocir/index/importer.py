"""Import image features computed elsewhere into the index format (``import-features``).

Two source layouts are read (see ``read_source``):

* clip-retrieval's inference output: ``img_emb/img_emb_N.npy`` with ``metadata/metadata_N.parquet``
  (column ``image_path``, one row per embedding, same order); parts N = 0, 1, 2, ... in numeric order;
* a plain pair: ``features.npy`` [N, D] with ``ids.csv`` (one image path or dataset id per row, same
  order; an optional header line ``id``, ``path``, ``image_path`` or ``filepath``; further columns are
  ignored).

The result is the folder ``load_or_build`` would write (``features.npy``, ``norms.npy``,
``metadata.csv``, ``manifest.json`` last) with a manifest key equal to the one the engine computes
for the same configuration, so the engine and the dashboard serve it without encoding the dataset.

Raw versus normalised features: the index stores unit rows plus the norms of the raw
``encode_image`` features, because SEARLE's φ reads raw features.  Raw source features keep their
norms exactly.  Normalised sources (clip-retrieval normalises by default) have lost them: the norm
stored for every row is then the median raw norm of a sample of dataset images encoded here
(``sample`` > 0), or 1 without a sample, so φ receives unit vectors.  The manifest's ``source``
records which.  The same sample checks that the features belong to the configured model (cosine
between imported and locally encoded features of the same images).
"""

from __future__ import annotations

import csv
import io
import logging
import os
import posixpath
import re
import shutil
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from infocir.data.scan import ScanResult
from infocir.errors import UserError
from infocir.index.manifest import IndexKey, IndexManifest, atomic_write_bytes, atomic_write_text

if TYPE_CHECKING:
    from infocir.config import AppConfig
    from infocir.models.encoders import ClipBundle

log = logging.getLogger(__name__)

CLIP_RETRIEVAL = "clip-retrieval"
PLAIN = "features.npy+ids.csv"
ID_HEADERS = ("id", "path", "image_path", "filepath")
NORMALISED_TOL = 1e-2  # |norm - 1| below this on every row: the source was L2-normalised
MISMATCH_COSINE = 0.5  # median cosine below this: the features are not this model's (error)
AGREE_COSINE = 0.95  # below this: same model, but another preprocessing or precision (warning)


class FeatureImportError(UserError, ValueError):
    """The source folder cannot be imported as given (the message says why and what to do)."""


@dataclass
class SourceFeatures:
    """Features and image paths as read from a source folder, in source row order."""

    features: np.ndarray  # [N, D], as stored (float16 or float32)
    paths: list[str]
    format: str


@dataclass(frozen=True)
class Rejected:
    """A source row left out of the index, and why."""

    row: int
    path: str
    reason: str


@dataclass
class ImportPlan:
    """What the index will hold: source rows in dataset order, with their ids and classes."""

    rows: np.ndarray  # int64 source rows, ordered like the dataset scan (as build-index orders them)
    ids: list[str]
    classes: list[str]
    rejected: list[Rejected]
    unindexed: list[str]  # dataset ids without an imported feature
    path_prefix: str | None  # the prefix stripped from absolute source paths, if any


@dataclass
class ImportSummary:
    """The outcome of an import, for the command line and tests."""

    index_dir: Path
    manifest: IndexManifest
    source_rows: int
    rejected: list[Rejected]
    unindexed: list[str]
    report_path: Path | None
    notes: list[str] = field(default_factory=list)

    def lines(self, show: int = 5) -> list[str]:
        m = self.manifest
        out = [
            f"Imported {m.count} of {self.source_rows} rows ({m.source['format']}, dim {m.dim}) into {self.index_dir}",
            f"model {m.key.model_name}, weights {m.key.weights_hash[:12]}, preprocess {m.key.preprocess}, "
            f"dtype {m.key.dtype}",
        ]
        rows = self.rejected
        if rows:
            out.append(f"{len(rows)} row{'s' * (len(rows) != 1)} left out, e.g.:")
            out += [f"  row {r.row}: {r.path} ({r.reason})" for r in rows[:show]]
        if self.unindexed:
            out.append(
                f"{len(self.unindexed)} dataset images have no imported feature and are not searchable, "
                f"e.g. {', '.join(self.unindexed[:3])}"
            )
        if self.report_path is not None:
            out.append(f"full list: {self.report_path}")
        return out + self.notes


# --------------------------------------------------------------------------- reading sources
def _numbered(folder: Path, stem: str, suffix: str) -> dict[int, Path]:
    pat = re.compile(rf"{re.escape(stem)}_(\d+){re.escape(suffix)}$")
    return {int(m.group(1)): p for p in folder.glob(f"{stem}_*{suffix}") if (m := pat.match(p.name))}


def _load_npy(path: Path) -> np.ndarray:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise FeatureImportError(f"{path}: not a readable .npy array ({exc}).") from None
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.floating):
        raise FeatureImportError(
            f"{path}: expected a 2-D float array [rows, dim], found shape {arr.shape}, dtype {arr.dtype}."
        )
    return arr


def read_parquet_column(path: Path, column: str) -> list[str]:
    """One column of a parquet file as strings (pyarrow, else pandas with any parquet engine)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        pq = None
    try:
        if pq is not None:
            table = pq.read_table(path)
            if column not in table.column_names:
                raise FeatureImportError(
                    f"{path}: no column {column!r} (columns: {', '.join(table.column_names)}). "
                    "clip-retrieval writes it when run with --input_format files."
                )
            return [str(v) for v in table.column(column).to_pylist()]
        import pandas as pd

        frame = pd.read_parquet(path)
    except ImportError:
        raise FeatureImportError(
            "Reading clip-retrieval's metadata_N.parquet needs pyarrow: pip install pyarrow "
            "(or pip install -e '.[parquet]')."
        ) from None
    except FeatureImportError:
        raise
    except Exception as exc:  # pyarrow/pandas raise many types for a damaged file
        raise FeatureImportError(f"{path}: not a readable parquet file ({exc}).") from None
    if column not in frame.columns:
        raise FeatureImportError(f"{path}: no column {column!r} (columns: {', '.join(map(str, frame.columns))}).")
    return [str(v) for v in frame[column].tolist()]


def read_clip_retrieval(folder: Path) -> SourceFeatures:
    """``img_emb/img_emb_N.npy`` + ``metadata/metadata_N.parquet``, parts concatenated by N."""
    embs, metas = (
        _numbered(folder / "img_emb", "img_emb", ".npy"),
        _numbered(folder / "metadata", "metadata", ".parquet"),
    )
    if not embs:
        raise FeatureImportError(f"{folder / 'img_emb'}: no img_emb_N.npy files.")
    if set(embs) != set(metas):
        raise FeatureImportError(
            f"{folder}: img_emb and metadata parts differ (embeddings {sorted(embs)}, "
            f"metadata {sorted(metas)}); every img_emb_N.npy needs its metadata_N.parquet."
        )
    feats, paths = [], []
    for n in sorted(embs):
        arr, col = _load_npy(embs[n]), read_parquet_column(metas[n], "image_path")
        if len(arr) != len(col):
            raise FeatureImportError(
                f"{embs[n].name} holds {len(arr)} rows but {metas[n].name} {len(col)}; "
                "they must describe the same images in the same order."
            )
        feats.append(arr)
        paths += col
    dims = {a.shape[1] for a in feats}
    if len(dims) > 1:
        raise FeatureImportError(f"{folder / 'img_emb'}: the parts have different dimensions {sorted(dims)}.")
    return SourceFeatures(np.concatenate(feats) if len(feats) > 1 else np.asarray(feats[0]), paths, CLIP_RETRIEVAL)


def read_ids_csv(path: Path) -> list[str]:
    """Image paths or ids, one per row; a first line naming the column (``ID_HEADERS``) is a header."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise FeatureImportError(f"{path}: not a readable UTF-8 CSV file ({exc}).") from None
    col = 0
    if rows:
        header = [c.strip().lower() for c in rows[0]]
        named = [i for i, c in enumerate(header) if c in ID_HEADERS]
        if named:
            col, rows = named[0], rows[1:]
    try:
        return [r[col].strip() for r in rows]
    except IndexError:
        raise FeatureImportError(f"{path}: some rows have no column {col + 1}.") from None


def read_plain(folder: Path) -> SourceFeatures:
    """``features.npy`` + ``ids.csv`` (same row order)."""
    feats, ids = _load_npy(folder / "features.npy"), read_ids_csv(folder / "ids.csv")
    if len(feats) != len(ids):
        raise FeatureImportError(
            f"{folder / 'features.npy'} holds {len(feats)} rows but {folder / 'ids.csv'} "
            f"{len(ids)} ids (blank lines and a header line are not counted)."
        )
    return SourceFeatures(feats, ids, PLAIN)


def read_source(folder: str | os.PathLike) -> SourceFeatures:
    """Read whichever of the two layouts ``folder`` holds."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FeatureImportError(f"Feature folder not found: {folder}.")
    if (folder / "img_emb").is_dir():
        return read_clip_retrieval(folder)
    if (folder / "features.npy").is_file() and (folder / "ids.csv").is_file():
        return read_plain(folder)
    raise FeatureImportError(
        f"{folder}: expected clip-retrieval output (img_emb/img_emb_N.npy + metadata/metadata_N.parquet) "
        "or features.npy + ids.csv."
    )


# --------------------------------------------------------------------------- checks and mapping
def check_dim(dim: int, embed_dim: int, model: str) -> None:
    """A clear error when the features cannot come from ``model``."""
    if dim != embed_dim:
        raise FeatureImportError(
            f"The features have dimension {dim} but model {model} embeds into {embed_dim}: "
            "they were computed with another model. Pass the --model (and --pretrained) that computed them."
        )


def bad_rows(features: np.ndarray, chunk: int = 65536) -> dict[int, str]:
    """Rows that cannot be normalised: non-finite values or all zeros."""
    out: dict[int, str] = {}
    for s in range(0, len(features), chunk):
        block = np.asarray(features[s : s + chunk], dtype=np.float32)
        for r in np.flatnonzero(~np.isfinite(block).all(axis=1)):
            out[s + int(r)] = "non-finite values (NaN or inf)"
        for r in np.flatnonzero(np.isfinite(block).all(axis=1) & ~block.any(axis=1)):
            out[s + int(r)] = "all-zero feature"
    return out


def _norm_rel(p: str) -> str | None:
    rel = posixpath.normpath(p)
    return None if rel in (".", "") or rel == ".." or rel.startswith("../") else rel


def infer_prefix(path: str, ids: set[str]) -> str | None:
    """The shortest leading part of an absolute ``path`` whose remainder is a dataset id (so the
    longest, most specific remainder wins), or None."""
    parts = path.split("/")
    for i in range(1, len(parts)):
        if "/".join(parts[i:]) in ids:
            return "/".join(parts[:i]) or "/"
    return None


def to_dataset_id(path: str, roots: tuple[str, ...], prefix: str | None) -> str | None:
    """The dataset-relative id of a source path (relative to the root, or absolute under a root or
    under ``prefix``); None for an absolute path outside them."""
    p = path.strip().replace("\\", "/")
    if not p.startswith("/"):
        return _norm_rel(p)
    p = posixpath.normpath(p)
    for base in (*roots, *([prefix] if prefix else [])):
        b = base.rstrip("/")
        if p.startswith(b + "/"):
            return _norm_rel(p[len(b) + 1 :])
    return None


def plan_import(
    paths: list[str],
    bad: dict[int, str],
    scan: ScanResult,
    given_root: str | os.PathLike,
    path_prefix: str | None = None,
) -> ImportPlan:
    """Map source rows to dataset records; every row left out gets a reason.  Pure apart from
    ``os.path.isfile`` on rows whose id is not a scanned record (to tell missing from skipped)."""
    by_id = {r.id: r for r in scan.records}
    roots = tuple(
        dict.fromkeys(posixpath.normpath(Path(x).expanduser().absolute().as_posix()) for x in (given_root, scan.root))
    )
    prefix = posixpath.normpath(path_prefix) if path_prefix else None
    ids = set(by_id)
    if prefix is None:
        outside = [p for p in paths[:1000] if p.strip().startswith("/") and to_dataset_id(p, roots, None) is None]
        for p in outside[:100]:  # the first few that match a dataset image decide the prefix
            prefix = infer_prefix(posixpath.normpath(p.strip()), ids)
            if prefix:
                log.info(
                    "Source paths are absolute outside %s; stripping the prefix %s (inferred; --path-prefix sets it).",
                    scan.root,
                    prefix,
                )
                break
    skipped = dict(scan.skipped)
    sampled = any("dataset.sample_size" in w for w in scan.warnings)
    seen: dict[str, int] = {}
    rejected: list[Rejected] = []
    for row, path in enumerate(paths):
        if row in bad:
            rejected.append(Rejected(row, path, bad[row]))
            continue
        rid = to_dataset_id(path, roots, prefix)
        if rid is None:
            rejected.append(Rejected(row, path, f"outside the dataset root {scan.root} (set --path-prefix)"))
        elif rid in seen:
            rejected.append(Rejected(row, path, f"duplicate of row {seen[rid]}"))
        elif rid in by_id:
            seen[rid] = row
        elif rid in skipped:
            rejected.append(Rejected(row, path, f"skipped by the dataset scan: {skipped[rid]}"))
        elif not (scan.root / rid).is_file():
            rejected.append(Rejected(row, path, "image missing under the dataset root"))
        elif sampled:
            rejected.append(Rejected(row, path, "not in the dataset.sample_size sample (raise dataset.sample_size)"))
        else:
            rejected.append(Rejected(row, path, "not an image the dataset scan accepts"))
    kept = [r for r in scan.records if r.id in seen]  # dataset order, as build-index writes it
    return ImportPlan(
        rows=np.array([seen[r.id] for r in kept], dtype=np.int64),
        ids=[r.id for r in kept],
        classes=[r.class_name for r in kept],
        rejected=rejected,
        unindexed=[r.id for r in scan.records if r.id not in seen],
        path_prefix=prefix,
    )


def resolve_norms(raw_norms: np.ndarray, sample_norms: np.ndarray | None) -> tuple[np.ndarray, str, str]:
    """The ``norms.npy`` to store, its kind ("raw", "estimated", "unit") and a sentence on what it means."""
    if raw_norms.size == 0 or np.abs(raw_norms - 1.0).max() > NORMALISED_TOL:
        return raw_norms.astype(np.float32), "raw", "the source features are raw: their norms are kept exactly."
    if sample_norms is not None and sample_norms.size:
        med = float(np.median(sample_norms))
        return (
            np.full(raw_norms.shape, med, np.float32),
            "estimated",
            f"the source features are L2-normalised, so raw norms are unknown; every row stores the median raw "
            f"norm {med:.4g} of {sample_norms.size} images encoded here: SEARLE's φ receives the exact direction "
            "at an approximate length.",
        )
    return (
        np.ones(raw_norms.shape, np.float32),
        "unit",
        "the source features are L2-normalised and no sample was encoded: raw norms are unknown and SEARLE's φ "
        "receives unit vectors (its results may differ from an index built here; "
        "OTI and the other methods are unaffected).",
    )


# --------------------------------------------------------------------------- writing
def _save_npy(path: Path, arr: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, arr)
    atomic_write_bytes(path, buf.getvalue())


def write_index(
    out_dir: Path, unit: np.ndarray, norms: np.ndarray, ids: list[str], classes: list[str], manifest: IndexManifest
) -> None:
    """Write the index files in ``store``'s format; the manifest goes last, so a crash leaves no index
    (the engine then builds one) rather than a mixed one.  Cached maps of the old index are removed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    old = out_dir / "manifest.json"
    if old.exists():
        log.warning("Replacing the index in %s with the imported features.", out_dir)
        old.unlink()
    for stale in out_dir.glob("map-*"):  # embedding-map caches are keyed by the index key and count, not its rows
        shutil.rmtree(stale, ignore_errors=True)
    _save_npy(out_dir / "features.npy", unit)
    _save_npy(out_dir / "norms.npy", norms)
    meta = io.StringIO()
    w = csv.writer(meta)
    w.writerow(["row", "id", "class", "path"])
    for i, (rid, cls) in enumerate(zip(ids, classes, strict=True)):
        w.writerow([i, rid, cls, rid])
    atomic_write_text(out_dir / "metadata.csv", meta.getvalue())
    from infocir.index.store import file_checksums  # the engine verifies them on load

    manifest = replace(manifest, checksums=file_checksums(out_dir))
    atomic_write_text(out_dir / "manifest.json", manifest.to_json())


def write_report(path: Path, rejected: list[Rejected], unindexed: list[str]) -> None:
    """One CSV of every source row left out and every dataset image without a feature."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["row", "path", "reason"])
    for r in rejected:
        w.writerow([r.row, r.path, r.reason])
    for i in unindexed:
        w.writerow(["", i, "dataset image without an imported feature"])
    atomic_write_text(path, buf.getvalue())


# --------------------------------------------------------------------------- the whole import
def sample_check(bundle: ClipBundle, paths: list[str], unit: np.ndarray, n: int) -> tuple[np.ndarray, float | None]:
    """Encode up to ``n`` of the images here: their raw norms, and the median cosine with the imported rows."""
    from infocir.models.encoding import ImageReadError, encode_images, l2_normalize, open_rgb

    if n <= 0 or not paths:
        return np.zeros(0, np.float32), None
    pick = np.unique(np.linspace(0, len(paths) - 1, min(n, len(paths))).round().astype(int))
    images, rows = [], []
    for r in pick:
        try:
            images.append(open_rgb(paths[r]))
            rows.append(r)
        except ImageReadError as exc:
            log.warning("Sample image %s unreadable (%s); not used for the check.", paths[r], exc)
    if not images:
        return np.zeros(0, np.float32), None
    raw = encode_images(bundle, images)
    cos = (l2_normalize(raw) * unit[rows].astype(np.float32)).sum(axis=1)
    return np.linalg.norm(raw, axis=1).astype(np.float32), float(np.median(cos))


def import_features(
    cfg: AppConfig,
    folder: str | os.PathLike,
    path_prefix: str | None = None,
    sample: int = 16,
    report: str | os.PathLike | None = None,
) -> ImportSummary:
    """Read ``folder``, check it against the configured model and dataset, and write the index the
    engine loads for ``cfg`` (``index_dir_for(cache_dir, dataset root, model name)``)."""
    from infocir.data.scan import scan_dataset
    from infocir.engine import bundle_for, resolve_dataset_root
    from infocir.index.store import index_dir_for

    src = read_source(folder)
    bundle = bundle_for(cfg)
    check_dim(int(src.features.shape[1]), bundle.embed_dim, bundle.name)
    if not cfg.dataset.root:
        raise FeatureImportError("Give the dataset folder the features describe: --dataset ROOT.")
    root = resolve_dataset_root(cfg)
    scan = scan_dataset(root, cfg.dataset.class_names_file, cfg.dataset.sample_size or None, cfg.model.seed)
    plan = plan_import(src.paths, bad_rows(src.features), scan, cfg.dataset.root, path_prefix)
    if not plan.ids:
        e = plan.rejected[0] if plan.rejected else None
        raise FeatureImportError(
            f"None of the {len(src.paths)} rows matches an image under {scan.root}"
            + (f" (row {e.row}: {e.path}: {e.reason})." if e else ".")
            + " Check --dataset, or --path-prefix for absolute paths from another machine."
        )

    feats = np.asarray(src.features[plan.rows], dtype=np.float32)
    raw_norms = np.linalg.norm(feats, axis=1).astype(np.float32)
    unit = feats / raw_norms[:, None]
    rec_path = {r.id: r.path for r in scan.records}
    sample_norms, cosine = sample_check(bundle, [rec_path[i] for i in plan.ids], unit, sample)
    notes = []
    if cosine is not None and cosine < MISMATCH_COSINE:
        raise FeatureImportError(
            f"The features do not match model {bundle.name} (pretrained {bundle.pretrained or 'random'!r}): "
            f"median cosine {cosine:.3f} with the same images encoded here. Pass the --model, --pretrained "
            "and --set model.preprocess=... that computed them, or --sample 0 to skip this check."
        )
    if cosine is not None and cosine < AGREE_COSINE:
        notes.append(
            f"warning: median cosine {cosine:.3f} with images encoded here (expected ≥ {AGREE_COSINE}): "
            f"another preprocessing (this index says {bundle.preprocess_kind}) or precision?"
        )
    if src.format == CLIP_RETRIEVAL and bundle.preprocess_kind != "clip":
        notes.append(
            f"note: clip-retrieval encodes with open_clip's resize + centre crop, but the manifest records "
            f"preprocess={bundle.preprocess_kind}; use --set model.preprocess=clip for the import and when serving."
        )
    norms, norm_kind, norm_note = resolve_norms(raw_norms, sample_norms)
    notes.append(f"norms: {norm_note}")

    out_dir = index_dir_for(cfg.cache_dir, scan.root, bundle.name)
    report_path = Path(report) if report else out_dir / "import-report.csv"
    dtype = cfg.index.dtype
    manifest = IndexManifest(
        key=IndexKey(
            model_name=bundle.name,
            weights_hash=bundle.weights_hash,
            preprocess=bundle.preprocess_id,
            dataset_fingerprint=scan.fingerprint(),
            dtype=dtype,
        ),
        dataset_root=str(scan.root),
        count=len(plan.ids),
        dim=int(unit.shape[1]),
        skipped=len(scan.skipped) + len(plan.rejected),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        source=_source_info(folder, src, plan, norm_kind, norm_note, cosine, sample_norms.size, report_path),
    )
    write_index(
        out_dir, unit.astype(np.float16 if dtype == "float16" else np.float32), norms, plan.ids, plan.classes, manifest
    )
    write_report(report_path, plan.rejected, plan.unindexed)
    for n in notes:
        log.debug(n)
    return ImportSummary(out_dir, manifest, len(src.paths), plan.rejected, plan.unindexed, report_path, notes)


def _source_info(
    folder: str | os.PathLike,
    src: SourceFeatures,
    plan: ImportPlan,
    norm_kind: str,
    norm_note: str,
    cosine: float | None,
    sampled: int,
    report_path: Path,
) -> dict[str, Any]:
    return {
        "imported_from": str(Path(folder).expanduser().absolute()),
        "format": src.format,
        "source_rows": len(src.paths),
        "rejected_rows": len(plan.rejected),
        "unindexed_images": len(plan.unindexed),
        "path_prefix": plan.path_prefix,
        "norms": norm_kind,
        "norms_note": norm_note,
        "sample_images": sampled,
        "sample_median_cosine": None if cosine is None else round(cosine, 4),
        "report": str(report_path),
    }

"""Scanning a dataset folder into image records.

Accepted layouts:
* the InfoCIR layout: one sub-folder per class plus ``class_names.csv`` (``dir_name,class_name``);
* class sub-folders without the CSV (the folder name is the class; a warning says so);
* a flat folder of images without the CSV (class "unlabelled").

Files without an image extension are skipped and reported; they never stop a scan.  The scan opens
no image: it runs at every start, also when the index already exists, and a million header reads
would take minutes.  Files that cannot be decoded or have more pixels than ``max_pixels`` are left
out (and reported) by the index build, which opens every image anyway; ``probe=True`` checks each
header here instead (a scan on its own, for a report).  Symlinks that lead outside the root follow
one rule (``dataset.symlinks``: skip, the default, or follow), shared with the image route through
``symlink_refusal``.  Image ids are the POSIX path relative to the root, so they are stable
across machines and runs.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from infocir.data.images import probe as probe_image
from infocir.errors import UserError

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
UNLABELLED = "unlabelled"


class DatasetError(UserError, ValueError):
    """The dataset folder cannot be used (message says what is wrong and how to fix it)."""


@dataclass(frozen=True)
class ImageRecord:
    id: str  # POSIX path relative to the dataset root
    path: str  # absolute path
    class_name: str


@dataclass
class ScanResult:
    root: Path
    records: list[ImageRecord]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (relative path, reason)
    warnings: list[str] = field(default_factory=list)
    fingerprint_mode: str = "stat"  # dataset.fingerprint: "stat" or "content"
    _content_hash: str | None = field(default=None, repr=False)

    @property
    def classes(self) -> list[str]:
        return sorted({r.class_name for r in self.records})

    def report(self, show: int | None = None) -> str:
        """One readable paragraph: counts, the skipped files (all of them unless ``show``), warnings."""
        lines = [f"{len(self.records)} images in {len(self.classes)} classes under {self.root}"]
        if self.skipped:
            lines.append(f"{len(self.skipped)} files skipped:")
            lines += [f"  {p} ({why})" for p, why in self.skipped[:show]]
            if show is not None and len(self.skipped) > show:
                lines.append(f"  ... and {len(self.skipped) - show} more")
        lines += self.warnings
        return "\n".join(lines)

    def fingerprint(self) -> str:
        """Changes when the folder's images change.

        "stat": ids, classes, sizes, modification times in nanoseconds, inode numbers and ctimes: an
        edit that keeps the size and the whole-second mtime (``cp -p``, ``rsync -t``) still changes the
        inode or the ctime.  "content": a SHA-256 of every file (computed once per scan), for file
        systems whose inodes or ctimes are not stable."""
        h = hashlib.sha256(f"fingerprint:{self.fingerprint_mode}\n".encode())
        if self.fingerprint_mode == "content":
            if self._content_hash is None:
                for r in self.records:
                    with open(r.path, "rb") as f:
                        digest = hashlib.file_digest(f, "sha256").hexdigest()
                    h.update(f"{r.id}\0{r.class_name}\0{digest}\n".encode())
                self._content_hash = h.hexdigest()
            return self._content_hash
        for r in self.records:
            st = os.stat(r.path)
            h.update(
                f"{r.id}\0{r.class_name}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\0{st.st_ctime_ns}\n".encode()
            )
        return h.hexdigest()


def is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def symlink_refusal(path: Path, root: Path, symlinks: str) -> str | None:
    """The one symlink rule (``dataset.symlinks``), applied by the scan and by the image route alike.

    ``path`` lies under the resolved ``root``; None when it may be indexed and served, else why not.
    Its lexical path never leaves the root (no ``..``), whatever the rule; its real location may lie
    outside only with ``symlinks = "follow"``."""
    if not is_within(Path(os.path.normpath(path)), root):
        return "outside the dataset folder"
    if symlinks == "follow" or is_within(path.resolve(), root):
        return None
    kind = "folder" if path.is_dir() else "file"
    return (
        f"symlink to a {kind} outside the dataset folder (dataset.symlinks = skip; set it to follow "
        "to index what it points to)"
    )


def read_class_names(path: Path) -> dict[str, str]:
    """``dir_name → class_name`` from a ``class_names.csv``; malformed files raise DatasetError."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or not {"dir_name", "class_name"} <= set(reader.fieldnames):
                raise DatasetError(
                    f"{path}: expected a header 'dir_name,class_name', found {reader.fieldnames}. "
                    "Fix the header or delete the file to use folder names as classes."
                )
            mapping = {}
            for i, row in enumerate(reader, start=2):
                d, c = (row.get("dir_name") or "").strip(), (row.get("class_name") or "").strip()
                if not d or not c:
                    raise DatasetError(f"{path}, line {i}: empty dir_name or class_name")
                mapping[d] = c
            return mapping
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: not a UTF-8 text file; expected CSV with columns dir_name,class_name") from None


def _walk(d: Path, root: Path, symlinks: str, ancestors: frozenset[Path], skipped: list[tuple[str, str]]):
    """Files under ``d`` (sorted, hidden names left out), symlinked folders by the rule: inside the root
    they are not entered (their images are found under their real path); outside it they are entered
    only with ``follow``, and never when the link leads back to a folder being walked (a loop)."""
    try:
        entries = sorted(os.scandir(d), key=lambda e: e.name)
    except OSError as exc:
        skipped.append((d.relative_to(root).as_posix(), f"cannot list the folder: {exc.strerror or exc}"))
        return
    for e in entries:
        if e.name.startswith("."):
            continue
        p = Path(e.path)
        rel = p.relative_to(root).as_posix()
        try:
            is_dir, is_link = e.is_dir(), e.is_symlink()
        except OSError:
            is_dir, is_link = False, e.is_symlink()
        if is_dir:
            if is_link:
                real = p.resolve()
                if is_within(real, root):
                    skipped.append(
                        (rel, "symlinked folder inside the dataset: its images are indexed under their real path")
                    )
                    continue
                refusal = symlink_refusal(p, root, symlinks)
                if refusal:
                    skipped.append((rel, refusal))
                    continue
                if real in ancestors:
                    skipped.append((rel, "symlinked folder that leads back to itself (a loop)"))
                    continue
            yield from _walk(p, root, symlinks, ancestors | {p.resolve()}, skipped)
        elif is_link and not p.exists():
            skipped.append((rel, "broken symlink"))
        else:
            yield p


def _top_level(
    root: Path,
    class_names_file: str,
    symlinks: str,
    candidates: list[tuple[Path, str]],
    skipped: list[tuple[str, str]],
) -> list[Path]:
    """Images directly in ``root`` become unlabelled candidates; returns the sub-folders (the classes)."""
    subdirs = []
    for p in sorted(p for p in root.iterdir() if not p.name.startswith(".")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink() and not p.exists():
            skipped.append((rel, "broken symlink"))
        elif p.is_dir():
            subdirs.append(p)
        elif p.is_file() and p.name != class_names_file and p.suffix.lower() in IMAGE_EXTENSIONS:
            refusal = symlink_refusal(p, root, symlinks)
            if refusal:
                skipped.append((rel, refusal))
            else:
                candidates.append((p, UNLABELLED))
    return subdirs


def _symlinked_folder_refused(d: Path, root: Path, symlinks: str) -> str | None:
    """Why a symlinked class folder is not followed (None: a plain folder, or one the symlink rule allows)."""
    if not d.is_symlink():
        return None
    if is_within(d.resolve(), root):
        return "symlinked folder inside the dataset: its images are indexed under their real path"
    return symlink_refusal(d, root, symlinks)


def _class_folder(
    d: Path,
    root: Path,
    cls: str,
    symlinks: str,
    candidates: list[tuple[Path, str]],
    skipped: list[tuple[str, str]],
) -> None:
    """Every image under the class folder ``d`` becomes a candidate of class ``cls``; the rest is skipped."""
    for p in _walk(d, root, symlinks, frozenset({root, d.resolve()}), skipped):
        rel = p.relative_to(root).as_posix()
        if p.suffix.lower() not in IMAGE_EXTENSIONS:
            skipped.append((rel, f"not an image type ({p.suffix or 'no extension'})"))
            continue
        refusal = symlink_refusal(p, root, symlinks) if p.is_symlink() else None  # (folders were checked)
        if refusal:
            skipped.append((rel, refusal))
        else:
            candidates.append((p, cls))


def sample_warning(sample_size: int, found: int) -> str:
    """The warning of a folder sampled down to ``dataset.sample_size`` images."""
    return (
        f"dataset.sample_size = {sample_size:,}: indexing a random {sample_size:,} of the {found:,} images found; "
        f"{found - sample_size:,} images are left out of the index. To index them all, run with "
        f"--set dataset.sample_size={found} (or more)."
    )


def scan_dataset(
    root: str | os.PathLike,
    class_names_file: str = "class_names.csv",
    sample_size: int | None = None,
    seed: int = 0,
    max_pixels: int | None = None,
    symlinks: str = "skip",
    fingerprint: str = "stat",
    probe: bool = False,
) -> ScanResult:
    """Walk ``root`` and return its image records (sorted by id).

    ``sample_size`` keeps a deterministic random subset when the folder holds more images (a warning
    says how many are left out); ``max_pixels`` (dataset.max_image_pixels), ``symlinks``
    (dataset.symlinks) and ``fingerprint`` (dataset.fingerprint) are the dataset settings of the same
    names.  No image is opened unless ``probe``: then each file's header is read and the files that
    are no image or over ``max_pixels`` are skipped here rather than by the build.  The fingerprint
    covers the records, so a probed scan of a folder holding such files has another fingerprint.
    """
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise DatasetError(f"Dataset folder not found: {root}. Set dataset.root (CIR_DATASET_ROOT or --dataset).")
    warnings: list[str] = []
    csv_path = root / class_names_file
    class_map = read_class_names(csv_path) if csv_path.is_file() else None

    candidates: list[tuple[Path, str]] = []
    skipped: list[tuple[str, str]] = []
    subdirs = _top_level(root, class_names_file, symlinks, candidates, skipped)
    if class_map is None and subdirs:
        warnings.append(f"{class_names_file} not found in {root}: using folder names as class names.")
    for d in subdirs:
        refusal = _symlinked_folder_refused(d, root, symlinks)
        if refusal:
            skipped.append((d.name, refusal))
            continue
        if class_map is not None and d.name not in class_map:
            warnings.append(f"folder {d.name!r} is not listed in {class_names_file}; using its name as the class.")
        _class_folder(d, root, (class_map or {}).get(d.name, d.name), symlinks, candidates, skipped)
    if class_map:
        missing = sorted(set(class_map) - {d.name for d in subdirs})
        if missing:
            warnings.append(f"{class_names_file} lists folders that do not exist: {', '.join(missing[:5])}")

    candidates.sort(key=lambda pc: pc[0].relative_to(root).as_posix())
    if sample_size is not None and len(candidates) > sample_size:
        keep = np.sort(np.random.default_rng(seed).choice(len(candidates), sample_size, replace=False))
        warnings.append(sample_warning(sample_size, len(candidates)))
        candidates = [candidates[i] for i in keep]

    records = []
    for p, cls in candidates:
        rel = p.relative_to(root).as_posix()
        reason = probe_image(p, max_pixels) if probe else None
        if reason:
            skipped.append((rel, reason))
        else:
            records.append(ImageRecord(id=rel, path=str(p), class_name=cls))
    if not records:
        raise DatasetError(
            f"No readable images found in {root} ({len(skipped)} files skipped). "
            f"Expected class sub-folders with images plus {class_names_file}, or a flat folder of images."
        )
    skipped.sort()
    result = ScanResult(root=root, records=records, skipped=skipped, warnings=warnings, fingerprint_mode=fingerprint)
    for w in warnings:
        log.warning(w)  # the skipped files are listed once, in the build report (store.index_report)
    return result

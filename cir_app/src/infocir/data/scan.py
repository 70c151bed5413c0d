"""Scanning a dataset folder into image records.

Accepted layouts:
* the InfoCIR layout: one sub-folder per class plus ``class_names.csv`` (``dir_name,class_name``);
* class sub-folders without the CSV (the folder name is the class; a warning says so);
* a flat folder of images without the CSV (class "unlabelled").

Files that are not images or cannot be opened are skipped and reported; they never
stop a scan.  Image ids are the POSIX path relative to the root, so they are stable
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

    @property
    def classes(self) -> list[str]:
        return sorted({r.class_name for r in self.records})

    def report(self, show: int = 5) -> str:
        """One readable paragraph: counts, skipped files (first few), warnings."""
        lines = [f"{len(self.records)} images in {len(self.classes)} classes under {self.root}"]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} unreadable or non-image files, e.g.:")
            lines += [f"  {p} ({why})" for p, why in self.skipped[:show]]
        lines += self.warnings
        return "\n".join(lines)

    def fingerprint(self) -> str:
        """A hash of ids, sizes and modification times: changes when the folder changes."""
        h = hashlib.sha256()
        for r in self.records:
            st = os.stat(r.path)
            h.update(f"{r.id}\0{r.class_name}\0{st.st_size}\0{int(st.st_mtime)}\n".encode())
        return h.hexdigest()


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


def _check_image(path: Path) -> str | None:
    """None if PIL can identify the file as an image, else a short reason."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.size  # header parsed
        return None
    except UnidentifiedImageError:
        return "not a recognised image"
    except OSError as exc:
        return f"cannot open: {exc.strerror or exc}"


def scan_dataset(
    root: str | os.PathLike,
    class_names_file: str = "class_names.csv",
    sample_size: int | None = None,
    seed: int = 0,
) -> ScanResult:
    """Walk ``root`` and return its image records (sorted by id).

    ``sample_size`` keeps a deterministic random subset when the folder holds more images.
    """
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise DatasetError(f"Dataset folder not found: {root}. Set dataset.root (CIR_DATASET_ROOT or --dataset).")
    warnings: list[str] = []
    csv_path = root / class_names_file
    class_map = read_class_names(csv_path) if csv_path.is_file() else None

    candidates: list[tuple[Path, str]] = []
    skipped: list[tuple[str, str]] = []
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for p in sorted(root.iterdir()):
        if p.is_file() and p.name != class_names_file and not p.name.startswith("."):
            if p.suffix.lower() in IMAGE_EXTENSIONS:
                candidates.append((p, UNLABELLED))
    if class_map is None and subdirs:
        warnings.append(f"{class_names_file} not found in {root}: using folder names as class names.")
    for d in subdirs:
        if class_map is not None and d.name not in class_map:
            warnings.append(f"folder {d.name!r} is not listed in {class_names_file}; using its name as the class.")
        cls = (class_map or {}).get(d.name, d.name)
        for dirpath, dirnames, filenames in os.walk(d):
            dirnames[:] = sorted(n for n in dirnames if not n.startswith("."))
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                p = Path(dirpath) / name
                if p.suffix.lower() in IMAGE_EXTENSIONS:
                    candidates.append((p, cls))
                else:
                    skipped.append((p.relative_to(root).as_posix(), f"not an image type ({p.suffix or 'no extension'})"))
    if class_map:
        missing = sorted(set(class_map) - {d.name for d in subdirs})
        if missing:
            warnings.append(f"{class_names_file} lists folders that do not exist: {', '.join(missing[:5])}")

    candidates.sort(key=lambda pc: pc[0].relative_to(root).as_posix())
    if sample_size is not None and len(candidates) > sample_size:
        keep = np.sort(np.random.default_rng(seed).choice(len(candidates), sample_size, replace=False))
        warnings.append(f"sampled {sample_size} of {len(candidates)} images (dataset.sample_size).")
        candidates = [candidates[i] for i in keep]

    records = []
    for p, cls in candidates:
        rel = p.relative_to(root).as_posix()
        reason = _check_image(p)
        if reason:
            skipped.append((rel, reason))
        else:
            records.append(ImageRecord(id=rel, path=str(p), class_name=cls))
    if not records:
        raise DatasetError(
            f"No readable images found in {root} ({len(skipped)} files skipped). "
            f"Expected class sub-folders with images plus {class_names_file}, or a flat folder of images."
        )
    result = ScanResult(root=root, records=records, skipped=skipped, warnings=warnings)
    for w in warnings:
        log.warning(w)
    if skipped:
        log.warning("skipped %d files, e.g. %s", len(skipped), ", ".join(p for p, _ in skipped[:3]))
    return result

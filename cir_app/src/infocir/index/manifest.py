"""Manifests: what a cache file was built from, so a mismatch is detected rather than reused."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from infocir.errors import UserError

INDEX_FORMAT_VERSION = 1


class CacheCorruptError(UserError, RuntimeError):
    """A cache file exists but cannot be read; the message names it and how to rebuild."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


@dataclass(frozen=True)
class IndexKey:
    """What determines an index's content; two builds with equal keys are interchangeable."""

    model_name: str
    weights_hash: str
    preprocess: str
    dataset_fingerprint: str
    dtype: str
    format_version: int = INDEX_FORMAT_VERSION

    def differences(self, other: IndexKey) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)]


@dataclass(frozen=True)
class IndexManifest:
    key: IndexKey
    dataset_root: str
    count: int
    dim: int
    skipped: int
    created: str
    # Where the features came from when they were not encoded by this process: for ``import-features`` the
    # source folder and format, counts, and how ``norms.npy`` was obtained; for a build on Ray Data
    # (``build-index --distributed ray``) {"encoder": "ray", ...}: actors, devices, Ray version.  Empty for a
    # build in one process.  Not part of the key: an index built either way is reused by the other.
    source: dict[str, Any] = field(default_factory=dict)
    # Images the build could not decode, [[id, reason], ...]: with the scan's skipped files they make
    # the one build report (``store.index_report``), also when the index is reused.
    failed: list[list[str]] = field(default_factory=list)
    # SHA-256 of features.npy, norms.npy and metadata.csv, verified on load: a damaged, reordered or
    # edited file is a corrupt cache, never silently wrong results.
    checksums: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def read(cls, path: Path) -> IndexManifest:
        try:
            d = json.loads(path.read_text())
            _check_types(d)
            return cls(key=IndexKey(**d.pop("key")), **d)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise CacheCorruptError(
                f"Index manifest {path} is unreadable ({exc}). "
                "Rebuild with: python cir_app/run.py build-index --rebuild"
            ) from None


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_KEY_TYPES = {
    "model_name": str,
    "weights_hash": str,
    "preprocess": str,
    "dataset_fingerprint": str,
    "dtype": str,
    "format_version": int,
}
_TYPES = {
    "key": dict,
    "dataset_root": str,
    "count": int,
    "dim": int,
    "skipped": int,
    "created": str,
    "source": dict,
    "failed": list,
    "checksums": dict,
}
_REQUIRED = {"key", "dataset_root", "count", "dim", "skipped", "created"}


def _check_types(d: Any) -> None:
    """TypeError naming the first field of a parsed manifest that is missing or of the wrong JSON type."""

    def check(obj: Any, types: dict[str, type], required: set[str], where: str) -> None:
        if not isinstance(obj, dict):
            raise TypeError(f"{where} is {type(obj).__name__}, expected an object")
        for name in sorted(required - set(obj)):
            raise TypeError(f"{where} has no {name!r}")
        for name, value in obj.items():
            want = types.get(name)
            if want is None:
                raise TypeError(f"{where} has an unknown field {name!r}")
            ok = _is_int(value) and value >= 0 if want is int else isinstance(value, want)
            if not ok:
                expected = "a non-negative integer" if want is int else want.__name__
                raise TypeError(f"{where}.{name} is {value!r}, expected {expected}")

    check(d, _TYPES, _REQUIRED, "the manifest")
    check(d["key"], _KEY_TYPES, set(_KEY_TYPES) - {"format_version"}, "the manifest's key")
    if not all(isinstance(f, list) and len(f) == 2 and all(isinstance(x, str) for x in f) for f in d.get("failed", [])):
        raise TypeError("the manifest's failed list is not [[id, reason], ...]")
    if not all(isinstance(v, str) for v in d.get("checksums", {}).values()):
        raise TypeError("the manifest's checksums are not strings")

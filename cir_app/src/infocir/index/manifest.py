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

    def differences(self, other: "IndexKey") -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)]


@dataclass(frozen=True)
class IndexManifest:
    key: IndexKey
    dataset_root: str
    count: int
    dim: int
    skipped: int
    created: str
    # Where the features came from when they were not encoded here (``import-features``): the
    # source folder and format, counts, and how ``norms.npy`` was obtained.  Empty for a build.
    source: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def read(cls, path: Path) -> "IndexManifest":
        try:
            d = json.loads(path.read_text())
            return cls(key=IndexKey(**d.pop("key")), **d)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise CacheCorruptError(
                f"Index manifest {path} is unreadable ({exc}). Rebuild with: python cir_app/run.py build-index --rebuild"
            ) from None

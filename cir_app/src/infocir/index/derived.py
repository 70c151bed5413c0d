"""Files derived from the index's features (a FAISS index, binary hash codes), kept beside them.

Each file has a JSON manifest next to it: what built it (backend, parameters) and from which features (their
SHA-256 from the index manifest, shape).  The file's name carries a hash of that manifest, so several settings
coexist; a file whose manifest differs, or that cannot be read, is rebuilt with the reason in the log.  Writing
is atomic (a temporary file, then a rename), and a cache folder that cannot be written only costs a rebuild
next time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

# (index folder, SHA-256 of the features the derived file must come from), as the engine passes it
Cache = tuple[Path, str]


def derived_meta(backend: str, features: Any, cache: Cache | None, **settings: Any) -> dict:
    """The manifest of a file derived from ``features``: the backend, its build settings, the features' shape
    and their checksum (what ``load_derived`` compares)."""
    rows, dim = features.shape
    meta = {"backend": backend, **settings, "rows": int(rows), "dim": int(dim)}
    meta["features_sha256"] = cache[1] if cache else ""
    return meta


def derived_path(cache: Cache | None, folder: str, name: str, meta: dict, suffix: str) -> Path | None:
    """``<index>/<folder>/<name>-<hash of meta><suffix>``, or None when there is no cache (or no checksum to tie
    the file to its features)."""
    if cache is None or not cache[1]:
        return None
    key = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:16]
    return Path(cache[0]) / folder / f"{name}-{key}{suffix}"


def load_derived(path: Path | None, meta: dict, read: Callable[[Path], T], what: str) -> T | None:
    """``read(path)`` when the file exists and its manifest is ``meta``; None (rebuild) otherwise."""
    if path is None:
        return None
    side = path.with_suffix(".json")
    if not path.is_file() or not side.is_file():
        return None
    try:
        if json.loads(side.read_text()) != meta:
            log.info("%s %s was built from other features or parameters: rebuilding.", what, path)
            return None
        value = read(path)
    except (OSError, ValueError, RuntimeError) as exc:
        log.warning("%s %s is unreadable (%s): rebuilding.", what, path, exc)
        return None
    log.info("%s reused: %s", what, path)
    return value


def save_derived(path: Path | None, meta: dict, write: Callable[[Path], Any], what: str) -> None:
    """``write(tmp)`` then rename to ``path``, and the manifest beside it."""
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")
        write(tmp)
        os.replace(tmp, path)
        path.with_suffix(".json").write_text(json.dumps(meta, indent=1, sort_keys=True))
    except (OSError, RuntimeError) as exc:  # a read-only cache folder: the backend still works, unsaved
        log.warning("%s could not be saved to %s (%s); it will be rebuilt next time.", what, path, exc)

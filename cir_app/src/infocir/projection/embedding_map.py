"""The 2-D map of the whole dataset (panel D): fit once per index, cache, place queries.

Pipeline (each step optional, from ``UMAPConfig``):
1. style debiasing: remove the mean style direction (styles corpus − subjects corpus text
   features) from every image feature, so the map groups by content more than by style;
2. PCA pre-reduction to ``pca_components`` dimensions;
3. UMAP (``n_neighbors``, ``min_dist``, ``spread``, ``local_connectivity``, ``n_epochs``,
   ``metric``) — or FastICA to 2-D when ``alternative_projection = "ica"``.

Above ``fit_sample`` images the reducer is fitted on a random sample and the other images are
placed with its ``transform`` in chunks (fitting UMAP on all of 1M images took ~10-12 min and
~5 GB).  The fitted reducer is kept, so a composed query is placed with the same ``transform`` as
the data (never by rescaling).  umap-learn compiles with numba on first import (~12 s):
it is imported lazily, inside the fit, never at module import.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import pickle
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from infocir.config import UMAPConfig
from infocir.index.manifest import CacheCorruptError, atomic_write_bytes, atomic_write_text
from infocir.models.encoding import l2_normalize

log = logging.getLogger(__name__)
MAP_FORMAT_VERSION = 1


@dataclass
class EmbeddingMap:
    """2-D coordinates of every indexed image and the fitted reducer that made them."""

    coords: np.ndarray  # float32 [N, 2]
    style_direction: np.ndarray | None  # unit [D] removed before reduction, or None
    pca: Any | None  # fitted sklearn PCA or None (sklearn and umap are untyped)
    reducer: Any  # fitted umap.UMAP or sklearn FastICA

    def _prepare(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, np.float32))
        if self.style_direction is not None:
            x = x - np.outer(x @ self.style_direction, self.style_direction)
        x = l2_normalize(x)
        return self.pca.transform(x) if self.pca is not None else x

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        """Place new unit vectors [m, D] (e.g. the composed query) on the map → [m, 2]."""
        return np.asarray(self.reducer.transform(self._prepare(vectors)), np.float32)


def style_direction(encode_text, subjects: list[str], styles: list[str]) -> np.ndarray:
    """Unit vector from the subjects' mean text feature to the styles' mean text feature."""
    s = l2_normalize(encode_text(styles)).mean(0) - l2_normalize(encode_text(subjects)).mean(0)
    return (s / max(np.linalg.norm(s), 1e-12)).astype(np.float32)


ProgressFn = Callable[[str], None]
PLACE_CHUNK = 20_000  # rows placed per transform call: a float32 chunk, and a progress step


def fit_rows(n: int, cfg: UMAPConfig) -> np.ndarray | None:
    """The rows the reducer is fitted on: a sorted, deterministic random sample of ``cfg.fit_sample`` rows
    (seeded by ``cfg.random_state``) when there are more rows than that; None: every row."""
    if not cfg.fit_sample or n <= cfg.fit_sample:
        return None
    rng = np.random.default_rng(cfg.random_state)
    return np.sort(rng.choice(n, size=cfg.fit_sample, replace=False))


def _float32_rows(features: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """A float32 copy of ``features`` (all rows, or ``rows``): never a view of the index, which is read-only."""
    return np.array(features if rows is None else features[rows], dtype=np.float32)


def fit_map(
    features: np.ndarray,
    cfg: UMAPConfig,
    style_dir: np.ndarray | None = None,
    progress: ProgressFn | None = None,
    chunk: int = PLACE_CHUNK,
) -> EmbeddingMap:
    """Fit the map on unit features [N, D] (float16 or float32, possibly a read-only memmap).

    With more than ``cfg.fit_sample`` rows, the reducer (PCA, then UMAP or ICA) is fitted on a random sample
    of that many rows and every other row is placed with the fitted reducer's ``transform``, ``chunk`` rows at
    a time: the same reducer that places a query, so all coordinates share one space.  Only the sample (or,
    with ``fit_sample = 0`` or a small index, the whole matrix) is held as float32 at once.  ``progress``
    receives a short message per step ("fitting a sample of …", "placing rows i/N")."""
    say = progress or (lambda _msg: None)
    n = len(features)
    sample = fit_rows(n, cfg)
    if sample is not None:
        say(f"fitting a sample of {len(sample):,} of {n:,} images")
    x = _float32_rows(features, sample)
    if style_dir is not None:
        x = l2_normalize(x - np.outer(x @ style_dir, style_dir))
    pca = None
    if cfg.pca_components and cfg.pca_components < x.shape[1] and len(x) > cfg.pca_components:
        from sklearn.decomposition import PCA

        pca = PCA(n_components=cfg.pca_components, random_state=cfg.random_state).fit(x)
        x = pca.transform(x)
    if cfg.alternative_projection == "ica":
        from sklearn.decomposition import FastICA

        reducer = FastICA(n_components=2, random_state=cfg.random_state, max_iter=500)
        fitted = reducer.fit_transform(x)
    else:
        import umap  # lazy: numba compiles on first import

        reducer = umap.UMAP(
            n_components=2,
            n_neighbors=min(cfg.n_neighbors, max(2, len(x) - 1)),
            min_dist=cfg.min_dist,
            spread=max(cfg.spread, cfg.min_dist + 1e-3),
            local_connectivity=cfg.local_connectivity,
            n_epochs=cfg.n_epochs,
            metric=cfg.metric,
            random_state=cfg.random_state,
            n_jobs=1,
        )
        fitted = reducer.fit_transform(x)
    del x
    m = EmbeddingMap(np.asarray(fitted, np.float32), style_dir, pca, reducer)
    if sample is None:
        return m
    coords = np.empty((n, 2), np.float32)
    coords[sample] = m.coords
    rest = np.setdiff1d(np.arange(n), sample, assume_unique=True)
    done = len(sample)
    for s in range(0, len(rest), max(1, chunk)):
        rows = rest[s : s + max(1, chunk)]
        say(f"placing rows {done:,}/{n:,}")
        coords[rows] = m.transform(_float32_rows(features, rows))
        done += len(rows)
    m.coords = coords
    return m


def map_key(index_manifest, cfg: UMAPConfig) -> dict:
    return {
        "index": asdict(index_manifest.key),
        "count": index_manifest.count,
        "umap": asdict(cfg),
        "format_version": MAP_FORMAT_VERSION,
    }


def map_dir(index_dir: Path, cfg: UMAPConfig) -> Path:
    tag = hashlib.sha256(json.dumps(asdict(cfg), sort_keys=True).encode()).hexdigest()[:10]
    return index_dir / f"map-{tag}"


def save_map(m: EmbeddingMap, out: Path, key: dict) -> None:
    buf = io.BytesIO()
    np.save(buf, m.coords)
    atomic_write_bytes(out / "coords.npy", buf.getvalue())
    atomic_write_bytes(
        out / "reducer.pkl", pickle.dumps({"style": m.style_direction, "pca": m.pca, "reducer": m.reducer})
    )
    atomic_write_text(out / "manifest.json", json.dumps(key, indent=1))  # last: marks a complete map


def load_map(out: Path, key: dict, n_rows: int | None = None) -> EmbeddingMap | None:
    """The cached map if its manifest matches ``key``; None if absent or stale; CacheCorruptError if
    unreadable or if its coordinates do not fit the index (``n_rows`` finite rows of two, default the
    key's count)."""
    manifest = out / "manifest.json"
    if not manifest.exists():
        return None
    try:
        if json.loads(manifest.read_text()) != json.loads(json.dumps(key)):
            log.info("Cached map in %s was made with other settings; refitting.", out)
            return None
        coords = np.load(out / "coords.npy", allow_pickle=False)
        state = pickle.loads((out / "reducer.pkl").read_bytes())
        style, pca, reducer = state["style"], state["pca"], state["reducer"]
    except (
        OSError,
        ValueError,
        EOFError,
        pickle.UnpicklingError,
        AttributeError,
        ImportError,
        KeyError,
        TypeError,
    ) as exc:
        raise CacheCorruptError(
            f"Map cache in {out} is unreadable ({exc}). Delete that folder to refit the map."
        ) from None
    n = key.get("count") if n_rows is None else n_rows
    finite = coords.dtype.kind in "fiu" and bool(np.isfinite(coords).all())
    if coords.shape != (n, 2) or not finite:
        raise CacheCorruptError(
            f"Map cache in {out} does not fit the index of {n} images (coordinates of shape "
            f"{coords.shape}{'' if finite else ', not all finite'})."
        )
    return EmbeddingMap(np.asarray(coords, np.float32), style, pca, reducer)


class MapService:
    """Fits the map in a background thread on first use; the page polls ``status()``.

    One per engine (read-only after fitting, shared by all sessions).
    """

    def __init__(self, engine, cfg: UMAPConfig, out: Path):
        self.engine, self.cfg, self.out = engine, cfg, out
        self._map: EmbeddingMap | None = None
        self._error = ""
        self._step = ""  # what the fit is doing now ("fitting a sample of …", "placing rows i/N"), for the page
        self._started = 0.0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def key(self) -> dict:
        return map_key(self.engine.index.manifest, self.cfg)

    def start(self) -> None:
        """Load the cached map or fit it, in a background thread (idempotent)."""
        with self._lock:
            if self._thread is not None:
                return
            self._started = time.time()
            self._thread = threading.Thread(target=self._load_or_fit, name="embedding-map", daemon=True)
            self._thread.start()

    def _load_or_fit(self) -> None:
        try:
            m = None
            try:
                m = load_map(self.out, self.key, len(self.engine.index))
            except CacheCorruptError as exc:  # damaged, or fewer rows than the index: a map that cannot be drawn
                log.warning("%s Refitting the map.", exc)
            if m is None:
                style = None
                if self.cfg.style_debiasing:
                    from infocir.data.corpora import read_corpus

                    basic = self.engine.config.basic
                    style = style_direction(
                        self.engine.encode_text, read_corpus(basic.positive_corpus), read_corpus(basic.negative_corpus)
                    )
                log.info("Fitting the 2-D map of %d images (first start only)...", len(self.engine.index))
                # fit_map holds as float32 only the rows it fits on (a sample above cfg.fit_sample), then
                # places the rest chunk by chunk from the (memory-mapped, float16) index.
                m = fit_map(self.engine.index.features, self.cfg, style, progress=self._report)
                self._report("saving the map")
                save_map(m, self.out, self.key)
            # The first transform compiles numba code (seconds): do it here, not in a request.
            m.transform(np.array(self.engine.index.features[:1], np.float32))  # a copy, never a view of the index
            self._map = m
            log.info("Map ready in %.0fs.", time.time() - self._started)
        except Exception as exc:  # reported in the page; the rest of the app keeps working
            log.exception("map fitting failed")
            self._error = f"The embedding map could not be computed: {exc}"

    def _report(self, step: str) -> None:
        self._step = step
        log.info("Map: %s (%.0fs)", step, time.time() - self._started)

    def wait(self, timeout: float | None = None) -> EmbeddingMap | None:
        self.start()
        if self._thread is not None:
            self._thread.join(timeout)
        return self._map

    def status(self) -> tuple[str, str]:
        """("ready" | "fitting" | "error", a message for the page)."""
        if self._map is not None:
            return "ready", ""
        if self._error:
            return "error", self._error
        step = f"{self._step}, " if self._step else ""
        return (
            "fitting",
            f"The map of {len(self.engine.index):,} images is being built "
            f"({step}first start only, {time.time() - self._started:.0f}s so far)…",
        )

    @property
    def map(self) -> EmbeddingMap | None:
        return self._map

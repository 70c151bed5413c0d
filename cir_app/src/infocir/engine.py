"""RetrievalEngine: the one object the UI, the CLI and scripts use.

    from infocir.config import load_config
    from infocir.engine import RetrievalEngine
    engine = RetrievalEngine.from_config(load_config())
    result = engine.search("star/star_00042.png", "make it red", k=10, method="average")

It resolves the dataset (generating the demo world when none is configured), loads
the CLIP model once per process, builds or reuses the feature index, and runs the
registered CIR methods.  It never imports Dash.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from infocir.cache import BoundedCache
from infocir.config import AppConfig, ConfigError, apply_overrides
from infocir.data.images import to_rgb
from infocir.data.scan import ScanResult, scan_dataset
from infocir.errors import UserError
from infocir.index.backends import SearchBackend, create_backend
from infocir.index.expansion import CollectionExpansion, apply_expansion
from infocir.index.store import FeatureIndex, index_dir_for, index_report, load_or_build
from infocir.methods.base import Composition, MethodContext, Query
from infocir.methods.registry import MethodInfo, create_method, list_methods
from infocir.models.encoders import ASSET_DIR, ClipBundle, ModelLoadError, load_clip
from infocir.models.encoding import encode_images, encode_texts, open_rgb
from infocir.plugins import check_plugin_names

log = logging.getLogger(__name__)
# the configuration sections a single query may set (the page's method settings): what the methods read per query
QUERY_SETTING_SECTIONS = ("basic", "feedback", "two_phase")

Reference = str | Image.Image | bytes | None
DEMO_MODEL = "InfoCIR-Demo-ViT"


class QueryError(UserError, ValueError):
    """A query cannot be answered as given (unknown reference id, empty text for a method that needs it, ...)."""


def resolve_dataset_root(cfg: AppConfig) -> Path:
    """The configured dataset folder, or the demo world (generated on first use) when none is set."""
    if cfg.dataset.root:
        return Path(cfg.dataset.root).expanduser().resolve()
    from infocir.data.demo_world import DemoWorldSpec, ensure_demo_dataset

    return ensure_demo_dataset(cfg.cache_dir / "demo_world", DemoWorldSpec(replicates=cfg.dataset.demo_replicates))


def resolve_pretrained(cfg: AppConfig) -> str:
    """Map ``model.pretrained`` to what open_clip understands ("demo" → the committed weights)."""
    if cfg.model.pretrained != "demo":
        return cfg.model.pretrained
    weights = ASSET_DIR / f"{cfg.model.name}.pt"
    if weights.is_file():
        return str(weights)
    if cfg.model.name == DEMO_MODEL:
        log.warning("Demo weights %s are missing: using randomly initialised placeholder weights.", weights)
        return ""
    raise ModelLoadError(
        f"model.pretrained='demo' only applies to {DEMO_MODEL}; for {cfg.model.name!r} give a checkpoint path "
        "or an open_clip tag (e.g. 'openai', needs internet)."
    )


@functools.lru_cache(maxsize=4)
def _cached_bundle(
    name: str,
    pretrained: str,
    preprocess: str,
    device: str,
    seed: int,
    config_dirs: tuple[str, ...],
    precision: str,
    targetpad_ratio: float,
    quick_gelu: str,
) -> ClipBundle:
    # Heavy: one model per distinct configuration per process, shared (read-only) by all sessions.
    return load_clip(name, pretrained, preprocess, device, seed, config_dirs, precision, targetpad_ratio, quick_gelu)


def use_query_threads(cfg: AppConfig) -> int:
    """Set torch's intra-op threads and numpy's BLAS threads for answering queries (``model.query_threads``; 0
    leaves both defaults).  Called by ``serve`` and ``search`` after the index is ready.  Returns the count in use.

    BLAS too: the exact backend's matrix product on two OpenBLAS threads took a scheduler slice (~8 ms) per
    query as soon as another process used a core, as torch's threads did."""
    import torch

    if cfg.model.query_threads > 0:
        torch.set_num_threads(cfg.model.query_threads)
        try:
            from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
        except ImportError:  # (comes with scikit-learn; without it BLAS keeps its default)
            pass
        else:
            threadpool_limits(limits=cfg.model.query_threads, user_api="blas")
    n = torch.get_num_threads()
    log.info("Queries run on %d torch thread(s) (model.query_threads=%d).", n, cfg.model.query_threads)
    return n


def bundle_for(cfg: AppConfig) -> ClipBundle:
    """The (cached) CLIP model of a configuration."""
    m = cfg.model
    return _cached_bundle(
        m.name,
        resolve_pretrained(cfg),
        m.preprocess,
        m.device,
        m.seed,
        tuple(m.config_dirs),
        m.precision,
        m.targetpad_ratio,
        m.quick_gelu,
    )


@dataclass
class SearchResult:
    """A ranked answer. Arrays are aligned: position i is rank i+1."""

    rows: np.ndarray  # int64 [k] index rows
    ids: list[str]
    scores: np.ndarray  # float32 [k]
    paths: list[str]
    classes: list[str]
    method: str
    text: str
    reference_id: str | None
    query_vector: np.ndarray | None = None  # unit [D] when the method composes one vector
    elapsed_ms: float = 0.0
    composition: Composition | None = field(default=None, repr=False)

    @property
    def all_scores(self) -> np.ndarray | None:
        """float32 [N]: every image's (exact) score, for metrics over the whole index.  Computed on first use
        for a vector method (the search itself asked the backend for the top k only)."""
        return None if self.composition is None else self.composition.scores

    def scores_at(self, rows: np.ndarray) -> np.ndarray | None:
        """The (exact) scores of some index rows (e.g. the user's ideals), without scoring the whole index."""
        return None if self.composition is None else self.composition.scores_at(rows)

    def table(self) -> list[dict[str, Any]]:
        return [
            {"rank": i + 1, "id": self.ids[i], "score": float(self.scores[i]), "class": self.classes[i]}
            for i in range(len(self.ids))
        ]


class RetrievalEngine:
    """Facade over dataset, model, index and methods."""

    def __init__(
        self,
        config: AppConfig,
        bundle: ClipBundle,
        scan: ScanResult,
        index: FeatureIndex,
        index_dir: Path | None = None,
    ):
        """``index_dir``: the index's folder, where a FAISS index is kept beside the features."""
        self.config = config
        self.bundle = bundle
        self.scan = scan
        self.index = index
        self.backend = create_backend(
            config.retrieval.backend,
            index.features,
            bundle,
            config,
            cache=self._derived_cache(index_dir),
        )
        self._index_dir = index_dir
        self._other_backends: dict[str, SearchBackend] = {}
        self._backends_lock = threading.Lock()
        self._text_cache: BoundedCache[np.ndarray] = BoundedCache(2048)  # re-used across sessions and prompts
        self._image_cache: BoundedCache[np.ndarray] = BoundedCache(256)
        self.context = MethodContext(
            bundle=bundle, index=index, backend=self.backend, encode_text=self.encode_text, config=config
        )

    def _derived_cache(self, index_dir: Path | None) -> tuple[Path, str] | None:
        return (index_dir, self.index.manifest.checksums.get("features.npy", "")) if index_dir else None

    def search_backend(self, name: str | None = None) -> SearchBackend:
        """The engine's backend (``retrieval.backend``), or another one by name for single queries (e.g.
        ``hashing`` chosen on the page): built on first use, then kept for every session."""
        if not name or name in ("auto", self.backend.name):
            return self.backend
        with self._backends_lock:  # two sessions asking at once build it once
            if name not in self._other_backends:
                self._other_backends[name] = create_backend(
                    name, self.index.features, self.bundle, self.config, cache=self._derived_cache(self._index_dir)
                )
            return self._other_backends[name]

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_config(
        cls,
        config: AppConfig,
        rebuild: bool = False,
        progress: bool = True,
        builder: Callable[..., Any] | None = None,
    ) -> RetrievalEngine:
        """Resolve the dataset, load the model, and load or build the index (``builder``: see ``load_or_build``;
        ``build-index --distributed ray`` passes Ray Data's)."""
        check_plugin_names(config)
        bundle = bundle_for(config)  # first: a model or device that cannot load fails before any scan
        root = resolve_dataset_root(config)
        ds = config.dataset
        scan = scan_dataset(
            root,
            ds.class_names_file,
            ds.sample_size or None,
            config.model.seed,
            ds.max_image_pixels,
            ds.symlinks,
            ds.fingerprint,
        )
        out_dir = index_dir_for(config.cache_dir, scan.root, bundle.name)
        index = load_or_build(
            bundle,
            scan,
            out_dir,
            config.index.dtype,
            config.index.batch_size,
            config.index.chunk_size,
            rebuild,
            progress,
            config.index.num_workers,
            ds.max_image_pixels,
            builder,
        )
        engine = cls(config, bundle, scan, index, out_dir)
        (log.warning if len(scan.records) > len(index) or scan.skipped else log.info)(engine.report())
        return engine

    def report(self) -> str:
        """The build report: images indexed and every skipped file, listed once (``store.index_report``)."""
        return index_report(self.scan, self.index)

    # ----------------------------------------------------------------- encoding
    def encode_text(self, texts: list[str]) -> np.ndarray:
        """Raw text features [n, D], cached per text."""
        if not texts:
            return np.zeros((0, self.index.dim), np.float32)
        found: dict[str, np.ndarray] = {}
        for t in dict.fromkeys(texts):
            cached = self._text_cache.get(t)
            if cached is not None:
                found[t] = cached
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            for t, f in zip(missing, encode_texts(self.bundle, missing), strict=True):
                self._text_cache.put(t, f)
                found[t] = f  # (kept here too: more texts than the cache holds would evict some)
        return np.stack([found[t] for t in texts])

    def encode_image(self, image: Image.Image) -> np.ndarray:
        """Raw image feature [D] of an image that is not (necessarily) in the dataset."""
        return encode_images(self.bundle, [image])[0]

    # ----------------------------------------------------------------- queries
    def methods(self) -> list[MethodInfo]:
        """Registered methods with their availability for this engine."""
        return list_methods(self.context)

    def build_query(self, reference: Reference, text: str) -> tuple[Query, str | None]:
        """Turn a reference (dataset id, PIL image, image bytes, or None) and a text into a Query."""
        if reference is None:
            return Query(text=text), None
        if isinstance(reference, str):
            row = self.index.row_of.get(reference)
            if row is None:
                raise QueryError(f"Unknown reference image id {reference!r}: not in the indexed dataset.")
            return Query(
                text=text,
                reference_raw=self.index.raw_feature(row),
                reference_row=row,
                reference_key=self.reference_key(reference),
            ), reference
        key = self.reference_key(reference)
        image = self.reference_image(reference)
        raw = self._image_cache.get(key)
        if raw is None:
            raw = self.encode_image(image)
            self._image_cache.put(key, raw)
        return Query(text=text, reference_raw=raw, reference_image=image, reference_key=key), None

    @staticmethod
    def reference_key(reference: Reference) -> str:
        """The stable identity of a reference, the key of every per-reference cache: "id:<dataset id>",
        or "upload:"/"image:" plus a content hash for image bytes and PIL images.  No decoding, no I/O."""
        if isinstance(reference, str):
            return f"id:{reference}"
        if isinstance(reference, (bytes, bytearray)):
            return "upload:" + hashlib.sha256(reference).hexdigest()[:16]
        if isinstance(reference, Image.Image):
            return "image:" + hashlib.sha256(reference.convert("RGB").tobytes()).hexdigest()[:16]
        raise QueryError(f"A reference must be a dataset id, an image or image bytes, not {type(reference).__name__}.")

    def reference_image(self, reference: Reference) -> Image.Image:
        """The RGB image of a reference (dataset id, PIL image or image bytes)."""
        if isinstance(reference, str):
            row = self.index.row_of.get(reference)
            if row is None:
                raise QueryError(f"Unknown reference image id {reference!r}: not in the indexed dataset.")
            return open_rgb(self.index.paths[row], self.config.dataset.max_image_pixels)
        if isinstance(reference, (bytes, bytearray)):
            return open_rgb(io.BytesIO(reference), self.config.ui.max_upload_pixels, "ui.max_upload_pixels")
        if isinstance(reference, Image.Image):
            return to_rgb(reference)  # upright and flattened, as open_rgb does for files
        raise QueryError(f"A reference must be a dataset id, an image or image bytes, not {type(reference).__name__}.")

    def compose(
        self,
        reference: Reference,
        text: str,
        method: str | None = None,
        settings: Mapping[str, Any] | None = None,
        expansion: bool | CollectionExpansion | None = None,
        **params: Any,
    ) -> Composition:
        """Scores over the whole index (and the composed vector, if any) for a query; ``settings``: per-query
        values of the method sections of the configuration (``context_for``); ``expansion``: as ``search``'s, or a
        prepared ``CollectionExpansion`` (an evaluation's held-out captions)."""
        return self._compose(reference, text, method, settings, expansion, **params)[0]

    def context_for(self, settings: Mapping[str, Any] | None) -> MethodContext:
        """The methods' context with per-query ``settings`` (``{"basic.harris_lambda": 0.2}``; only the sections in
        ``QUERY_SETTING_SECTIONS``), checked as the configuration checks them; the engine's own without.  The caches
        are shared: a method keys what depends on its settings by them (BASIC by its whole section)."""
        if not settings:
            return self.context
        for key in settings:
            if key.partition(".")[0] not in QUERY_SETTING_SECTIONS:
                raise ConfigError(
                    f"{key}: a query can set only {', '.join(s + '.*' for s in QUERY_SETTING_SECTIONS)}; the rest "
                    "of the configuration is the server's"
                )
        return replace(self.context, config=apply_overrides(self.config, settings))

    def _compose(
        self,
        reference: Reference,
        text: str,
        method: str | None,
        settings: Mapping[str, Any] | None = None,
        expansion: bool | CollectionExpansion | None = None,
        **params,
    ) -> tuple[Composition, str | None]:
        m = create_method(method or self.config.retrieval.method, **params)
        ctx = self.context_for(settings)
        query, ref_id = self.build_query(reference, text)
        m.check(ctx, query)
        return apply_expansion(self, m.score(ctx, query), expansion, m.name), ref_id

    def check_k(self, k: Any) -> int:
        """``k`` as an int: None means retrieval.default_k; anything but a whole number ≥ 1 is a QueryError
        (0 is not "the default", 1.5 is not 1).  More than the index holds returns every image."""
        if k is None:
            return self.config.retrieval.default_k
        whole = isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_))
        if not whole and isinstance(k, (float, np.floating)) and np.isfinite(k) and float(k).is_integer():
            whole, k = True, int(k)
        if not whole or k < 1:
            raise QueryError(
                f"k must be a whole number of at least 1 (got {k!r}); larger than the index "
                f"({len(self.index)} images) returns them all, empty uses retrieval.default_k "
                f"({self.config.retrieval.default_k})."
            )
        return int(k)

    def reference_row(self, reference: Reference) -> int | None:
        """The index row a reference occupies: its row for a dataset id, None for an image from outside
        the index (an upload, a PIL image) or no reference.  The one rule for leaving the reference out
        of its own ranking, shared by ``search(exclude_reference=True)`` and the evaluation harness."""
        return self.index.row_of.get(reference) if isinstance(reference, str) else None

    def search(
        self,
        reference: Reference,
        text: str,
        k: int | None = None,
        method: str | None = None,
        allowed: np.ndarray | None = None,
        exclude_reference: bool = False,
        backend: str | None = None,
        settings: Mapping[str, Any] | None = None,
        expansion: bool | None = None,
        **params: Any,
    ) -> SearchResult:
        """Top-k images for a reference + modification text with a registered method.

        ``exclude_reference`` drops a dataset-id reference's own row from the ranking (``reference_row``),
        as the evaluation does; the dashboard's switch for it starts at ``retrieval.exclude_reference``.
        ``backend`` names another search backend for this query's top k (``search_backend``); ``settings`` are
        per-query values of the methods' configuration sections (``context_for``).  ``expansion``: collection
        expansion (``index.expansion``; None: ``retrieval.expansion``), each image at most once, scored by the
        better of its picture and its captions.  ``all_scores`` still holds every image's score."""
        k = self.check_k(k)
        name = method or self.config.retrieval.method
        t0 = time.perf_counter()
        comp, ref_id = self._compose(reference, text, name, settings, expansion, **params)
        row = self.reference_row(reference) if exclude_reference else None
        rows, scores = comp.top(k, allowed, exclude=() if row is None else (row,), backend=self.search_backend(backend))
        return SearchResult(
            rows=rows,
            ids=[self.index.ids[r] for r in rows],
            scores=scores.astype(np.float32),
            paths=[self.index.paths[r] for r in rows],
            classes=[self.index.classes[r] for r in rows],
            method=name,
            text=text,
            reference_id=ref_id,
            query_vector=comp.query_vector,
            elapsed_ms=(time.perf_counter() - t0) * 1000,
            composition=comp,
        )

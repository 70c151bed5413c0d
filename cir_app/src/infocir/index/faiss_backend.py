"""FAISS search backends (``pip install 'infocir[faiss]'``): flat, IVF and HNSW indexes over the unit features,
inner product (= cosine).  Imported only when ``retrieval.backend`` names one of them (or ``auto`` picks one).

Vectors are stored as float16 scalars (``SQfp16``) unless IVF-PQ is asked for: the index on disk already holds
float16 features, so the flat index is exact for them and takes half the memory of ``IndexFlatIP``.  A built
index is written beside the features (``<index dir>/faiss/``) with a small JSON manifest (backend, parameters,
the features' checksum, shape; ``index/derived.py``) and reused while all of them match; otherwise it is
rebuilt, with the reason in the log.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from infocir.index.backends import SearchBackend
from infocir.index.derived import Cache, derived_meta, derived_path, load_derived, save_derived
from infocir.index.store import feature_blocks

if TYPE_CHECKING:
    from infocir.config import AppConfig, FaissConfig

log = logging.getLogger(__name__)


def ivf_cells(n: int, nlist: int) -> int:
    """IVF cells: ``faiss.nlist`` when set, else about 4·√N (FAISS's guideline), at most N/39 (FAISS wants
    ≥ 39 training points per cell) and at least 1."""
    cells = nlist or int(round(4 * math.sqrt(n)))
    return max(1, min(cells, n // 39 if n >= 39 else 1))


def factory_string(kind: str, n: int, dim: int, p: FaissConfig) -> str:
    """The ``faiss.index_factory`` description of a backend for N vectors of dimension ``dim``."""
    if kind == "flat":
        return "SQfp16"
    if kind == "hnsw":
        return f"HNSW{p.hnsw_m},SQfp16"
    if kind == "ivf":
        if p.pq_m:
            if dim % p.pq_m:
                from infocir.config import ConfigError

                raise ConfigError(f"faiss.pq_m={p.pq_m} must divide the feature dimension {dim}")
            return f"IVF{ivf_cells(n, p.nlist)},PQ{p.pq_m}"
        return f"IVF{ivf_cells(n, p.nlist)},SQfp16"
    raise ValueError(f"unknown FAISS index kind {kind!r}")


class FaissBackend(SearchBackend):
    """A FAISS index over the features; ``similarities`` stays exact (blockwise over the features)."""

    kind = ""

    def __init__(
        self,
        features: np.ndarray,
        bundle: Any = None,
        config: AppConfig | None = None,
        cache: Cache | None = None,
    ):
        import faiss

        from infocir.config import FaissConfig

        self.features = features
        self.params = config.faiss if config is not None else FaissConfig()
        n, dim = features.shape
        self.spec = factory_string(self.kind, n, dim, self.params)
        path, meta = self._cache_paths(cache, n, dim)
        loaded = self._load(path, meta) if path is not None else None
        self.index: Any = loaded if loaded is not None else self._build(faiss, n, dim)
        if loaded is None and path is not None:
            self._save(faiss, path, meta)
        self._tune(faiss)

    # ------------------------------------------------------------------ building and caching
    def _cache_paths(self, cache: Cache | None, n: int, dim: int) -> tuple[Path | None, dict]:
        build = {"ef_construction": self.params.ef_construction, "train_size": self.params.train_size}
        meta = derived_meta(self.name, self.features, cache, factory=self.spec, build=build)
        return derived_path(cache, "faiss", self.name, meta, ".faiss"), meta

    def _load(self, path: Path, meta: dict):
        import faiss

        def read(p: Path):
            index = faiss.read_index(str(p))
            if index.ntotal != meta["rows"] or index.d != meta["dim"]:
                raise ValueError(f"it holds {index.ntotal} × {index.d} vectors, not {meta['rows']} × {meta['dim']}")
            return index

        return load_derived(path, meta, read, "FAISS index")

    def _save(self, faiss, path: Path, meta: dict) -> None:
        save_derived(path, meta, lambda tmp: faiss.write_index(self.index, str(tmp)), "FAISS index")

    def _build(self, faiss, n: int, dim: int):
        t0 = time.perf_counter()
        index = faiss.index_factory(dim, self.spec, faiss.METRIC_INNER_PRODUCT)
        if self.kind == "hnsw":
            index.hnsw.efConstruction = self.params.ef_construction
        if self.params.pq_m and self.kind == "ivf":
            # Polysemous training (for Hamming pre-filtering, which we do not use) is most of an IVF-PQ build.
            faiss.downcast_index(faiss.extract_index_ivf(index)).do_polysemous_training = False
        if not index.is_trained:
            take = min(n, max(self.params.train_size, 64 * ivf_cells(n, self.params.nlist)))
            rows = np.sort(np.random.default_rng(0).choice(n, size=take, replace=False))
            index.train(np.ascontiguousarray(self.features[rows], np.float32))
        for block in feature_blocks(self.features):
            index.add(np.ascontiguousarray(block, np.float32))
        log.info("FAISS %s index of %d vectors built in %.1f s", self.spec, n, time.perf_counter() - t0)
        return index

    def _tune(self, faiss) -> None:
        """Search-time parameters (not part of the cached index): nprobe, efSearch, threads."""
        if self.kind == "ivf":
            faiss.extract_index_ivf(self.index).nprobe = self.params.nprobe
        if self.kind == "hnsw":
            faiss.downcast_index(self.index).hnsw.efSearch = self.params.ef_search
        if self.params.threads:
            faiss.omp_set_num_threads(self.params.threads)

    # ------------------------------------------------------------------ searching
    def _search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self.index.ntotal)
        # A few extra so ties at the k-th score are broken by row, as the exact backend does.
        scores, rows = self.index.search(np.ascontiguousarray(query.reshape(1, -1), np.float32), k + 8)
        scores, rows = scores[0], rows[0].astype(np.int64)
        valid = rows >= 0  # FAISS pads with -1 when a probe finds fewer than k
        scores, rows = scores[valid], rows[valid]
        order = np.lexsort((rows, -scores))[:k]
        return rows[order], scores[order].astype(np.float32)


class FaissFlat(FaissBackend):
    """Exact search over float16 vectors (FAISS's SIMD kernels)."""

    name, kind = "faiss-flat", "flat"


class FaissIVF(FaissBackend):
    """Inverted file: k-means cells (``faiss.nlist``), ``faiss.nprobe`` of them searched; float16 vectors, or
    product-quantised codes with ``faiss.pq_m``."""

    name, kind = "faiss-ivf", "ivf"


class FaissHNSW(FaissBackend):
    """Hierarchical navigable small-world graph (``faiss.hnsw_m`` links, ``faiss.ef_search``)."""

    name, kind = "faiss-hnsw", "hnsw"


FAISS_BACKENDS: dict[str, type[FaissBackend]] = {c.name: c for c in (FaissFlat, FaissIVF, FaissHNSW)}

"""Search backends: turn a unit query vector into the top k rows of the index, and (for methods that fuse
scores) into a similarity for every row.

One class per backend, chosen by ``retrieval.backend``:

- ``exact``: numpy on the host, scored in blocks so a float16 (memory-mapped) matrix is never copied whole
  to float32;
- ``torch``: the matrix on the model's device (a GPU), top k there;
- ``faiss-flat`` / ``faiss-ivf`` / ``faiss-hnsw``: FAISS indexes (the ``faiss`` extra, ``index/faiss_backend.py``);
- ``hashing``: binary codes and Hamming distance, exact re-ranking of a short list (``index/hashing_backend.py``);
- ``auto``: ``torch`` on a GPU that holds the features, an approximate FAISS index from
  ``retrieval.approximate_above`` images when FAISS is installed, else ``exact``.

Every backend answers ``similarities`` exactly (methods that fuse scores need all of them); only ``search``
may be approximate.  A search restricted to a selection (the map's lasso) re-scores the selected rows
exactly, and rows to leave out (the reference) are dropped from a slightly longer list instead of
masking the whole index.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from infocir.index.store import BLOCK_ROWS  # rows scored at once: 128 MB of float32 at D = 512
from infocir.registry import UnknownPluginError

if TYPE_CHECKING:
    import torch

    from infocir.config import AppConfig

log = logging.getLogger(__name__)


def top_k(scores: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """Row numbers of the ``k`` highest ``scores`` in descending order (ties: lower row first).

    ``allowed`` (bool [N]) restricts the candidates, e.g. to a map selection.  Works in the scores' own
    float precision (a float64 copy of 1M scores cost more than the selection itself)."""
    s = np.asarray(scores)
    if not np.issubdtype(s.dtype, np.floating):
        s = s.astype(np.float32)
    if allowed is not None:
        candidates = np.flatnonzero(allowed)
        sub = top_k(s[candidates], k)
        return candidates[sub].astype(np.int64)
    k = max(0, min(k, len(s)))
    if k == 0:
        return np.zeros(0, np.int64)
    part = np.argpartition(-s, k - 1)[:k] if k < len(s) else np.arange(len(s))
    order = np.lexsort((part, -s[part]))
    return part[order].astype(np.int64)


def score_rows(features: np.ndarray, queries: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """``queries @ features[rows].T`` in float32, ``BLOCK_ROWS`` rows at a time ([D] → [n], [Q, D] → [Q, n]).

    ``features`` may be float16 and memory-mapped: each block is converted on its own, so the whole
    matrix is never copied to float32."""
    q = np.asarray(queries, np.float32)
    n = features.shape[0] if rows is None else len(rows)
    out = np.empty(q.shape[:-1] + (n,), np.float32)
    for start in range(0, n, BLOCK_ROWS):
        stop = min(n, start + BLOCK_ROWS)
        block = features[start:stop] if rows is None else features[rows[start:stop]]
        np.matmul(q, np.asarray(block, np.float32).T, out=out[..., start:stop])
    return out


class SearchBackend(ABC):
    """Similarity of unit query vectors to the indexed images, and the top k of them."""

    name: str = ""

    def __init__(self, features: np.ndarray, bundle: Any = None, config: AppConfig | None = None) -> None:
        """Built from the unit features [N, D] (float16/float32, possibly memory-mapped), the model bundle
        (whose device a backend may use) and the configuration (its parameters)."""
        self.features = features

    def similarities(self, queries: np.ndarray) -> np.ndarray:
        """Exact cosine similarities: [D] → [N], or [Q, D] → [Q, N] (float32)."""
        return score_rows(self.features, queries)

    def search(
        self,
        query: np.ndarray,
        k: int,
        allowed: np.ndarray | None = None,
        exclude: Iterable[int] = (),
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k rows and their scores for one unit query vector [D].

        ``allowed`` (bool [N]): only these rows (scored exactly); ``exclude``: rows left out (a few)."""
        excluded = np.unique(np.fromiter(exclude, np.int64))
        if allowed is not None:
            allowed = np.asarray(allowed, bool).copy()
            allowed[excluded] = False
            rows = np.flatnonzero(allowed)
            s = score_rows(self.features, query, rows)
            best = top_k(s, k)
            return rows[best], s[best]
        k = max(0, min(k, self.features.shape[0] - len(excluded)))
        if k == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        rows, scores = self._search(np.asarray(query, np.float32), k + len(excluded))
        keep = ~np.isin(rows, excluded)
        return rows[keep][:k], scores[keep][:k]

    @abstractmethod
    def _search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k best rows of the whole index (descending score, ties by lower row) and their scores."""


class ExactBackend(SearchBackend):
    """Brute-force cosine similarity, blockwise float32 matrix products (exact).

    Converting float16 to float32 costs more than the product itself (~0.9 s per query at 1M × 512 on one
    core, against ~0.15 s for the product), so a float16 (memory-mapped) matrix is converted once into RAM when
    its float32 copy fits ``retrieval.exact_ram_mb``; a larger one is scored block by block from the map,
    bounded in memory but slow (the log says so: FAISS's flat index reads float16 directly)."""

    name = "exact"

    def __init__(self, features: np.ndarray, bundle: Any = None, config: AppConfig | None = None):
        budget_mb = config.retrieval.exact_ram_mb if config is not None else 4096
        need_mb = features.shape[0] * features.shape[1] * 4 / 2**20
        if features.dtype == np.float32 or need_mb > budget_mb:
            self.features = features
            if features.dtype != np.float32:
                log.warning(
                    "A float32 copy of the features would take %.0f MB (retrieval.exact_ram_mb=%d): exact search "
                    "converts them block by block per query, which is slow; use retrieval.backend=faiss-flat "
                    "(exact for float16 features) or raise retrieval.exact_ram_mb.",
                    need_mb,
                    budget_mb,
                )
        else:
            self.features = np.empty(features.shape, np.float32)
            for start in range(0, features.shape[0], BLOCK_ROWS):
                self.features[start : start + BLOCK_ROWS] = features[start : start + BLOCK_ROWS]

    def _search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        s = score_rows(self.features, query)
        rows = top_k(s, k)
        return rows, s[rows]


class TorchBackend(SearchBackend):
    """The feature matrix on the model's device (float16 on a GPU, float32 on the CPU); scores and
    the top k are computed there and only k rows come back.  Agrees with ``exact`` up to ties and
    float16 rounding of the stored features (the index stores float16 by default anyway)."""

    name = "torch"

    def __init__(self, features: np.ndarray, bundle: Any, config: AppConfig | None = None):
        import torch

        if bundle is None:
            raise ValueError("the torch search backend needs the model bundle (its device)")
        self.features = features
        self.bundle = bundle
        dtype = torch.float16 if torch.device(bundle.device).type == "cuda" else torch.float32
        # Block by block: the features may be a read-only memory map (torch cannot wrap it) larger than RAM.
        self.matrix = bundle.tensor(np.zeros((0, features.shape[1]), np.float32), dtype=dtype).new_empty(features.shape)
        for start in range(0, features.shape[0], BLOCK_ROWS):
            block = np.array(features[start : start + BLOCK_ROWS], np.float32)
            self.matrix[start : start + len(block)] = bundle.tensor(block, dtype=dtype)

    def _scores(self, queries: np.ndarray) -> torch.Tensor:
        q = self.bundle.tensor(np.asarray(queries, np.float32), dtype=self.matrix.dtype)
        return (q @ self.matrix.T).float()

    def similarities(self, queries: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.bundle.numpy(self._scores(queries))

    def _search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            s = self._scores(query)
            # A few extra candidates so ties at the k-th score are broken by row as in ``top_k``.
            top_vals, top_rows = torch.topk(s, min(s.shape[0], k + 8))
        vals, rows = self.bundle.numpy(top_vals), top_rows.cpu().numpy().astype(np.int64)
        order = np.lexsort((rows, -vals))[:k]
        return rows[order], vals[order]


def _faiss_backends() -> Mapping[str, Callable[..., SearchBackend]]:
    from infocir.index.faiss_backend import FAISS_BACKENDS

    return FAISS_BACKENDS


def _hashing(features: np.ndarray, bundle: Any = None, config: AppConfig | None = None, cache: Any = None):
    from infocir.index.hashing_backend import HashingBackend

    return HashingBackend(features, bundle, config, cache)


BACKENDS: dict[str, Callable[..., SearchBackend]] = {"exact": ExactBackend, "torch": TorchBackend}
FAISS_NAMES = ("faiss-flat", "faiss-ivf", "faiss-hnsw")
NAMES = ("auto", *BACKENDS, *FAISS_NAMES, "hashing")


def faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def choose_backend(name: str, features: np.ndarray, bundle: Any, config: AppConfig | None = None) -> str:
    """Resolve ``retrieval.backend = auto``: the torch backend when the model is on CUDA and the
    features (as float16) take at most half of the GPU's free memory; else FAISS's IVF index from
    ``retrieval.approximate_above`` images when FAISS is installed; else exact."""
    if name != "auto":
        return name
    if bundle is not None:
        import torch

        device = torch.device(bundle.device)
        if device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(device)
            need = features.shape[0] * features.shape[1] * 2
            if need <= free // 2:
                return "torch"
            log.info(
                "Features need %.1f GB, more than half of the GPU's %.1f GB free: searching on the CPU.",
                need / 1e9,
                free / 1e9,
            )
    threshold = config.retrieval.approximate_above if config is not None else 0
    if threshold and features.shape[0] >= threshold:
        if faiss_available():
            return "faiss-ivf"
        log.warning(
            "%d images: an approximate index would answer faster, but FAISS is not installed "
            "(pip install 'infocir[faiss]'); searching exactly.",
            features.shape[0],
        )
    return "exact"


def create_backend(
    name: str,
    features: np.ndarray,
    bundle: Any = None,
    config: AppConfig | None = None,
    cache: tuple[Any, str] | None = None,
) -> SearchBackend:
    """The search backend ``name`` (``NAMES``) over unit ``features`` [N, D].  ``cache`` = (index folder, the
    features' checksum): where a FAISS index is kept and what it must have been built from."""
    resolved = choose_backend(name, features, bundle, config)
    if resolved in FAISS_NAMES:
        if not faiss_available():
            raise UnknownPluginError(
                f"search backend {resolved!r} needs FAISS: pip install 'infocir[faiss]' (faiss-cpu), "
                "or use retrieval.backend=exact"
            )
        backend = _faiss_backends()[resolved](features, bundle, config, cache)
    elif resolved == "hashing":
        backend = _hashing(features, bundle, config, cache)
    elif resolved in BACKENDS:
        backend = BACKENDS[resolved](features, bundle, config)
    else:
        raise UnknownPluginError(f"unknown search backend {name!r}; available: {', '.join(NAMES)}")
    log.info("Search backend: %s (%d × %d features)", resolved, *features.shape)
    return backend

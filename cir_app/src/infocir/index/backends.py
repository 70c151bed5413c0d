"""Search backends: turn query vectors into similarities over the index and pick the top k.

The engine talks to a backend through this small interface so approximate (FAISS) or
binary-code (hashing) backends can be added as one class each.  ``exact`` is numpy on the
host; ``torch`` keeps the matrix on the model's device (a GPU) and takes the top k there.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

import numpy as np

from infocir.registry import UnknownPluginError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


def top_k(scores: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """Row numbers of the ``k`` highest ``scores`` in descending order (ties: lower row first).

    ``allowed`` (bool [N]) restricts the candidates, e.g. to a map selection.
    """
    s = scores.astype(np.float64, copy=True)
    if allowed is not None:
        s[~allowed] = -np.inf
    n = int(np.isfinite(s).sum()) if allowed is not None else len(s)
    k = max(0, min(k, n))
    if k == 0:
        return np.zeros(0, np.int64)
    part = np.argpartition(-s, k - 1)[:k] if k < len(s) else np.arange(len(s))
    order = np.lexsort((part, -s[part]))
    return part[order].astype(np.int64)


class SearchBackend(ABC):
    """Similarity of unit query vectors to every indexed image."""

    name: str = ""

    @abstractmethod
    def __init__(self, features: np.ndarray, bundle: Any = None) -> None:
        """Built from the unit features [N, D] and the model bundle (whose device a backend may use)."""

    @abstractmethod
    def similarities(self, queries: np.ndarray) -> np.ndarray:
        """Cosine similarities: [D] → [N], or [Q, D] → [Q, N] (float32)."""

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k rows and their scores for one unit query vector [D]."""
        s = self.similarities(query)
        rows = top_k(s, k, allowed)
        return rows, s[rows]


class ExactBackend(SearchBackend):
    """Brute-force cosine similarity with a float32 matrix product (exact)."""

    name = "exact"

    def __init__(self, features: np.ndarray, bundle: Any = None):
        self.features = np.ascontiguousarray(features, dtype=np.float32)

    def similarities(self, queries: np.ndarray) -> np.ndarray:
        return (np.asarray(queries, np.float32) @ self.features.T).astype(np.float32)


class TorchBackend(SearchBackend):
    """The feature matrix on the model's device (float16 on a GPU, float32 on the CPU); scores and
    the top k are computed there and only k rows come back.  Agrees with ``exact`` up to ties and
    float16 rounding of the stored features (the index stores float16 by default anyway)."""

    name = "torch"

    def __init__(self, features: np.ndarray, bundle: Any):
        import torch

        self.bundle = bundle
        dtype = torch.float16 if torch.device(bundle.device).type == "cuda" else torch.float32
        self.matrix = bundle.tensor(np.ascontiguousarray(features), dtype=dtype)

    def _scores(self, queries: np.ndarray) -> torch.Tensor:
        q = self.bundle.tensor(np.asarray(queries, np.float32), dtype=self.matrix.dtype)
        return (q @ self.matrix.T).float()

    def similarities(self, queries: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.bundle.numpy(self._scores(queries))

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            s = self._scores(query)
            if allowed is not None:
                s = s.masked_fill(~self.bundle.tensor(np.asarray(allowed, bool)), float("-inf"))
            n = int(torch.isfinite(s).sum()) if allowed is not None else s.shape[0]
            k = max(0, min(k, n))
            if k == 0:
                return np.zeros(0, np.int64), np.zeros(0, np.float32)
            # A few extra candidates so ties at the k-th score are broken by row as in ``top_k``.
            top_vals, top_rows = torch.topk(s, min(s.shape[0], k + 8))
        vals, rows = self.bundle.numpy(top_vals), top_rows.cpu().numpy().astype(np.int64)
        order = np.lexsort((rows, -vals.astype(np.float64)))[:k]
        return rows[order], vals[order]


BACKENDS: dict[str, type[SearchBackend]] = {"exact": ExactBackend, "torch": TorchBackend}


def choose_backend(name: str, features: np.ndarray, bundle: Any) -> str:
    """Resolve ``retrieval.backend = auto``: the torch backend when the model is on CUDA and the
    features (as float16) take at most half of the GPU's free memory, else exact."""
    if name != "auto":
        return name
    if bundle is None:
        return "exact"
    import torch

    device = torch.device(bundle.device)
    if device.type != "cuda":
        return "exact"
    free, _ = torch.cuda.mem_get_info(device)
    need = features.shape[0] * features.shape[1] * 2
    if need <= free // 2:
        return "torch"
    log.info(
        "Features need %.1f GB, more than half of the GPU's %.1f GB free: searching on the CPU.", need / 1e9, free / 1e9
    )
    return "exact"


def create_backend(name: str, features: np.ndarray, bundle: Any = None) -> SearchBackend:
    """The search backend ``name`` ("auto", "exact", "torch") over unit ``features`` [N, D]."""
    resolved = choose_backend(name, features, bundle)
    if resolved not in BACKENDS:
        raise UnknownPluginError(f"unknown search backend {name!r}; available: auto, {', '.join(BACKENDS)}")
    if resolved == "torch" and bundle is None:
        raise ValueError("the torch search backend needs the model bundle (its device)")
    log.info("Search backend: %s (%d × %d features)", resolved, *features.shape)
    return BACKENDS[resolved](features, bundle)

"""Search backends: turn query vectors into similarities over the index and pick the top k.

The engine talks to a backend through this small interface so approximate (FAISS) or
binary-code (hashing) backends can be added as one class each.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


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

    def __init__(self, features: np.ndarray):
        self.features = np.ascontiguousarray(features, dtype=np.float32)

    def similarities(self, queries: np.ndarray) -> np.ndarray:
        return (np.asarray(queries, np.float32) @ self.features.T).astype(np.float32)


BACKENDS: dict[str, type[SearchBackend]] = {"exact": ExactBackend}


def create_backend(name: str, features: np.ndarray) -> SearchBackend:
    if name not in BACKENDS:
        raise ValueError(f"unknown search backend {name!r}; available: {', '.join(BACKENDS)}")
    return BACKENDS[name](features)

"""Collection expansion (QT-FIRS report §3.7): captions join the collection as extra items that point to their image.

Each caption of ``captions.csv`` (``data.captions``) is encoded with the engine's text encoder; the unit features
are kept beside the index (``<index>/expansion/``, tied to the image features and the captions by
``index.derived``'s manifest).  With expansion on, an image's score for a query vector q is

    max(image · q, max over its captions c of c · q)

so an image reached by its picture and by a caption appears once, with the better of the two scores, and the top k
is taken over those per-image scores.  Only methods that compose one query vector can use it: a caption has no
image score for a method that fuses scores (``apply_expansion`` then leaves the query unexpanded and says so).

The top k needs no score for every image: an image in the true top k is either among the backend's top k by its
picture (were k images above its picture's score, they would be above it) or among the k images with the best
caption scores (likewise), so those two candidate sets, scored exactly, hold it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from infocir.data.captions import Captions, read_captions
from infocir.errors import UserError
from infocir.index.backends import top_k
from infocir.index.derived import derived_meta, derived_path, load_derived, save_derived
from infocir.methods.base import Composition
from infocir.models.encoding import encode_texts, l2_normalize

if TYPE_CHECKING:
    from infocir.engine import RetrievalEngine
    from infocir.index.backends import SearchBackend

log = logging.getLogger(__name__)
_CACHE_KEY = "collection_expansion"
_build_lock = threading.Lock()  # two sessions switching expansion on at once encode the captions once


class ExpansionUnavailable(UserError, RuntimeError):
    """Expansion is on but there is nothing to expand the collection with (no captions file, no usable caption)."""


@dataclass
class CollectionExpansion:
    """The caption items: unit features [M, D] and the index row each points to (its image)."""

    features: np.ndarray  # float32 [M, D], unit rows
    owners: np.ndarray  # int64 [M]: the image row of each caption
    texts: list[str]
    n_images: int  # rows in the index (the length of a per-image score vector)
    source: str = ""

    def __post_init__(self) -> None:
        # the captions grouped by image once, so a query's per-image maxima are one reduceat
        self._order = np.argsort(self.owners, kind="stable")
        sorted_owners = self.owners[self._order]
        self.rows, self._starts = np.unique(sorted_owners, return_index=True)  # captioned image rows (ascending)

    def __len__(self) -> int:
        return len(self.texts)

    def caption_scores(self, query: np.ndarray) -> np.ndarray:
        """float32 [M]: every caption's cosine with a unit query vector [D]."""
        return self.features @ np.asarray(query, np.float32)

    def image_maxima(self, caption_scores: np.ndarray) -> np.ndarray:
        """float32 [N]: each image's best caption score; -inf for an image without captions."""
        out = np.full(self.n_images, -np.inf, np.float32)
        if len(self.rows):
            out[self.rows] = np.maximum.reduceat(caption_scores[self._order], self._starts)
        return out

    def best_caption(self, row: int, caption_scores: np.ndarray) -> tuple[str, float] | None:
        """The caption of image ``row`` that scores highest (its text and score), or None when it has none."""
        mine = np.flatnonzero(self.owners == row)
        if not len(mine):
            return None
        best = mine[int(np.argmax(caption_scores[mine]))]
        return self.texts[best], float(caption_scores[best])

    @classmethod
    def from_captions(cls, engine: RetrievalEngine, captions: Captions) -> CollectionExpansion:
        """Encode ``captions`` (ids already checked against the index) with the engine's text encoder, or reuse the
        features kept beside the index for the same captions, model and image features."""
        row_of = engine.index.row_of
        keep = [i for i, iid in enumerate(captions.ids) if iid in row_of]
        if not keep:
            raise ExpansionUnavailable(
                f"collection expansion: no caption of {captions.source or 'the captions'} names an indexed image"
            )
        texts = [captions.texts[i] for i in keep]
        owners = np.array([row_of[captions.ids[i]] for i in keep], np.int64)
        feats = _caption_features(engine, texts, captions.digest())
        return cls(feats, owners, texts, len(engine.index), captions.source)


def _caption_features(engine: RetrievalEngine, texts: list[str], digest: str) -> np.ndarray:
    """Unit text features of ``texts`` [M, D], cached in ``<index>/expansion/`` (``index.derived``)."""
    from infocir.index.store import index_dir_for

    checksum = engine.index.manifest.checksums.get("features.npy", "")
    cache = (index_dir_for(engine.config.cache_dir, engine.scan.root, engine.bundle.name), checksum)
    meta = derived_meta(
        "captions",
        engine.index.features,
        cache,
        captions_sha256=digest,
        captions=len(texts),
        weights=engine.bundle.weights_hash,
    )
    path = derived_path(cache, "expansion", "captions", meta, ".npy")
    feats = load_derived(path, meta, lambda p: np.load(p), "caption features")
    if feats is not None and feats.shape == (len(texts), engine.index.dim):
        return np.asarray(feats, np.float32)
    log.info("Encoding %d captions for collection expansion ...", len(texts))
    feats = l2_normalize(encode_texts(engine.bundle, texts)).astype(np.float32)
    save_derived(path, meta, lambda p: np.save(p, feats), "caption features")
    return feats


def captions_path(engine: RetrievalEngine) -> Path:
    """``dataset.captions_file`` under the dataset folder (an absolute path is taken as it is)."""
    return Path(engine.scan.root) / engine.config.dataset.captions_file


def collection_for(engine: RetrievalEngine) -> CollectionExpansion:
    """The engine's expansion from its captions file, built on first use and kept (rebuilt when the file changes)."""
    path = captions_path(engine)
    if not path.is_file():
        raise ExpansionUnavailable(
            f"Collection expansion is on (retrieval.expansion) but there is no captions file {path}: write one with "
            "the columns image_id,caption (several rows per image allowed), or switch expansion off. The demo world "
            "writes its own when it is loaded."
        )
    st = path.stat()
    key = (_CACHE_KEY, str(path), st.st_mtime_ns, st.st_size)
    cache = engine.context.cache
    with _build_lock:
        if key not in cache:
            for old in [k for k in cache if isinstance(k, tuple) and k[:1] == (_CACHE_KEY,)]:
                del cache[old]  # an earlier version of the file
            cache[key] = CollectionExpansion.from_captions(engine, read_captions(path, engine.index.row_of))
        found = cache[key]
    assert isinstance(found, CollectionExpansion)
    return found


class ExpandedComposition(Composition):
    """A vector method's composition with the caption items added: per-image max of the picture's and the captions'
    scores.  It wraps the method's own composition, which still scores the pictures (its backend, exact rows)."""

    def __init__(self, base: Composition, expansion: CollectionExpansion):
        if base.query_vector is None:
            raise ValueError("collection expansion needs a query vector")
        # not Composition.__init__: every score below comes from ``base`` (its backend) and the captions
        self.base = base
        self.expansion = expansion
        self.query_vector = base.query_vector
        self._scores: np.ndarray | None = None
        self.caption_scores = expansion.caption_scores(base.query_vector)
        self.maxima = expansion.image_maxima(self.caption_scores)
        self.extras: dict[str, Any] = {
            **base.extras,
            "expansion": {
                "applied": True,
                "captions": len(expansion),
                "images": len(expansion.rows),
                "source": expansion.source,
            },
        }

    @property
    def scores(self) -> np.ndarray:
        """float32 [N]: each image's expanded score (exact)."""
        if self._scores is None:
            self._scores = np.maximum(self.base.scores, self.maxima)
        return self._scores

    def scores_at(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, np.int64)
        return np.maximum(self.base.scores_at(rows), self.maxima[rows])

    def top(
        self,
        k: int,
        allowed: np.ndarray | None = None,
        exclude: Iterable[int] = (),
        backend: SearchBackend | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k best images by expanded score: the union of the backend's top k pictures and the k images with
        the best captions (within ``allowed``, without ``exclude``), scored exactly; ties: lower row first."""
        exclude = list(exclude)
        by_picture, _ = self.base.top(k, allowed, exclude, backend)
        rows = self.expansion.rows
        keep = np.ones(len(rows), bool) if allowed is None else np.asarray(allowed, bool)[rows]
        keep &= ~np.isin(rows, np.asarray(exclude, np.int64))
        by_caption = rows[keep][top_k(self.maxima[rows[keep]], k)]
        candidates = np.unique(np.concatenate([by_picture, by_caption]))  # ascending: top_k's tie rule holds
        scores = self.scores_at(candidates)
        best = top_k(scores, k)
        return candidates[best], scores[best]

    def matched_by(self, rows: Iterable[int]) -> list[str | None]:
        """For each row, the caption that gave it its score (when a caption beat the picture), else None."""
        out: list[str | None] = []
        rows = np.asarray(list(rows), np.int64)
        for row, picture in zip(rows, self.base.scores_at(rows), strict=True):
            hit = self.expansion.best_caption(int(row), self.caption_scores)
            out.append(hit[0] if hit is not None and hit[1] > picture else None)
        return out


def apply_expansion(
    engine: RetrievalEngine, comp: Composition, expansion: bool | CollectionExpansion | None, method: str
) -> Composition:
    """``comp`` with collection expansion when it is on: ``expansion`` True, a prepared ``CollectionExpansion`` (an
    evaluation's held-out captions), or None for ``retrieval.expansion``.  A method without one query vector is
    left unexpanded, with the reason in the log and in ``extras["expansion"]``."""
    if expansion is None:
        expansion = engine.config.retrieval.expansion
    if not isinstance(expansion, CollectionExpansion) and not expansion:
        return comp
    if comp.query_vector is None:
        reason = f"collection expansion is off for {method}: it fuses scores, and expansion needs one query vector"
        log.info(reason)
        comp.extras["expansion"] = {"applied": False, "reason": reason}
        return comp
    collection = expansion if isinstance(expansion, CollectionExpansion) else collection_for(engine)
    return ExpandedComposition(comp, collection)

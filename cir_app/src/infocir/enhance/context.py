"""Build the VisualContext of a query: what the ideals have in common, in words.

This is the only part of enhancement that touches the engine's model and index (text features
of the vocabulary, image features of the reference and the ideals); providers work from its
output alone.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from infocir.data import demo_world as W
from infocir.enhance.base import KEPT, EnhancementError, VisualContext, VocabWord
from infocir.enhance.vocabulary import build_vocabulary, probe_text
from infocir.models.encoding import l2_normalize

if TYPE_CHECKING:
    from infocir.engine import Reference, RetrievalEngine

log = logging.getLogger(__name__)
_CACHE_ATTRS = "enhance.attributes"
_CACHE_VOCAB = "enhance.vocabulary"
_CACHE_MEAN = "enhance.dataset_mean"
MAX_CAPTIONS = 5
MAX_WORDS = 12


def demo_attributes(engine: RetrievalEngine) -> dict[str, W.Attributes]:
    """Image id → demo-world attributes when the dataset has ``attributes.csv`` (else empty); cached per engine."""
    cache = engine.context.cache
    if _CACHE_ATTRS not in cache:
        path = Path(engine.scan.root) / "attributes.csv"
        attrs: dict[str, W.Attributes] = {}
        if path.is_file():
            try:
                attrs = W.read_attributes(engine.scan.root)
            except (OSError, KeyError, TypeError, ValueError) as exc:  # a foreign attributes.csv: ignore it
                log.warning("Ignoring %s: not a demo-world attribute file (%s)", path, exc)
        cache[_CACHE_ATTRS] = attrs
    return cache[_CACHE_ATTRS]


def vocabulary(engine: RetrievalEngine) -> tuple[list[tuple[str, str]], np.ndarray]:
    """The (word, kind) vocabulary and its unit text features [V, D], encoded once per engine in one batch."""
    cache = engine.context.cache
    if _CACHE_VOCAB not in cache:
        words = build_vocabulary(sorted(set(engine.index.classes)), bool(demo_attributes(engine)))
        feats = l2_normalize(engine.encode_text([probe_text(w, k) for w, k in words]).astype(np.float32))
        cache[_CACHE_VOCAB] = (words, feats)
    return cache[_CACHE_VOCAB]


def _reference_feature(
    engine: RetrievalEngine, reference: Reference, text: str
) -> tuple[np.ndarray | None, str | None]:
    """Unit image feature [D] and class of the reference (class unknown for uploads)."""
    if reference is None:
        return None, None
    if isinstance(reference, str) and reference in engine.index.row_of:
        row = engine.index.row_of[reference]
        return engine.index.row(row), engine.index.classes[row]
    query, _ = engine.build_query(reference, text)  # uploads and images: encoded (and cached) by the engine
    return query.reference_unit, None


def _mean_unit(features: np.ndarray) -> np.ndarray:
    return l2_normalize(np.asarray(features, np.float32).mean(0))


def dataset_mean(engine: RetrievalEngine) -> np.ndarray:
    """Unit mean image feature [D] of the index: the stand-in for a missing reference; cached per engine."""
    cache = engine.context.cache
    if _CACHE_MEAN not in cache:
        cache[_CACHE_MEAN] = l2_normalize(engine.index.mean().astype(np.float32))  # blockwise over the index
    return cache[_CACHE_MEAN]


def build_context(
    engine: RetrievalEngine, reference: Reference, text: str, ideals: Sequence[str], max_captions: int = MAX_CAPTIONS
) -> VisualContext:
    """Describe ``ideals`` (index ids) relative to ``reference`` (an id, an image, bytes or None).

    Ideal words are the vocabulary words whose text feature gains most similarity when moving from
    the reference's image feature (or the dataset mean without a reference) to the ideals' mean.
    """
    rows = [engine.index.row_of[i] for i in dict.fromkeys(ideals) if i in engine.index.row_of]
    if not rows:
        raise EnhancementError(f"Mark at least one ideal image from the indexed dataset first; {KEPT}.")
    ids = [engine.index.ids[r] for r in rows]
    feats = engine.index.rows(rows)
    ref_feat, ref_class = _reference_feature(engine, reference, text)

    words, T = vocabulary(engine)
    base = ref_feat if ref_feat is not None else dataset_mean(engine)
    gain = T @ _mean_unit(feats) - T @ base  # [V]
    order = np.argsort(-gain, kind="stable")
    ideal_words = tuple(
        VocabWord(words[i][0], words[i][1], round(float(gain[i]), 4)) for i in order[:MAX_WORDS] if gain[i] > 0
    )
    ref_words: tuple[str, ...] = ()
    if ref_feat is not None:
        distinct = T @ ref_feat - T @ dataset_mean(engine)
        ref_words = tuple(words[i][0] for i in np.argsort(-distinct, kind="stable")[:5])

    attrs = demo_attributes(engine)
    ideal_attrs = [attrs[i] for i in ids if i in attrs]
    ref_attrs = attrs.get(reference) if isinstance(reference, str) else None
    known = bool(ideal_attrs) and len(ideal_attrs) == len(ids)
    shared: dict[str, str] = {}
    if known:
        for a in W.ATTRIBUTES:
            values = {getattr(x, a) for x in ideal_attrs}
            if len(values) == 1:
                shared[a] = values.pop()
    changed = {a: v for a, v in shared.items() if ref_attrs is None or getattr(ref_attrs, a) != v}

    if ideal_attrs:
        captions = tuple(W.describe(x) for x in ideal_attrs[:max_captions])
    else:
        captions = tuple(
            ", ".join(words[j][0] for j in np.argsort(-(T @ f - T @ base), kind="stable")[:4])
            for f in feats[:max_captions]
        )
    classes = Counter(engine.index.classes[r] for r in rows).most_common()
    return VisualContext(
        original_text=text,
        n_ideals=len(rows),
        reference_class=ref_class,
        reference_words=ref_words,
        ideal_classes=tuple(classes),
        ideal_captions=captions,
        ideal_words=ideal_words,
        shared_attributes=shared,
        changed_attributes=changed,
        reference_attributes={a: getattr(ref_attrs, a) for a in W.ATTRIBUTES} if ref_attrs else {},
        attributes_known=known,
    )

"""Explanations for the dashboard and scripts: which prompt and target each method implies, and
a cache per (model, explainer, image, target) so revisiting an image is instant."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import numpy as np

from infocir.cache import BoundedCache
from infocir.explain.base import create_explainer, similarity_target
from infocir.explain.image import ImageSaliency, explain_image
from infocir.explain.text_attribution import TokenAttribution, text_attribution
from infocir.models.encoding import l2_normalize
from infocir.registry import UnknownPluginError


def text_prompt(engine, method: str, reference: Any, text: str) -> tuple[str, Any, int]:
    """(prompt the method encodes, pseudo-word token or None, number of template words).

    The method says: its ``prompt`` (SEARLE and OTI: "a photo of $ that {text}"), its
    ``pseudo_token`` for the reference ($), and how many ``template_words`` it adds; the other
    methods encode the modification text as typed."""
    from infocir.methods.base import Query
    from infocir.methods.registry import create_method

    m = create_method(method)
    if m.template_words and reference is not None:
        query, _ = engine.build_query(reference, text)
        return m.prompt(query), m.pseudo_token(engine.context, query), m.template_words
    return m.prompt(Query(text=text)) if not m.template_words else text.strip(), None, 0


def fallback_query_vector(engine, reference: Any, text: str) -> np.ndarray:
    """For score-level methods without one composed vector: the average of the unit reference
    and text features (what "average" would compose), so the maps still have a target."""
    query, _ = engine.build_query(reference, text)
    parts = [
        p for p in (query.reference_unit, engine.context.text_unit(text) if text.strip() else None) if p is not None
    ]
    return l2_normalize(np.sum(parts, axis=0))


# What the reference map explains (panel F1's "reference map" choice).
REFERENCE_VIEWS = {
    "candidate": "the shown candidate's similarity, through the method's composition",
    "query": "its similarity to the composed query",
    "phi_norm": "the strength of its pseudo-word ‖φ(image)‖",
}


def _key(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.tobytes() if isinstance(p, np.ndarray) else repr(p).encode())
    return h.hexdigest()[:24]


class ExplanationService:
    """Cached explanations over one engine (the model and index it already holds)."""

    def __init__(self, engine, max_side: int = 256, size: int = 512):
        self.engine = engine
        self.max_side = max_side
        self._cache: BoundedCache[Any] = BoundedCache(size)
        # One explanation at a time: hooks live on the shared model during a forward.
        self._model_lock = threading.Lock()

    def _cached(self, key: str, compute):
        if key in self._cache:
            return self._cache.get(key)
        with self._model_lock:
            value = compute()
        self._cache.put(key, value)
        return value

    def saliency(
        self, vector: np.ndarray, explainer: str, image_id: str | None = None, upload: bytes | None = None
    ) -> ImageSaliency:
        """Saliency of an image for its similarity to ``vector`` (e.g. the composed query)."""
        b = self.engine.bundle
        if image_id is None and upload is None:
            raise ValueError("an image id or uploaded image bytes are needed")
        reference = image_id if image_id is not None else upload
        key = _key(
            "img",
            b.weights_hash,
            explainer,
            self.engine.reference_key(reference),
            np.asarray(vector, np.float32).round(5),
            self.max_side,
        )
        return self._cached(
            key,
            lambda: explain_image(
                b,
                self.engine.reference_image(reference),
                similarity_target(vector, b),
                create_explainer(explainer),
                self.max_side,
            ),
        )

    def reference_saliency(
        self,
        method: str,
        reference: Any,
        text: str,
        candidate_id: str,
        explainer: str,
        view: str = "candidate",
        vector: np.ndarray | None = None,
        params: dict | None = None,
    ) -> ImageSaliency:
        """Saliency of the *reference* image, by ``view`` (REFERENCE_VIEWS):

        ``candidate``: the candidate's similarity to the query composed from the reference, followed
        through the method's composition (SEARLE: φ and the text encoder; feedback: its base's, then its
        Rocchio steps) back to the reference's pixels, so the map changes with the candidate; ``query``: the
        reference's similarity to the composed ``vector``; ``phi_norm``: ‖φ(reference)‖ (methods with φ).
        ``params``: the method's parameters that made the ranking (feedback's marks and rounds).  A view the
        method cannot give falls back to ``query``, and so does ``candidate`` when the method with ``params``
        does not compose ``vector`` (the ranking's own query: a map must explain the query that ranked); the
        result's ``target`` says which view was used."""
        from infocir.explain.base import composed_target, norm_target
        from infocir.methods.registry import create_method
        from infocir.methods.searle import get_phi

        if view not in REFERENCE_VIEWS:
            raise UnknownPluginError(f"unknown reference view {view!r}; choose from {', '.join(REFERENCE_VIEWS)}")
        e, b = self.engine, self.engine.bundle
        params = dict(params or {})
        m = create_method(method or e.config.retrieval.method, **params)
        query, _ = e.build_query(reference, text)
        if (
            view == "candidate"
            and candidate_id in e.index.row_of
            and m.composes_from_image(e.context)
            and self._composes(m, query, params, vector)
        ):
            key = _key(
                "ref-cand",
                b.weights_hash,
                explainer,
                query.reference_key,
                m.name,
                sorted(params.items()),
                text,
                candidate_id,
                self.max_side,
            )
            target = composed_target(
                lambda emb: m.compose_from_image(e.context, query, emb),
                e.index.row(e.index.row_of[candidate_id]),
                b,
            )
            what = f"{candidate_id.rsplit('/', 1)[-1]}'s similarity to the query composed from it"
            return self._cached(key, lambda: self._explain(reference, target, explainer, what))
        if view == "phi_norm" and m.uses_phi:
            key = _key("ref-phi", b.weights_hash, explainer, query.reference_key, self.max_side)
            return self._cached(
                key,
                lambda: self._explain(
                    reference, norm_target(get_phi(e.context)), explainer, REFERENCE_VIEWS["phi_norm"]
                ),
            )
        if vector is None:
            vector = e.compose(reference, text, method, **params).query_vector
            if vector is None:
                vector = fallback_query_vector(e, reference, text)
        ref_id = reference if isinstance(reference, str) else None
        upload = None if isinstance(reference, str) else reference
        return self.saliency(vector, explainer, image_id=ref_id, upload=upload)

    def _composes(self, m, query, params: dict, vector: np.ndarray | None) -> bool:
        """Whether method ``m`` (with ``params``) composes ``vector`` for ``query`` (no vector: nothing to match)."""
        if vector is None:
            return True
        vector = np.asarray(vector, np.float32)
        key = _key("ref-q", m.name, sorted(params.items()), query.reference_key, query.text, vector.round(5))
        same = self._cache.get(key)
        if same is None:
            q = m.compose(self.engine.context, query)
            same = q is not None and float(l2_normalize(q) @ l2_normalize(vector)) > 0.999
            self._cache.put(key, same)
        return bool(same)

    def _explain(self, reference: Any, target, explainer: str, what: str) -> ImageSaliency:
        sal = explain_image(
            self.engine.bundle,
            self.engine.reference_image(reference),
            target,
            create_explainer(explainer),
            self.max_side,
        )
        sal.target = what
        return sal

    def segmenter(self):
        """The ``[segmentation]`` provider over the engine's model, made on first use (a CLIPSeg model loads once)."""
        if getattr(self, "_segmenter", None) is None:
            from infocir.explain.segmentation import create_segmenter

            with self._model_lock:
                if getattr(self, "_segmenter", None) is None:
                    self._segmenter = create_segmenter(self.engine.bundle, self.engine.config.segmentation)
        return self._segmenter

    def segment(self, text: str, image_id: str | None = None, upload: bytes | None = None):
        """The region of an image that ``text`` refers to (``explain.segmentation``), as a ``TextMask`` at the
        display size; cached per (provider settings, image, text)."""
        import time

        from PIL import Image

        from infocir.explain.image import display_size
        from infocir.explain.segmentation import TextMask

        if image_id is None and upload is None:
            raise ValueError("an image id or uploaded image bytes are needed")
        if not text.strip():
            raise ValueError("a text is needed: the mask is the region the text refers to")
        reference = image_id if image_id is not None else upload
        seg = self.segmenter()
        key = _key("seg", seg.key(), self.engine.reference_key(reference), text.strip(), self.max_side)

        def compute() -> TextMask:
            t0 = time.perf_counter()
            image = self.engine.reference_image(reference)
            m = seg.mask(image, text.strip())
            w, h = display_size(image.size, self.max_side)
            if (w, h) != image.size:
                m = np.asarray(Image.fromarray(m.astype(np.uint8) * 255).resize((w, h), Image.Resampling.NEAREST)) > 127
            return TextMask(m, text.strip(), seg.label, time.perf_counter() - t0)

        return self._cached(key, compute)

    def tokens(
        self, method: str, reference: Any, text: str, target_id: str, token_method: str = "grad_eclip"
    ) -> TokenAttribution:
        """Per-word attribution of the method's prompt for its similarity to the image ``target_id``."""
        b = self.engine.bundle
        ref_key = self.engine.reference_key(reference) if reference is not None else None
        key = _key("txt", b.weights_hash, method, ref_key, text, target_id, token_method)

        def compute() -> TokenAttribution:
            prompt, pseudo, n_template = text_prompt(self.engine, method, reference, text)
            row = self.engine.index.row_of[target_id]
            target = similarity_target(self.engine.index.row(row), b)
            return text_attribution(b, prompt, target, pseudo, n_template=n_template, method=token_method)

        return self._cached(key, compute)

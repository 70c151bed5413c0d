"""BASIC (Psomas et al., NeurIPS 2025, seed 001): a training-free composition.

1. centre features with a mean (a statistics file, else the dataset's mean);
2. project the query image feature onto the top eigenvectors of the contrastive covariance
   C = (1−w)·S_pos − w·S_neg of a subjects corpus and a styles corpus (keeps "what", drops "how");
3. query expansion: add the softmax(score/τ)-weighted mean of the top-k database features;
4. normalise image and text similarities against a minimum, clamped at 0;
5. Harris fusion s = s_t·s_i − λ(s_t + s_i)².

Where this differs from the authors' code (no LAION statistics or synthetic-data files are
shipped): the default mean is the dataset's, and the normalisation minimum is the 0.5th
percentile of the query's own similarity distribution unless statistics are provided.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from infocir.data.corpora import CorpusError, read_corpus
from infocir.methods.base import CIRMethod, Composition, MethodContext, Query
from infocir.methods.registry import register
from infocir.models.encoding import l2_normalize

def contrastive_projection(pos: np.ndarray, neg: np.ndarray, weight: float, components: float) -> np.ndarray:
    """Orthonormal basis [D, c] of the top eigenvectors of (1−w)·cov(pos) − w·cov(neg).

    ``components`` > 1 keeps that many (at most the number of positive eigenvalues, since
    negative ones are directions where styles vary more than subjects); < 1 keeps the
    smallest set holding that fraction of the positive spectrum's energy.
    """
    def cov(x):
        xc = x - x.mean(0, keepdims=True)
        return xc.T @ xc / max(1, len(x) - 1)

    c = (1 - weight) * cov(pos) - weight * cov(neg)
    vals, vecs = np.linalg.eigh(c)
    order = np.argsort(vals)[::-1]
    vals, vecs = vals[order], vecs[:, order]
    n_pos = int((vals > 0).sum())
    if components >= 1:
        n = min(int(components), n_pos)
    else:
        energy = np.cumsum(vals[:n_pos]) / max(vals[:n_pos].sum(), 1e-12)
        n = int(np.searchsorted(energy, components) + 1)
    return vecs[:, : max(1, n)].astype(np.float32)


def _normalise(s: np.ndarray, lo: float) -> np.ndarray:
    return np.clip((s - lo) / max(float(s.max()) - lo, 1e-12), 0.0, None)


@register
class Basic(CIRMethod):
    name = "basic"
    label = "BASIC"
    description = "Centering, contrastive-PCA projection of the image, query expansion, normalisation, Harris fusion."

    def availability(self, ctx: MethodContext) -> tuple[bool, str]:
        # Cached per engine and settings: fusion asks on every query, and the answer needs file reads.
        key = ("basic-available", ctx.config.basic)
        if key not in ctx.cache:
            ctx.cache[key] = self._check_files(ctx.config.basic)
        return ctx.cache[key]

    @staticmethod
    def _check_files(b) -> tuple[bool, str]:
        try:
            read_corpus(b.positive_corpus)
            read_corpus(b.negative_corpus)
        except CorpusError as exc:
            return False, str(exc)
        if b.mean_file and not Path(b.mean_file).expanduser().is_file():
            return False, f"basic.mean_file {b.mean_file} does not exist."
        return True, ""

    def _state(self, ctx: MethodContext) -> dict:
        """Mean, centred database and projection: computed once per engine and settings."""
        b = ctx.config.basic
        key = ("basic", b)
        if key not in ctx.cache:
            feats = ctx.index.features
            mean = np.load(Path(b.mean_file).expanduser()).astype(np.float32).reshape(-1) if b.mean_file else feats.mean(0)
            if mean.shape[0] != feats.shape[1]:
                raise CorpusError(f"basic.mean_file has {mean.shape[0]} dimensions; the model has {feats.shape[1]}.")
            if not b.center:
                mean = np.zeros_like(mean)
            db = l2_normalize(feats - mean)
            proj = None
            if b.project:
                pos = l2_normalize(ctx.encode_text(read_corpus(b.positive_corpus)))
                neg = l2_normalize(ctx.encode_text(read_corpus(b.negative_corpus)))
                proj = contrastive_projection(pos, neg, b.negative_weight, b.components)
            ctx.cache[key] = {"mean": mean, "db": db, "proj": proj}
        return ctx.cache[key]

    def score(self, ctx: MethodContext, query: Query) -> Composition:
        b = ctx.config.basic
        st = self._state(ctx)
        q = query.reference_unit - st["mean"]
        if st["proj"] is not None:
            q = st["proj"] @ (st["proj"].T @ q)
        q = l2_normalize(q)
        s_i = st["db"] @ q
        if b.query_expansion:
            top = np.argpartition(-s_i, min(b.qe_k, len(s_i) - 1))[: b.qe_k]
            w = np.exp((s_i[top] - s_i[top].max()) / b.qe_temperature)
            q = l2_normalize(q + (w / w.sum()) @ st["db"][top])
            s_i = st["db"] @ q
        s_t = ctx.backend.similarities(ctx.text_unit(query.text)).astype(np.float64)
        if b.normalize:
            s_i = _normalise(s_i, float(np.percentile(s_i, 0.5)))
            s_t = _normalise(s_t, float(np.percentile(s_t, 0.5)))
        fused = s_t * s_i - b.harris_lambda * (s_t + s_i) ** 2
        return Composition(scores=fused.astype(np.float32), extras={"image_scores": s_i, "text_scores": s_t})

"""BASIC (Psomas et al., NeurIPS 2025, seed 001) as the authors' public code runs it (billpsomas/icir,
``utils_retrieval.calculate_rankings``).  All features start L2-normalised; ``[basic]`` switches each step:

1. ``center`` (--standardize_features): the database and the query image minus an image mean — the
   LAION-1M mean of ``mean_file`` (--use_laion_mean) or else the mean of the query's database; the query
   text and both corpora minus the mean of the positive corpus's text features.  Nothing is
   re-normalised after centring.
2. ``project`` (--project_features): the eigenvectors V of C = (1−aa)·S_pos − aa·S_neg + 1e-5 with
   positive eigenvalues (at most ``components``), S = XᵀX/(n−1) of the centred corpora; the query image
   becomes V Vᵀ q.  The database and the text are not projected.
3. ``contextualize`` (--contextualize): the text feature is the normalised mean of the unit features of
   "{word} {text}" and "{text} {word}" over the first ``context_words`` rows of the positive corpus.
4. ``query_expansion`` (--do_query_expansion): the ``qe_k`` database features most similar to the
   projected query, plus the centred query itself with similarity 1, averaged with weights
   softmax(s / ``qe_temperature``) (theirs: exp(0.1·s)), then projected again.
5. ``normalize`` (--normalize_similarities): with the authors' synthetic-data file, m_i = min of the
   synthetic image–image similarities and m_t = min of text–image ones (features centred as in 1),
   s_i ← (s_i − m_i)/|m_i|, s_t ← (s_t − m_t)/|m_i|.  Without the file (``synthetic_data`` empty): the
   minimum is the 0.5th percentile of the query's own similarities and the scale their range (not
   the authors' rule; the log and ``extras["steps"]`` say so).
6. Both similarities are clamped at 0 and fused: s = s_t·s_i − λ(s_t + s_i)² (--harris_lambda).

A ``gallery`` parameter (index rows; the i-CIR harness passes the query's instance database) gives
the database of steps 1 and 4, as the authors run each instance's database on its own.
"""

from __future__ import annotations

import logging
import pickle
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from infocir.data.corpora import CorpusError, read_corpus
from infocir.errors import UserError
from infocir.methods.base import CIRMethod, Composition, MethodContext, Param, Query
from infocir.methods.registry import register
from infocir.models.encoding import l2_normalize

log = logging.getLogger(__name__)

SCATTER_CONSTANT = 1e-5  # added to every entry of the contrastive matrix in the authors' code


class BasicFileError(UserError, ValueError):
    """A BASIC statistics file (LAION mean, synthetic data) is missing or malformed."""


# ----------------------------------------------------------------------------- files
def _as_array(x) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, as in the authors' pickles
        x = x.detach().cpu().float().numpy()
    return np.asarray(x, dtype=np.float64)


def load_mean(path: str | Path) -> np.ndarray:
    """An image-feature mean [D]: the authors' ``laion_1m_mean_*.pkl`` (a pickled dict whose
    ``'laion_1m_mean'`` is a [1, D] or [D] tensor) or a ``.npy`` array.  Pickles run code when
    loaded: use files you trust."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise BasicFileError(f"basic.mean_file {p} does not exist.")
    try:
        if p.suffix == ".npy":
            data = np.load(p, allow_pickle=False)
        else:
            with open(p, "rb") as f:
                data = pickle.load(f)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
        raise BasicFileError(
            f"basic.mean_file {p}: cannot read it as a .npy array or the authors' pickle ({exc})."
        ) from None
    if isinstance(data, dict):
        if "laion_1m_mean" not in data:
            raise BasicFileError(f"basic.mean_file {p}: no 'laion_1m_mean' entry (keys: {', '.join(map(str, data))}).")
        data = data["laion_1m_mean"]
    return _as_array(data).reshape(-1)


def synthetic_file(path: str | Path, model_name: str) -> Path:
    """The synthetic-data file: ``path`` itself, or in a folder (the authors' --path_to_synthetic_data)
    ``dataset_1_sd_siglip.pkl.npy`` for a SigLIP model and ``dataset_1_sd_clip.pkl.npy`` otherwise."""
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / f"dataset_1_sd_{'siglip' if 'siglip' in model_name.lower() else 'clip'}.pkl.npy"
    return p


def load_synthetic(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(image features, text features) of the authors' synthetic data: ``np.save`` of a dict with
    ``'image_features'`` and ``'text_features'`` (read with pickle: use files you trust), or an
    ``.npz`` with those two arrays."""
    p = Path(path)
    try:
        data = np.load(p, allow_pickle=p.suffix != ".npz")
        data = data.item() if isinstance(data, np.ndarray) and data.dtype == object and data.shape == () else data
        img, txt = data["image_features"], data["text_features"]
    except Exception as exc:  # noqa: BLE001
        raise BasicFileError(
            f"basic.synthetic_data {p}: not the authors' synthetic-data format, a dict with "
            f"'image_features' and 'text_features' ({exc})."
        ) from None
    return _as_array(img), _as_array(txt)


# ----------------------------------------------------------------------------- the steps
def contrastive_projection(pos: np.ndarray, neg: np.ndarray, weight: float, components: float) -> np.ndarray:
    """Orthonormal basis [D, c] of the top eigenvectors of (1−w)·S_pos − w·S_neg + 1e-5, where
    S = XᵀX/(n−1) of rows already centred on the shared centre (the positive corpus's mean).

    ``components`` ≥ 1 keeps that many, at most the number of positive eigenvalues (negative ones are
    directions where styles vary more than subjects).  < 1 keeps the smallest set holding that
    fraction of the positive spectrum's energy (their README's rule; their code truncates it to 0).
    """
    pos, neg = np.asarray(pos, np.float64), np.asarray(neg, np.float64)
    s_pos = pos.T @ pos / max(1, len(pos) - 1)
    s_neg = neg.T @ neg / max(1, len(neg) - 1)
    c = (1 - weight) * s_pos - weight * s_neg + SCATTER_CONSTANT
    vals, vecs = np.linalg.eigh(c)
    order = np.argsort(vals)[::-1]
    vals, vecs = vals[order], vecs[:, order]
    n_pos = int((vals > 0).sum())
    if components >= 1:
        n = min(int(components), n_pos)
    else:
        energy = np.cumsum(vals[:n_pos]) / max(vals[:n_pos].sum(), 1e-12)
        n = int(np.searchsorted(energy, components) + 1)
    return vecs[:, : max(1, n)]


def expand_query(
    q: np.ndarray, db: np.ndarray, sims: np.ndarray, k: int, temperature: float, include_query: bool = True
) -> np.ndarray:
    """Weighted mean of the ``k`` rows of ``db`` with the highest ``sims`` (and of ``q`` with
    similarity 1 when ``include_query``), weights softmax(s / temperature).  Not projected."""
    k = min(int(k), len(sims))
    top = np.argpartition(-sims, k - 1)[:k] if k < len(sims) else np.arange(len(sims))
    feats, s = db[top], np.asarray(sims, np.float64)[top]
    if include_query:
        feats, s = np.vstack([feats, q[None]]), np.r_[s, 1.0]
    w = np.exp((s - s.max()) / temperature)  # the max cancels in the normalisation
    return (w / w.sum()) @ feats


def synthetic_minima(
    img: np.ndarray, txt: np.ndarray, mean_img: np.ndarray | None, mean_txt: np.ndarray | None
) -> tuple[float, float]:
    """(min image–image, min text–image) similarity over the synthetic features, each set
    L2-normalised and then centred like the real ones (no centring when the means are None)."""
    img, txt = l2_normalize(np.asarray(img, np.float64)), l2_normalize(np.asarray(txt, np.float64))
    if mean_img is not None:
        img = img - mean_img
    if mean_txt is not None:
        txt = txt - mean_txt
    return float((img @ img.T).min()), float((txt @ img.T).min())


def normalise_similarities(
    s_i: np.ndarray, s_t: np.ndarray, min_img: float, min_txt: float
) -> tuple[np.ndarray, np.ndarray]:
    """The authors' normalisation: both shifted by their minimum and divided by |image minimum|."""
    scale = max(abs(min_img), 1e-12)
    return (s_i - min_img) / scale, (s_t - min_txt) / scale


def _percentile_normalise(s: np.ndarray, within: np.ndarray) -> np.ndarray:
    lo = float(np.percentile(within, 0.5))
    return (s - lo) / max(float(within.max()) - lo, 1e-12)


def harris(s_t: np.ndarray, s_i: np.ndarray, lam: float) -> np.ndarray:
    """Rectify both similarities at 0, then s_t·s_i − λ(s_t + s_i)²."""
    s_t, s_i = np.maximum(s_t, 0.0), np.maximum(s_i, 0.0)
    return s_t * s_i - lam * (s_t + s_i) ** 2


def contextual_text_feature(encode: Callable[[list[str]], np.ndarray], text: str, words: Sequence[str]) -> np.ndarray:
    """Unit mean of the unit features of "{word} {text}" and "{text} {word}" for each word."""
    texts = [f"{w} {text}" for w in words] + [f"{text} {w}" for w in words]
    return l2_normalize(l2_normalize(np.asarray(encode(texts), np.float64)).mean(0))


# ----------------------------------------------------------------------------- the method
@register
class Basic(CIRMethod):
    name = "basic"
    order = 30
    label = "BASIC"
    description = (
        "BASIC as in the authors' code: centring, contrastive-PCA projection of the image, "
        "optional contextualized text, query expansion, normalisation, Harris fusion. Without "
        "their LAION mean the database mean centres; without their synthetic data a "
        "percentile normalisation stands in."
    )
    gallery_aware = True  # takes a ``gallery`` parameter (the rows of the query's own database)
    parameters = {
        "gallery": Param(None, object, help="index rows of the query's own database (i-CIR: one per instance)")
    }

    def availability(self, ctx: MethodContext) -> tuple[bool, str]:
        # Cached per engine and settings: fusion asks on every query, and the answer needs file reads.
        key = ("basic-available", ctx.config.basic)
        if key not in ctx.cache:
            ctx.cache[key] = self._check_files(ctx.config.basic, ctx.bundle.name)
        return ctx.cache[key]

    @staticmethod
    def _check_files(b, model_name: str) -> tuple[bool, str]:
        try:
            read_corpus(b.positive_corpus)
            read_corpus(b.negative_corpus)
        except CorpusError as exc:
            return False, str(exc)
        if b.center and b.mean_file and not Path(b.mean_file).expanduser().is_file():
            return False, f"basic.mean_file {b.mean_file} does not exist."
        if b.normalize and b.synthetic_data:
            p = synthetic_file(b.synthetic_data, model_name)
            if not p.is_file():
                return False, (
                    f"basic.synthetic_data: {p} does not exist. It is the authors' synthetic-data file "
                    "(dataset_1_sd_clip.pkl.npy or dataset_1_sd_siglip.pkl.npy from their synthetic_data/ "
                    "folder); give that file or its folder, or set basic.synthetic_data=\"\" for the "
                    "percentile normalisation, or basic.normalize=false."
                )
        return True, ""

    def _state(self, ctx: MethodContext) -> dict:
        """Corpus mean, projection, image mean and synthetic data: once per engine and settings."""
        b = ctx.config.basic
        key = ("basic", b)
        if key not in ctx.cache:
            ok, why = self._check_files(b, ctx.bundle.name)
            if not ok:
                raise BasicFileError(f"BASIC is unavailable: {why}")
            dim = ctx.index.dim
            steps = []
            pos = l2_normalize(np.asarray(ctx.encode_text(read_corpus(b.positive_corpus)), np.float64))
            mean_txt = pos.mean(0) if b.center else np.zeros(dim)
            mean_img = None  # None: the mean of the query's database
            if b.center:
                if b.mean_file:
                    mean_img = load_mean(b.mean_file)
                    if mean_img.shape[0] != dim:
                        raise BasicFileError(
                            f"basic.mean_file has {mean_img.shape[0]} dimensions; the model has {dim}."
                        )
                    steps.append(f"centring on {Path(b.mean_file).name}")
                else:
                    steps.append("centring on the database mean (no basic.mean_file, i.e. without --use_laion_mean)")
                steps.append("text centred on the positive corpus mean")
            proj = None
            if b.project:
                neg = l2_normalize(np.asarray(ctx.encode_text(read_corpus(b.negative_corpus)), np.float64))
                proj = contrastive_projection(pos - mean_txt, neg - mean_txt, b.negative_weight, b.components)
                steps.append(f"projection on {proj.shape[1]} components")
            if b.contextualize:
                steps.append(
                    f"text contextualized with {min(b.context_words, len(read_corpus(b.positive_corpus)))} corpus words"
                )
            if b.query_expansion:
                query = "in" if b.qe_include_query else "out"
                steps.append(f"query expansion (k={b.qe_k}, T={b.qe_temperature:g}, query {query})")
            synthetic = None
            if b.normalize:
                if b.synthetic_data:
                    p = synthetic_file(b.synthetic_data, ctx.bundle.name)
                    synthetic = load_synthetic(p)
                    for part, arr in zip(("image", "text"), synthetic, strict=True):
                        if arr.ndim != 2 or arr.shape[1] != dim:
                            raise BasicFileError(
                                f"basic.synthetic_data {p}: {part} features have shape {arr.shape}; "
                                f"the model has {dim} dimensions."
                            )
                    steps.append(f"normalised with the synthetic minima of {p.name}")
                else:
                    steps.append(
                        "normalised by the 0.5th percentile and range (no basic.synthetic_data: not the authors' rule)"
                    )
            steps.append(f"Harris fusion λ={b.harris_lambda:g}")
            summary = "; ".join(steps)
            log.info("BASIC: %s", summary)
            ctx.cache[key] = {
                "mean_txt": mean_txt,
                "mean_img": mean_img,
                "proj": proj,
                "synthetic": synthetic,
                "steps": summary,
                "db_mean": None,
                "minima": OrderedDict(),
                "context": OrderedDict(),
            }
        return ctx.cache[key]

    def _text(self, ctx: MethodContext, st: dict, text: str) -> np.ndarray:
        b = ctx.config.basic
        if not b.contextualize:
            return l2_normalize(np.asarray(ctx.encode_text([text])[0], np.float64))
        cache = st["context"]
        if text not in cache:
            words = read_corpus(b.positive_corpus)[: b.context_words]
            cache[text] = contextual_text_feature(ctx.encode_text, text, words)
            if len(cache) > 512:
                cache.popitem(last=False)
        return cache[text]

    def _minima(self, st: dict, mean_img: np.ndarray | None, mean_txt: np.ndarray | None) -> tuple[float, float]:
        key = None if mean_img is None else mean_img.tobytes()
        cache = st["minima"]
        if key not in cache:
            img, txt = st["synthetic"]
            cache[key] = synthetic_minima(img, txt, mean_img, mean_txt)
            if len(cache) > 256:
                cache.popitem(last=False)
        return cache[key]

    def score(self, ctx: MethodContext, query: Query) -> Composition:
        b = ctx.config.basic
        st = self._state(ctx)
        index = ctx.index  # its features may be a read-only float16 memmap: means blockwise, rows copied
        gallery = self.params["gallery"]
        rows = np.arange(len(index)) if gallery is None else np.unique(np.asarray(gallery, np.int64))
        if b.center:
            mean_img = st["mean_img"]
            if mean_img is None and gallery is None:
                if st["db_mean"] is None:
                    st["db_mean"] = index.mean()
                mean_img = st["db_mean"]
            elif mean_img is None:
                mean_img = index.mean(rows)
        else:
            mean_img = np.zeros(ctx.index.dim)
        mean_txt = st["mean_txt"]
        proj = st["proj"]

        def project(v):
            return v if proj is None else proj @ (proj.T @ v)

        def similarities(v):  # (X − mean_img)·v for every indexed row, through the search backend
            return ctx.backend.similarities(v.astype(np.float32)).astype(np.float64) - float(mean_img @ v)

        q_c = np.asarray(query.require_reference(), np.float64) - mean_img
        q = project(q_c)
        s_i = similarities(q)
        if b.query_expansion:
            k = min(b.qe_k, len(rows))
            top = rows[np.argpartition(-s_i[rows], k - 1)[:k]] if k < len(rows) else rows
            db = index.rows(top).astype(np.float64) - mean_img  # only the neighbours are centred
            q = project(expand_query(q_c, db, s_i[top], k, b.qe_temperature, b.qe_include_query))
            s_i = similarities(q)
        s_t = similarities(self._text(ctx, st, query.text) - mean_txt)
        raw_i, raw_t = s_i, s_t
        if b.normalize:
            if st["synthetic"] is not None:
                m_i, m_t = self._minima(st, mean_img if b.center else None, mean_txt if b.center else None)
                s_i, s_t = normalise_similarities(s_i, s_t, m_i, m_t)
            else:
                s_i, s_t = _percentile_normalise(s_i, s_i[rows]), _percentile_normalise(s_t, s_t[rows])
        fused = harris(s_t, s_i, b.harris_lambda)
        return Composition(
            scores=fused.astype(np.float32),
            extras={
                "image_scores": np.maximum(s_i, 0.0),
                "text_scores": np.maximum(s_t, 0.0),
                "image_similarity": raw_i,
                "text_similarity": raw_t,
                "steps": st["steps"],
            },
        )

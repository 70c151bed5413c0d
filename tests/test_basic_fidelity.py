"""BASIC as its authors run it (i-CIR, billpsomas/icir): every step against a value computed here
from the documented rule (tiny arrays by hand, or numpy on the tiny model's own features)."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose

from infocir import metrics as M
from infocir.config import AppConfig, ConfigError, apply_overrides
from infocir.data.corpora import CorpusError, read_corpus
from infocir.engine import RetrievalEngine
from infocir.errors import UserError

REF = "star/star_00.png"
TEXT = "make it red"
# every step off: the raw cosine similarities, rectified, fused with λ = 0 (= their product)
OFF = dict(center=False, project=False, query_expansion=False, normalize=False, harris_lambda=0.0)


@pytest.fixture
def engine(tiny_engine):
    """The session's tiny engine (conftest), read only here."""
    return tiny_engine


def variant(engine, **fields):
    cfg = apply_overrides(engine.config, {f"basic.{k}": v for k, v in fields.items()})
    return RetrievalEngine(cfg, engine.bundle, engine.scan, engine.index)


def unit(x):
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def fused(s_i, s_t, lam=0.0):
    """Rectified similarities fused by Harris' rule (λ = 0: their product)."""
    s_i, s_t = np.maximum(s_i, 0), np.maximum(s_t, 0)
    return s_t * s_i - lam * (s_t + s_i) ** 2


def parts(engine):
    """Database X (unit rows), query image q, query text t, positive corpus P (unit rows)."""
    X = engine.index.features.astype(np.float64)
    q = unit(engine.index.raw_feature(engine.index.row_of[REF]))
    t = unit(engine.encode_text([TEXT])[0])
    P = unit(engine.encode_text(read_corpus("demo_subjects")))
    return X, q, t, P


# ----------------------------------------------------------------------------- 1. centring
@pytest.mark.parametrize("fmt", ["pkl", "npy"])
def test_centring_with_a_laion_mean_file_and_text_centred_on_the_positive_corpus_mean(engine, tmp_path, fmt):
    torch = pytest.importorskip("torch")
    X, q, t, P = parts(engine)
    m = np.random.default_rng(1).normal(0, 0.05, X.shape[1]).astype(np.float32)
    path = tmp_path / f"laion_1m_mean_clip.{fmt}"
    if fmt == "pkl":  # the authors' data/laion_mean/*.pkl: a pickled dict holding a torch tensor
        with open(path, "wb") as f:
            pickle.dump({"laion_1m_mean": torch.from_numpy(m[None])}, f)
    else:
        np.save(path, m)
    comp = variant(engine, **{**OFF, "center": True, "mean_file": str(path)}).compose(REF, TEXT, "basic")
    m = m.astype(np.float64)
    s_i = (X - m) @ (q - m)  # centred, not re-normalised
    s_t = (X - m) @ (t - P.mean(0))  # the text is centred too, on the positive corpus's mean
    assert_allclose(comp.scores, fused(s_i, s_t), atol=1e-4)
    assert_allclose(comp.extras["image_similarity"], s_i, atol=1e-4)
    assert_allclose(comp.extras["text_similarity"], s_t, atol=1e-4)


def test_without_a_mean_file_the_query_database_gives_the_mean(engine):
    X, q, t, P = parts(engine)
    e = variant(engine, **{**OFF, "center": True})
    gallery = np.array([0, 2, 3, 5, 7, 9])  # i-CIR: the instance's own database
    comp = e.compose(REF, TEXT, "basic", gallery=gallery)
    m = X[gallery].mean(0)
    assert_allclose(comp.scores, fused((X - m) @ (q - m), (X - m) @ (t - P.mean(0))), atol=1e-4)
    assert_allclose(comp.extras["image_similarity"], (X - m) @ (q - m), atol=1e-4)
    m = X.mean(0)  # no gallery: the whole index is the database
    assert_allclose(e.compose(REF, TEXT, "basic").extras["image_similarity"], (X - m) @ (q - m), atol=1e-4)
    assert "database mean" in e.compose(REF, TEXT, "basic").extras["steps"]


def test_a_bad_mean_file_is_a_user_error(engine, tmp_path):
    np.save(tmp_path / "m.npy", np.zeros(3, np.float32))
    with pytest.raises(UserError, match="3 dimensions"):
        variant(engine, mean_file=str(tmp_path / "m.npy")).compose(REF, TEXT, "basic")
    with pytest.raises(UserError, match="does not exist"):
        variant(engine, mean_file=str(tmp_path / "none.pkl")).compose(REF, TEXT, "basic")


# ----------------------------------------------------------------------------- 2. contrastive PCA
def test_scatter_is_about_the_shared_centre_not_each_corpus_own_mean():
    from infocir.methods.basic import contrastive_projection

    pos = np.array([[2.0, 0], [-2, 0], [0, 1], [0, -1]])  # S_pos = diag(8, 2) / 3
    neg = np.array([[0.0, 2], [0, 2]])  # S_neg = diag(0, 8) / 1: its offset from the centre counts
    # C = 0.8·diag(8/3, 2/3) − 0.2·diag(0, 8) + 1e-5 → eigenvalues ≈ 2.133 and −1.067: one direction kept
    V = contrastive_projection(pos, neg, 0.2, 250)
    assert V.shape == (2, 1)
    assert abs(V[0, 0]) == pytest.approx(1.0, abs=1e-4)


def test_the_contrastive_matrix_carries_the_authors_constant():
    from infocir.methods.basic import contrastive_projection

    # zero scatter: C = 1e-5·11ᵀ, one positive eigenvalue (2e-5) along (1, 1)/√2
    V = contrastive_projection(np.zeros((3, 2)), np.zeros((3, 2)), 0.2, 250)
    assert V.shape == (2, 1)
    assert_allclose(np.abs(V[:, 0]), [2**-0.5] * 2, atol=1e-6)


def test_projection_applies_to_the_query_image_only(engine):
    X, q, t, P = parts(engine)
    Nn = unit(engine.encode_text(read_corpus("demo_styles")))
    mt, m = P.mean(0), X.mean(0)
    A, B = P - mt, Nn - mt  # both corpora centred on the positive corpus's mean
    C = 0.8 * A.T @ A / (len(A) - 1) - 0.2 * B.T @ B / (len(B) - 1) + 1e-5
    w, V = np.linalg.eigh(C)
    V = V[:, np.argsort(w)[::-1][:3]]
    comp = variant(engine, **{**OFF, "center": True, "project": True, "components": 3}).compose(REF, TEXT, "basic")
    assert_allclose(comp.scores, fused((X - m) @ (V @ (V.T @ (q - m))), (X - m) @ (t - mt)), atol=1e-4)
    assert_allclose(comp.extras["image_similarity"], (X - m) @ (V @ (V.T @ (q - m))), atol=1e-4)
    assert_allclose(comp.extras["text_similarity"], (X - m) @ (t - mt), atol=1e-4)  # database and text unprojected


# ----------------------------------------------------------------------------- 3. contextualize
def test_contextualize_averages_corpus_word_combinations_both_ways(engine):
    X = engine.index.features.astype(np.float64)
    words = read_corpus("demo_subjects")[:4]
    texts = [f"{w} {TEXT}" for w in words] + [f"{TEXT} {w}" for w in words]
    t = unit(unit(engine.encode_text(texts)).mean(0))
    comp = variant(engine, **OFF, contextualize=True, context_words=4).compose(REF, TEXT, "basic")
    q = unit(engine.index.raw_feature(engine.index.row_of[REF]))
    assert_allclose(comp.scores, fused(X @ q, X @ t), atol=1e-5)
    assert_allclose(comp.extras["text_similarity"], X @ t, atol=1e-5)


# ----------------------------------------------------------------------------- 4. query expansion
def test_query_expansion_weights_exp_of_a_tenth_of_the_similarity_with_the_query_included():
    from infocir.methods.basic import expand_query

    q = np.array([1.0, 0.0])
    db = np.array([[0.6, 0.8], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    s = db @ q  # 0.6, 1, 0, −1 → top 2: rows 1 and 0; the query joins them with similarity 1
    w = np.exp(0.1 * np.array([1.0, 0.6, 1.0]))
    w /= w.sum()  # ≈ 0.3399, 0.3266, 0.3399: nearly a plain mean
    assert_allclose(expand_query(q, db, s, 2, 10.0, True), w[0] * db[1] + w[1] * db[0] + w[2] * q)
    w = np.exp(0.1 * np.array([1.0, 0.6]))
    w /= w.sum()
    assert_allclose(expand_query(q, db, s, 2, 10.0, False), w[0] * db[1] + w[1] * db[0])


def test_query_expansion_in_the_engine(engine):
    X, q, t, P = parts(engine)
    s0 = X @ q
    top = np.argsort(-s0)[:3]
    w = np.exp(0.1 * np.r_[s0[top], 1.0])
    q2 = (w / w.sum()) @ np.vstack([X[top], q])
    comp = variant(engine, **{**OFF, "query_expansion": True, "qe_k": 3}).compose(REF, TEXT, "basic")
    assert_allclose(comp.scores, fused(X @ q2, X @ t), atol=1e-5)
    assert_allclose(comp.extras["image_similarity"], X @ q2, atol=1e-5)
    assert AppConfig().basic.qe_temperature == 10.0 and AppConfig().basic.qe_include_query


# ----------------------------------------------------------------------------- 5. normalise with synthetic data
def test_synthetic_minima_and_the_normalisation_rule():
    from infocir.methods.basic import normalise_similarities, synthetic_minima

    img = np.array([[1.0, 0], [0, 2], [-3, 0]])  # unit rows (1,0), (0,1), (−1,0)
    txt = np.array([[0.0, 1], [1, 1]])  # unit rows (0,1), (.7071,.7071)
    m_i, m_t = synthetic_minima(img, txt, None, None)
    assert m_i == pytest.approx(-1.0)  # (1,0)·(−1,0)
    assert m_t == pytest.approx(-(2**-0.5))  # (.7071,.7071)·(−1,0)
    # centred: images − (0.5, 0) → (0.5,0), (−0.5,1), (−1.5,0); texts − (0, 0.5) → (0,0.5), (.7071,.2071)
    m_i, m_t = synthetic_minima(img, txt, np.array([0.5, 0]), np.array([0, 0.5]))
    assert m_i == pytest.approx(-0.75)  # (0.5,0)·(−1.5,0)
    assert m_t == pytest.approx(-1.5 * 2**-0.5)  # (.7071,.2071)·(−1.5,0)
    # both similarities are divided by |the image–image minimum|
    s_i, s_t = normalise_similarities(np.array([0.5, -2.0]), np.array([0.2]), -0.75, -1.0)
    assert_allclose(s_i, [(0.5 + 0.75) / 0.75, (-2 + 0.75) / 0.75])
    assert_allclose(s_t, [(0.2 + 1.0) / 0.75])


def _write_synthetic(path, img, txt):
    np.save(path, {"image_features": img, "text_features": txt}, allow_pickle=True)  # the authors' .pkl.npy


def test_normalize_similarities_reads_the_authors_synthetic_file(engine, tmp_path):
    X, q, t, P = parts(engine)
    rng = np.random.default_rng(3)
    img, txt = rng.normal(size=(6, X.shape[1])), rng.normal(size=(4, X.shape[1]))
    folder = tmp_path / "synthetic_data"
    folder.mkdir()
    _write_synthetic(folder / "dataset_1_sd_clip.pkl.npy", img.astype(np.float32), txt.astype(np.float32))
    mt, m = P.mean(0), X.mean(0)
    img_c, txt_c = unit(img) - m, unit(txt) - mt
    m_i, m_t = (img_c @ img_c.T).min(), (txt_c @ img_c.T).min()
    s_i, s_t = (X - m) @ (q - m), (X - m) @ (t - mt)
    for where in (folder, folder / "dataset_1_sd_clip.pkl.npy"):  # the folder (their flag) or the file
        comp = variant(engine, **{**OFF, "center": True, "normalize": True, "synthetic_data": str(where)}).compose(
            REF, TEXT, "basic"
        )
        assert_allclose(comp.extras["image_scores"], np.maximum((s_i - m_i) / abs(m_i), 0), atol=1e-4)
        assert_allclose(comp.extras["text_scores"], np.maximum((s_t - m_t) / abs(m_i), 0), atol=1e-4)


def test_an_absent_synthetic_file_is_a_clear_user_error(tiny_cfg, tmp_path):
    cfg = apply_overrides(tiny_cfg, {"basic.synthetic_data": str(tmp_path / "synthetic_data")})
    e = RetrievalEngine.from_config(cfg, progress=False)
    info = {m.name: m for m in e.methods()}["basic"]
    assert not info.available and "dataset_1_sd_clip.pkl.npy" in info.reason
    with pytest.raises(UserError, match="basic.synthetic_data"):
        e.compose(REF, TEXT, "basic")
    # without a file the percentile fallback runs and says so
    comp = variant(e, synthetic_data="").compose(REF, TEXT, "basic")
    assert "percentile" in comp.extras["steps"]


# ----------------------------------------------------------------------------- 6. Harris fusion
def test_harris_fusion_rectifies_then_penalises():
    from infocir.methods.basic import harris

    s_t, s_i = np.array([0.5, -0.2, 0.3]), np.array([0.4, 0.9, -0.1])
    # rectified: (0.5, 0, 0.3) and (0.4, 0.9, 0)
    assert_allclose(harris(s_t, s_i, 0.3), [0.5 * 0.4 - 0.3 * 0.9**2, 0 - 0.3 * 0.9**2, 0 - 0.3 * 0.3**2])


def test_harris_lambda_and_rectification_without_normalisation(engine):
    X, q, t, P = parts(engine)
    m = X.mean(0)
    s_i, s_t = (X - m) @ (q - m), (X - m) @ (t - P.mean(0))
    assert (s_i < 0).any() and (s_t < 0).any()  # centring makes negatives: they are clamped at 0
    comp = variant(engine, **{**OFF, "center": True, "harris_lambda": 0.25}).compose(REF, TEXT, "basic")
    si, st = np.maximum(s_i, 0), np.maximum(s_t, 0)
    assert_allclose(comp.scores, st * si - 0.25 * (st + si) ** 2, atol=1e-4)


# ----------------------------------------------------------------------------- presets and validation
def test_presets_are_the_readme_recommended_configurations():
    b = apply_overrides(AppConfig(), {"basic.preset": "basic"}).basic
    assert (b.center, b.project, b.contextualize, b.query_expansion, b.normalize) == (True,) * 5
    assert (b.negative_weight, b.components, b.harris_lambda, b.qe_k, b.qe_temperature, b.context_words) == (
        0.2,
        250,
        0.1,
        25,
        10,
        100,
    )
    nq = apply_overrides(AppConfig(), {"basic.preset": "basic-no-qe"}).basic  # BASIC† of the README's table
    assert not nq.query_expansion and nq.contextualize and nq.project
    # a field given with the preset, or in a later layer, overrides it (as the authors' overrides do)
    assert not apply_overrides(
        AppConfig(), {"basic.preset": "basic", "basic.contextualize": "false"}
    ).basic.contextualize
    later = apply_overrides(
        apply_overrides(AppConfig(), {"basic.preset": "basic"}), {"basic.query_expansion": "false"}
    ).basic
    assert not later.query_expansion and later.contextualize


@pytest.mark.parametrize(
    "key,value",
    [
        ("basic.preset", "best"),
        ("basic.qe_k", "0"),
        ("basic.context_words", "0"),
        ("basic.qe_temperature", "0"),
        ("basic.negative_weight", "1.5"),
        ("basic.harris_lambda", "-1"),
        ("basic.components", "-2"),
    ],
)
def test_basic_fields_are_validated(key, value):
    with pytest.raises(ConfigError, match=key):
        apply_overrides(AppConfig(), {key: value})


# ----------------------------------------------------------------------------- i-CIR's AP
def test_icir_interpolated_ap_hand_worked():
    ranked, rel = ["a", "b", "c", "d"], {"a", "c"}
    # positives at 0-based ranks 0 and 2, recall step 1/2: trapezoids (1+1)/2·½ and (½+⅔)/2·½
    assert M.average_precision_interpolated(ranked, rel) == pytest.approx(0.5 + (0.5 + 2 / 3) / 4)  # 0.7917
    assert M.average_precision_at_k(ranked, rel, 4) == pytest.approx((1 + 2 / 3) / 2)  # 0.8333, not interpolated
    # one positive at rank 2: precision 0/2 before it and 1/3 at it
    assert M.average_precision_interpolated(["x", "y", "a"], {"a"}) == pytest.approx((0 + 1 / 3) / 2)
    assert M.average_precision_interpolated(["x"], {"a"}) == 0.0


def test_icir_benchmark_reports_both_aps_and_basic_searches_the_instance_database(engine, tmp_path, monkeypatch):
    from infocir.evaluation.benchmarks import icir_benchmark
    from infocir.evaluation.harness import evaluate
    from infocir.methods.basic import Basic

    root = tmp_path / "icir"
    root.mkdir()
    (root / "database_files.csv").write_text(
        "image_path,text,instance\n"
        "star/star_01.png,in red,stars\nstar/star_02.png,in red,stars\nstar/star_03.png,in blue,stars\n"
        "circle/circle_00.png,in red,circles\n"
    )
    (root / "query_files.csv").write_text(f"{engine.scan.root / REF},in red,stars\n")
    bench = icir_benchmark(engine, root)
    assert "mAP" in bench.columns() and "mAP_interp" in bench.columns()
    seen = []
    score = Basic.score

    def spy(self, ctx, query):
        seen.append(self.params.get("gallery"))
        return score(self, ctx, query)

    monkeypatch.setattr(Basic, "score", spy)
    r = evaluate(engine, bench, ["basic"])["basic"]
    rows = [engine.index.row_of[f"star/star_0{j}.png"] for j in (1, 2, 3)]
    assert sorted(seen[0]) == sorted(rows)
    from infocir.models.encoding import open_rgb

    s = engine.compose(open_rgb(engine.scan.root / REF), "in red", "basic", gallery=np.array(rows)).scores
    ranked = [engine.index.ids[i] for i in sorted(rows, key=lambda i: -s[i])]
    targets = {"star/star_01.png", "star/star_02.png"}
    assert r["mAP_interp"] == pytest.approx(100 * M.average_precision_interpolated(ranked, targets))
    assert r["mAP"] == pytest.approx(100 * M.average_precision_at_k(ranked, targets, 3))


# ----------------------------------------------------------------------------- corpora
def test_generic_subjects_is_written_from_the_imagenet_lemmas_in_timm():
    from infocir.data.corpora import imagenet_lemma_corpus

    rows = read_corpus("generic_subjects")
    assert rows[0] == "object_name"  # the authors' header: their csv reader keeps it as a text, and so do we
    assert rows[1:] == imagenet_lemma_corpus()
    assert len(rows) == 1842 and rows[1:4] == ["Abacus", "Abaya", "Academic gown"] and rows[-1] == "Zucchini"
    with pytest.raises(CorpusError, match="billpsomas/icir"):  # hand-written by the authors: not shipped
        read_corpus("generic_styles")

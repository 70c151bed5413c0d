"""Search backends: the exact one against numpy done by hand, FAISS's indexes against brute force (recall),
their cache beside the index, and the top-k path from a composed vector straight to a backend."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from infocir.config import AppConfig, apply_overrides
from infocir.index.backends import BLOCK_ROWS, create_backend, score_rows, top_k

faiss = pytest.importorskip("faiss")


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def clustered(n: int, dim: int, clusters: int = 50, seed: int = 0) -> np.ndarray:
    """Unit vectors around ``clusters`` centres, stored as float16 as the index stores them."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    x = centres[rng.integers(0, clusters, n)] + 0.6 * rng.normal(size=(n, dim))
    return unit(x).astype(np.float16)


def brute_force(features: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    s = features.astype(np.float64) @ q.astype(np.float64)
    return np.lexsort((np.arange(len(s)), -s))[:k]


def test_top_k_orders_by_score_then_row_in_float32():
    s = np.array([0.5, 0.9, 0.5, 0.7, 0.9], np.float32)
    assert top_k(s, 3).tolist() == [1, 4, 3]
    assert top_k(s, 10).tolist() == [1, 4, 3, 0, 2]
    assert top_k(s, 2, allowed=np.array([1, 0, 1, 1, 0], bool)).tolist() == [3, 0]
    assert top_k(s, 0).tolist() == [] and top_k(s, 3, allowed=np.zeros(5, bool)).tolist() == []


def test_blockwise_scores_of_a_float16_memmap_equal_one_matrix_product(tmp_path):
    feats = clustered(BLOCK_ROWS + 1000, 16)
    np.save(tmp_path / "f.npy", feats)
    mm = np.load(tmp_path / "f.npy", mmap_mode="r")
    q = unit(np.random.default_rng(1).normal(size=(3, 16)))
    expected = q @ feats.astype(np.float32).T
    np.testing.assert_allclose(score_rows(mm, q), expected, atol=1e-6)
    rows = np.array([5, BLOCK_ROWS + 10, 7])
    np.testing.assert_allclose(score_rows(mm, q[0], rows), expected[0, rows], atol=1e-6)


def test_exact_search_with_a_selection_and_left_out_rows():
    feats = clustered(3000, 32)
    q = unit(np.random.default_rng(2).normal(size=32))
    backend = create_backend("exact", feats)
    s = feats.astype(np.float32) @ q
    order = np.lexsort((np.arange(len(s)), -s))
    rows, scores = backend.search(q, 5)
    assert rows.tolist() == order[:5].tolist()
    np.testing.assert_allclose(scores, s[rows], atol=1e-6)
    rows, _ = backend.search(q, 5, exclude=[order[0], order[2]])
    assert rows.tolist() == [order[1], *order[3:7]]
    allowed = np.zeros(len(s), bool)
    allowed[order[100:200]] = True
    rows, _ = backend.search(q, 4, allowed=allowed, exclude=[order[100]])
    assert rows.tolist() == order[101:105].tolist()


def config(**faiss) -> AppConfig:
    return apply_overrides(AppConfig(), {f"faiss.{k}": str(v) for k, v in faiss.items()})


@pytest.mark.parametrize(
    ("name", "params", "least"),
    [("faiss-flat", {}, 1.0), ("faiss-ivf", {"nprobe": 32}, 0.95), ("faiss-hnsw", {"ef_search": 256}, 0.95)],
)
def test_faiss_recall_at_10_against_brute_force(name, params, least):
    feats = clustered(20_000, 64)
    # queries near the data (a composed query lands near images), not uniform noise
    queries = unit(0.3 * np.random.default_rng(3).normal(size=(40, 64)) + feats[:40].astype(np.float32))
    backend = create_backend(name, feats, config=config(**params))
    hits = 0
    for q in queries:
        rows, scores = backend.search(q, 10)
        assert np.all(np.diff(scores) <= 1e-6)  # descending
        hits += len(set(rows.tolist()) & set(brute_force(feats, q, 10).tolist()))
    recall = hits / (10 * len(queries))
    assert recall >= least, f"{name} recall@10 {recall:.3f}"
    # the exact scores of every image stay available for the methods that fuse them
    np.testing.assert_allclose(backend.similarities(queries[0]), feats.astype(np.float32) @ queries[0], atol=1e-6)


def test_ivf_with_product_quantisation_and_a_bad_sub_quantiser_count():
    feats = clustered(3000, 16)
    backend = create_backend("faiss-ivf", feats, config=config(pq_m=4, nprobe=32))
    assert "PQ4" in backend.spec
    q = feats[0].astype(np.float32)
    assert backend.search(q, 1)[0].tolist() == [0]
    with pytest.raises(ValueError, match="must divide the feature dimension 16"):
        create_backend("faiss-ivf", feats, config=config(pq_m=7))


def test_the_faiss_index_is_kept_beside_the_features_and_rebuilt_when_they_change(tmp_path, caplog):
    feats = clustered(4000, 32)
    caplog.set_level(logging.INFO, logger="infocir.index")
    create_backend("faiss-ivf", feats, config=config(), cache=(tmp_path, "sha-a"))
    saved = list((tmp_path / "faiss").glob("*.faiss"))
    assert len(saved) == 1 and "built" in caplog.text
    caplog.clear()
    again = create_backend("faiss-ivf", feats, config=config(), cache=(tmp_path, "sha-a"))
    assert "reused" in caplog.text and again.search(feats[3].astype(np.float32), 1)[0].tolist() == [3]
    caplog.clear()
    create_backend("faiss-ivf", feats, config=config(), cache=(tmp_path, "sha-b"))  # other features
    assert "built" in caplog.text
    caplog.clear()
    create_backend("faiss-ivf", feats, config=config(nlist=20), cache=(tmp_path, "sha-a"))  # other cells
    assert "built" in caplog.text
    saved[0].write_bytes(b"not an index")  # damaged: rebuilt, not a crash
    caplog.clear()
    create_backend("faiss-ivf", feats, config=config(), cache=(tmp_path, "sha-a"))
    assert "unreadable" in caplog.text and "built" in caplog.text


def test_auto_is_exact_below_the_threshold_and_approximate_above():
    feats = clustered(3000, 16)
    assert create_backend("auto", feats, config=AppConfig()).name == "exact"
    above = apply_overrides(AppConfig(), {"retrieval.approximate_above": "2000"})
    assert create_backend("auto", feats, config=above).name == "faiss-ivf"
    never = apply_overrides(AppConfig(), {"retrieval.approximate_above": "0"})
    assert create_backend("auto", feats, config=never).name == "exact"


def test_a_search_takes_the_top_k_from_the_backend_without_scoring_every_image(tiny_engine, monkeypatch):
    """A vector method's search asks the backend for k rows; the full scores are computed only when a
    caller asks for them (and are then exact)."""
    engine = tiny_engine
    ref = engine.index.ids[0]
    expected = engine.search(ref, "make it red", k=4, method="average", exclude_reference=True)
    full = expected.all_scores.copy()
    calls = []
    monkeypatch.setattr(engine.backend, "similarities", lambda q: calls.append(1) or full)
    res = engine.search(ref, "make it red", k=4, method="average", exclude_reference=True)
    assert calls == [] and res.ids == expected.ids and ref not in res.ids
    np.testing.assert_allclose(res.scores_at(res.rows), res.scores, atol=1e-6)
    assert res.all_scores is full and calls == [1]


@pytest.mark.parametrize("name", ["faiss-flat", "faiss-hnsw"])
def test_the_engine_searches_through_faiss_as_through_exact(tiny_engine, name, tmp_path):
    """Same ids as the exact backend for every vector method on the tiny world, with a map selection."""
    from infocir.engine import RetrievalEngine

    engine = tiny_engine
    cfg = apply_overrides(engine.config, {"retrieval.backend": name})
    other = RetrievalEngine(cfg, engine.bundle, engine.scan, engine.index, tmp_path)
    assert other.backend.name == name and list((tmp_path / "faiss").glob("*.faiss"))
    allowed = np.zeros(len(engine.index), bool)
    allowed[::2] = True
    for method in ("average", "text", "image"):
        for sel in (None, allowed):
            a = engine.search(engine.index.ids[1], "make it blue", k=5, method=method, allowed=sel)
            b = other.search(engine.index.ids[1], "make it blue", k=5, method=method, allowed=sel)
            assert a.ids == b.ids, (method, sel is not None)


def test_exact_search_over_a_memmap_larger_than_its_ram_budget_is_blockwise_and_the_same(tmp_path, caplog):
    feats = clustered(BLOCK_ROWS + 500, 16)
    np.save(tmp_path / "f.npy", feats)
    mm = np.load(tmp_path / "f.npy", mmap_mode="r")
    q = feats[7].astype(np.float32)
    in_ram = create_backend("exact", mm, config=AppConfig())
    assert in_ram.features.dtype == np.float32 and not isinstance(in_ram.features, np.memmap)
    tight = apply_overrides(AppConfig(), {"retrieval.exact_ram_mb": "1"})
    with caplog.at_level(logging.WARNING):
        blockwise = create_backend("exact", mm, config=tight)
    assert isinstance(blockwise.features, np.memmap) and "block by block" in caplog.text
    a, b = in_ram.search(q, 10), blockwise.search(q, 10)
    assert a[0].tolist() == b[0].tolist() and a[0][0] == 7
    np.testing.assert_allclose(a[1], b[1], atol=1e-6)

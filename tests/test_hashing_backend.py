"""Semantic hashing: codes and Hamming distances computed by hand, re-ranking against exact search, the codes kept
beside the index, and one query on the hashing index through the engine."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from infocir.config import AppConfig, ConfigError, apply_overrides
from infocir.index.backends import create_backend
from infocir.index.hashing_backend import binary_codes, hamming, thresholds


def cfg(**hashing) -> AppConfig:
    return apply_overrides(AppConfig(), {f"hashing.{k}": str(v) for k, v in hashing.items()})


def test_codes_and_distances_by_hand():
    x = np.array(
        [[0.9, -0.1, 0.3, 0.0, 0.5, -0.7, 0.2, 0.1, 0.4], [-0.2, 0.6, 0.1, 0.3, -0.5, 0.2, 0.0, 0.9, -0.4]],
        np.float32,
    )
    cut = np.zeros(9, np.float32)
    codes = binary_codes(x, cut)
    # bits "1 0 1 0 1 0 1 1 | 1" and "0 1 1 1 0 1 0 1 | 0", packed big-endian into two bytes each
    assert codes.tolist() == [[0b10101011, 0b10000000], [0b01110101, 0b00000000]]
    q = binary_codes(np.array([0.1, 0.1, 0.1, -0.1, 0.1, 0.1, 0.1, 0.1, 0.1], np.float32), cut)[0]  # 1110 1111 | 1
    # 10101011 ^ 11101111 = 01000100 (2 bits), last bytes equal; 01110101 ^ 11101111 = 10011010 (4) + 1 in the last
    assert hamming(codes, q).tolist() == [2, 5]
    med = thresholds(np.array([[1.0, 5.0], [2.0, 6.0], [3.0, 9.0]], np.float32), "median", sample=10)
    mean = thresholds(np.array([[1.0, 5.0], [2.0, 6.0], [3.0, 10.0]], np.float32), "mean", sample=10)
    assert med.tolist() == [2.0, 6.0] and mean.tolist() == [2.0, 7.0]


def unit_clusters(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(40, dim))[rng.integers(0, 40, n)] + 0.5 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float16)


def test_median_codes_split_every_dimension_in_half_and_rank_by_hamming():
    feats = unit_clusters(4000, 64)
    b = create_backend("hashing", feats, config=cfg(rerank=0))
    bits = np.unpackbits(b.codes, axis=1)[:, :64]
    assert np.all(np.abs(bits.mean(0) - 0.5) <= 0.01)  # the median cut sets each bit for half the images
    q = feats[5].astype(np.float32)
    rows, scores = b.search(q, 10)
    d = hamming(b.codes, b.code_of(q))
    expected = np.lexsort((np.arange(len(d)), d))[:10]
    assert rows.tolist() == expected.tolist() and rows[0] == 5
    np.testing.assert_allclose(scores, 1 - 2 * d[expected] / 64)


def test_reranking_a_short_list_recovers_the_exact_neighbours():
    feats = unit_clusters(8000, 64)
    queries = [feats[i].astype(np.float32) for i in range(0, 400, 20)]
    exact = create_backend("exact", feats)
    hashed = create_backend("hashing", feats, config=cfg(rerank=300))
    plain = create_backend("hashing", feats, config=cfg(rerank=0))
    recall = {"rerank": 0, "plain": 0}
    for q in queries:
        truth = set(exact.search(q, 10)[0].tolist())
        recall["rerank"] += len(truth & set(hashed.search(q, 10)[0].tolist()))
        recall["plain"] += len(truth & set(plain.search(q, 10)[0].tolist()))
        rows, scores = hashed.search(q, 10)
        np.testing.assert_allclose(scores, feats[rows].astype(np.float32) @ q, atol=1e-6)  # real cosines
    assert recall["rerank"] / 200 >= 0.9 > recall["plain"] / 200 - 0.05
    assert recall["rerank"] > recall["plain"]
    everything = create_backend("hashing", feats, config=cfg(rerank=len(feats)))
    assert everything.search(queries[0], 10)[0].tolist() == exact.search(queries[0], 10)[0].tolist()


def test_the_codes_are_kept_beside_the_index(tmp_path, caplog):
    feats = unit_clusters(1000, 32)
    caplog.set_level(logging.INFO, logger="infocir.index")
    first = create_backend("hashing", feats, config=cfg(), cache=(tmp_path, "sha-a"))
    assert list((tmp_path / "hashing").glob("*.npz")) and "Hash codes of 1000" in caplog.text
    caplog.clear()
    again = create_backend("hashing", feats, config=cfg(), cache=(tmp_path, "sha-a"))
    assert "reused" in caplog.text and np.array_equal(again.codes, first.codes)
    caplog.clear()
    create_backend("hashing", feats, config=cfg(threshold="mean"), cache=(tmp_path, "sha-a"))
    assert "Hash codes of 1000" in caplog.text  # another rule: other codes
    with pytest.raises(ConfigError, match="hashing.threshold"):
        cfg(threshold="mode")


def test_one_query_on_the_hashing_index_through_the_engine(tiny_engine):
    """engine.search(backend="hashing") answers from the codes (built once, kept) with the reference left out and
    a map selection honoured; the engine's own backend is unchanged."""
    e = tiny_engine
    ref = e.index.ids[2]
    allowed = np.zeros(len(e.index), bool)
    allowed[1::2] = True
    exact = e.search(ref, "make it red", k=5, method="average", exclude_reference=True)
    hashed = e.search(ref, "make it red", k=5, method="average", exclude_reference=True, backend="hashing")
    assert e.search_backend("hashing") is e.search_backend("hashing") and e.backend.name == "exact"
    assert ref not in hashed.ids and len(hashed.ids) == 5
    assert set(hashed.ids) == set(exact.ids)  # rerank 1000 ≥ the 12 images: the exact top 5
    sel = e.search(ref, "make it red", k=3, method="average", allowed=allowed, backend="hashing")
    assert all(allowed[r] for r in sel.rows)

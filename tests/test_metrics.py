import math

import numpy as np
import pytest

from infocir import metrics as M
from infocir.index.backends import top_k

RANKED = ["a", "b", "c", "d", "e"]
REL = {"b", "d", "x"}  # x is never retrieved


def test_hand_worked_ranking():
    assert M.recall_at_k(RANKED, REL, 1) == 0.0 and M.recall_at_k(RANKED, REL, 2) == 1.0
    assert M.average_precision_at_k(RANKED, REL, 5) == pytest.approx((1 / 2 + 2 / 4) / 3)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert M.ndcg_at_k(RANKED, REL, 5) == pytest.approx(dcg / idcg)
    assert M.reciprocal_rank(RANKED, REL) == 0.5
    assert M.coverage(RANKED, REL, 5) == pytest.approx(2 / 3)
    assert M.mean_rank(RANKED, REL, 5) == pytest.approx((2 + 4 + 6) / 3)


def test_cut_at_k_and_k_larger_than_the_list():
    assert M.average_precision_at_k(RANKED, REL, 1) == 0.0
    assert M.average_precision_at_k(RANKED, REL, 3) == pytest.approx((1 / 2) / 3)
    assert M.reciprocal_rank(RANKED, REL, k=1) == 0.0
    # k = 10 > len(list): same hits, the normaliser min(m, K) stays 3, missing ideals rank 11
    assert M.average_precision_at_k(RANKED, REL, 10) == pytest.approx(1 / 3)
    assert M.mean_rank(RANKED, REL, 10) == pytest.approx((2 + 4 + 11) / 3)
    assert M.ndcg_at_k(RANKED, REL, 10) == pytest.approx(M.ndcg_at_k(RANKED, REL, 5))


def test_ap_normaliser_uses_min_of_m_and_k():
    # 3 relevant, K = 2, both top items relevant: AP@2 = (1 + 1) / min(3, 2) = 1
    assert M.average_precision_at_k(["b", "d", "a"], REL, 2) == pytest.approx(1.0)
    assert M.ndcg_at_k(["b", "d", "a"], REL, 2) == pytest.approx(1.0)


def test_no_relevant_item():
    for f in (M.recall_at_k, M.average_precision_at_k, M.ndcg_at_k, M.coverage):
        assert f(RANKED, set(), 5) == 0.0
        assert f(RANKED, {"z"}, 5) == 0.0
    assert M.reciprocal_rank(RANKED, {"z"}) == 0.0
    assert math.isnan(M.mean_rank(RANKED, set(), 5))
    assert M.mean_rank(RANKED, {"z"}, 5) == 6


def test_perfect_ranking_scores_one():
    assert M.average_precision_at_k(["b", "d", "x", "a"], REL, 5) == 1.0
    assert M.ndcg_at_k(["b", "d", "x", "a"], REL, 5) == pytest.approx(1.0)
    assert M.coverage(["b", "d", "x"], REL, 3) == 1.0


def test_rank_delta_over_the_union():
    d = M.rank_delta(["a", "b", "c"], ["c", "a", "d"], 3)
    assert d == {"a": 1 - 2, "b": 2 - 4, "c": 3 - 1, "d": 4 - 3}
    assert M.rank_delta(RANKED, RANKED, 5) == {r: 0 for r in RANKED}


def test_prompt_metrics_and_mean_similarity():
    scores = {"a": 0.9, "b": 0.8, "c": 0.5, "d": 0.4, "e": 0.1, "x": 0.0}
    pm = M.prompt_metrics(RANKED, ["b", "d", "x"], 5, scores)
    assert pm["mean_similarity"] == pytest.approx(0.4)
    assert pm["map"] == M.average_precision_at_k(RANKED, REL, 5)
    assert set(pm) == {"ndcg", "map", "mrr", "coverage", "mean_rank", "mean_similarity"}


def test_top_k_breaks_ties_by_row_and_respects_the_mask():
    s = np.array([0.5, 0.9, 0.9, 0.1])
    assert top_k(s, 4).tolist() == [1, 2, 0, 3]
    assert top_k(s, 2).tolist() == [1, 2]
    assert top_k(s, 10).tolist() == [1, 2, 0, 3]
    assert top_k(s, 3, allowed=np.array([True, False, True, True])).tolist() == [2, 0, 3]
    with pytest.raises(ValueError):
        M.recall_at_k(RANKED, REL, 0)

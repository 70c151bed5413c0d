"""Issue 18 §2's engine side (``infocir.evaluation.method_comparison``): cross ranks, overlap@k, the metrics
against the relevant images and the heatmap's rank matrix, checked against figures worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from infocir.evaluation.method_comparison import (
    compare_methods,
    first_relevant_rank,
    method_scores,
    overlap_at_k,
)

# three methods' rankings at k = 4 (A's fifth image is cut)
A = ["a", "b", "c", "d", "e"]
B = ["b", "x", "a", "y"]
C = ["y", "z", "a", "b"]
RELEVANT = ["b", "y", "q"]  # q is in no list


@pytest.fixture
def cmp():
    return compare_methods({"A": A, "B": B, "C": C}, 4, RELEVANT)


def test_each_tile_knows_its_rank_in_the_other_lists(cmp):
    assert cmp.lists["A"] == ["a", "b", "c", "d"]
    assert cmp.cross_ranks["A"] == [
        {"B": 3, "C": 3},
        {"B": 1, "C": 4},
        {"B": None, "C": None},
        {"B": None, "C": None},
    ]
    assert cmp.cross_ranks["B"] == [
        {"A": 2, "C": 4},
        {"A": None, "C": None},
        {"A": 1, "C": 3},
        {"A": None, "C": 1},
    ]
    assert cmp.cross_ranks["C"] == [
        {"A": None, "B": 4},
        {"A": None, "B": None},
        {"A": 1, "B": 3},
        {"A": 2, "B": 1},
    ]
    # "e" is A's fifth: beyond k it is in no top-k, so nothing ranks it
    assert all("e" not in cmp.lists[m] for m in cmp.methods)


def test_overlap_at_k_counts_shared_images_over_k(cmp):
    # A∩B = {a, b}, A∩C = {a, b}, B∩C = {a, b, y}
    assert cmp.overlap == [[1.0, 0.5, 0.5], [0.5, 1.0, 0.75], [0.5, 0.75, 1.0]]
    assert cmp.overlap_of("C", "B") == 0.75
    assert overlap_at_k(["a", "b"], ["c", "d"], 2) == 0.0
    # k, not the length of a shorter list, is the denominator
    assert overlap_at_k(["a"], ["a", "b", "c"], 3) == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        overlap_at_k(A, B, 0)


def test_metrics_against_the_relevant_images(cmp, ap_at_k_by_hand):
    s = cmp.scores
    # A: b at 2 → AP = (1/2) / min(3, 4); B: b at 1, y at 4 → (1 + 2/4) / 3; C: y at 1, b at 4 → the same
    assert s["A"].ap == pytest.approx(0.5 / 3)
    assert s["B"].ap == pytest.approx(1.5 / 3)
    assert s["C"].ap == pytest.approx(1.5 / 3)
    for m, ranked in (("A", A), ("B", B), ("C", C)):
        assert s[m].ap == pytest.approx(ap_at_k_by_hand(ranked, set(RELEVANT), 4))
        assert s[m].recall == 1.0 and s[m].relevant == 3
    assert (s["A"].found, s["B"].found, s["C"].found) == (1, 2, 2)
    assert (s["A"].first_rank, s["B"].first_rank, s["C"].first_rank) == (2, 1, 1)
    # nothing relevant in the top k: AP and R@k are 0, the first rank unknown from the top k alone
    none = method_scores(["c", "d"], ["q"], 2)
    assert (none.ap, none.recall, none.found, none.first_rank) == (0.0, 0.0, 0, None)
    # ... and given from the full ranking when the caller read it
    assert method_scores(["c", "d"], ["q"], 2, first_rank=17).first_rank == 17


def test_without_relevant_images_there_are_no_metrics():
    assert compare_methods({"A": A, "B": B}, 4).scores is None
    assert compare_methods({"A": A, "B": B}, 4, []).scores is None


def test_the_heatmap_matrix_has_a_row_per_method_and_the_baseline_order(cmp):
    # A's top 4 in its order, then what only B and C found by their best rank (y: 1, x: 2, z: 2, x seen first)
    assert cmp.images == ["a", "b", "c", "d", "y", "x", "z"]
    assert cmp.ranks == [
        [1, 2, 3, 4, None, None, None],
        [3, 1, None, None, 4, 2, None],
        [3, 4, None, None, 1, None, 2],
    ]
    t = cmp.as_delta_table(["method A", "method B", "method C"])
    assert t.prompts == ["method A", "method B", "method C"] and t.images == cmp.images
    assert t.ranks.tolist() == [[1, 2, 3, 4, 5, 5, 5], [3, 1, 5, 5, 4, 2, 5], [3, 4, 5, 5, 1, 5, 2]]
    # Δ against the first method (missing = k + 1), as F3 colours rank changes against the original
    assert t.delta.tolist() == [[0] * 7, [2, -1, 2, 1, -1, -3, 0], [2, 2, 2, 1, -4, 0, -3]]


def test_first_relevant_rank_reads_the_full_ranking():
    ids = ["a", "b", "c", "d", "y", "r"]
    row_of = {iid: i for i, iid in enumerate(ids)}
    scores = np.array([0.9, 0.7, 0.8, 0.6, 0.5, 0.95], np.float32)  # r, the reference, scores highest
    top = ["a", "c"]  # the top 2 with r left out
    # y: a, c, b, d score higher (r is left out of its own results) → rank 5; with r ranked → 6
    assert first_relevant_rank(top, ["y"], scores, row_of, excluded_rows=[5]) == 5
    assert first_relevant_rank(top, ["y"], scores, row_of) == 6
    # in the top k: its place there
    assert first_relevant_rank(top, ["y", "c"], scores, row_of, excluded_rows=[5]) == 2
    # nothing rankable: an id outside the index, or only the excluded reference
    assert first_relevant_rank(top, ["q"], scores, row_of) is None
    assert first_relevant_rank(top, ["r"], scores, row_of, excluded_rows=[5]) is None
    # without scores only the top k is read
    assert first_relevant_rank(top, ["c"], None, row_of) == 2
    assert first_relevant_rank(top, ["y"], None, row_of) is None
    # the comparison takes these ranks for the methods whose top k holds nothing relevant
    cmp = compare_methods({"A": ["a", "c"], "B": ["c", "a"]}, 2, ["y"], first_ranks={"A": 5, "B": 7})
    assert (cmp.scores["A"].first_rank, cmp.scores["B"].first_rank) == (5, 7)


def test_k_must_be_positive():
    with pytest.raises(ValueError):
        compare_methods({"A": A, "B": B}, 0)

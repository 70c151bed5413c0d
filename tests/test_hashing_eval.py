"""Issue 19's evaluation: semantic hashing against float search, the QT-FIRS report's table shape.  Ranks are
worked by hand on small arrays; on the demo world, the float row equals the harness's own ranks and a short list
as long as the collection ranks exactly as float search."""

from __future__ import annotations

import numpy as np
import pytest

from infocir.evaluation.benchmarks import load_benchmark
from infocir.evaluation.harness import query_results
from infocir.evaluation.hashing_eval import float_rank, hamming_rank, hashing_table
from infocir.evaluation.rank_table import format_rank_table, rank_summary


def test_rank_summary_by_hand():
    r = rank_summary([1, 3, 12, None])
    assert r["R@1"] == 25.0 and r["R@5"] == 50.0 and r["R@10"] == 50.0  # the unrankable query is a miss
    assert r["median_rank"] == 3.0 and r["mean_rank"] == pytest.approx((1 + 3 + 12) / 3)
    assert "| a | 25.00 | 50.00 | 50.00 | 3.0 | 5.33 |" in format_rank_table({"a": r})


def test_float_and_hamming_ranks_by_hand():
    scores = np.array([0.9, 0.5, 0.7, 0.7, 0.1])
    ok = np.array([True, True, True, True, False])
    assert float_rank(scores, [3], ok) == 3  # 0.9 and the tie at row 2 (lower row first) come before it
    assert float_rank(scores, [1, 4], ok) == 4  # row 4 cannot be ranked; row 1 is fourth
    assert float_rank(scores, [4], ok) is None
    dist = np.array([3, 1, 1, 0, 0])  # Hamming order of the allowed rows: 3, 1, 2, 0
    assert hamming_rank(dist, scores, [0], ok, 0) == 4
    assert hamming_rank(dist, scores, [2], ok, 0) == 3
    # a short list of 3 (rows 3, 1, 2) re-ordered by score: 2 (0.7, row 2) then 3 (0.7, row 3) then 1
    assert hamming_rank(dist, scores, [2], ok, 3) == 1 and hamming_rank(dist, scores, [1], ok, 3) == 3
    assert hamming_rank(dist, scores, [0], ok, 3) == 4  # outside the short list: its Hamming place


def test_the_table_on_a_small_demo_world(demo_world_engine):
    engine, root = demo_world_engine
    bench = load_benchmark("demo", engine, str(root))
    bench.queries = bench.queries[:40]
    n = len(engine.index)
    table = hashing_table(engine, bench, "average", rules=("median",), rerank=n)
    harness = rank_summary([r["first_target_rank"] for r in query_results(engine, bench, "average")])
    for c in ("R@1", "R@5", "R@10", "median_rank", "mean_rank"):
        assert table["float (cosine)"][c] == pytest.approx(harness[c])
        assert table[f"median, re-ranked {n}"][c] == pytest.approx(harness[c])  # the whole collection re-ranked
    hamming_only = table["median, Hamming only"]
    assert hamming_only["mean_rank"] >= harness["mean_rank"]  # one bit per dimension loses some order
    assert table["median, Hamming only"]["bytes/image"] == str(engine.index.dim // 8)

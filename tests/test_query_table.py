"""Issue 18 §1, engine side: the benchmark query browser's table is the harness's per-query figures, its
aggregate row is ``evaluate``'s, and one query's AP@k is the one the search's own ranking gives."""

from __future__ import annotations

import json

import pytest

from infocir.evaluation.benchmarks import load_benchmark
from infocir.evaluation.harness import evaluate
from infocir.evaluation.query_table import query_table, worst_first


@pytest.fixture(scope="module")
def demo(demo_world_engine):
    engine, root = demo_world_engine
    bench = load_benchmark("demo", engine, str(root))
    bench.queries = bench.queries[:60]  # enough queries for a spread of AP, a fraction of the time
    methods = [engine.config.retrieval.method, "image"]
    return engine, bench, methods, query_table(engine, bench, methods, k=10)


def test_aggregate_row_is_evaluates_figures(demo):
    engine, bench, methods, table = demo
    assert len(table.rows) == len(bench.queries) and table.methods == methods
    figures = evaluate(engine, bench, methods)
    for m in methods:
        assert table.aggregate[m]["mAP@10"] == pytest.approx(figures[m]["mAP@10"])
        assert table.aggregate[m]["R@10"] == pytest.approx(figures[m]["R@10"])
    # the two methods disagree somewhere: the columns are not one method's figures twice
    assert any(r["methods"][methods[0]]["ap"] != r["methods"][methods[1]]["ap"] for r in table.rows)


def test_the_views_side_by_side_table_and_its_aggregate_rows(demo, tmp_path):
    """The view's compact table for two methods: each method's columns are query_table's, Δ is AP₂ − AP₁, and
    each method's aggregate row is evaluate's figures (one method alone: the same as in the pair)."""
    from infocir.projection.embedding_map import MapService
    from infocir.ui.callbacks.benchmark import BenchmarkTables, aggregate, export_rows
    from infocir.ui.services import Services

    engine, bench, methods, table = demo
    s = Services(engine, engine.config, MapService(engine, engine.config.umap, tmp_path / "map"))
    tables = BenchmarkTables(s, bench=bench)
    data = tables.compute(tuple(methods), 10)
    assert tables.cached(tuple(methods), 10) is data and tables.cached((methods[0],), 10) is None
    figures = evaluate(engine, bench, methods)
    for i, m in enumerate(methods):
        assert data["agg"][i]["map"] == pytest.approx(figures[m]["mAP@10"])
        assert data["agg"][i]["recall"] == pytest.approx(figures[m]["R@10"])
        assert data["agg"][i]["median_first"] == table.aggregate[m]["median_first_rank"]
        for row, r in zip(data["rows"], table.rows, strict=True):
            v = r["methods"][m]
            assert (row[f"ap{i}"], row[f"first{i}"], row[f"recall{i}"]) == (v["ap"], v["first_rank"], v["recall"])
    assert all(r["delta"] == r["ap1"] - r["ap0"] for r in data["rows"])
    # the page's own means over all rows (the filtered row's rule) agree with evaluate's
    assert [a["map"] for a in aggregate(data["rows"], 2)] == pytest.approx([a["map"] for a in data["agg"]])
    alone = tables.compute((methods[0],), 10)
    assert alone["agg"] == data["agg"][:1] and "delta" not in alone["rows"][0]
    flat = export_rows(data)
    assert {f"{m} AP@10" for m in methods} <= set(flat[0]) and f"Δ AP@10 ({methods[1]} − {methods[0]})" in flat[0]


def test_one_query_recomputed_from_the_search(demo, ap_at_k_by_hand):
    engine, bench, methods, table = demo
    m = methods[0]
    # a query whose targets are found but not all at the top (a non-trivial AP)
    row = next(r for r in table.rows if 0 < r["methods"][m]["ap"] < 1)
    q = bench.queries[row["query"]]
    assert (row["reference_id"], row["text"], row["targets"]) == (q.reference_id, q.text, list(q.target_ids))
    ranked = engine.search(q.reference_id, q.text, k=len(engine.index) - 1, method=m, exclude_reference=True).ids
    targets = set(q.target_ids)
    assert row["methods"][m]["ap"] == pytest.approx(ap_at_k_by_hand(ranked, targets, 10))
    assert row["methods"][m]["recall"] == float(any(t in targets for t in ranked[:10]))
    first = next(i for i, iid in enumerate(ranked, start=1) if iid in targets)
    assert row["methods"][m]["first_rank"] == first


def test_worst_first_and_export(demo):
    _, _, methods, table = demo
    m = methods[0]
    order = worst_first(table, m)
    aps = [r["methods"][m]["ap"] for r in order]
    assert aps == sorted(aps) and {r["query"] for r in order} == {r["query"] for r in table.rows}
    flat = table.flat_rows()
    assert list(flat[0]) == table.fields() and len(flat) == len(table.rows)
    assert flat[0][f"{m} AP@10"] == table.rows[0]["methods"][m]["ap"]
    json.dumps(table.to_dict())  # plain JSON: the page stores it and exports it


def test_a_k_outside_the_benchmarks_cutoffs(demo):
    engine, bench, methods, _ = demo
    t = query_table(engine, bench, methods[0], k=3)
    assert all(0 <= r["methods"][methods[0]]["recall"] <= 1 for r in t.rows) and "mAP@3" in t.aggregate[methods[0]]

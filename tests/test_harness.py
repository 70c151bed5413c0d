import csv
import json

import pytest

from infocir.evaluation.benchmarks import Benchmark, BenchmarkError, CIRQuery, load_benchmark
from infocir.evaluation.harness import evaluate, format_table, write_results


@pytest.fixture
def engine(tiny_engine):
    """The session's tiny engine (conftest), read only here."""
    return tiny_engine


def test_scores_are_perfect_when_targets_are_the_methods_own_top_results(engine, ap_at_k_by_hand):
    queries = []
    for ref in ("star/star_00.png", "circle/circle_01.png", "square/square_02.png"):
        res = engine.search(ref, "", k=3, method="image")
        assert res.ids[0] == ref
        queries.append(CIRQuery(ref, "anything", tuple(res.ids[1:3]), group="g"))
    bench = Benchmark("fixture", queries, metrics={"map": (2, 10), "recall": (1, 2)})
    r = evaluate(engine, bench, ["image", "text"])
    # the reference is excluded from its own ranking, so its two nearest neighbours are ranks 1-2
    assert r["image"]["mAP@2"] == pytest.approx(100) and r["image"]["R@1"] == pytest.approx(100)
    assert r["image"]["mAP@10[g]"] == pytest.approx(100)
    # text only: the same ranking for every query (the text's), less each query's own reference
    n = len(engine.index)
    aps, r1s = [], []
    for q in queries:
        ranked = engine.search(q.reference_id, q.text, k=n, method="text", exclude_reference=True).ids
        aps.append(ap_at_k_by_hand(ranked, set(q.target_ids), 10))
        r1s.append(float(ranked[0] in q.target_ids))
    assert r["text"]["mAP@10"] == pytest.approx(100 * sum(aps) / 3)
    assert r["text"]["R@1"] == pytest.approx(100 * sum(r1s) / 3) and r["text"]["queries"] == 3
    table = format_table(r, bench.columns()).splitlines()
    assert table[0] == "| method | mAP@2 | mAP@10 | R@1 | R@2 | p50_ms |"
    assert table[2].startswith("| image | 100.00 | 100.00 | 100.00 | 100.00 | ")
    assert table[3].startswith(f"| text | {r['text']['mAP@2']:.2f} | {100 * sum(aps) / 3:.2f} | ")


def test_results_are_written_as_json_and_csv(engine, tmp_path):
    bench = Benchmark("fixture", [CIRQuery("star/star_00.png", "x", ("star/star_01.png",))])
    r = evaluate(engine, bench, ["image", "text"])
    write_results(r, tmp_path, {"benchmark": "fixture"})
    data = json.loads((tmp_path / "results.json").read_text())
    assert data == {"meta": {"benchmark": "fixture"}, "results": r}  # every figure, unrounded
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    assert [row["method"] for row in rows] == ["image", "text"]
    for row in rows:
        assert {c: float(v) for c, v in row.items() if c != "method"} == pytest.approx(r[row["method"]])


def test_demo_benchmark_needs_the_demo_world(engine):
    with pytest.raises(BenchmarkError, match="queries.json"):
        load_benchmark("demo", engine)
    with pytest.raises(BenchmarkError, match="unknown benchmark"):
        load_benchmark("nope", engine)


def test_the_harness_and_the_search_leave_out_the_same_row(engine):
    """One rule (engine.reference_row): the evaluated ranking without the reference is the one
    search(exclude_reference=True) shows."""
    from infocir.evaluation.harness import evaluate_method

    ref = "circle/circle_01.png"
    first = engine.search(ref, "", k=1, method="image", exclude_reference=True).ids[0]
    assert first != ref
    bench = Benchmark("fixture", [CIRQuery(ref, "x", (first,))], metrics={"recall": (1,)})
    assert evaluate_method(engine, bench, "image")["R@1"] == pytest.approx(100)
    assert evaluate_method(engine, bench, "image", exclude_reference=False)["R@1"] == pytest.approx(
        0
    )  # the reference is #1

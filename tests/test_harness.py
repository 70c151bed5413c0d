import json

import pytest

from infocir.engine import RetrievalEngine
from infocir.evaluation.benchmarks import Benchmark, BenchmarkError, CIRQuery, load_benchmark
from infocir.evaluation.harness import evaluate, format_table, write_results


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from conftest import make_image_folder, tiny_config

    tmp = tmp_path_factory.mktemp("h")
    return RetrievalEngine.from_config(tiny_config(make_image_folder(tmp / "data"), tmp / "cache"), progress=False)


def test_scores_are_perfect_when_targets_are_the_methods_own_top_results(engine):
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
    assert r["text"]["mAP@10"] <= 100 and r["text"]["queries"] == 3
    table = format_table(r, bench.columns())
    assert table.splitlines()[0].startswith("| method | mAP@2 | mAP@10 | R@1 | R@2 | p50_ms |")


def test_results_are_written_as_json_and_csv(engine, tmp_path):
    bench = Benchmark("fixture", [CIRQuery("star/star_00.png", "x", ("star/star_01.png",))])
    r = evaluate(engine, bench, ["image"])
    write_results(r, tmp_path, {"benchmark": "fixture"})
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["meta"]["benchmark"] == "fixture" and "image" in data["results"]
    assert (tmp_path / "results.csv").read_text().startswith("method,")


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

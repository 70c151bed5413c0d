"""Issue 18 §3 / seed 003: pseudo relevance-feedback iterations, evaluated as the QT-FIRS report does.  The
expected figures are recomputed here from the report's protocol with plain numpy (rank every image by the
query, Rocchio by hand on the top P), not through the module under test."""

from __future__ import annotations

import numpy as np
import pytest

from infocir.errors import UserError
from infocir.evaluation.benchmarks import load_benchmark
from infocir.evaluation.feedback_iterations import PseudoFeedback, feedback_iterations, pseudo_marks


def test_pseudo_marks_take_the_top_and_the_bottom_of_the_list():
    ranked = [f"i{n}" for n in range(12)]
    assert pseudo_marks(ranked, 3, 0, 10) == {"relevant": ["i0", "i1", "i2"], "nonrelevant": []}
    assert pseudo_marks(ranked, 2, 3, 10) == {"relevant": ["i0", "i1"], "nonrelevant": ["i7", "i8", "i9"]}
    # a short list never marks one image both ways
    assert pseudo_marks(ranked[:3], 2, 2, 10) == {"relevant": ["i0", "i1"], "nonrelevant": ["i2"]}


@pytest.mark.parametrize(
    "kwargs", [{"iterations": -1}, {"breaking_rank": 0}, {"positives": 0, "negatives": 0}, {"positives": 11}]
)
def test_setup_is_checked(kwargs):
    with pytest.raises(UserError):
        PseudoFeedback(**kwargs)


def test_iterations_follow_the_reports_protocol_by_hand(demo_world_engine):
    engine, root = demo_world_engine
    bench = load_benchmark("demo", engine, str(root))
    method = "average"
    # the queries average gets wrong at rank 1 (they are refined) and a few it gets right (they are not)
    firsts = {}
    feats = engine.index.rows(np.arange(len(engine.index))).astype(np.float64)
    for n, q in enumerate(bench.queries):
        v = engine.compose(q.reference_id, q.text, method).query_vector.astype(np.float64)
        s = feats @ v
        s[engine.index.row_of[q.reference_id]] = -np.inf
        order = np.argsort(-s, kind="stable")
        targets = {engine.index.row_of[t] for t in q.target_ids}
        firsts[n] = (next(i for i, r in enumerate(order) if r in targets) + 1, order, v, s)
    wrong = [n for n, f in firsts.items() if f[0] > 1][:6]
    right = [n for n, f in firsts.items() if f[0] == 1][:4]
    assert len(wrong) >= 3, "the fixture world should have queries average gets wrong"
    bench.queries = [bench.queries[n] for n in wrong + right]

    fb = engine.config.feedback
    expected0, expected1 = [], []
    for n in wrong + right:
        rank, order, v, _ = firsts[n]
        expected0.append(rank)
        if rank == 1:
            expected1.append(1)
            continue
        top = order[:3]
        q1 = fb.alpha * v + fb.beta * feats[top].mean(0)
        q1 /= np.linalg.norm(q1)
        s1 = feats @ q1
        s1[engine.index.row_of[bench.queries[len(expected1)].reference_id]] = -np.inf
        targets = [engine.index.row_of[t] for t in bench.queries[len(expected1)].target_ids]
        expected1.append(int(np.sum(s1 > max(s1[t] for t in targets))) + 1)

    rows = feedback_iterations(engine, bench, method, PseudoFeedback(iterations=1, positives=3))
    for row, ranks in zip(rows, (expected0, expected1), strict=True):
        assert row["R@1"] == pytest.approx(100 * np.mean([r <= 1 for r in ranks]))
        assert row["R@5"] == pytest.approx(100 * np.mean([r <= 5 for r in ranks]))
        assert row["median_rank"] == pytest.approx(np.median(ranks))
        assert row["mean_rank"] == pytest.approx(np.mean(ranks), rel=1e-6)
    assert rows[0]["refined"] == 0 and rows[1]["refined"] == pytest.approx(100 * len(wrong) / len(bench.queries))
    assert expected1 != expected0  # the iteration moved something: the check can tell the two apart


def test_a_score_fusion_method_is_refused_with_a_message(demo_world_engine):
    engine, root = demo_world_engine
    bench = load_benchmark("demo", engine, str(root))
    bench.queries = bench.queries[:2]
    with pytest.raises(UserError, match="one query vector"):
        feedback_iterations(engine, bench, "fusion", PseudoFeedback())


def test_evaluate_command_prints_the_iteration_table(demo_world_engine, tmp_path, capsys):
    import json

    from infocir.cli import main

    engine, root = demo_world_engine
    args = ["evaluate", "--dataset", str(root), "--set", f"index.cache_dir={engine.config.index.cache_dir}"]
    args += ["--method", "average", "--method", "fusion", "--limit", "20", "--out", str(tmp_path)]
    assert main([*args, "--feedback-iterations", "2", "--top-positive", "2"]) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.startswith("| average |")]
    assert [ln.split("|")[2].strip() for ln in lines[1:]] == ["0", "1", "2"]  # the method table's row, then 3
    assert "no iterations for fusion" in out
    saved = json.loads((tmp_path / "results.json").read_text())["meta"]["feedback_iterations"]
    assert saved["setup"]["positives"] == 2 and len(saved["tables"]["average"]) == 3
    # a bad setting stops before the evaluation, with a message and no traceback
    assert main([*args, "--feedback-iterations", "1", "--breaking-rank", "0"]) == 1
    err = capsys.readouterr().err
    assert "breaking_rank" in err and "Traceback" not in err


def test_search_command_takes_relevance_marks(demo_world_engine, capsys):
    """`infocir search --method feedback --relevant ID --nonrelevant ID` ranks as engine.search with those marks."""
    from infocir.cli import main

    engine, root = demo_world_engine
    q = load_benchmark("demo", engine, str(root)).queries[0]
    base = engine.search(q.reference_id, q.text, k=8, method="average", exclude_reference=True).ids
    args = ["search", "--dataset", str(root), "--set", f"index.cache_dir={engine.config.index.cache_dir}"]
    args += ["-r", q.reference_id, "-t", q.text, "-k", "8", "--exclude-reference", "--method", "feedback"]
    args += ["--set", "feedback.base_method=average", "--relevant", base[6], "--nonrelevant", base[0]]
    assert main(args) == 0
    shown = [ln.split()[-1] for ln in capsys.readouterr().out.splitlines() if ln.strip()[:1].isdigit()]
    want = engine.search(
        q.reference_id,
        q.text,
        k=8,
        method="feedback",
        base="average",
        relevant=[base[6]],
        nonrelevant=[base[0]],
        exclude_reference=True,
    )
    assert shown == want.ids and shown != base
    assert main([*args[:-4], "--relevant", "nope.png"]) == 2
    assert "not dataset ids: nope.png" in capsys.readouterr().err

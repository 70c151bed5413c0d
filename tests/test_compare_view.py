"""Issue 18 §2's Dash side without a browser: the section's pure parts (what it draws on the map, when a
comparison is stale, what it scores against, the columns it renders) on hand-made comparison stores."""

from __future__ import annotations

import numpy as np
from dash import Patch, no_update

from infocir.ui.callbacks.compare import Comparer, check_choice, relevant_set, same_query
from infocir.ui.figures import COMPARE_MARKERS, COMPARE_SLOTS, comparison_traces

QUERY = {"reference": {"kind": "dataset", "id": "r.png"}, "text": "make it red", "k": 3, "exclude_reference": True}


def store(relevant=(), source=None, stale=False) -> dict:
    methods = [
        {"name": "image", "label": "Image only", "ids": ["a", "b", "c"], "rows": [0, 1, 2], "classes": ["x"] * 3},
        {"name": "average", "label": "Average", "ids": ["b", "d", "a"], "rows": [1, 3, 0], "classes": ["x"] * 3},
    ]
    for m in methods:
        m.update(ms=1.0, first_rank=None, given_ideals=False)
    return {"query": QUERY, "methods": methods, "relevant": list(relevant), "relevant_source": source, "stale": stale}


def test_the_map_gets_one_marker_style_per_method_and_empty_slots():
    coords = np.arange(20, dtype=np.float32).reshape(10, 2)
    traces = comparison_traces(coords, [{"label": "A top-3", "rows": [4, 2]}, {"label": "B top-3", "rows": [7]}])
    assert len(traces) == COMPARE_SLOTS  # always three: a patch replaces them in place
    assert [t.name for t in traces[:2]] == ["A top-3", "B top-3"]
    assert list(traces[0].customdata) == [4, 2] and list(traces[0].x) == [8.0, 4.0] and list(traces[0].y) == [9.0, 5.0]
    assert [t.marker.symbol for t in traces] == [m[0] for m in COMPARE_MARKERS]
    assert len({t.marker.symbol for t in traces}) == COMPARE_SLOTS
    assert len(traces[2].x) == 0 and not traces[2].showlegend


def test_map_markers_follow_the_switch_and_staleness():
    data = store()
    shown = Comparer.map_markers(data, ["map"])
    assert shown == [{"label": "Image only top-3", "rows": [0, 1, 2]}, {"label": "Average top-3", "rows": [1, 3, 0]}]
    assert Comparer.map_markers(data, []) is None
    assert Comparer.map_markers(store(stale=True), ["map"]) is None
    assert Comparer.map_markers(None, ["map"]) is None


def test_a_search_for_another_query_marks_the_comparison_stale():
    data = store()
    same = {**QUERY, "method": "searle", "ids": ["z"]}  # another method, same query: still this comparison's
    assert Comparer.mark_stale(same, data) is no_update
    for change in ({"text": "make it blue"}, {"k": 4}, {"exclude_reference": False}, {"reference": {"id": "s.png"}}):
        other = {**same, **change}
        if "reference" in change:
            other["reference"] = {"kind": "dataset", "id": "s.png"}
        assert not same_query(QUERY, other)
        patch = Comparer.mark_stale(other, data)
        assert isinstance(patch, Patch)
    assert Comparer.mark_stale({**same, "text": "x"}, store(stale=True)) is no_update  # said once
    assert Comparer.mark_stale(None, data) is no_update


def test_the_choice_must_be_two_or_three_methods_and_a_valid_k():
    assert check_choice(["a"], 10) == "Choose 2 or 3 methods to compare (now 1)."
    assert check_choice([], 10) == "Choose 2 or 3 methods to compare (now 0)."
    assert "now 4" in check_choice(["a", "b", "c", "d"], 10)
    assert check_choice(["a", "b"], 10) is None and check_choice(["a", "b", "c"], 100) is None
    assert "k (panel A)" in check_choice(["a", "b"], 0) and "k (panel A)" in check_choice(["a", "b"], None)


def test_ideals_first_then_the_loaded_benchmark_querys_targets():
    marks = {"reference": "r.png", "text": "make it red", "targets": ["t1", "t2"]}
    assert relevant_set(["i1"], marks, QUERY) == (["i1"], "ideals")
    assert relevant_set([], marks, QUERY) == (["t1", "t2"], "targets")
    # panel A no longer holds the benchmark query: its targets do not count
    assert relevant_set([], marks, {**QUERY, "text": "make it blue"}) == ([], None)
    assert relevant_set(None, None, QUERY) == ([], None)


def test_the_view_renders_columns_badges_overlap_and_the_heatmap_rows():
    view, fig, style = Comparer.render(store(["a"], "targets"))
    assert style == {}
    html_text = str(view)
    # the second column's tile "b" is #1 there and #2 in image's list; "d" is in no other list
    assert "#2 in image" in html_text and "– in image" in html_text
    assert "data-overlap='0.6667'" in html_text  # {a, b} shared of k = 3
    heat = fig.data[0]
    assert list(heat.y) == ["Image only (baseline)", "Average"]
    assert list(fig.layout.xaxis.ticktext)[0] == "◎ a"  # the relevant image's column is marked
    none_view, _, hidden = Comparer.render(None)
    assert none_view is None and hidden == {"display": "none"}

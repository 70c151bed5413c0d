"""infocir.export (rows for the downloads, the share link, the CLI command) and the pure pieces of
"readable explanations" (the saliency legend, F3's largest changes, the fixed-size F3 figure, panel E's
pinned baseline)."""

from __future__ import annotations

import csv
import io
import json
import shlex

import numpy as np
import pytest

from infocir import export
from infocir.config import AppConfig, apply_overrides
from infocir.explain.rank_delta import largest_changes, rank_delta_table
from infocir.explain.render import heat_rgba, legend_rgba, legend_uri


def test_result_rows_csv_and_json_round_trip():
    meta = {
        "method": "searle",
        "model": "M",
        "weights": "w",
        "dataset_fingerprint": "fp",
        "reference": "a/1.png",
        "text": "make it red, please",
    }
    rows = export.result_rows(
        ["a/1.png", "b/2.png"], [0.9, np.float32(0.5)], ["/d/a/1.png", "/d/b/2.png"], ["A", "B"], meta
    )
    assert [r["rank"] for r in rows] == [1, 2] and rows[1]["score"] == pytest.approx(0.5)
    assert isinstance(rows[1]["score"], float)
    back = list(csv.DictReader(io.StringIO(export.to_csv(rows, export.RESULT_FIELDS))))
    assert [r["id"] for r in back] == ["a/1.png", "b/2.png"] and back[0]["path"] == "/d/a/1.png"
    assert back[0]["text"] == "make it red, please" and back[1]["dataset_fingerprint"] == "fp"
    assert list(back[0]) == list(export.RESULT_FIELDS)
    doc = json.loads(export.results_json(rows, {"text": "t", "k": 2}, {"model": "M", "dataset": {"fingerprint": "fp"}}))
    assert doc["query"] == {"text": "t", "k": 2} and doc["model"] == "M" and doc["dataset"]["fingerprint"] == "fp"
    assert doc["results"][0] == {"rank": 1, "id": "a/1.png", "path": "/d/a/1.png", "score": 0.9, "class": "A"}
    with pytest.raises(ValueError, match="differ in length"):
        export.result_rows(["a"], [1.0, 2.0], ["p"], ["c"])


def test_csv_writes_missing_values_as_empty_cells_and_lists_joined():
    text = export.to_csv([{"a": None, "b": float("nan"), "c": ["x", "y"]}])
    assert text.splitlines() == ["a,b,c", ",,x y"]


def test_share_link_round_trip_with_awkward_ids_and_text():
    q = export.SharedQuery(
        reference="star/star 01,a&b.png",
        text="make it red & 50% \"bigger\"",
        method="searle",
        k=7,
        ideals=("x/1,2.png", "y/ü.png"),
        exclude_reference=False,
    )
    s = export.query_string(q)
    assert s.startswith("?") and " " not in s and "&ideal=" in s
    assert export.parse_query_string(s) == q
    assert export.parse_query_string("") is None and export.parse_query_string("?") is None
    assert export.parse_query_string("?token=abc") is None  # not a query: the page keeps its own
    bad = export.parse_query_string("?text=hi&k=0")
    assert bad.k is None and bad.text == "hi" and bad.reference is None
    assert export.parse_query_string("?text=hi&k=x").k is None
    assert export.parse_query_string("?text=&ideal=a&ideal=a").ideals == ("a",)
    assert q.same_search(export.SharedQuery("star/star 01,a&b.png", q.text, "searle", 7, exclude_reference=False))
    assert not q.same_search(export.SharedQuery("star/star 01,a&b.png", q.text, "searle", 8, exclude_reference=False))
    assert not q.same_search(export.SharedQuery("star/star 01,a&b.png", q.text, "searle", 7, exclude_reference=True))
    assert export.parse_query_string("?text=a&exclude=1").exclude_reference is True
    assert export.parse_query_string("?text=a").exclude_reference is None


def test_config_overrides_list_only_what_differs_and_make_paths_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = apply_overrides(
        AppConfig(),
        {
            "dataset.root": "data",
            "model.pretrained": "",
            "index.chunk_size": "4",
            "ui.port": "9000",
            "ui.token": "secret",
            "retrieval.method": "average",
            "basic.center": "false",
            "umap.n_epochs": "20",
        },
    )
    out = export.config_overrides(cfg)
    assert out == {
        "dataset.root": str(tmp_path / "data"),
        "model.pretrained": "",
        "index.chunk_size": "4",
        "basic.center": "false",
    }
    assert export.config_overrides(AppConfig()) == {}


def test_cli_command_is_shell_quoted_and_parses_back():
    cmd = export.cli_command(
        "star/it's 1.png", "make it 'red' $HOME", 5, "searle", {"model.pretrained": "", "dataset.root": "/a b"}
    )
    argv = shlex.split(cmd)
    assert argv == [
        "infocir",
        "search",
        "--reference",
        "star/it's 1.png",
        "--text",
        "make it 'red' $HOME",
        "-k",
        "5",
        "--method",
        "searle",
        "--set",
        "model.pretrained=",
        "--set",
        "dataset.root=/a b",
    ]
    assert export.cli_argv(None, "", 3, None) == ["search", "--text", "", "-k", "3"]
    assert export.cli_argv("a.png", "t", 3, "image", exclude_reference=True)[-1] == "--exclude-reference"


def test_cli_command_reproduces_the_engine_results(tiny_cfg, capsys):
    """The command's arguments through infocir.cli.main print the ids the engine returns for the page."""
    from infocir.cli import main
    from infocir.engine import RetrievalEngine

    engine = RetrievalEngine.from_config(tiny_cfg, progress=False)
    for exclude in (False, True):
        res = engine.search("star/star_01.png", "make it red", k=5, method="average", exclude_reference=exclude)
        argv = shlex.split(
            export.cli_command(
                "star/star_01.png",
                "make it red",
                5,
                "average",
                export.config_overrides(tiny_cfg),
                exclude_reference=exclude,
            )
        )
        capsys.readouterr()
        assert main(argv[1:]) == 0
        lines = [ln.split() for ln in capsys.readouterr().out.splitlines() if ln.strip()[:1].isdigit()]
        assert [ln[-1] for ln in lines] == res.ids
        assert ("star/star_01.png" in res.ids) is not exclude


def test_enhancement_rows_pin_the_baseline_and_give_deltas():
    result = {
        "order": [1, 0, 2],
        "rows": [
            {"text": "orig", "is_baseline": True, "metrics": {"ndcg": 0.5, "mean_rank": 4.0}, "ids": ["a"]},
            {"text": "better", "is_baseline": False, "metrics": {"ndcg": 0.75, "mean_rank": 2.0}, "ids": ["b"]},
            {"text": "none", "is_baseline": False, "metrics": {"ndcg": None, "mean_rank": 3.0}, "ids": []},
        ],
    }
    rows = export.enhancement_rows(result, ["ndcg", "mean_rank"])
    assert [r["prompt"] for r in rows] == ["orig", "better", "none"]
    assert [r["place"] for r in rows] == [2, 1, 3]
    assert rows[0]["d_ndcg"] == 0.0 and rows[1]["d_ndcg"] == pytest.approx(0.25) and rows[1]["d_mean_rank"] == -2.0
    assert rows[2]["d_ndcg"] is None


def test_rank_delta_rows_and_largest_changes():
    t = rank_delta_table(["a", "b", "c", "d"], [("other", ["d", "b", "a", "e"])], k=4)
    rows = export.rank_delta_rows(t.images, t.prompts, t.ranks, t.delta, 4)
    by = {(r["prompt"], r["image"]): r for r in rows}
    assert by[("other", "d")] == {"prompt": "other", "image": "d", "rank": 1, "delta": -3}
    assert by[("original", "e")]["rank"] is None and by[("other", "c")]["rank"] is None
    top = largest_changes(t, 2)  # |Δ|: a 2, b 0, c 2, d 3, e 1; a ties c and comes first
    assert top.images == ["a", "d"] and top.ranks.shape == (2, 2)  # kept in the table's order
    assert largest_changes(t, None) is t and largest_changes(t, 99) is t
    single = rank_delta_table(["a", "b"], [], k=2)
    assert largest_changes(single, 1).images == ["a"]


def test_legend_is_the_maps_own_ramp_high_at_the_top():
    strip = np.asarray(legend_rgba(100, 6))
    assert strip.shape == (100, 6, 4)
    top, bottom = np.asarray(heat_rgba(np.array([[1.0, 0.0]])))[0]
    assert (strip[0, 0] == top).all() and (strip[-1, 0] == bottom).all()
    assert strip[0, 0, 3] > strip[-1, 0, 3]  # high is opaque, low shows the image through
    assert legend_uri(100, 6).startswith("data:image/png;base64,") and legend_uri(100, 6) is legend_uri(100, 6)


def test_rank_delta_figure_keeps_cells_readable_at_many_columns():
    from infocir.ui.figures import F3_CELL, rank_delta_figure

    n = 45
    images = [f"c/{i}.png" for i in range(n)]
    ranks = np.vstack([np.arange(1, n + 1), np.arange(n, 0, -1)])
    fig = rank_delta_figure(
        images, ["orig", "other"], ranks, ranks - ranks[0], n, thumbnails=[f"/t/{i}" for i in images]
    )
    plot_w = fig.layout.width - fig.layout.margin.l - fig.layout.margin.r
    assert plot_w / n == F3_CELL[0] >= 40
    assert len(fig.layout.images) == n and fig.layout.images[3].source == "/t/c/3.png" and fig.layout.images[3].x == 3


def test_enhancement_table_pins_the_baseline_with_deltas():
    from infocir.ui.callbacks.enhancement import results_table

    metrics = lambda v: {"ndcg": v, "map": v, "mrr": v, "coverage": v, "mean_rank": 10 * (1 - v), "mean_similarity": v}  # noqa: E731
    result = {
        "order": [1, 2, 0],
        "best": {},
        "rows": [
            {"text": "orig", "is_baseline": True, "metrics": metrics(0.5), "ids": []},
            {"text": "good", "is_baseline": False, "metrics": metrics(0.75), "ids": []},
            {"text": "ok", "is_baseline": False, "metrics": metrics(0.6), "ids": []},
        ],
    }
    table = results_table(result, 1)
    body = table.children[1].children
    assert [r.id["index"] for r in body] == [0, 1, 2]  # the baseline first, then best first
    good = body[1].children
    texts = [c.children for c in good]
    assert texts[0] == "1" and "+0.250" in texts and "+25 pp" in texts and "-2.5" in texts
    assert good[3].className == "delta better"
    assert all(r.tabIndex == "0" and r.role == "button" for r in body)

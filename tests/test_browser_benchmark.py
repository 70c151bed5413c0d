"""Issue 18 §1 in a real headless Chromium: the benchmark query browser lists the queries worst first, a
click loads one into panel A and searches with its ground-truth targets marked in B, ↓ steps to the next
query, the targets can be copied to the ideals, and the table downloads as CSV; with two methods chosen it
shows both methods' columns side by side and their Δ AP."""

from __future__ import annotations

import csv
import io
import json

import pytest
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

from conftest import BROWSER_SHAPES  # noqa: E402
from infocir.evaluation.benchmarks import load_benchmark  # noqa: E402
from infocir.evaluation.query_table import query_table  # noqa: E402
from infocir.ui.browser import MAP_POINT_JS  # noqa: E402
from infocir.ui.layout import default_method  # noqa: E402
from test_browser import click_fresh, gallery_ids, server_errors, wait_until  # noqa: E402
from test_browser_compare import LABELS, set_methods  # noqa: E402
from test_browser_share import allow_downloads, downloaded, press  # noqa: E402

pytestmark = pytest.mark.browser

# the fixtures engine_cfg (24 images of four shapes), shared_maps and app are in conftest.py

ROWS_JS = """return [...document.querySelectorAll('#bench-table tr.bench-row')].map(r => ({
    q: r.dataset.q, ap: parseFloat(r.children[5].textContent), selected: r.classList.contains('selected')}));"""
# each row as {header: cell text}; the headers without their sort arrow
TABLE_JS = """const heads = [...document.querySelectorAll('#bench-table th')].map(
    h => h.textContent.replace(/ [▲▼]$/, ''));
return [...document.querySelectorAll('#bench-table tr.bench-row')].map(
    r => Object.fromEntries([...r.children].map((c, i) => [heads[i], c.textContent])));"""


@pytest.fixture(scope="module", autouse=True)
def queries(engine_cfg):
    """A queries.json for the module's world, in the demo world's format: each query asks for another shape,
    whose six images are the targets."""
    engine, _ = engine_cfg
    qs = []
    for i, (src, dst) in enumerate(zip(BROWSER_SHAPES, BROWSER_SHAPES[1:] + BROWSER_SHAPES[:1], strict=True)):
        for j in (0, 3):
            qs.append(
                {
                    "query_id": len(qs),
                    "reference_id": f"{src}/{src}_{j:02d}.png",
                    "text": f"make it a {dst} ({i}{j})",
                    "attribute": "shape",
                    "new_value": dst,
                    "target_ids": [f"{dst}/{dst}_{n:02d}.png" for n in range(6)],
                }
            )
    (engine.scan.root / "queries.json").write_text(json.dumps(qs))
    return qs


def map_rows(d, trace: str) -> list[int]:
    """The index rows of a map trace's points, sorted."""
    got = d.execute_script(MAP_POINT_JS, trace) or {"pts": []}
    return sorted(p[2] for p in got["pts"])


def value(d, element_id: str) -> str:
    return d.find_element(By.ID, element_id).get_attribute("value") or ""


def method_label(d) -> str:
    """Panel A's method, as its dropdown shows it."""
    return d.find_element(By.ID, "query-method").get_attribute("textContent").strip()


def marked(d, cls: str) -> set[str]:
    return set(
        d.execute_script(
            f"return [...document.querySelectorAll('#results-gallery .tile.{cls}')].map(e => e.dataset.id)"
        )
    )


def test_the_query_browser_loads_queries_marks_targets_and_exports(dash_page, app, queries, tmp_path, engine_cfg):
    dash_page.start_server(app)
    d = dash_page.driver
    click_fresh(d, "#bench-toggle")
    rows = wait_until(lambda: (r := d.execute_script(ROWS_JS)) and len(r) == len(queries) and r, 60)
    assert rows and len(rows) == len(queries)
    aps = [r["ap"] for r in rows]
    assert aps == sorted(aps), "worst first by default"
    assert "all queries" in dash_page.find_elements_text("#bench-table tr.aggregate")

    # a click: panel A gets that query (reference and text), the search runs, its targets are marked in B
    first = queries[int(rows[0]["q"])]
    click_fresh(d, "#bench-table tr.bench-row", 0)
    assert wait_until(lambda: value(d, "query-text") == first["text"], 20)
    dash_page.wait_for_contains_text("#query-reference-caption", first["reference_id"], 20)
    assert wait_until(lambda: first["text"] in dash_page.find_elements_text("#results-summary"), 30)
    shown = gallery_ids(d)
    targets = set(first["target_ids"]) & set(shown)
    assert targets and first["reference_id"] not in shown  # left out of its own results, as the table ranks
    assert wait_until(lambda: marked(d, "target") == targets, 10)
    assert not marked(d, "ideal")  # targets are not ideals until copied
    # D marks every ground-truth target (in the top k or not) in its own trace, apart from the ideals
    engine, _ = engine_cfg
    want_rows = sorted(engine.index.row_of[t] for t in first["target_ids"])
    assert wait_until(lambda: map_rows(d, "targets") == want_rows, 60), map_rows(d, "targets")

    # ↓ in the focused table: the next query in the list loads
    second = queries[int(rows[1]["q"])]
    assert d.execute_script("return document.getElementById('bench-table').contains(document.activeElement)")
    press(d, Keys.ARROW_DOWN)
    assert wait_until(lambda: value(d, "query-text") == second["text"], 20)
    assert wait_until(lambda: second["text"] in dash_page.find_elements_text("#results-summary"), 30)
    assert wait_until(lambda: [r["selected"] for r in d.execute_script(ROWS_JS)][1], 10)
    targets = set(second["target_ids"]) & set(gallery_ids(d))
    assert wait_until(lambda: marked(d, "target") == targets, 10)

    # copy targets to ideals: the marked tiles become ideals
    click_fresh(d, "#bench-copy")
    assert wait_until(lambda: marked(d, "ideal") == targets, 10)

    # the sort: a click on the AP header reverses it (best first)
    click_fresh(d, "#bench-table th.sortable", 4)  # #, text, attribute, targets, AP@k
    assert wait_until(lambda: [r["ap"] for r in d.execute_script(ROWS_JS)] == sorted(aps, reverse=True), 10)

    # the CSV: one row per query
    folder = tmp_path / "downloads"
    allow_downloads(d, folder)
    click_fresh(d, "#bench-csv")
    table = list(csv.DictReader(io.StringIO(downloaded(folder, ".csv").read_text())))
    assert len(table) == len(queries) and {r["text"] for r in table} == {q["text"] for q in queries}
    method = default_method(engine, engine_cfg[1])  # the view follows panel A's method
    assert [round(float(r[f"{method} AP@10"]), 3) for r in table] == sorted(aps)

    # the filter: a substring of the text keeps the matching queries (and a row for the shown ones)
    d.find_element(By.ID, "bench-filter").send_keys("(10)")
    assert wait_until(lambda: len(d.execute_script(ROWS_JS)) == 1, 10)
    assert "shown (filtered)" in dash_page.find_elements_text("#bench-table tr.aggregate")
    assert not server_errors(dash_page)


def test_two_methods_side_by_side_sort_by_delta_and_export(dash_page, app, queries, tmp_path, engine_cfg):
    engine, cfg = engine_cfg
    first, second = "average", "image"
    want = query_table(engine, load_benchmark("demo", engine), [first, second], k=10)
    gains = [r["methods"][second]["ap"] - r["methods"][first]["ap"] for r in want.rows]
    assert len(set(gains)) > 1, "the two methods rank this world differently: Δ has something to sort"
    dash_page.start_server(app)
    d = dash_page.driver
    click_fresh(d, "#bench-toggle")
    assert wait_until(lambda: len(d.execute_script(ROWS_JS)) == len(queries), 60)
    a_label = method_label(d)
    set_methods(d, [LABELS[first], LABELS[second]], "bench-methods")
    delta = f"Δ AP@10 ({second} − {first})"
    rows = wait_until(lambda: (t := d.execute_script(TABLE_JS)) and delta in t[0] and len(t) == len(queries) and t, 60)
    assert rows, d.execute_script(TABLE_JS)[:1]

    # each row: both methods' AP@k, first target and R@k as query_table computes them, and Δ = AP₂ − AP₁
    for row in rows:
        got = want.rows[int(row["#"])]["methods"]
        for m in (first, second):
            v = got[m]
            assert row[f"AP@10 · {m}"] == f"{v['ap']:.3f}"
            assert row[f"first target · {m}"] == ("–" if v["first_rank"] is None else str(v["first_rank"]))
            assert row[f"R@10 · {m}"] == f"{v['recall']:.0f}"
        assert float(row[delta]) == pytest.approx(got[second]["ap"] - got[first]["ap"], abs=5e-4)
    aps = [float(r[f"AP@10 · {first}"]) for r in rows]
    assert aps == sorted(aps), "worst first by the first method's AP"
    # the aggregate row: each method's mAP (evaluate's figures)
    agg = dash_page.find_elements_text("#bench-table tr.aggregate")
    assert all(f"mAP {want.aggregate[m]['mAP@10']:.1f}" in agg for m in (first, second)), agg

    # Δ sorts largest first: where the second method beats the first most
    click_fresh(d, "#bench-table th.sortable", 4 + 3 * 2)  # #, text, attribute, targets, 3 × 2 methods, Δ
    deltas = lambda: [float(r[delta]) for r in d.execute_script(TABLE_JS)]  # noqa: E731
    assert wait_until(
        lambda: (
            deltas() == sorted(deltas(), reverse=True)
            and "Δ" in d.find_element(By.CSS_SELECTOR, "#bench-table th.sorted").text
        ),
        10,
    )

    # a click loads the query into A and searches; panel A's method stays
    top = queries[int(d.execute_script(TABLE_JS)[0]["#"])]
    click_fresh(d, "#bench-table tr.bench-row", 0)
    assert wait_until(lambda: value(d, "query-text") == top["text"], 20)
    assert wait_until(lambda: top["text"] in dash_page.find_elements_text("#results-summary"), 30)
    assert method_label(d) == a_label

    # the CSV: both methods' columns and Δ for every query
    folder = tmp_path / "downloads"
    allow_downloads(d, folder)
    click_fresh(d, "#bench-csv")
    table = list(csv.DictReader(io.StringIO(downloaded(folder, ".csv").read_text())))
    assert len(table) == len(queries)
    for r in table:
        got = want.rows[int(r["query"])]["methods"]
        for m in (first, second):
            assert float(r[f"{m} AP@10"]) == pytest.approx(got[m]["ap"])
            assert float(r[f"{m} R@10"]) == pytest.approx(got[m]["recall"])
        assert float(r[delta]) == pytest.approx(got[second]["ap"] - got[first]["ap"])
    assert not server_errors(dash_page)

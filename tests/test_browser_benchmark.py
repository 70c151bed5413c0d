"""Issue 18 §1 in a real headless Chromium: the benchmark query browser lists the queries worst first, a
click loads one into panel A and searches with its ground-truth targets marked in B, ↓ steps to the next
query, the targets can be copied to the ideals, and the table downloads as CSV."""

from __future__ import annotations

import csv
import io
import json

import pytest
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

from conftest import BROWSER_SHAPES  # noqa: E402
from infocir.ui.browser import MAP_POINT_JS  # noqa: E402
from test_browser import click_fresh, gallery_ids, server_errors, wait_until  # noqa: E402
from test_browser_share import allow_downloads, downloaded, press  # noqa: E402

pytestmark = pytest.mark.browser

# the fixtures engine_cfg (24 images of four shapes), shared_maps and app are in conftest.py

ROWS_JS = """return [...document.querySelectorAll('#bench-table tr.bench-row')].map(r => ({
    q: r.dataset.q, ap: parseFloat(r.children[5].textContent), selected: r.classList.contains('selected')}));"""


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
    assert [round(float(r["AP@10"]), 3) for r in table] == sorted(aps)

    # the filter: a substring of the text keeps the matching queries (and a row for the shown ones)
    d.find_element(By.ID, "bench-filter").send_keys("(10)")
    assert wait_until(lambda: len(d.execute_script(ROWS_JS)) == 1, 10)
    assert "shown (filtered)" in dash_page.find_elements_text("#bench-table tr.aggregate")
    assert not server_errors(dash_page)

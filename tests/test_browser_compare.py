"""Issue 18 §2 in a real headless Chromium: methods side by side.  Picking methods and clicking Compare shows one
column per method holding exactly the engine's top-k, badges with each tile's rank in the other lists, the
overlap@k matrix, the metrics against the ideals, F3's heatmap with a row per method, and each method's top-k
on the map in its own marker; one method (or four) gives a message, a method that cannot run the query is
named, and a search for another query marks the comparison stale."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

from test_browser import click_fresh, search, server_errors, tiles, wait_for_map, wait_until  # noqa: E402

pytestmark = pytest.mark.browser

# the fixtures engine_cfg (24 images of four shapes, the tiny model), shared_maps and app are in conftest.py

COLUMNS_JS = """return [...document.querySelectorAll('#cmp-view .cmp-col')].map(c => ({
    method: c.dataset.method,
    head: c.querySelector('.cmp-col-head').innerText,
    ap: (c.querySelector('.cmp-metric[data-m=AP] b') || {}).textContent || null,
    first: (c.querySelector('.cmp-metric[data-m=first] b') || {}).textContent || null,
    tiles: [...c.querySelectorAll('.cmp-tile')].map(t => ({
        id: t.dataset.id, rank: t.dataset.rank,
        badges: [...t.querySelectorAll('.cmp-badge')].map(
            b => [b.dataset.method, b.dataset.rank, b.textContent])}))}));"""
OVERLAP_JS = """return [...document.querySelectorAll('#cmp-view .cmp-overlap td')].map(
    td => [td.dataset.a, td.dataset.b, parseFloat(td.dataset.overlap), td.innerText]);"""
HEATMAP_JS = """const g = document.querySelector('#cmp-heatmap .js-plotly-plot');
if (!g || !g._fullData || !g._fullData[0] || g._fullData[0].type !== 'heatmap') return null;
return {rows: [...g._fullData[0].y], text: g._fullData[0].text};"""
MAP_TRACE_JS = """const g = document.querySelector('#map-graph .js-plotly-plot');
const t = g && g._fullData && g._fullData.find(t => t.name === arguments[0]);
return t ? {symbol: t.marker.symbol, rows: [...(t.customdata || [])], n: t._length} : null;"""

LABELS = {"image": "Image only", "average": "Average", "text": "Text only"}


def set_methods(d, labels: list[str], element_id: str = "cmp-methods") -> None:
    """A methods multi-select as a user sets it: open it, deselect all, tick the wanted ones in order, close."""
    el = wait_until(lambda: d.find_elements(By.ID, element_id), 10)[0]
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
    el.click()
    buttons = wait_until(lambda: d.find_elements(By.CSS_SELECTOR, ".dash-dropdown-action-button"), 10)
    [b for b in buttons if b.text.strip() == "Deselect All"][0].click()
    assert wait_until(lambda: not d.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option[aria-selected=true]"), 10)
    for label in labels:
        options = d.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option")
        [o for o in options if (o.get_attribute("textContent") or "").strip() == label][0].click()
    picked = lambda: [  # noqa: E731
        (o.get_attribute("textContent") or "").strip()
        for o in d.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option[aria-selected=true]")
    ]
    assert wait_until(lambda: sorted(picked()) == sorted(labels), 10), picked()
    d.switch_to.active_element.send_keys(Keys.ESCAPE)
    assert wait_until(lambda: not d.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option"), 10)


def compare(d) -> None:
    click_fresh(d, "#cmp-run")


def columns(d) -> list[dict]:
    return d.execute_script(COLUMNS_JS)


def reference(d) -> str:
    return d.find_element(By.ID, "query-reference-caption").text.split(" · ")[0]


def message(d) -> str:
    return d.find_element(By.ID, "cmp-message").text


def test_methods_side_by_side_show_each_top_k_cross_ranks_overlap_metrics_and_map(
    dash_page, app, engine_cfg, ap_at_k_by_hand
):
    engine, _ = engine_cfg
    dash_page.start_server(app)
    d = dash_page.driver
    dash_page.wait_for_element("#query-text", timeout=30)
    k, text = 6, "make it red"
    search(dash_page, text, k=k)
    assert wait_until(lambda: len(tiles(d)) == k, 30)
    ref = reference(d)
    assert d.find_element(By.CSS_SELECTOR, "#query-exclude-ref input").is_selected()
    want = {m: engine.search(ref, text, k=k, method=m, exclude_reference=True).ids for m in LABELS}

    click_fresh(d, "#cmp-toggle")
    set_methods(d, list(LABELS.values()))
    compare(d)
    cols = wait_until(lambda: (c := columns(d)) and len(c) == 3 and c, 30)
    assert [c["method"] for c in cols] == list(LABELS)

    # each column is exactly that method's top k, in order, ranks 1..k
    for c in cols:
        assert [t["id"] for t in c["tiles"]] == want[c["method"]]
        assert [t["rank"] for t in c["tiles"]] == [str(i) for i in range(1, k + 1)]
        assert "mark ideals to score" in c["head"]  # no ideals, no benchmark query
    # every badge is the tile's rank in the other list ("–" when that list lacks it)
    present = 0
    for c in cols:
        for t in c["tiles"]:
            assert sorted(b[0] for b in t["badges"]) == sorted(m for m in LABELS if m != c["method"])
            for other, rank, shown in t["badges"]:
                if t["id"] in want[other]:
                    r = want[other].index(t["id"]) + 1
                    assert rank == str(r) and f"#{r} in {other}" in shown
                    present += 1
                else:
                    assert rank == "" and f"– in {other}" in shown
    assert present, "the lists share no image: the badges were not put to the test"

    # overlap@k: |A ∩ B| / k for every pair, as shown
    cells = d.execute_script(OVERLAP_JS)
    assert len(cells) == 9
    for a, b, value, shown in cells:
        expected = len(set(want[a]) & set(want[b])) / k
        assert value == pytest.approx(expected, abs=1e-4)
        assert f"{expected:.2f}" in shown and f"({round(expected * k)}/{k})" in shown

    # F3's heatmap across methods: one row per method, the first the baseline; its first row reads 1..k
    heat = wait_until(lambda: d.execute_script(HEATMAP_JS), 20)
    assert heat["rows"] == ["Image only (baseline)", "Average", "Text only"]
    assert heat["text"][0][:k] == [str(i) for i in range(1, k + 1)]

    # the map: each method's top k in a marker of its own
    wait_for_map(dash_page)
    traces = {
        m: wait_until(lambda m=m: (t := d.execute_script(MAP_TRACE_JS, f"{LABELS[m]} top-{k}")) and t["n"] and t, 30)
        for m in LABELS
    }
    for m, t in traces.items():
        assert t["rows"] == [engine.index.row_of[i] for i in want[m]]
    assert len({t["symbol"] for t in traces.values()}) == 3

    # an ideal marked in B: Compare again scores each method against it
    d.find_elements(By.CSS_SELECTOR, "#results-gallery .tile-body")[1].click()
    ideal = wait_until(lambda: d.find_elements(By.CSS_SELECTOR, "#results-gallery .tile.ideal"), 10)[0]
    ideal_id = ideal.get_attribute("data-id")
    compare(d)
    cols = wait_until(lambda: (c := columns(d)) and all(x["ap"] for x in c) and c, 30)
    for c in cols:
        ranked = want[c["method"]]
        assert float(c["ap"]) == pytest.approx(ap_at_k_by_hand(ranked, {ideal_id}, k), abs=5e-4)
        if ideal_id in ranked:
            assert c["first"] == f"#{ranked.index(ideal_id) + 1}"
    assert "1 image(s) marked ideal" in d.find_element(By.ID, "cmp-view").text

    # a search for another query: the comparison says it is stale and leaves the map
    search(dash_page, "make it blue", k=k)
    dash_page.wait_for_contains_text("#cmp-view .cmp-stale", "another query", 30)
    gone = lambda: all(  # noqa: E731
        not (t := d.execute_script(MAP_TRACE_JS, f"{label} top-{k}")) or t["n"] == 0 for label in LABELS.values()
    )
    assert wait_until(gone, 30)
    assert d.execute_script(MAP_TRACE_JS, "top-k")["n"] == k  # the map still shows the new search's own top k
    assert not server_errors(dash_page)


def test_comparing_needs_two_or_three_methods_that_can_run_the_query(dash_page, app):
    dash_page.start_server(app)
    d = dash_page.driver
    dash_page.wait_for_element("#query-text", timeout=30)
    click_fresh(d, "#cmp-toggle")

    set_methods(d, ["Image only"])
    compare(d)
    assert wait_until(lambda: "Choose 2 or 3 methods to compare (now 1)" in message(d), 20), message(d)
    assert not columns(d)
    set_methods(d, ["Image only", "Average", "Text only", "Product of similarities"])
    compare(d)
    assert wait_until(lambda: "(now 4)" in message(d), 20), message(d)

    # no text: Text only cannot run this query; it is named, and one method is left: nothing to compare
    set_methods(d, ["Image only", "Text only"])
    compare(d)
    assert wait_until(lambda: "needs a modification text" in message(d), 20), message(d)
    assert "nothing to compare" in message(d) and not columns(d)

    # with a text both run: the columns come, the message goes
    box = d.find_element(By.ID, "query-text")
    box.send_keys("make it red")
    compare(d)
    assert wait_until(lambda: len(columns(d)) == 2, 20)
    assert wait_until(lambda: message(d) == "", 10), message(d)
    assert not server_errors(dash_page)

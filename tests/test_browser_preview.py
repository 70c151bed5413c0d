"""Issue 18 §4 in a real headless Chromium: enhancement drives every panel.  Clicking a candidate of E
previews that prompt in B, C, D (the query ✕ and the top-k), F1 and F2 without replacing the query; "Back to
the query" and the original row end the preview; Adopt makes it the query; F3 holds every candidate as a row."""

from __future__ import annotations

from collections import Counter

import pytest
from selenium.webdriver.common.by import By

from infocir.ui.browser import MAP_POINT_JS, click_fresh, gallery_ids, wait_until
from test_browser import heatmap_rows, server_errors, start_and_search

pytestmark = pytest.mark.browser

WORDS_JS = (
    "const g=document.querySelector('#explain-tokens .js-plotly-plot');"
    "if(!g||!g._fullData||!g._fullData[0]) return []; const t=g._fullData[0];"
    "return [...(t.orientation==='h' ? t.y : t.x)].map(String);"
)
HIST_JS = (
    "const g=document.querySelector('#dist-histogram .js-plotly-plot');"
    "if(!g||!g._fullData) return {}; const out={};"
    "for (const t of g._fullData) { if (t.type!=='bar') continue;"
    "  const cats = t.orientation==='h' ? t.y : t.x, vals = t.orientation==='h' ? t.x : t.y;"
    "  for (let i=0;i<t._length;i++) out[String(cats[i])] = (out[String(cats[i])]||0) + Number(vals[i]); }"
    "return out;"
)


def top_k_ids(d) -> list:
    got = d.execute_script(MAP_POINT_JS, "top-k") or {"pts": []}
    return sorted(p[2] for p in got["pts"])


def summary(d) -> str:
    return d.find_element(By.ID, "results-summary").text


def test_a_candidate_previews_everywhere_until_adopted(dash_page, app, engine_cfg):
    from infocir.ui.layout import default_method

    engine, cfg = engine_cfg
    ref, k, text = engine.index.ids[0], 8, "change it"
    d = start_and_search(dash_page, app, text, k)
    exclude = d.find_element(By.CSS_SELECTOR, "#query-exclude-ref input").is_selected()
    method = default_method(engine, cfg)
    original = engine.search(ref, text, k=k, method=method, exclude_reference=exclude)
    assert wait_until(lambda: gallery_ids(d) == original.ids, 30)
    for i in (2, 4):
        click_fresh(d, "#results-gallery .tile-body", i)
    assert wait_until(lambda: len(d.find_elements(By.CSS_SELECTOR, ".tile.ideal")) == 2)
    click_fresh(d, "#enhance-run")
    assert wait_until(lambda: len(d.find_elements(By.CSS_SELECTOR, ".enhance-table tbody tr")) >= 3, 90)
    rows = d.find_elements(By.CSS_SELECTOR, ".enhance-table tbody tr")
    texts = [r.find_element(By.CSS_SELECTOR, "td.prompt").text.replace(" baseline", "").strip() for r in rows]
    base_row = next(i for i, r in enumerate(rows) if "baseline" in r.get_attribute("class"))
    # F3: the query's ranking and one row per candidate, at once
    assert wait_until(lambda: heatmap_rows(d) == len(rows), 30), (heatmap_rows(d), len(rows))

    # a candidate whose ranking differs from the query's: preview it
    chosen = next(
        i
        for i, t in enumerate(texts)
        if i != base_row and engine.search(ref, t, k=k, method=method, exclude_reference=exclude).ids != original.ids
    )
    want = engine.search(ref, texts[chosen], k=k, method=method, exclude_reference=exclude)
    click_fresh(d, ".enhance-table tbody tr", chosen)
    assert wait_until(lambda: gallery_ids(d) == want.ids, 30), (gallery_ids(d), want.ids)
    assert "preview of E's prompt" in summary(d) and texts[chosen] in summary(d)
    assert d.find_element(By.ID, "query-text").get_attribute("value") == text  # the query is not replaced
    assert d.find_element(By.ID, "results-end-preview").is_displayed()
    # D: the top-k are the preview's; C counts the preview's classes; F2 scores the candidate's words
    assert wait_until(lambda: top_k_ids(d) == sorted(want.rows.tolist()), 30), top_k_ids(d)
    assert wait_until(lambda: d.execute_script(HIST_JS) == dict(Counter(want.classes)), 30)
    words = [w for w in texts[chosen].lower().split() if w.isalpha()]
    assert wait_until(lambda: any(w in " ".join(d.execute_script(WORDS_JS)).lower() for w in words), 60)
    assert heatmap_rows(d) == len(rows)  # F3 keeps every candidate while previewing

    # Back to the query: the query's own results everywhere
    click_fresh(d, "#results-end-preview")
    assert wait_until(lambda: gallery_ids(d) == original.ids and "preview" not in summary(d), 30)
    assert wait_until(lambda: top_k_ids(d) == sorted(original.rows.tolist()), 30)
    assert not d.find_element(By.ID, "results-end-preview").is_displayed()

    # preview again, then the original row ends it too
    click_fresh(d, ".enhance-table tbody tr", chosen)
    assert wait_until(lambda: gallery_ids(d) == want.ids, 30)
    click_fresh(d, ".enhance-table tbody tr", base_row)
    assert wait_until(lambda: gallery_ids(d) == original.ids and "preview" not in summary(d), 30)

    # Adopt: the candidate becomes the query (A's text) and is no longer a preview
    click_fresh(d, ".enhance-table tbody tr", chosen)
    assert wait_until(lambda: gallery_ids(d) == want.ids, 30)
    click_fresh(d, "#enhance-adopt")
    assert wait_until(lambda: d.find_element(By.ID, "query-text").get_attribute("value") == texts[chosen], 30)
    assert wait_until(lambda: "preview" not in summary(d) and gallery_ids(d) == want.ids, 30)
    assert not server_errors(dash_page)

"""Issue 19 item 1 in a real headless Chromium: query modes.  Text → images and image → images are modes of
panel A (what A shows changes with them), and every panel follows: B's gallery (checked against the engine), C,
D's query ✕ without a reference star in text mode, F1's candidate map of the similarity to the text and F2's
word scores."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from infocir.ui.browser import click_fresh, gallery_ids, type_query, wait_until
from test_browser import server_errors

pytestmark = pytest.mark.browser

TRACE_LEN_JS = (
    "const g=document.querySelector('#map-graph .js-plotly-plot');"
    "if(!g||!g._fullData) return -1; const t=g._fullData.find(t=>t.name===arguments[0]); return t? t._length : 0;"
)
WORDS_JS = (
    "const g=document.querySelector('#explain-tokens .js-plotly-plot');"
    "return g && g._fullData && g._fullData[0] && g._fullData[0].type==='bar' ? g._fullData[0]._length : 0;"
)


def pick_mode(d, label: str) -> None:
    box = next(e for e in d.find_elements(By.CSS_SELECTOR, "#query-mode label") if e.text.strip() == label)
    box.click()


def shown(d, element_id: str) -> bool:
    return d.find_element(By.ID, element_id).is_displayed()


def test_text_and_image_modes_drive_every_panel(dash_page, app, engine_cfg):
    engine, cfg = engine_cfg
    ref, k = engine.index.ids[0], 6
    dash_page.start_server(app)
    d = dash_page.driver
    dash_page.wait_for_element("#query-text", timeout=30)

    pick_mode(d, "Text → images")
    assert wait_until(lambda: not shown(d, "query-reference-block") and not shown(d, "query-method-block"), 20)
    assert d.find_element(By.ID, "query-text-label").text.lower() == "text query"
    type_query(d, "a red star", k)
    want = engine.search(None, "a red star", k=k, method="text")
    assert wait_until(lambda: gallery_ids(d) == want.ids, 30), (gallery_ids(d), want.ids)
    assert "text → images" in d.find_element(By.ID, "results-summary").text
    # D: the text's point, no reference; F1: the candidate's map, no reference map; F2: one bar per word
    assert wait_until(lambda: d.execute_script(TRACE_LEN_JS, "composed query") == 1, 60)
    assert d.execute_script(TRACE_LEN_JS, "reference") in (0, -1)
    assert wait_until(
        lambda: (d.find_element(By.ID, "explain-cand-heat").get_attribute("src") or "").startswith("data:"), 60
    )
    assert not (d.find_element(By.ID, "explain-ref-heat").get_attribute("src") or "").startswith("data:")
    assert wait_until(lambda: d.execute_script(WORDS_JS) == 3, 60)

    pick_mode(d, "Image → images")
    assert wait_until(lambda: shown(d, "query-reference-block") and not shown(d, "query-text-block"), 20)
    click_fresh(d, "#query-search")
    exclude = d.find_element(By.CSS_SELECTOR, "#query-exclude-ref input").is_selected()
    want = engine.search(ref, "", k=k, method="image", exclude_reference=exclude)
    assert wait_until(lambda: gallery_ids(d) == want.ids, 30), (gallery_ids(d), want.ids)
    assert "image → images" in d.find_element(By.ID, "results-summary").text

    pick_mode(d, "Composed")
    assert wait_until(lambda: shown(d, "query-method-block") and shown(d, "query-text-block"), 20)
    assert not server_errors(dash_page)


def test_the_expansion_switch_searches_with_captions(dash_page, app, engine_cfg):
    """ "expand with captions" in A: without captions.csv a sentence naming the file; with one, text → images ranks
    as engine.search(expansion=True) (an image once, by its best score) and A says it expanded."""
    engine, cfg = engine_cfg
    root = engine.scan.root
    dash_page.start_server(app)
    d = dash_page.driver
    dash_page.wait_for_element("#query-text", timeout=30)
    pick_mode(d, "Text → images")
    d.find_element(By.CSS_SELECTOR, "#query-expansion input").click()
    (root / "captions.csv").unlink(missing_ok=True)
    type_query(d, "a red star", 6)
    assert wait_until(lambda: "captions.csv" in d.find_element(By.ID, "query-message").text, 30)

    # captions that describe two hearts as red stars: expansion must pull them up
    hearts = [i for i in engine.index.ids if i.startswith("heart/")][:2]
    (root / "captions.csv").write_text("image_id,caption\n" + "".join(f"{h},a red star\n" for h in hearts))
    click_fresh(d, "#query-search")
    want = engine.search(None, "a red star", k=6, method="text", expansion=True)
    plain = engine.search(None, "a red star", k=6, method="text", expansion=False)
    assert set(hearts) <= set(want.ids) and want.ids != plain.ids
    assert wait_until(lambda: gallery_ids(d) == want.ids, 30), (gallery_ids(d), want.ids)
    assert "expanded with captions" in d.find_element(By.ID, "query-message").text
    assert len(set(gallery_ids(d))) == len(gallery_ids(d))  # each image once
    assert not server_errors(dash_page)

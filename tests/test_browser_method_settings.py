"""Issue 18 §5 in a real headless Chromium: method settings edited on the page reach the search (fusion's members
and weights, checked against the engine with the same values) and a bad value gets a sentence, not a search."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from infocir.ui.browser import choose, click_fresh, gallery_ids, wait_until
from test_browser import search, server_errors

pytestmark = pytest.mark.browser


def setting(d, key: str):
    return d.find_element(By.CSS_SELECTOR, f"[id*='\"key\":\"{key}\"']")


def message(d) -> str:
    return d.find_element(By.ID, "query-message").text


def test_fusion_members_and_weights_from_the_page(dash_page, app, engine_cfg):
    engine, cfg = engine_cfg
    ref, text, k = engine.index.ids[0], "make it red", 8
    dash_page.start_server(app)
    d = dash_page.driver
    dash_page.wait_for_element("#query-text", timeout=30)
    choose(d, "query-method", "Rank fusion")
    d.find_element(By.CSS_SELECTOR, "#query-method-settings-box summary").click()
    assert wait_until(lambda: d.find_elements(By.CSS_SELECTOR, ".setting-multi input"), 20)
    # members: image and text only (untick the others), weights 3 and 0.5
    for box in d.find_elements(By.CSS_SELECTOR, ".setting-multi label"):
        ticked = box.find_element(By.TAG_NAME, "input").is_selected()
        if ticked != (box.text.strip() in ("image", "text")):
            box.click()
    weights = setting(d, "param.weights")
    weights.send_keys(Keys.CONTROL, "a")
    weights.send_keys("3, 0.5")
    search(dash_page, text, k=k)
    want = engine.search(
        ref, text, k=k, method="fusion", methods=["image", "text"], weights=[3.0, 0.5], exclude_reference=True
    )
    assert wait_until(lambda: gallery_ids(d) == want.ids, 30), (gallery_ids(d), want.ids, message(d))
    assert "weights=[3.0, 0.5]" in message(d)
    plain = engine.search(ref, text, k=k, method="fusion", methods=["image", "text"], exclude_reference=True)
    assert plain.ids != want.ids  # the weights changed the ranking: the check can tell them apart

    # a bad value: a sentence, and the results stay
    weights.send_keys(Keys.CONTROL, "a")
    weights.send_keys("3")
    click_fresh(d, "#query-search")
    assert wait_until(lambda: "give one per member" in message(d), 20), message(d)
    assert gallery_ids(d) == want.ids
    assert not server_errors(dash_page)

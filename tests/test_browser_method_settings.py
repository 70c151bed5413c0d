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
    # the weights box follows the members ticked: one weight each
    assert wait_until(lambda: weights.get_attribute("value") == "1, 1", 20), weights.get_attribute("value")
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


def test_oti_shows_its_steps_and_can_be_cancelled(dash_page, app, engine_cfg):
    """OTI optimises a pseudo-word per new reference: the search runs as a job whose steps A shows, with Cancel;
    the steps box on the page sets how many (checked against the engine with the same number)."""
    engine, cfg = engine_cfg
    ref, text, k = engine.index.ids[1], "make it red", 6
    dash_page.start_server(app)
    d = dash_page.driver
    dash_page.wait_for_element("#query-text", timeout=30)
    choose(d, "query-reference", ref)
    choose(d, "query-method", "OTI")
    d.find_element(By.CSS_SELECTOR, "#query-method-settings-box summary").click()
    steps = setting(d, "param.steps")
    steps.send_keys(Keys.CONTROL, "a")
    steps.send_keys("40")
    seen: list[str] = []
    search(dash_page, text, k=k)

    def finished():
        seen.append(message(d))
        return "results in" in seen[-1]

    assert wait_until(finished, 120), seen[-3:]
    want = engine.search(ref, text, k=k, method="oti", steps=40, exclude_reference=True)
    assert gallery_ids(d) == want.ids
    assert "steps=40" in seen[-1]  # the progress itself is checked on the long run below
    assert not d.find_element(By.ID, "slow-search-cancel").is_displayed()

    # a long optimisation for another reference, cancelled: a sentence, and the results stay
    choose(d, "query-reference", engine.index.ids[2])
    steps = setting(d, "param.steps")
    steps.send_keys(Keys.CONTROL, "a")
    steps.send_keys("10000")
    click_fresh(d, "#query-search")
    assert wait_until(lambda: "/10000" in message(d), 60), message(d)
    assert d.find_element(By.ID, "slow-search-cancel").is_displayed()
    click_fresh(d, "#slow-search-cancel")
    assert wait_until(lambda: "cancelled" in message(d).lower(), 60), message(d)
    assert gallery_ids(d) == want.ids
    assert not server_errors(dash_page)

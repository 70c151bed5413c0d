"""Issue 18 §3 in a real headless Chromium: relevance-feedback iterations.  A user marks results ★ relevant and ✗
not relevant, edits β, presses Refine twice, goes back to the first search and refines from there, and tries
pseudo feedback; each gallery is checked against Rocchio iterated by the engine with the same marks."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from infocir.ui.browser import click_fresh, gallery_ids, wait_until
from test_browser import search, server_errors

pytestmark = pytest.mark.browser

TEXT, K = "make it red", 8


def steps_shown(d) -> list[str]:
    return d.execute_script(
        "return [...document.querySelectorAll('.fb-step')].map(e => e.querySelector('b').textContent)"
    )


def current_step(d) -> str | None:
    return d.execute_script("const e = document.querySelector('.fb-step.current b'); return e && e.textContent;")


def set_number(d, element_id: str, value) -> None:
    box = d.find_element(By.ID, element_id)
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(str(value))
    box.send_keys(Keys.TAB)  # debounced inputs send their value when they lose focus


def message(d) -> str:
    return d.find_element(By.ID, "feedback-message").text


def test_refine_iterates_rocchio_and_steps_can_be_restored(dash_page, app, engine_cfg):
    from infocir.ui.layout import default_method

    engine, cfg = engine_cfg
    method = default_method(engine, cfg)  # what panel A selects on this world (its model has no φ)
    ref = engine.index.ids[0]  # the default reference
    fb = cfg.feedback
    dash_page.start_server(app)
    d = dash_page.driver
    dash_page.wait_for_element("#query-text", timeout=30)
    search(dash_page, TEXT, k=K)
    base = engine.search(ref, TEXT, k=K, method=method, exclude_reference=True).ids
    assert wait_until(lambda: gallery_ids(d) == base, 30), gallery_ids(d)

    # Refine with no marks says what to do and changes nothing
    click_fresh(d, "#feedback-refine")
    assert wait_until(lambda: "Mark results" in message(d), 20)
    assert gallery_ids(d) == base

    # ★ the 6th result (a click on the tile), ✗ the first (its ✗ button), β = 1.5, Refine
    click_fresh(d, "#results-gallery .tile-body", 5)
    click_fresh(d, "#results-gallery .nonrel-toggle", 0)
    assert wait_until(lambda: len(d.find_elements(By.CSS_SELECTOR, ".tile.nonrel")) == 1, 20)
    assert len(d.find_elements(By.CSS_SELECTOR, ".tile.ideal")) == 1
    set_number(d, "feedback-beta", 1.5)
    click_fresh(d, "#feedback-refine")
    round1 = {"relevant": [base[5]], "nonrelevant": [base[0]], "alpha": fb.alpha, "beta": 1.5, "gamma": fb.gamma}
    step1 = engine.search(ref, TEXT, k=K, method="feedback", base=method, rounds=[round1], exclude_reference=True)
    assert wait_until(lambda: gallery_ids(d) == step1.ids, 30), (gallery_ids(d), step1.ids)
    assert step1.ids != base
    assert wait_until(lambda: steps_shown(d) == ["query", "step 1"] and current_step(d) == "step 1", 20)
    assert "Step 1" in message(d) and "feedback step 1" in d.find_element(By.ID, "results-summary").text
    # each step is scored against the ideal: the marked image ranks higher after the step
    figures = d.execute_script("return [...document.querySelectorAll('.fb-figures')].map(e => e.textContent)")
    assert all("1 ideals" in f for f in figures), figures
    first = [int(f.split("first #")[1]) for f in figures]
    assert first[1] < first[0] == 6

    # a second Refine with the same marks moves the step-1 query again (iterated, not recomputed from the start)
    click_fresh(d, "#feedback-refine")
    step2 = engine.search(
        ref, TEXT, k=K, method="feedback", base=method, rounds=[round1, round1], exclude_reference=True
    )
    assert wait_until(lambda: steps_shown(d) == ["query", "step 1", "step 2"], 30)
    assert wait_until(lambda: gallery_ids(d) == step2.ids, 30)

    # back to the search: its results return without a search; Refine from there replaces steps 1 and 2
    click_fresh(d, ".fb-step[data-step='0']")
    assert wait_until(lambda: gallery_ids(d) == base and current_step(d) == "query", 20)
    click_fresh(d, "#results-gallery .nonrel-toggle", 0)  # unmark ✗: only the ★ remains
    assert wait_until(lambda: not d.find_elements(By.CSS_SELECTOR, ".tile.nonrel"), 20)
    click_fresh(d, "#feedback-refine")
    only = {"relevant": [base[5]], "nonrelevant": [], "alpha": fb.alpha, "beta": 1.5, "gamma": fb.gamma}
    again = engine.search(ref, TEXT, k=K, method="feedback", base=method, rounds=[only], exclude_reference=True)
    assert wait_until(lambda: steps_shown(d) == ["query", "step 1"] and gallery_ids(d) == again.ids, 30)

    # pseudo feedback: the top 2 relevant and the bottom 2 not, whatever is marked
    d.find_element(By.CSS_SELECTOR, "#feedback-pseudo input").click()
    set_number(d, "feedback-pseudo-p", 2)
    click_fresh(d, "#feedback-refine")
    shown = again.ids
    pseudo = {"relevant": shown[:2], "nonrelevant": shown[-2:], "alpha": fb.alpha, "beta": 1.5, "gamma": fb.gamma}
    step2p = engine.search(
        ref, TEXT, k=K, method="feedback", base=method, rounds=[only, pseudo], exclude_reference=True
    )
    assert wait_until(lambda: steps_shown(d) == ["query", "step 1", "step 2"], 30)
    assert wait_until(lambda: gallery_ids(d) == step2p.ids, 30)
    assert "pseudo feedback" in message(d)

    # a bad weight is refused with a sentence and changes nothing
    set_number(d, "feedback-alpha", 500)
    click_fresh(d, "#feedback-refine")
    assert wait_until(lambda: "α must be a number from 0 to 100" in message(d), 20)
    assert gallery_ids(d) == step2p.ids and len(steps_shown(d)) == 3

    # a new search starts a new history
    search(dash_page, "make it blue", k=K)
    assert wait_until(lambda: steps_shown(d) == ["query"] or steps_shown(d) == [], 30)
    assert not server_errors(dash_page)

"""F1's "segment the text's region" in a real headless Chromium: ticking it outlines the region of the
shown candidate that the query text refers to (explain.segmentation), unticking it removes the outline."""

from __future__ import annotations

import shutil

import pytest

pytestmark = pytest.mark.browser

if not (shutil.which("chromedriver") and shutil.which("chromium")):
    pytest.skip(
        "Debian chromium and chromium-driver are not installed (scripts/test.sh installs them)", allow_module_level=True
    )

from selenium.webdriver.common.by import By  # noqa: E402

from infocir.ui.browser import click_fresh, tiles, type_query, wait_until  # noqa: E402

# the fixtures engine_cfg and app are in conftest.py


def test_segment_checkbox_outlines_the_candidate(dash_page, app):
    dash_page.start_server(app)
    d = dash_page.driver
    dash_page.wait_for_element("#query-text", timeout=30)
    type_query(d, "make it red", 4)
    assert wait_until(lambda: len(tiles(d)) == 4)
    src = lambda i: d.find_element(By.ID, i).get_attribute("src") or ""  # noqa: E731
    caption = lambda: d.find_element(By.ID, "explain-cand-caption").text  # noqa: E731
    assert wait_until(lambda: src("explain-cand-heat").startswith("data:image/png"), 60)
    assert not src("explain-cand-mask").startswith("data:")  # off by default
    click_fresh(d, "#explain-segment input")
    assert wait_until(lambda: src("explain-cand-mask").startswith("data:image/png"), 60)
    assert "outlined: “make it red”" in caption()
    mask = d.find_element(By.ID, "explain-cand-mask")
    assert mask.is_displayed() and mask.value_of_css_property("position") == "absolute"
    click_fresh(d, "#explain-next")  # the next candidate gets its own outline
    assert wait_until(lambda: "rank 2/4" in caption() and "outlined" in caption(), 60)
    assert wait_until(lambda: src("explain-cand-mask").startswith("data:image/png"), 30)
    click_fresh(d, "#explain-segment input")
    assert wait_until(lambda: not src("explain-cand-mask").startswith("data:") and "outlined" not in caption(), 60)
    assert not [e for e in (dash_page.get_logs() or []) if "500" in str(e.get("message", ""))]

"""Panel A's "search only the images selected on the map", in a real headless Chromium: a real lasso drag on the
map, the box ticked, Search; then the selection cleared and a search over the whole collection again."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By  # noqa: E402

from infocir.ui.browser import drag  # noqa: E402
from test_browser import (  # noqa: E402
    click_fresh,
    gallery_ids,
    map_points,
    server_errors,
    start_and_search,
    wait_for_map,
    wait_until,
)
from test_browser_map import PIXELS_JS, PLOT_AREA_JS, _region  # noqa: E402

pytestmark = pytest.mark.browser

BOX_JS = """
const i = document.querySelector('#query-search-selection input[type=checkbox]');
const label = i.closest('label');
return {checked: i.checked, disabled: i.disabled, label: label ? label.innerText : ''};
"""


def box(d) -> dict:
    return d.execute_script(BOX_JS)


def test_searching_only_the_images_lassoed_on_the_map(dash_page, app, engine_cfg, shared_maps):
    engine, _ = engine_cfg
    k = 6
    d = start_and_search(dash_page, app, "make it red", k)
    whole = gallery_ids(d)  # the whole collection's top k
    wait_for_map(dash_page, "Star")
    assert wait_until(lambda: map_points(d) == k, 60)
    note = lambda: d.find_element(By.ID, "query-search-selection-note").text  # noqa: E731
    assert box(d)["disabled"] and not box(d)["checked"] and "Select images on the map" in note()

    # a real lasso drag; the images inside it, computed here from the map's coordinates and the drawn axes
    pixels = d.execute_script(PIXELS_JS, shared_maps.map.coords.tolist())
    path, inside = _region(pixels, set(), "lasso", d.execute_script(PLOT_AREA_JS))
    assert path and 2 <= len(inside) < len(engine.index)
    drag(d, d.find_element(By.CSS_SELECTOR, "#map-graph .js-plotly-plot"), path)
    summary = lambda: d.find_element(By.ID, "results-summary").text  # noqa: E731
    n = len(inside)
    assert wait_until(lambda: f"Browsing {n} images selected on the map" in summary(), 30), (summary(), inside)
    assert wait_until(lambda: not box(d)["disabled"], 20)
    assert f"search only the {n} images selected on the map" in box(d)["label"]
    assert note() == ""

    # tick the box, Search: only the selected images are ranked, and B says so
    el = d.find_element(By.CSS_SELECTOR, "#query-search-selection input[type=checkbox]")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
    el.click()
    assert wait_until(lambda: box(d)["checked"], 10)
    click_fresh(d, "#query-search")
    # the reference is left out of its own results when "exclude the reference" is ticked (the default here)
    reference = d.find_element(By.ID, "query-reference-caption").text.split(" · ")[0]
    excluded = d.execute_script("return document.querySelector('#query-exclude-ref input').checked")
    candidates = {engine.index.ids[r] for r in inside} - ({reference} if excluded else set())
    shown = min(k, len(candidates))
    assert wait_until(lambda: f"Top {shown} of the {n} selected images" in summary(), 30), summary()
    got = gallery_ids(d)
    assert len(got) == shown and set(got) <= candidates, (got, inside)
    assert f"only among the {n} images selected on the map" in d.find_element(By.ID, "query-message").text
    assert box(d)["checked"]  # the selection is still held: the next search is restricted too

    # clear the selection: the box unticks and is disabled; a new search ranks the whole collection
    click_fresh(d, "#query-clear-selection")
    assert wait_until(lambda: box(d)["disabled"] and not box(d)["checked"], 20), box(d)
    assert "Select images on the map" in note()
    click_fresh(d, "#query-search")
    assert wait_until(lambda: "selected images" not in summary() and gallery_ids(d) == whole, 30), (summary(), whole)
    assert summary().startswith(f"Top {k} · ")
    assert not server_errors(dash_page)

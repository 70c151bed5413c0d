"""The dashboard in a real headless Chromium (dash[testing] + Debian's chromium/chromedriver)."""

from __future__ import annotations

import shutil
import time

import pytest

pytestmark = pytest.mark.browser

if not (shutil.which("chromedriver") and shutil.which("chromium")):
    pytest.skip(
        "Debian chromium and chromium-driver are not installed (scripts/test.sh installs them)", allow_module_level=True
    )

from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

from infocir.ui.app import create_app  # noqa: E402
from infocir.ui.browser import (  # noqa: E402, F401  (re-exported for the other browser test modules)
    MAP_POINT_JS,
    choose,
    click_fresh,
    drag,
    gallery_ids,
    lasso_path,
    map_points,
    tiles,
    type_query,
    wait_until,
)

# the fixtures engine_cfg (24 images, an attributes.csv), shared_maps and app are in conftest.py


def search(dash_page, text="make it red", k=None):
    type_query(dash_page.driver, text, k)


def settled(fn, polls: int = 4, timeout: float = 20.0):
    """``fn()`` once it returns the same value ``polls`` times in a row (an animation has ended)."""
    seen: list = []

    def same():
        seen.append(fn())
        return len(seen) >= polls and all(v == seen[-1] for v in seen[-polls:])

    assert wait_until(same, timeout), seen[-polls:]
    return seen[-1]


def server_errors(dash_page) -> list:
    """Browser console entries of failed callbacks (a failed callback shows as a 500)."""
    return [e for e in (dash_page.get_logs() or []) if "500" in str(e.get("message", ""))]


def heatmap_rows(d) -> int:
    """Number of prompts (rows) drawn in F3's rank-Δ heatmap, read from the figure data."""
    return d.execute_script(
        "const g=document.querySelector('#explain-heatmap .js-plotly-plot');"
        "return g && g._fullData && g._fullData[0] && g._fullData[0].type==='heatmap' ? g._fullData[0].y.length : 0;"
    )


def test_search_fills_gallery_and_map_and_highlight_and_ideals(dash_page, app, engine_cfg, tmp_path):
    dash_page.start_server(app)
    d = dash_page.driver
    dash_page.wait_for_element("#query-text", timeout=30)
    dash_page.wait_for_element("#map-graph .js-plotly-plot", timeout=60)
    search(dash_page, "make it red", k=7)
    deadline = time.time() + 30
    while len(tiles(d)) != 7 and time.time() < deadline:
        time.sleep(0.2)
    assert len(tiles(d)) == 7
    deadline = time.time() + 150  # the map is fitted in the background on first start
    while map_points(d) != 7 and time.time() < deadline:
        time.sleep(0.3)
    assert map_points(d) == 7  # the top-k are marked on the map
    # C1: clicking a bar highlights that class in the gallery
    dash_page.wait_for_element("#dist-histogram .bars .point path", timeout=20)
    deadline = time.time() + 40
    while not d.find_elements(By.CSS_SELECTOR, "#results-gallery .tile.hl") and time.time() < deadline:
        try:  # bars sit under plotly's drag layer, and re-render after a search: find, hover, click
            bar = d.find_elements(By.CSS_SELECTOR, "#dist-histogram .bars .point path")[0]
            ActionChains(d).move_to_element(bar).click().perform()
        except (StaleElementReferenceException, IndexError):
            pass
        time.sleep(1.0)
    classes = d.execute_script(
        "return [...document.querySelectorAll('#results-gallery .tile.hl')].map(e => e.dataset.class)"
    )
    assert classes and len(set(classes)) == 1  # exactly one class is highlighted
    dimmed = d.execute_script("return document.querySelectorAll('#results-gallery .tile.dim').length")
    assert dimmed + len(classes) == 7
    # B: clicking a tile marks it as an ideal
    click_fresh(d, "#results-gallery .tile-body", 0)
    deadline = time.time() + 20
    while not d.find_elements(By.CSS_SELECTOR, "#results-gallery .tile.ideal") and time.time() < deadline:
        time.sleep(0.2)
    assert len(d.find_elements(By.CSS_SELECTOR, "#results-gallery .tile.ideal")) == 1
    assert d.find_elements(By.CSS_SELECTOR, "#results-gallery .tile.ideal .badge")
    d.save_screenshot(str(tmp_path / "browser.png"))
    # no callback failed on the server (a failed callback shows as a 500 in the browser console)
    assert not server_errors(dash_page)


def test_bad_upload_shows_a_message(dash_page, app, tmp_path):
    dash_page.start_server(app)
    bad = tmp_path / "notes.pdf"
    bad.write_bytes(b"%PDF-1.4 not an image")
    dash_page.wait_for_element("#query-upload input", timeout=30).send_keys(str(bad))
    dash_page.wait_for_contains_text("#query-upload-message", "is not an image file", timeout=20)
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"this is text, renamed")
    dash_page.find_element("#query-upload input").send_keys(str(fake))
    dash_page.wait_for_contains_text("#query-upload-message", "not a readable image", timeout=20)
    # the page still works: a search from the dataset reference runs
    search(dash_page, "a star")
    deadline = time.time() + 30
    while not tiles(dash_page.driver) and time.time() < deadline:
        time.sleep(0.2)
    assert tiles(dash_page.driver)


def test_two_sessions_are_isolated(dash_page, app):
    dash_page.start_server(app)
    d = dash_page.driver
    dash_page.wait_for_element("#query-text", timeout=30)
    search(dash_page, "a red shape", k=5)
    deadline = time.time() + 30
    while len(tiles(d)) != 5 and time.time() < deadline:
        time.sleep(0.2)
    click_fresh(d, "#results-gallery .tile-body", 0)
    deadline = time.time() + 20
    while not d.find_elements(By.CSS_SELECTOR, ".tile.ideal") and time.time() < deadline:
        time.sleep(0.2)
    assert len(d.find_elements(By.CSS_SELECTOR, ".tile.ideal")) == 1
    # a second tab is a second session: no results, no ideals
    first = d.current_window_handle
    d.switch_to.new_window("tab")
    d.get(dash_page.server_url)
    dash_page.wait_for_element("#query-text", timeout=30)
    time.sleep(1.5)
    assert tiles(d) == [] and "Run a search" in d.find_element(By.ID, "results-summary").text
    search(dash_page, "a blue shape", k=3)
    deadline = time.time() + 30
    while len(tiles(d)) != 3 and time.time() < deadline:
        time.sleep(0.2)
    assert len(tiles(d)) == 3 and not d.find_elements(By.CSS_SELECTOR, ".tile.ideal")
    d.switch_to.window(first)
    time.sleep(0.5)
    assert len(tiles(d)) == 5 and len(d.find_elements(By.CSS_SELECTOR, ".tile.ideal")) == 1


def start_and_search(dash_page, app, text: str, k: int):
    """Serve the app, search from the default reference, wait for the k tiles; returns the driver."""
    dash_page.start_server(app)
    d = dash_page.driver
    dash_page.wait_for_element("#query-text", timeout=30)
    search(dash_page, text, k=k)
    assert wait_until(lambda: len(tiles(d)) == k)
    return d


def test_panel_f_shows_saliency_tokens_and_rank_delta(dash_page, app, tmp_path):
    d = start_and_search(dash_page, app, "make it red", 6)
    heat = lambda i: d.find_element(By.ID, i).get_attribute("src") or ""  # noqa: E731
    # F1: the reference and the first candidate get a saliency layer over the original
    assert wait_until(lambda: heat("explain-ref-heat").startswith("data:image/png"), 60)
    assert wait_until(lambda: heat("explain-cand-heat").startswith("data:image/png"), 60)
    assert "rank 1/6" in d.find_element(By.ID, "explain-cand-caption").text
    # F2: one bar per word of the prompt
    assert wait_until(
        lambda: (
            d.execute_script(
                "const g=document.querySelector('#explain-tokens .js-plotly-plot');"
                "return g && g._fullData && g._fullData[0] && g._fullData[0].type==='bar' ? g._fullData[0]._length : 0;"
            )
            == 3
        ),
        60,
    )
    # browse to the next candidate: a new map for it
    first = heat("explain-cand-heat")
    click_fresh(d, "#explain-next")
    assert wait_until(lambda: "rank 2/6" in d.find_element(By.ID, "explain-cand-caption").text)
    assert wait_until(
        lambda: heat("explain-cand-heat").startswith("data:image/png") and heat("explain-cand-heat") != first, 60
    )
    # the opacity slider styles the layer in the browser
    assert d.find_element(By.ID, "explain-ref-heat").value_of_css_property("opacity") == "0.65"
    # F3: compare with another prompt -> a prompts × images heatmap
    box = d.find_element(By.ID, "explain-compare-text")
    box.send_keys("make it blue")
    box.send_keys(Keys.ENTER)
    assert wait_until(lambda: heatmap_rows(d), 30) == 2
    d.save_screenshot(str(tmp_path / "panel-f.png"))
    assert not server_errors(dash_page)


def test_reference_map_follows_the_shown_candidate_and_saves(dash_page, engine_cfg, tmp_path):
    """F1's reference map explains the shown candidate's score through the method's composition:
    stepping to the next candidate changes it; "Save maps" writes both maps to saliency.output_dir."""
    from infocir.config import apply_overrides

    engine, cfg = engine_cfg
    out = tmp_path / "maps"
    d = start_and_search(
        dash_page, create_app(engine, apply_overrides(cfg, {"saliency.output_dir": str(out)})), "make it red", 6
    )
    heat = lambda i: d.find_element(By.ID, i).get_attribute("src") or ""  # noqa: E731
    caption = lambda: d.find_element(By.ID, "explain-ref-caption").text  # noqa: E731
    assert wait_until(lambda: heat("explain-ref-heat").startswith("data:image/png"), 60)
    assert wait_until(lambda: "query composed from it" in caption(), 30)
    first, first_caption = heat("explain-ref-heat"), caption()
    click_fresh(d, "#explain-next")
    assert wait_until(lambda: "rank 2/6" in d.find_element(By.ID, "explain-cand-caption").text)
    assert wait_until(lambda: caption() != first_caption and heat("explain-ref-heat").startswith("data:image/png"), 60)
    assert heat("explain-ref-heat") != first  # a new reference map for the new candidate
    click_fresh(d, "#explain-save")
    # per map a PNG, its grid and (Grad-ECLIP) the grid before the ReLU
    assert wait_until(lambda: "Saved 6 files" in d.find_element(By.ID, "explain-save-note").text, 60)
    assert len(list(out.glob("*.png"))) == 2 and len(list(out.glob("*-signed.npy"))) == 2
    assert len(list(out.glob("*.npy"))) == 4
    assert not server_errors(dash_page)


def test_evidence_switch_shows_what_lowers_the_score(dash_page, app, tmp_path):
    """F1's "Evidence on the score" radio: clicking "lowers" swaps both maps and the colour scale for the part of
    Grad-ECLIP's map its ReLU drops, and the captions say which side is shown; an explainer without a
    sign (rollout) disables the choice and goes back to what raises the score."""
    d = start_and_search(dash_page, app, "make it red", 6)
    src = lambda i: d.find_element(By.ID, i).get_attribute("src") or ""  # noqa: E731
    text = lambda i: d.find_element(By.ID, i).text  # noqa: E731
    assert wait_until(lambda: src("explain-ref-heat").startswith("data:image/png"), 60)
    assert wait_until(lambda: src("explain-cand-heat").startswith("data:image/png"), 60)
    assert wait_until(lambda: "sim " in text("explain-cand-caption"), 30)
    legend = lambda: d.find_element(By.CSS_SELECTOR, "#explain-legend img").get_attribute("src")  # noqa: E731
    ref_for, cand_for, legend_for = src("explain-ref-heat"), src("explain-cand-heat"), legend()
    assert "showing what lowers" not in text("explain-ref-caption")
    click_fresh(d, "#explain-evidence input[value='against']")
    # (the "raises" caption may itself say that most evidence lowers the score: wait for the side's own words)
    shown = ("showing what lowers the score", "nothing in this image lowers")
    assert wait_until(lambda: any(w in text("explain-cand-caption") for w in shown), 30)
    assert wait_until(lambda: any(w in text("explain-ref-caption") for w in shown), 30)
    assert src("explain-ref-heat") != ref_for and src("explain-cand-heat") != cand_for
    legend_against = legend()
    assert legend_against != legend_for
    d.save_screenshot(str(tmp_path / "evidence-against.png"))
    # both sides in one layer, with a legend from "raises" (top) to "lowers" (bottom)
    ref_against = src("explain-ref-heat")
    click_fresh(d, "#explain-evidence input[value='both']")
    assert wait_until(lambda: "blue lowers it" in text("explain-ref-caption"), 30)
    assert src("explain-ref-heat") not in (ref_for, ref_against) and legend() not in (legend_for, legend_against)
    assert text("explain-legend").split() == ["raises", "lowers"]
    click_fresh(d, "#explain-evidence input[value='against']")
    assert wait_until(lambda: any(w in text("explain-ref-caption") for w in shown), 30)
    assert text("explain-legend").split() == ["high", "low"]
    # the choice stays while browsing: the next candidate's map arrives on the same side
    click_fresh(d, "#explain-next")
    assert wait_until(lambda: "rank 2/6" in text("explain-cand-caption"), 30)
    assert wait_until(lambda: any(w in text("explain-cand-caption") for w in shown), 60)
    choose(d, "explain-explainer", "Attention rollout")
    against = lambda: d.find_element(By.CSS_SELECTOR, "#explain-evidence input[value='against']")  # noqa: E731
    assert wait_until(lambda: not against().is_enabled(), 30)
    assert d.find_element(By.CSS_SELECTOR, "#explain-evidence input[value='for']").is_selected()
    assert wait_until(lambda: legend() == legend_for, 30)
    assert d.find_element(By.CSS_SELECTOR, "#explain-evidence input[value='both']").get_attribute("disabled")
    assert wait_until(lambda: "Attention rollout of" in text("explain-ref-caption"), 60)
    captions = text("explain-ref-caption") + text("explain-cand-caption")
    assert not any(w in captions for w in (*shown, "blue lowers", "lowers the score"))  # rollout has no sign
    assert not server_errors(dash_page)


def test_panel_e_scores_candidates_and_adopts_one(dash_page, app, tmp_path):
    d = start_and_search(dash_page, app, "change it", 8)
    # without ideals the panel says what to do
    click_fresh(d, "#enhance-run")
    assert wait_until(lambda: "Mark at least one ideal" in d.find_element(By.ID, "enhance-status").text)
    for i in (2, 4):
        click_fresh(d, "#results-gallery .tile-body", i)
    assert wait_until(lambda: len(d.find_elements(By.CSS_SELECTOR, ".tile.ideal")) == 2)
    click_fresh(d, "#enhance-run")
    rows = wait_until(lambda: d.find_elements(By.CSS_SELECTOR, ".enhance-table tbody tr"), 90)
    assert len(rows) >= 3  # the original and candidates (offline generator: no key on this machine)
    texts = [r.text for r in d.find_elements(By.CSS_SELECTOR, ".enhance-table tbody tr")]
    assert sum("baseline" in t for t in texts) == 1
    assert d.find_elements(By.CSS_SELECTOR, ".enhance-table td.best")  # best per column marked
    # the best candidate is preselected (its top k under the table); F3 holds every candidate as a row
    assert wait_until(lambda: d.find_elements(By.CSS_SELECTOR, ".enhance-table tr.selected"))
    chosen = d.find_element(By.CSS_SELECTOR, ".enhance-table tr.selected td.prompt").text
    assert wait_until(lambda: len(d.find_elements(By.CSS_SELECTOR, "#enhance-preview img.mini")) == 8)
    assert wait_until(lambda: heatmap_rows(d) == len(rows), 30)
    # adopt: the candidate becomes the query text and the search runs again
    click_fresh(d, "#enhance-adopt")
    assert wait_until(lambda: d.find_element(By.ID, "query-text").get_attribute("value") == chosen, 20)
    assert wait_until(lambda: chosen in d.find_element(By.ID, "results-summary").text, 30)
    assert not server_errors(dash_page)


# --------------------------------------------------------------------------- panel D gestures
def wait_for_map(dash_page, name="Circle"):
    d = dash_page.driver
    dash_page.wait_for_element("#map-graph .js-plotly-plot", timeout=60)
    assert wait_until(lambda: d.execute_script(MAP_POINT_JS, name) is not None, 150)  # fitted in the background
    d.execute_script("document.querySelector('#map-graph').scrollIntoView({block: 'center', behavior: 'instant'})")
    return d.execute_script(MAP_POINT_JS, name)


def test_map_click_opens_a_card_that_marks_an_ideal_and_sets_the_reference(dash_page, app, engine_cfg):
    """A click on a map point opens that image's card beside it; "mark ideal" marks it (gold ring on the
    map, the button says so), "use as reference" makes it the reference and searches."""
    engine, _ = engine_cfg
    d = start_and_search(dash_page, app, "make it red", 5)
    info = wait_for_map(dash_page, "Heart")
    x, y, row = info["pts"][2]
    want = engine.index.ids[row]
    graph = d.find_element(By.CSS_SELECTOR, "#map-graph .js-plotly-plot")
    # offsets from the top-left (selenium 4.2)
    ActionChains(d).move_to_element_with_offset(graph, int(x), int(y)).click().perform()
    card = d.find_element(By.ID, "map-card")
    assert wait_until(lambda: card.is_displayed() and want in card.text, 20)
    assert "class Heart" in card.text
    assert want in (d.find_element(By.ID, "map-card-img").get_attribute("src") or "")
    box = d.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.left, r.top];", card)
    at = d.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.left, r.top];", graph)
    assert abs(box[0] - (at[0] + x)) < 260 and abs(box[1] - (at[1] + y)) < 120  # beside the point
    click_fresh(d, "#map-card-ideal")
    ideal_ring = (
        "const g=document.querySelector('#map-graph .js-plotly-plot');"
        "const t=g._fullData.find(t => t.name === 'ideals'); return t ? [...t.customdata] : [];"
    )
    assert wait_until(lambda: d.execute_script(ideal_ring) == [row], 20)
    assert wait_until(lambda: "Unmark ideal" in d.find_element(By.ID, "map-card-ideal").text, 10)
    assert wait_until(lambda: "1 ideal selected" in d.find_element(By.ID, "results-summary").text, 10)
    click_fresh(d, "#map-card-use")
    assert wait_until(lambda: want in d.find_element(By.ID, "query-reference").text, 20)
    assert wait_until(lambda: want in d.find_element(By.ID, "results-summary").text, 30)  # the search ran
    assert wait_until(lambda: not card.is_displayed(), 10)
    # a click elsewhere opens that point; Escape closes the card
    x, y, row = info["pts"][4]
    ActionChains(d).move_to_element_with_offset(graph, int(x), int(y)).click().perform()
    assert wait_until(lambda: card.is_displayed() and engine.index.ids[row] in card.text, 20)
    ActionChains(d).send_keys(Keys.ESCAPE).perform()
    assert wait_until(lambda: not card.is_displayed(), 10)
    assert not server_errors(dash_page)


@pytest.mark.parametrize("tool", ["lasso", "box"])
def test_map_selection_browses_the_gallery_and_marks_ideals(dash_page, app, engine_cfg, tool):
    engine, _ = engine_cfg
    dash_page.start_server(app)
    d = dash_page.driver
    info = wait_for_map(dash_page, "Star")
    pts = info["pts"]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    cx, cy = sorted(xs)[len(xs) // 2], sorted(ys)[len(ys) // 2]  # around the middle of the star points
    r = 40
    graph = d.find_element(By.CSS_SELECTOR, "#map-graph .js-plotly-plot")
    if tool == "box":
        click_fresh(d, "#map-graph .modebar-btn[data-val='select']")
        path = [(cx - r, cy - r), (cx, cy), (cx + r, cy + r)]
    else:
        import math

        path = [(cx + r * math.cos(a / 12 * 2 * math.pi), cy + r * math.sin(a / 12 * 2 * math.pi)) for a in range(13)]
    drag(d, graph, path)
    assert wait_until(lambda: "selected on the map" in d.find_element(By.ID, "results-summary").text, 20)
    shown = gallery_ids(d)
    # exactly the points inside the gesture's region (every class), as the map computed them
    all_pts = [p for name in ("Circle", "Heart", "Square", "Star") for p in d.execute_script(MAP_POINT_JS, name)["pts"]]
    if tool == "box":
        inside = {engine.index.ids[p[2]] for p in all_pts if cx - r <= p[0] <= cx + r and cy - r <= p[1] <= cy + r}
    else:
        inside = {engine.index.ids[p[2]] for p in all_pts if (p[0] - cx) ** 2 + (p[1] - cy) ** 2 < (r * 0.95) ** 2}
    assert shown and inside <= set(shown)
    click_fresh(d, "#results-mark-selection")
    assert wait_until(lambda: len(d.find_elements(By.CSS_SELECTOR, "#results-gallery .tile.ideal")) == len(shown), 20)
    click_fresh(d, "#results-back")
    assert wait_until(lambda: "selected on the map" not in d.find_element(By.ID, "results-summary").text, 20)
    assert not server_errors(dash_page)


def test_panel_f_never_freezes(dash_page, app):
    """▶ ten times in a row, then a word-score change while maps are computing: the panel always
    reaches "Done" with both maps (it used to stop polling at "Computing… 3/4")."""
    d = start_and_search(dash_page, app, "make it red", 12)
    status = lambda: d.find_element(By.ID, "explain-status").text  # noqa: E731
    heat = lambda i: d.find_element(By.ID, i).get_attribute("src") or ""  # noqa: E731
    assert d.find_element(By.ID, "explain-prev").get_attribute("disabled")  # ◀ at #1: nowhere to go
    for _ in range(10):
        click_fresh(d, "#explain-next")
    assert wait_until(lambda: "rank 11/12" in d.find_element(By.ID, "explain-cand-caption").text, 30)
    assert wait_until(lambda: status().startswith("Done"), 90), status()
    assert heat("explain-ref-heat").startswith("data:image/png") and heat("explain-cand-heat").startswith(
        "data:image/png"
    )
    click_fresh(d, "#explain-next")
    choose(d, "explain-token-method", "Gradient")  # while the new candidate's maps compute
    assert wait_until(lambda: "rank 12/12" in d.find_element(By.ID, "explain-cand-caption").text, 30)
    assert wait_until(lambda: status().startswith("Done"), 90), status()
    assert d.find_element(By.ID, "explain-next").get_attribute("disabled")  # the last one: no silent wrap to #1
    assert not server_errors(dash_page)


def test_map_keeps_zoom_and_tool_across_searches_and_small_things(dash_page, app):
    """Zoom (wheel) and the box tool survive a search; no cloud-share button; dropdown options are
    shown as written (a CSS rule once capitalised them: "SEARLE (φ)" read "(Φ)")."""
    dash_page.start_server(app)
    d = dash_page.driver
    info = wait_for_map(dash_page, "Circle")
    graph = d.find_element(By.CSS_SELECTOR, "#map-graph .js-plotly-plot")
    click_fresh(d, "#map-graph .modebar-btn[data-val='select']")
    ActionChains(d).move_to_element_with_offset(graph, int(info["w"] / 2), int(info["h"] / 2)).scroll_by_amount(
        0, -300
    ).perform()
    rng = (
        "const g=document.querySelector('#map-graph .js-plotly-plot');"
        "return [g._fullLayout.xaxis.range, g._fullLayout.dragmode];"
    )
    zoomed, mode = settled(lambda: d.execute_script(rng))  # the wheel zoom has finished
    assert mode == "select"
    search(dash_page, "make it red", k=5)
    assert wait_until(lambda: map_points(d) == 5, 60)  # the search's markers are drawn
    after, mode_after = d.execute_script(rng)
    assert mode_after == "select" and after == pytest.approx(zoomed, abs=1e-6)
    assert not d.find_elements(
        By.CSS_SELECTOR,
        "#map-graph .modebar-btn[data-title*='Chart Studio'], #map-graph .modebar-btn[data-title*='cloud']",
    )
    el = d.find_element(By.ID, "query-method")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
    el.click()
    assert wait_until(lambda: d.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option"), 10)
    opt = d.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option")[0]
    assert opt.value_of_css_property("text-transform") == "none"
    assert not server_errors(dash_page)

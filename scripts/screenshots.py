"""Drive a running dashboard in headless Chromium and save screenshots (full pages, and the viewport
for the map's pointer states: a hover card, a selection that dims the other points, colour by attribute).

python scripts/screenshots.py [--url http://localhost:8051] [--out docs/screenshots] [--text "make it red"]

``--only density`` shoots the map's density mode (issue 21); serve with the threshold forced low, e.g.
``cir_app/run.py serve --set ui.map_density_above=1000 --set ui.map_sample_points=1500`` on the demo world.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from infocir.ui.browser import MAP_POINT_JS, choose, drag, lasso_path, type_query, wait_for_map_drawn, wait_until
from infocir.ui.chrome import start_chromium


def full_page(driver, path: Path, width: int) -> None:
    """The whole page, below the fold too (DevTools capture beyond the viewport: resizing the window
    would not settle, since the gallery's height follows the viewport)."""
    import base64

    time.sleep(0.8)
    w, h = driver.execute_script("return [document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {"format": "png", "captureBeyondViewport": True, "clip": {"x": 0, "y": 0, "width": w, "height": h, "scale": 1}},
    )
    path.write_bytes(base64.b64decode(shot["data"]))


def top_k_points(d) -> list:
    return (d.execute_script(MAP_POINT_JS, "top-k") or {"pts": []})["pts"]


def map_states(d, out: Path, width: int) -> None:
    """D both ways: a hover card, a lasso selection (the other points dimmed, C counting it), colour by
    an attribute (the demo world's colour); viewport shots with the map in view."""
    graph = d.find_element(By.CSS_SELECTOR, "#map-graph .js-plotly-plot")
    d.execute_script("window.scrollTo(0, 0)")
    wait_until(lambda: len(top_k_points(d)) > 0, 30)
    x, y, _ = top_k_points(d)[2]
    ActionChains(d).move_to_element_with_offset(graph, int(x), int(y)).perform()
    wait_until(lambda: d.find_elements(By.CSS_SELECTOR, "#map-hover .hover-img"), 20)
    wait_until(
        lambda: d.execute_script("const i=document.querySelector('#map-hover .hover-img');return i&&i.naturalWidth>0")
    )
    tile = d.find_elements(By.CSS_SELECTOR, "#results-gallery .tile")[2]
    d.save_screenshot(str(out / f"map-hover-{width}.png"))
    ActionChains(d).move_to_element(tile).perform()  # the tile rings its point on the map
    # a lasso around the middle of the top-k
    pts = top_k_points(d)
    cx = sorted(p[0] for p in pts)[len(pts) // 2]
    cy = sorted(p[1] for p in pts)[len(pts) // 2]
    drag(d, graph, lasso_path(cx, cy, 70))
    wait_until(lambda: "selected on the map" in d.find_element(By.ID, "results-summary").text, 30)
    wait_until(lambda: "selected on the map" in d.find_element(By.ID, "dist-scope").text, 30)
    ActionChains(d).move_to_element(d.find_element(By.CSS_SELECTOR, "header h1")).perform()
    d.save_screenshot(str(out / f"map-selection-{width}.png"))
    d.find_element(By.ID, "results-back").click()
    wait_until(lambda: "selected on the map" not in d.find_element(By.ID, "results-summary").text, 30)
    choose(d, "map-colour", "colour")
    wait_until(lambda: d.execute_script(MAP_POINT_JS, "red") is not None, 60)
    d.execute_script("window.scrollTo(0, 0)")
    x, y, _ = (d.execute_script(MAP_POINT_JS, "purple") or {"pts": [[x, y, 0]]})["pts"][0]
    ActionChains(d).move_to_element_with_offset(graph, int(x), int(y)).perform()
    wait_until(
        lambda: (
            "colour"
            in (
                d.execute_script("const e=document.querySelector('#map-hover .hover-card');return e?e.innerText:''")
                or ""
            )
        ),
        20,
    )
    d.save_screenshot(str(out / f"map-colour-by-{width}.png"))
    choose(d, "map-colour", "class")
    wait_until(lambda: d.execute_script(MAP_POINT_JS, "red") is None, 60)


# the demo world's worst SEARLE query (q209): an orange crescent "as a rough pencil sketch"; its three targets are
# given as ideals in the link, as the benchmark view's "copy targets to ideals" would
WORST_QUERY = (
    "?ref=crescent%2Fcrescent_00282.png&text=as+a+rough+pencil+sketch&method=searle&k=24&exclude=1"
    "&ideal=crescent%2Fcrescent_00044.png&ideal=crescent%2Fcrescent_00284.png&ideal=crescent%2Fcrescent_00524.png"
)


def feedback_steps(d, url: str, out: Path, width: int) -> None:
    """B's relevance feedback on the worst demo query: its targets are the ideals, the first three results of
    another class than the reference are marked ✗, Refine twice; a viewport shot of A, D and B."""
    d.get(url + WORST_QUERY)
    wait_until(lambda: len(d.find_elements(By.CSS_SELECTOR, "#results-gallery .tile")) > 0, 60)
    time.sleep(2.0)
    ref_class = d.find_element(By.ID, "query-reference-caption").text.split("·")[-1].strip()
    classes = d.execute_script(
        "return [...document.querySelectorAll('#results-gallery .tile')].map(e => e.dataset.class)"
    )
    other = [i for i, c in enumerate(classes) if c != ref_class][:3]
    for i in other:
        d.find_elements(By.CSS_SELECTOR, "#results-gallery .nonrel-toggle")[i].click()
        time.sleep(0.8)
    for n in (1, 2):
        d.find_element(By.ID, "feedback-refine").click()
        wait_until(lambda n=n: len(d.find_elements(By.CSS_SELECTOR, ".fb-step")) == n + 1, 60)
        time.sleep(1.5)
    d.execute_script("window.scrollTo(0, 0)")
    time.sleep(1.0)
    d.save_screenshot(str(out / f"feedback-steps-{width}.png"))


def preview_candidate(d, url: str, out: Path, width: int) -> None:
    """E drives every panel: a vague query, two ideals, Enhance, then a click on the best candidate previews it in
    B, C, D and F; a full-page shot."""
    d.get(url + "?ref=star%2Fstar_00000.png&text=change+it&method=searle&k=12&exclude=1")
    wait_until(lambda: len(d.find_elements(By.CSS_SELECTOR, "#results-gallery .tile")) > 0, 60)
    time.sleep(1.5)
    classes = d.execute_script(
        "return [...document.querySelectorAll('#results-gallery .tile')].map(e => e.dataset.class)"
    )
    for i in [i for i, c in enumerate(classes) if c != "star"][:2] or [2, 4]:
        d.find_elements(By.CSS_SELECTOR, "#results-gallery .tile-body")[i].click()
        time.sleep(0.8)
    d.find_element(By.ID, "enhance-run").click()
    wait_until(lambda: d.find_elements(By.CSS_SELECTOR, ".enhance-table tbody tr.selected"), 120)
    time.sleep(1.0)
    d.find_element(By.CSS_SELECTOR, ".enhance-table tbody tr.selected").click()
    wait_until(lambda: "preview of E's prompt" in d.find_element(By.ID, "results-summary").text, 60)
    wait_until(lambda: (d.find_element(By.ID, "explain-cand-heat").get_attribute("src") or "").startswith("data:"), 120)
    time.sleep(2.5)
    full_page(d, out / f"enhance-preview-{width}.png", width)


def method_settings(d, url: str, out: Path, width: int) -> None:
    """A's method settings: rank fusion of SEARLE and the average with weights 2 and 1; a viewport shot."""
    from infocir.ui.browser import choose

    d.get(url + "?ref=crescent%2Fcrescent_00282.png&text=as+a+rough+pencil+sketch&k=12&exclude=1")
    wait_until(lambda: len(d.find_elements(By.CSS_SELECTOR, "#results-gallery .tile")) > 0, 60)
    choose(d, "query-method", "Rank fusion")
    d.find_element(By.CSS_SELECTOR, "#query-method-settings-box summary").click()
    wait_until(lambda: d.find_elements(By.CSS_SELECTOR, ".setting-multi input"), 20)
    for box in d.find_elements(By.CSS_SELECTOR, ".setting-multi label"):
        if box.find_element(By.TAG_NAME, "input").is_selected() != (box.text.strip() in ("searle", "average")):
            box.click()
    weights = d.find_element(By.CSS_SELECTOR, "[id*='\"key\":\"param.weights\"']")
    time.sleep(1.0)  # the weights box follows the members ticked ("1, 1")
    weights.send_keys(Keys.CONTROL, "a")
    weights.send_keys("2, 1")
    d.find_element(By.ID, "query-search").click()
    wait_until(lambda: "weights=" in d.find_element(By.ID, "query-message").text, 60)
    time.sleep(2.0)
    d.execute_script("window.scrollTo(0, 0)")
    d.save_screenshot(str(out / f"method-settings-{width}.png"))


def density_map(d, out: Path, width: int, text: str) -> None:
    """D in density mode: every image as a grey density layer under a sample of coloured points, a search's
    reference, query, top-k and two ideals on top; a viewport shot.  (A lasso then selects every image inside it,
    drawn or not: tests/test_browser_map.py drags one.)"""
    layer = (
        "const g=document.querySelector('#map-graph .js-plotly-plot');return !!(g&&g.data&&g.data[0].meta=='density')"
    )
    if not wait_until(lambda: d.execute_script(layer), 30):
        raise SystemExit("the map has no density layer: serve with --set ui.map_density_above=1000 (or 0)")
    type_query(d, text)
    wait_until(lambda: len(top_k_points(d)) > 0, 60)
    for i in (1, 4):
        d.find_elements(By.CSS_SELECTOR, "#results-gallery .tile-body")[i].click()
        time.sleep(0.8)
    ActionChains(d).move_to_element(d.find_element(By.CSS_SELECTOR, "header h1")).perform()
    d.execute_script("document.querySelector('#map-graph').scrollIntoView({block: 'center', behavior: 'instant'})")
    time.sleep(1.5)
    d.save_screenshot(str(out / f"map-density-{width}.png"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://localhost:8051")
    ap.add_argument("--out", default="docs/screenshots")
    ap.add_argument("--text", default="make it red")
    ap.add_argument("--width", type=int, default=1440)
    ap.add_argument(
        "--only",
        choices=("all", "feedback", "preview", "settings", "density"),
        default="all",
        help="feedback: only B's feedback steps; preview: only E's candidate previewed everywhere; density: the "
        "map's density mode (serve with ui.map_density_above below the dataset's size)",
    )
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    d = start_chromium(args.width, 1000)
    try:
        d.get(args.url)
        wait = WebDriverWait(d, 120)
        wait.until(EC.presence_of_element_located((By.ID, "query-text")))
        if not wait_for_map_drawn(d, 300):
            raise SystemExit("the map was not drawn within 300 s")
        if args.only == "feedback":
            feedback_steps(d, args.url, out, args.width)
            return 0
        if args.only == "preview":
            preview_candidate(d, args.url, out, args.width)
            return 0
        if args.only == "settings":
            method_settings(d, args.url, out, args.width)
            return 0
        if args.only == "density":
            density_map(d, out, args.width, args.text)
            return 0
        type_query(d, args.text)
        wait.until(lambda drv: len(drv.find_elements(By.CSS_SELECTOR, "#results-gallery .tile")) > 0)
        time.sleep(2.0)
        full_page(d, out / f"search-{args.width}.png", args.width)
        for i in (0, 2, 5):  # the gallery re-renders after each click: find the tile afresh
            d.find_elements(By.CSS_SELECTOR, "#results-gallery .tile-body")[i].click()
            time.sleep(0.8)
        bars = d.find_elements(By.CSS_SELECTOR, "#dist-histogram .bars .point path")
        if bars:  # plotly bars sit under a drag layer: click where the pointer is, as a user does
            ActionChains(d).move_to_element(bars[0]).click().perform()
            time.sleep(1.5)
        full_page(d, out / f"ideals-highlight-{args.width}.png", args.width)
        if bars:  # clear the highlight again
            ActionChains(d).move_to_element(
                d.find_elements(By.CSS_SELECTOR, "#dist-histogram .bars .point path")[0]
            ).click().perform()
            time.sleep(1.0)
        map_states(d, out, args.width)
        # E: enhance the prompt against the marked ideals, then F explains the (preselected) best candidate
        d.find_element(By.ID, "enhance-run").click()
        wait.until(lambda drv: drv.find_elements(By.CSS_SELECTOR, ".enhance-table tr.selected"))
        wait.until(
            lambda drv: (drv.find_element(By.ID, "explain-cand-heat").get_attribute("src") or "").startswith("data:")
        )
        wait.until(
            lambda drv: drv.execute_script(
                "const g=document.querySelector('#explain-heatmap .js-plotly-plot');"
                "return !!(g && g.data && g.data.length);"
            )
        )
        time.sleep(1.5)
        full_page(d, out / f"enhance-explain-{args.width}.png", args.width)
        # F1's other side of the evidence: what lowers the score (the part of Grad-ECLIP's map its ReLU drops)
        d.find_element(By.CSS_SELECTOR, "#explain-evidence input[value='against']").click()
        wait.until(lambda drv: "lowers the score" in drv.find_element(By.ID, "explain-cand-caption").text)
        time.sleep(1.0)
        panel = d.find_element(By.ID, "panel-f")
        d.execute_script("arguments[0].scrollIntoView({block: 'start'})", panel)
        time.sleep(0.5)
        panel.screenshot(str(out / f"explain-against-{args.width}.png"))  # panel F alone: the change is there
        print("saved", sorted(p.name for p in out.glob("*.png")))
    except Exception:
        full_page(d, out / "failure.png", args.width)
        raise
    finally:
        d.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

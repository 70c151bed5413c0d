"""Issue 15, "both ways" and "colour the map by any attribute", in a real headless Chromium: each test
moves the mouse, clicks, drags or presses a key as a user does and asserts what the page then shows."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

from conftest import BROWSER_SHAPES, make_image_folder, tiny_config  # noqa: E402
from infocir.engine import RetrievalEngine  # noqa: E402
from infocir.ui.app import create_app  # noqa: E402
from infocir.ui.browser import WIRE_JS, drag, lasso_path  # noqa: E402
from test_browser import (  # noqa: E402
    MAP_POINT_JS,
    choose,
    click_fresh,
    gallery_ids,
    map_points,
    search,
    server_errors,
    start_and_search,
    tiles,
    wait_for_map,
    wait_until,
)

pytestmark = pytest.mark.browser
CLASSES = [s.title() for s in BROWSER_SHAPES]

# the dataset traces of the map (not the overlays): names, lengths, selected points, opacities
DATASET_JS = """
const g = document.querySelector('#map-graph .js-plotly-plot');
const over = ['links', 'top-k', 'ideals', 'targets', 'reference', 'composed query', 'hovered'];
return g._fullData.filter(t => !over.includes(t.name) && t.meta !== 'compare').map(t => ({  // not methods side by side
    name: t.name, n: t._length, rows: [...t.customdata], selected: t.selectedpoints ? [...t.selectedpoints] : null,
    dim: t.unselected && t.unselected.marker ? t.unselected.marker.opacity : null,
    opacity: t.marker.opacity, colour: t.marker.color}));
"""
HOVERED_JS = """
const g = document.querySelector('#map-graph .js-plotly-plot');
const t = g._fullData.find(t => t.name === 'hovered');
return t ? [...(t.x || [])].map((x, i) => [x, t.y[i]]) : null;
"""
POINT_XY_JS = """
const g = document.querySelector('#map-graph .js-plotly-plot');
for (const t of g.data) {
    if (!t.customdata || t.name === 'hovered') continue;
    const i = [...t.customdata].indexOf(arguments[0]);
    if (i >= 0) return [t.x[i], t.y[i]];
}
return null;
"""


def all_points(d):
    return [p for name in CLASSES for p in (d.execute_script(MAP_POINT_JS, name) or {"pts": []})["pts"]]


def hover_card(d) -> str:
    return d.execute_script("const e = document.querySelector('#map-hover .hover-card'); return e ? e.innerText : '';")


def hover_visible(d) -> bool:
    return d.execute_script(
        "const e = document.querySelector('#map-hover .hover-card');"
        "if (!e) return false; const r = e.getBoundingClientRect();"
        "const s = getComputedStyle(e.closest('#map-hover'));"
        "return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none';"
    )


def test_hovering_a_map_point_shows_its_image_id_class_and_rank(dash_page, app, engine_cfg):
    engine, _ = engine_cfg
    d = start_and_search(dash_page, app, "make it red", 6)
    wait_for_map(dash_page)
    assert wait_until(lambda: map_points(d) == 6, 60)
    graph = d.find_element(By.CSS_SELECTOR, "#map-graph .js-plotly-plot")
    shown = gallery_ids(d)
    points = {engine.index.ids[p[2]]: p for p in all_points(d)}
    inside, outside = shown[2], next(i for i in points if i not in shown and i != engine.index.ids[0])
    for image_id, rank in ((inside, "rank #3 of the top-6"), (outside, "not in the top-6")):
        x, y, row = points[image_id]
        ActionChains(d).move_to_element_with_offset(graph, int(x), int(y)).perform()
        assert wait_until(lambda image_id=image_id: image_id in hover_card(d), 20), hover_card(d)
        text = hover_card(d)
        assert rank in text and f"class {engine.index.classes[row]}" in text
        assert hover_visible(d)
        src = d.execute_script("return document.querySelector('#map-hover .hover-img').getAttribute('src')")
        assert src.endswith(image_id)
        assert wait_until(
            lambda: d.execute_script("return document.querySelector('#map-hover .hover-img').naturalWidth") > 0, 10
        )  # the thumbnail loaded
    # away from the points: the card goes
    ActionChains(d).move_to_element(d.find_element(By.ID, "results-summary")).perform()
    assert wait_until(lambda: not hover_visible(d), 10)
    assert not server_errors(dash_page)


def test_pointing_at_a_gallery_tile_rings_its_point_without_a_request(dash_page, app, engine_cfg):
    engine, _ = engine_cfg
    d = start_and_search(dash_page, app, "make it red", 6)
    wait_for_map(dash_page)
    assert wait_until(lambda: map_points(d) == 6, 60)
    d.execute_script(WIRE_JS)
    for i in (1, 4):
        tile = d.find_elements(By.CSS_SELECTOR, "#results-gallery .tile")[i]
        row = engine.index.row_of[tile.get_attribute("data-id")]
        ActionChains(d).move_to_element(tile).perform()
        want = d.execute_script(POINT_XY_JS, row)
        assert want is not None
        assert wait_until(lambda want=want: d.execute_script(HOVERED_JS) == [want], 10), d.execute_script(HOVERED_JS)
    ActionChains(d).move_to_element(d.find_element(By.ID, "query-text")).perform()  # off the gallery
    assert wait_until(lambda: d.execute_script(HOVERED_JS) == [], 10)
    # the ring is drawn in the browser: no figure went over the wire
    assert not d.execute_script("return window.__wire.filter(e => String(e.out).includes('map-graph.figure')).length")
    assert not server_errors(dash_page)


def lasso_star_points(d):
    """A real lasso drag around the middle of the Star points; the ids inside it, as the map placed them."""
    pts = d.execute_script(MAP_POINT_JS, "Star")["pts"]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    cx, cy, r = sorted(xs)[len(xs) // 2], sorted(ys)[len(ys) // 2], 40
    drag(d, d.find_element(By.CSS_SELECTOR, "#map-graph .js-plotly-plot"), lasso_path(cx, cy, r))
    return {p[2] for p in all_points(d) if (p[0] - cx) ** 2 + (p[1] - cy) ** 2 < (r * 0.95) ** 2}


def histogram_bars(d) -> dict:
    return d.execute_script(
        "const g=document.querySelector('#dist-histogram .js-plotly-plot');"
        "if (!g || !g._fullData || !g._fullData[0]) return {};"
        "const t=g._fullData[0]; const o={}; t.y.forEach((c, i) => o[c] = t.x[i]); return o;"
    )


def cloud_words(d) -> list[str]:
    return d.execute_script(
        "return [...document.querySelectorAll('#dist-wordcloud-words .cloud-word')].map(e => e.dataset.word)"
    )


def test_a_selection_dims_the_other_points_and_panel_c_counts_it(dash_page, app, engine_cfg):
    engine, _ = engine_cfg
    d = start_and_search(dash_page, app, "make it red", 8)
    wait_for_map(dash_page, "Star")
    assert wait_until(lambda: map_points(d) == 8, 60)
    top_k_bars = histogram_bars(d)
    inside = lasso_star_points(d)
    assert wait_until(lambda: "selected on the map" in d.find_element(By.ID, "results-summary").text, 20)
    chosen = {engine.index.row_of[i] for i in gallery_ids(d)}
    assert inside and inside <= chosen

    # D: every point is still drawn; the selected ones keep their opacity, the others are dimmed
    def dimmed():
        traces = d.execute_script(DATASET_JS)
        if any(t["selected"] is None for t in traces):
            return None
        return traces

    traces = wait_until(dimmed, 20)
    assert traces and sum(t["n"] for t in traces) == len(engine.index)
    for t in traces:
        assert {t["rows"][i] for i in t["selected"]} == {r for r in t["rows"] if r in chosen}
        assert t["dim"] is not None and t["dim"] <= 0.1 < t["opacity"]

    # C: the histogram and the word cloud count the selection, not the top-k
    want = {}
    for r in chosen:
        want[engine.index.classes[r]] = want.get(engine.index.classes[r], 0) + 1
    assert wait_until(lambda: histogram_bars(d) == want, 20), (histogram_bars(d), want, top_k_bars)
    count = f"{len(chosen)} image{'s' if len(chosen) != 1 else ''}"
    assert f"the {count} selected on the map" in d.find_element(By.ID, "dist-scope").text
    assert wait_until(lambda: sorted(cloud_words(d)) == sorted(want), 20)

    # a click on a word highlights its class, as a bar does (B, D and the word itself), and again clears it
    word = max(want, key=want.get)
    el = d.find_element(By.CSS_SELECTOR, f"#dist-wordcloud-words .cloud-word[data-word='{word}']")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
    ActionChains(d).move_to_element(el).click().perform()
    assert wait_until(lambda: d.find_elements(By.CSS_SELECTOR, "#results-gallery .tile.hl"), 20)
    assert {t.get_attribute("data-class") for t in d.find_elements(By.CSS_SELECTOR, "#results-gallery .tile.hl")} == {
        word
    }
    assert wait_until(lambda: {t["name"]: t["opacity"] for t in d.execute_script(DATASET_JS)}.get(word) == 0.85, 20)
    assert wait_until(lambda: d.find_elements(By.CSS_SELECTOR, f".cloud-word.hl[data-word='{word}']"), 10)
    assert word in d.find_element(By.ID, "dist-highlight-note").text
    click_fresh(d, f"#dist-wordcloud-words .cloud-word[data-word='{word}']")
    assert wait_until(lambda: not d.find_elements(By.CSS_SELECTOR, "#results-gallery .tile.hl"), 20)

    # back to the results: nothing is dimmed, C counts the top-k again
    click_fresh(d, "#results-back")
    assert wait_until(lambda: all(t["selected"] is None for t in d.execute_script(DATASET_JS)), 20)
    assert wait_until(lambda: histogram_bars(d) == top_k_bars, 20)
    assert d.find_element(By.ID, "dist-scope").text == ""
    assert not server_errors(dash_page)


def legend_items(d) -> list[str]:
    return d.execute_script(
        "return [...document.querySelectorAll('#map-graph .legend .traces .legendtext')].map(e => e.textContent)"
    )


def test_the_map_is_coloured_by_any_attribute_of_attributes_csv(dash_page, app, engine_cfg):
    engine, cfg = engine_cfg
    dash_page.start_server(app)
    d = dash_page.driver
    wait_for_map(dash_page)
    assert wait_until(lambda: set(CLASSES) <= set(legend_items(d)), 20)
    choose(d, "map-colour", "colour")

    def coloured():
        traces = d.execute_script(DATASET_JS)
        return traces if all(t["name"] not in CLASSES for t in traces) else None

    traces = wait_until(coloured, 30)
    table = {}
    for line in (engine.scan.root / "attributes.csv").read_text().splitlines()[1:]:
        iid, colour, _ = line.split(",")
        table[engine.index.row_of[iid]] = colour
    assert traces and {t["name"] for t in traces} == set(table.values())
    assert sum(t["n"] for t in traces) == len(engine.index)  # every point, regrouped
    for t in traces:
        assert {table[r] for r in t["rows"]} == {t["name"]}
    red = next(t for t in traces if t["name"] == "red")
    assert red["colour"] == "rgb(255,0,0)"  # a colour name is drawn in that colour
    assert wait_until(lambda: sorted(legend_items(d)) == sorted(set(table.values())), 20)  # the legend
    # the hover card names the value
    graph = d.find_element(By.CSS_SELECTOR, "#map-graph .js-plotly-plot")
    x, y, row = (d.execute_script(MAP_POINT_JS, "red") or {"pts": []})["pts"][0]
    ActionChains(d).move_to_element_with_offset(graph, int(x), int(y)).perform()
    assert wait_until(lambda: "colour red" in hover_card(d), 20), hover_card(d)
    # a search on top of the new colouring: the markers come as usual
    search(dash_page, "make it red", k=5)
    assert wait_until(lambda: map_points(d) == 5, 60)
    choose(d, "map-colour", "size")
    legend = wait_until(lambda: (lambda items: items if "large" in items else None)(legend_items(d)), 30)
    assert legend and {"large", "small"} <= set(legend) and not set(legend) & (set(CLASSES) | {"red"}), legend
    choose(d, "map-colour", "class")
    assert wait_until(lambda: set(CLASSES) <= set(legend_items(d)), 30)
    assert map_points(d) == 5
    assert not server_errors(dash_page)


def test_a_bad_attributes_csv_gives_a_message_and_the_app_keeps_working(dash_page, tmp_path):
    data = make_image_folder(tmp_path / "data", per_class=3, shapes=("circle", "star"))
    (data / "attributes.csv").write_text("id,colour\ncircle/circle_00.png,red\n")
    cfg = tiny_config(data, tmp_path / "cache", **{"umap.n_epochs": "20", "umap.n_neighbors": "3"})
    app = create_app(RetrievalEngine.from_config(cfg, progress=False), cfg)
    d = start_and_search(dash_page, app, "make it red", 3)
    note = d.find_element(By.ID, "map-colour-note").text
    assert "attributes.csv has no 'image_id' column" in note and "coloured by class only" in note
    d.find_element(By.ID, "map-colour").click()
    assert wait_until(lambda: d.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option"), 10)
    options = [o.get_attribute("textContent") for o in d.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option")]
    assert options == ["class"]
    assert len(tiles(d)) == 3
    assert not server_errors(dash_page)


def test_the_enlarged_map_follows_the_explanation_and_closes_on_a_click_outside(dash_page, app):
    d = start_and_search(dash_page, app, "make it red", 6)

    def heat(i):
        return d.find_element(By.ID, i).get_attribute("src") or ""

    assert wait_until(lambda: heat("explain-cand-heat").startswith("data:image/png"), 90)
    first = heat("explain-cand-heat")
    overlay = d.find_element(By.ID, "explain-cand-overlay")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", overlay)
    ActionChains(d).move_to_element(overlay).click().perform()
    modal = d.find_element(By.ID, "explain-zoom")
    assert wait_until(lambda: modal.is_displayed() and heat("explain-zoom-heat") == first, 10)
    caption = lambda: d.find_element(By.ID, "explain-zoom-caption").text  # noqa: E731
    assert "rank 1/6" in caption()
    # → steps to the next candidate under the open view: it shows that candidate and, once computed, its map
    ActionChains(d).send_keys(Keys.ARROW_RIGHT).perform()
    assert wait_until(lambda: "rank 2/6" in caption(), 20)
    assert wait_until(lambda: "rank 2/6" in d.find_element(By.ID, "explain-cand-caption").text, 10)
    assert wait_until(
        lambda: heat("explain-zoom-heat").startswith("data:image/png") and heat("explain-zoom-heat") != first, 90
    )
    assert wait_until(lambda: heat("explain-zoom-heat") == heat("explain-cand-heat"), 10)
    assert heat("explain-zoom-base").endswith(
        d.find_element(By.CSS_SELECTOR, "#results-gallery .tile:nth-child(2)").get_attribute("data-id")
    )
    # a click on the dimmed page around it closes it
    ActionChains(d).move_to_element_with_offset(modal, 8, 8).click().perform()
    assert wait_until(lambda: not modal.is_displayed(), 10)
    assert not server_errors(dash_page)


class SlowCallbacks:
    """WSGI middleware: every callback answer comes ``seconds`` late, as on a busy server (the load is
    simulated on the server; the test itself waits only on conditions)."""

    def __init__(self, app, seconds: float):
        self.app, self.seconds = app, seconds

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").endswith("_dash-update-component"):
            import time

            time.sleep(self.seconds)
        return self.app(environ, start_response)


def test_a_slow_server_drops_no_answer(dash_page, engine_cfg, shared_maps):
    """Answers slower than the polls' intervals (1.1 s, against 1 s for the map and 0.4 s for F): the map still
    gets drawn with its top-k, ▶ clicked six times quickly moves six candidates, and F still reaches "Done".  (The
    browser keeps only the newest answer of a callback: an interval that ticked faster than the server
    answered dropped every answer, and clicks read the same old index.)"""
    engine, cfg = engine_cfg
    app = create_app(engine, cfg, maps=shared_maps)
    app.server.wsgi_app = SlowCallbacks(app.server.wsgi_app, 1.1)
    dash_page.start_server(app)
    d = dash_page.driver
    dash_page.wait_for_element("#query-text", timeout=30)
    search(dash_page, "make it red", k=12)
    assert wait_until(lambda: len(tiles(d)) == 12, 60)
    wait_for_map(dash_page)
    assert wait_until(lambda: map_points(d) == 12, 60)
    for _ in range(6):
        click_fresh(d, "#explain-next")
    assert wait_until(lambda: "rank 7/12" in d.find_element(By.ID, "explain-cand-caption").text, 60)
    status = lambda: d.find_element(By.ID, "explain-status").text  # noqa: E731
    assert wait_until(lambda: status().startswith("Done"), 180), status()
    heat = d.find_element(By.ID, "explain-cand-heat").get_attribute("src") or ""
    assert heat.startswith("data:image/png")
    assert not server_errors(dash_page)


# --------------------------------------------------------------------------- density mode (issue 21)
# where every index row lies on the page, in pixels from the plot's top-left (``arguments[0]``: map coordinates)
PIXELS_JS = """
const g = document.querySelector('#map-graph .js-plotly-plot');
const xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis;
return arguments[0].map(p => [xa._offset + xa.l2p(p[0]), ya._offset + ya.l2p(p[1])]);
"""
PLOT_AREA_JS = """
const g = document.querySelector('#map-graph .js-plotly-plot');
const xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis;
return [xa._offset, ya._offset, xa._length, ya._length];
"""
DENSITY_JS = """
const g = document.querySelector('#map-graph .js-plotly-plot');
if (!g || !g._fullData || !g._fullData.length) return null;
const h = g._fullData[0];
const z = h.z ? [].concat(...[...h.z].map(r => [...r])) : [];
return {type: h.type, meta: h.meta, cells: z.filter(v => v > 0).length,
        drawn: g._fullData.filter(t => t.type === 'scattergl' && !['links', 'top-k', 'ideals', 'targets', 'reference',
            'composed query', 'hovered'].includes(t.name) && t.meta !== 'compare').map(t => [...t.customdata])};
"""


def _gap(p, path, closed=True) -> float:
    """Distance in px from point ``p`` to the polyline ``path`` (closed: back to its start)."""
    import math

    pts = list(path) + ([path[0]] if closed else [])
    best = math.inf
    for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
        dx, dy = x1 - x0, y1 - y0
        t = max(0.0, min(1.0, ((p[0] - x0) * dx + (p[1] - y0) * dy) / ((dx * dx + dy * dy) or 1)))
        best = min(best, math.hypot(p[0] - x0 - t * dx, p[1] - y0 - t * dy))
    return best


def _inside(p, poly) -> bool:
    """Even-odd ray casting, written here apart from the app's (``projection.density``)."""
    inside = False
    for (x0, y0), (x1, y1) in zip(poly, poly[1:] + poly[:1], strict=True):
        if (y0 > p[1]) != (y1 > p[1]) and p[0] < x0 + (p[1] - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside


def _region(pixels, drawn, shape, area):
    """A lasso (a 16-step circle) or a box inside the plot ``area`` (left, top, width, height: a drag that
    leaves it starts no selection) whose edge passes no point closer than 6 px, holding at least two images of
    which at least one is not drawn ("hidden": none drawn): the drag path, as integer pixel steps, and the rows
    inside it."""
    left, top, width, height = area
    for r in (70, 90, 110, 50, 130, 35, 25, 18, 12):
        for row in range(len(pixels)):
            cx, cy = round(pixels[row][0]) + 7, round(pixels[row][1]) - 5
            if shape == "box":
                path = [(cx - r, cy - r), (cx, cy), (cx + r, cy + r)]
                outline = [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
            else:
                path = [(round(x), round(y)) for x, y in lasso_path(cx, cy, r, 16)]
                outline = path[:-1]
            if not all(left + 3 < x < left + width - 3 and top + 3 < y < top + height - 3 for x, y in outline):
                continue
            if min(_gap(p, outline) for p in pixels) < 6:
                continue
            inside = {i for i, p in enumerate(pixels) if _inside(p, outline)}
            if shape == "hidden" and inside and not inside & drawn:
                return path, inside
            if shape != "hidden" and len(inside) >= 2 and inside - drawn:
                return path, inside
    return None, None


@pytest.mark.parametrize("tool", ["lasso", "box", "hidden"])
def test_at_density_a_selection_holds_every_image_inside_not_only_the_drawn_points(
    dash_page, engine_cfg, shared_maps, tool
):
    """Density mode forced on the small world (``ui.map_density_above`` 10, 12 points drawn of 24): the map is a
    heatmap under the sample; a real lasso or box drag selects every image whose map position is inside it, drawn
    or not ("hidden": a lasso around images none of which is drawn); B browses them (their count on the page), C
    counts them, D says how many, ★ all marks them; a click on a drawn point opens its card."""
    engine, cfg = engine_cfg
    dense = cfg.with_overrides({"ui.map_density_above": "10", "ui.map_sample_points": "12"})
    dash_page.start_server(create_app(engine, dense, maps=shared_maps))
    d = dash_page.driver
    wait_for_map(dash_page, "Star")
    layer = wait_until(lambda: d.execute_script(DENSITY_JS), 30)
    assert layer["type"] == "heatmap" and layer["meta"] == "density" and layer["cells"] > 0
    drawn = {r for rows in layer["drawn"] for r in rows}
    assert len(drawn) == 12 and {engine.index.classes[r] for r in drawn} == set(CLASSES)  # stratified by class
    pixels = d.execute_script(PIXELS_JS, shared_maps.map.coords.tolist())  # every image, drawn or not
    path, inside = _region(pixels, drawn, tool, d.execute_script(PLOT_AREA_JS))
    assert path, "no region on this map with an undrawn image inside and no point near its edge"
    graph = d.find_element(By.CSS_SELECTOR, "#map-graph .js-plotly-plot")
    if tool == "box":
        click_fresh(d, "#map-graph .modebar-btn[data-val='select']")
    d.execute_script(WIRE_JS)
    drag(d, graph, path)
    summary = lambda: d.find_element(By.ID, "results-summary").text  # noqa: E731
    count = f"{len(inside)} image{'s' if len(inside) != 1 else ''}"
    assert wait_until(lambda: f"Browsing {count} selected on the map" in summary(), 30), (summary(), inside, drawn)
    # the server got the region drawn, not the drawn points the lasso caught
    sent = d.execute_script(
        "return window.__wire.map(e => JSON.parse(e.body).inputs).flat().filter(i => i.id === 'map-region')"
    )
    assert sent and all(i["value"]["points"] == [] for i in sent)
    assert all(("range" if tool == "box" else "lassoPoints") in i["value"] for i in sent)
    assert set(gallery_ids(d)) == {engine.index.ids[r] for r in inside}
    assert wait_until(lambda: f"The selection holds {count}" in d.find_element(By.ID, "map-status").text)
    assert f"the {count} selected on the map" in d.find_element(By.ID, "dist-scope").text
    if tool == "lasso":
        click_fresh(d, "#results-mark-selection")  # ★ all: every image of the selection, drawn or not
        assert wait_until(lambda: len(d.find_elements(By.CSS_SELECTOR, "#results-gallery .tile.ideal")) == len(inside))
        ideal_ring = (
            "const g=document.querySelector('#map-graph .js-plotly-plot');"
            "const t=g._fullData.find(t => t.name === 'ideals');"
            "return t ? [...t.customdata].sort((a, b) => a - b) : [];"
        )
        assert wait_until(lambda: d.execute_script(ideal_ring) == sorted(inside), 20)  # gold rings, undrawn too
    click_fresh(d, "#results-back")
    assert wait_until(lambda: "selected on the map" not in summary(), 20)
    # a click on a drawn point still opens its card
    x, y, row = d.execute_script(MAP_POINT_JS, "Circle")["pts"][0]
    ActionChains(d).move_to_element_with_offset(graph, int(x), int(y)).click().perform()
    card = d.find_element(By.ID, "map-card")
    assert wait_until(lambda: card.is_displayed() and engine.index.ids[row] in card.text, 20)
    assert not server_errors(dash_page)

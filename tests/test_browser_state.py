"""Issue 15, items 3 and 4, in a real headless Chromium: the page's state tells the truth (an upload
can be replaced and removed, ↺ searches, stale tables say so, the reference is left out of its own
results) and a search sends each thing once (the map's dataset once per page, markers as a patch,
uploads never again after the drop)."""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

from infocir.ui.browser import WIRE_JS as WIRE  # noqa: E402
from test_browser import (
    MAP_POINT_JS,
    choose,
    click_fresh,
    heatmap_rows,
    map_points,
    search,
    server_errors,
    settled,
    start_and_search,
    tiles,
    wait_for_map,
    wait_until,
)

pytestmark = pytest.mark.browser

# the fixtures engine_cfg (test_browser's world), shared_maps (one map per module) and app are in conftest.py


# every callback request of the page (infocir.ui.browser.WIRE_JS), filtered by output
WIRE_OF = (
    "return window.__wire.filter(e => String(e.out).includes(arguments[0]))"
    ".map(e => ({up: e.up, down: e.down, text: e.text}));"
)
ALL_WIRE = "return window.__wire.map(e => ({out: e.out, up: e.up, down: e.down, body: e.body.slice(0, 200000)}));"


STAR_JS = """
const g = document.querySelector('#map-graph .js-plotly-plot');
const t = g && g._fullData && g._fullData.find(t => t.name === 'reference');
if (!t || !t._length) return null;
const xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis;
return [xa._offset + xa.l2p(t.x[0]), ya._offset + ya.l2p(t.y[0])];
"""


OPTIONS_JS = "return [...document.querySelectorAll('.dash-dropdown-option')].map(o => o.textContent.trim());"


def text_of(d, element_id: str) -> str:
    return d.find_element(By.ID, element_id).text


def summary(d) -> str:
    return text_of(d, "results-summary")


def gallery_ids(d) -> list:
    return d.execute_script("return [...document.querySelectorAll('#results-gallery .tile')].map(e => e.dataset.id)")


def upload(d, path) -> None:
    d.find_element(By.CSS_SELECTOR, "#query-upload input[type=file]").send_keys(str(path))


def pick_reference(d, image_id: str) -> None:
    """Choose an id in panel A's dropdown as a user does: open it, type part of the id, click the option."""
    el = d.find_element(By.ID, "query-reference")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
    el.click()
    box = wait_until(
        lambda: [b for b in d.find_elements(By.CSS_SELECTOR, ".dash-dropdown-search") if b.is_displayed()], 10
    )
    box[0].send_keys(image_id.rsplit("/", 1)[-1])
    text = lambda o: (o.get_attribute("textContent") or "").strip()  # noqa: E731
    assert wait_until(
        lambda: any(text(o) == image_id for o in d.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option")), 10
    )
    for o in d.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option"):
        if text(o) == image_id:
            o.click()
            return


def exclude_box(d):
    """Panel A's "leave the reference out" box (waited for: choosing a method re-renders panel A's options)."""
    found = wait_until(lambda: d.find_elements(By.CSS_SELECTOR, "#query-exclude-ref input[type=checkbox]"), 10)
    assert found, "the exclude-reference box is not on the page"
    return found[0]


def make_upload(tmp_path, engine, name="my photo.png", image_id="heart/heart_03.png"):
    """A file from outside the dataset: a dataset image re-encoded under another name."""
    from PIL import Image

    path = tmp_path / name
    Image.open(engine.index.paths[engine.index.row_of[image_id]]).convert("RGB").save(path)
    return path


# --------------------------------------------------------------------------- item 3: state that lies
def test_picking_a_dataset_image_replaces_an_upload_and_the_upload_can_be_removed(dash_page, app, engine_cfg, tmp_path):
    engine, _ = engine_cfg
    dash_page.start_server(app)
    d = dash_page.driver
    dash_page.wait_for_element("#query-text", timeout=30)
    first = engine.index.ids[0]
    assert wait_until(lambda: first in text_of(d, "query-reference-caption"))
    remove = d.find_element(By.ID, "query-upload-remove")
    assert not remove.is_displayed()  # nothing to remove yet
    photo = make_upload(tmp_path, engine)
    upload(d, photo)
    assert wait_until(lambda: "uploaded: my photo.png" in text_of(d, "query-reference-caption"), 20)
    assert wait_until(lambda: remove.is_displayed())
    src = d.find_element(By.ID, "query-reference-preview").get_attribute("src")
    assert "/upload/" in src and not src.startswith("data:")  # a server address, not the image sent back
    assert wait_until(
        lambda: d.execute_script("return document.getElementById('query-reference-preview').naturalWidth") > 0
    )
    assert first not in text_of(d, "query-reference")  # the dropdown shows no id that is not the reference
    search(dash_page, "make it red", k=5)
    assert wait_until(lambda: "my photo.png" in summary(d) and len(tiles(d)) == 5, 30)
    # picking the id the dropdown showed before the upload is a change: it becomes the reference
    pick_reference(d, first)
    assert wait_until(lambda: first in text_of(d, "query-reference-caption"), 20)
    assert wait_until(lambda: not remove.is_displayed())
    assert "/media/" in d.find_element(By.ID, "query-reference-preview").get_attribute("src")
    # B still shows the upload's results, and panel A says so until the search runs
    assert wait_until(lambda: "Not searched yet" in text_of(d, "query-ref-pending"))
    search(dash_page, "make it red", k=5)
    assert wait_until(lambda: first in summary(d) and "my photo.png" not in summary(d), 30)
    assert wait_until(lambda: text_of(d, "query-ref-pending") == "")
    # upload again (the same file: the page forgot the first drop), then ✕ remove upload: back to that id
    other = engine.index.ids[5]
    pick_reference(d, other)
    assert wait_until(lambda: other in text_of(d, "query-reference-caption"), 20)
    upload(d, photo)
    assert wait_until(lambda: "uploaded: my photo.png" in text_of(d, "query-reference-caption"), 20)
    assert wait_until(lambda: remove.is_displayed())
    remove.click()
    assert wait_until(lambda: other in text_of(d, "query-reference-caption"), 20)
    assert other in text_of(d, "query-reference") and not remove.is_displayed()
    search(dash_page, "make it red", k=5)
    assert wait_until(lambda: other in summary(d), 30)
    assert not server_errors(dash_page)


def test_the_reference_picker_searches_the_ids_on_the_server(dash_page, engine_cfg, shared_maps):
    """Issue 21: the page holds a few ids, not all of them.  Typing part of an id asks the server for at most
    ``ui.reference_options`` matches (here 4 of 24 images); picking one makes it the reference."""
    import dataclasses
    import json

    from infocir.ui.app import create_app

    engine, cfg = engine_cfg
    cap = 4
    small = dataclasses.replace(cfg, ui=dataclasses.replace(cfg.ui, reference_options=cap))
    dash_page.start_server(create_app(engine, small, maps=shared_maps))
    d = dash_page.driver
    first = engine.index.ids[0]
    assert wait_until(lambda: first in text_of(d, "query-reference-caption"), 30)
    d.execute_script(WIRE)
    stars = [i for i in engine.index.ids if "star_" in i]
    assert len(stars) > cap  # more matches than the picker may list
    wanted = stars[-1]  # not among the first matches: only the server's search can offer it
    # the options listed, read in one script (the list re-renders as answers arrive)
    shown = lambda: d.execute_script(OPTIONS_JS)  # noqa: E731

    el = d.find_element(By.ID, "query-reference")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
    el.click()
    assert wait_until(lambda: shown(), 30) and len(shown()) <= cap  # the first ids, and the reference
    assert wanted not in shown()
    box = wait_until(
        lambda: [b for b in d.find_elements(By.CSS_SELECTOR, ".dash-dropdown-search") if b.is_displayed()], 10
    )
    box[0].send_keys("STAR")  # case-insensitive
    assert wait_until(lambda: shown() and all("star_" in o for o in shown()), 30)
    assert len(shown()) <= cap and wanted not in shown()
    box[0].send_keys("_" + wanted.rsplit("_", 1)[-1].split(".")[0])  # "STAR_05": one match, from the server
    assert wait_until(lambda: wanted in shown(), 30)
    assert len(shown()) <= cap
    click_fresh(d, ".dash-dropdown-option", shown().index(wanted))
    assert wait_until(lambda: wanted in text_of(d, "query-reference-caption"), 30)
    assert wanted.rsplit("/", 1)[-1] in d.find_element(By.ID, "query-reference-preview").get_attribute("src")
    # the options answered after the pick (search cleared) still list the reference: the dropdown keeps it
    replies = [json.loads(e["text"]).get("response", {}) for e in d.execute_script(WIRE_OF, "query-reference.options")]
    answers = [r["query-reference"]["options"] for r in replies if "options" in r.get("query-reference", {})]
    assert answers and all(len(a) <= cap + 1 for a in answers)  # at most cap matches, plus the reference
    assert wait_until(lambda: wanted in text_of(d, "query-reference"), 30)
    # a late answer dropping the value would show here
    assert wanted in settled(lambda: text_of(d, "query-reference")) and wanted in text_of(d, "query-reference-caption")
    search(dash_page, "make it red", k=5)
    assert wait_until(lambda: wanted in summary(d), 30)
    assert not server_errors(dash_page)


def test_use_as_reference_searches_so_a_b_and_d_agree(dash_page, app, engine_cfg):
    engine, _ = engine_cfg
    d = start_and_search(dash_page, app, "make it red", 6)
    wait_for_map(dash_page, "Circle")
    assert wait_until(lambda: map_points(d) == 6, 60)
    chosen = gallery_ids(d)[3]
    tile = d.find_elements(By.CSS_SELECTOR, "#results-gallery .tile")[3]
    ActionChains(d).move_to_element(tile).perform()
    click_fresh(d, "#results-gallery .use-ref", 3)
    # A: the new reference; B: its results (the search ran); D: the star is on that image's point
    assert wait_until(lambda: chosen in text_of(d, "query-reference-caption"), 20)
    assert wait_until(lambda: chosen in summary(d), 30)
    assert chosen not in gallery_ids(d)  # and it is not among its own results (the switch is on)
    row = engine.index.row_of[chosen]
    name = engine.index.classes[row]

    def star_on_point():
        pts = d.execute_script(MAP_POINT_JS, name)["pts"]
        star = d.execute_script(STAR_JS)
        if not star:
            return False
        x, y = next((p[0], p[1]) for p in pts if p[2] == row)
        return abs(star[0] - x) < 1 and abs(star[1] - y) < 1

    assert wait_until(star_on_point, 30)
    assert text_of(d, "query-ref-pending") == ""
    assert not server_errors(dash_page)


def test_the_reference_is_left_out_of_its_results_unless_the_switch_is_off(dash_page, app, engine_cfg):
    engine, cfg = engine_cfg
    assert cfg.retrieval.exclude_reference
    dash_page.start_server(app)
    d = dash_page.driver
    dash_page.wait_for_element("#query-text", timeout=30)
    ref = engine.index.ids[0]
    choose(d, "query-method", "Image only")
    assert exclude_box(d).is_selected()  # on by default (retrieval.exclude_reference)
    search(dash_page, "", k=4)
    assert wait_until(lambda: len(tiles(d)) == 4 and "Image only" not in summary(d) or len(tiles(d)) == 4, 30)
    assert wait_until(lambda: "image" in summary(d), 10)
    assert ref not in gallery_ids(d)
    want = engine.search(ref, "", k=4, method="image", exclude_reference=True).ids
    assert gallery_ids(d) == want
    exclude_box(d).click()  # the user unticks it
    assert not exclude_box(d).is_selected()
    click_fresh(d, "#query-search")
    assert wait_until(lambda: gallery_ids(d)[:1] == [ref], 30)  # image only: the reference is its own #1
    assert gallery_ids(d) == engine.search(ref, "", k=4, method="image").ids
    assert not server_errors(dash_page)


def test_an_old_enhancement_table_is_marked_stale_and_its_rows_fill_f3(dash_page, app):
    d = start_and_search(dash_page, app, "change it", 8)
    for i in (2, 4):
        click_fresh(d, "#results-gallery .tile-body", i)
    assert wait_until(lambda: len(d.find_elements(By.CSS_SELECTOR, ".tile.ideal")) == 2)
    click_fresh(d, "#enhance-run")
    assert wait_until(lambda: len(d.find_elements(By.CSS_SELECTOR, ".enhance-table tbody tr")) >= 3, 90)
    n_rows = len(d.find_elements(By.CSS_SELECTOR, ".enhance-table tbody tr"))
    assert wait_until(lambda: heatmap_rows(d) == n_rows, 30)  # F3: the query's ranking and every candidate

    def labels():
        return d.execute_script(
            "const g=document.querySelector('#explain-heatmap .js-plotly-plot');"
            "return g && g._fullData && g._fullData[0] ? [...g._fullData[0].y] : [];"
        )

    def row_texts():
        return [
            r.find_element(By.CSS_SELECTOR, "td.prompt").text.replace(" baseline", "").strip()
            for r in d.find_elements(By.CSS_SELECTOR, ".enhance-table tbody tr")
        ]

    # clicking another candidate row previews it; its prompt is one of F3's rows
    rows = d.find_elements(By.CSS_SELECTOR, ".enhance-table tbody tr")
    target = next(
        i
        for i, r in enumerate(rows)
        if "selected" not in r.get_attribute("class") and "baseline" not in r.get_attribute("class")
    )
    text = row_texts()[target]
    click_fresh(d, ".enhance-table tbody tr", target)
    assert wait_until(lambda: any(text[:30] in lab for lab in labels()), 20), (text, labels())
    assert not d.find_element(By.ID, "enhance-adopt").get_attribute("disabled")
    assert not d.find_elements(By.CSS_SELECTOR, "#enhance-table .stale")
    # Adopt: the search runs with that text; the table was made for the old text: stale, Adopt off
    click_fresh(d, "#enhance-adopt")
    assert wait_until(lambda: text in summary(d), 30)
    assert wait_until(lambda: d.find_elements(By.CSS_SELECTOR, "#enhance-table .stale"), 20)
    assert "Stale" in text_of(d, "enhance-table")
    assert d.find_element(By.ID, "enhance-adopt").get_attribute("disabled")
    # only the text changed: a row still fills F3 against the new results
    assert wait_until(lambda: heatmap_rows(d) == 0, 20)  # the new search emptied F3
    other = next(i for i, t in enumerate(row_texts()) if t != text and i != 0)
    click_fresh(d, ".enhance-table tbody tr", other)
    assert wait_until(lambda: heatmap_rows(d) == n_rows, 20)
    assert "preview" not in summary(d)  # a stale table's row does not preview: its rows are another search's
    # a search with another k: the rows' rankings no longer compare; F3 stays empty and E says why
    search(dash_page, text, k=6)
    assert wait_until(lambda: len(tiles(d)) == 6, 30)
    assert wait_until(lambda: heatmap_rows(d) == 0, 20)
    third = next(i for i, t in enumerate(row_texts()) if i not in (0, other))
    click_fresh(d, ".enhance-table tbody tr", third)
    assert wait_until(lambda: "Enhance again" in text_of(d, "enhance-status"), 20)
    assert heatmap_rows(d) == 0 and d.find_element(By.ID, "enhance-adopt").get_attribute("disabled")
    assert not server_errors(dash_page)


# --------------------------------------------------------------------------- item 4: sent once
def test_a_search_sends_the_map_once_as_a_patch_and_renders_each_panel_once(dash_page, app, engine_cfg):
    engine, _ = engine_cfg
    dash_page.start_server(app)
    d = dash_page.driver
    dash_page.wait_for_element("#query-text", timeout=30)
    wait_for_map(dash_page, "Circle")
    n_classes = len(set(engine.index.classes))
    count = (
        "const g=document.querySelector('#map-graph .js-plotly-plot');"
        "return g._fullData.slice(0, arguments[0]).reduce((a, t) => a + t._length, 0);"
    )
    assert d.execute_script(count, n_classes) == len(engine.index)
    d.execute_script(WIRE)
    search(dash_page, "make it red", k=5)
    assert wait_until(lambda: map_points(d) == 5 and len(tiles(d)) == 5, 60)
    time.sleep(2.0)  # any late second round would have arrived
    maps = d.execute_script(WIRE_OF, "map-graph.figure")
    assert len(maps) == 1, maps  # one map response per search (was two)
    assert maps[0]["down"] < 15_000  # the markers only: the dataset's points are not sent again
    assert '"__dash_patch_update"' in maps[0]["text"]
    assert len(d.execute_script(WIRE_OF, "results-gallery.children")) == 1
    assert len(d.execute_script(WIRE_OF, "dist-histogram.figure")) == 1
    assert d.execute_script(count, n_classes) == len(engine.index)  # the dataset is still all there
    # a highlight (a real click on a C1 bar) dims the other classes on the map: again a patch
    d.execute_script(WIRE)
    for _ in range(40):
        try:
            bar = d.find_elements(By.CSS_SELECTOR, "#dist-histogram .bars .point path")[0]
            ActionChains(d).move_to_element(bar).click().perform()
        except Exception:  # noqa: BLE001 - re-rendered under the pointer: try again
            pass
        if wait_until(lambda: d.find_elements(By.CSS_SELECTOR, "#results-gallery .tile.hl"), 1):
            break
    assert d.find_elements(By.CSS_SELECTOR, "#results-gallery .tile.hl")
    opacities = (
        "const g=document.querySelector('#map-graph .js-plotly-plot');"
        "return g._fullData.slice(0, arguments[0]).map(t => t.marker.opacity);"
    )
    assert wait_until(lambda: sorted(set(d.execute_script(opacities, n_classes))) == [0.12, 0.85], 20)
    maps = d.execute_script(WIRE_OF, "map-graph.figure")
    assert maps and all(m["down"] < 15_000 for m in maps)
    assert d.execute_script(count, n_classes) == len(engine.index)
    # "lines to results": the links appear, as a patch too
    d.execute_script(WIRE)
    d.find_element(By.CSS_SELECTOR, "#map-lines input[type=checkbox]").click()
    links = (
        "const g=document.querySelector('#map-graph .js-plotly-plot');"
        "const t=g._fullData.find(t => t.name === 'links'); return t ? t._length : -1;"
    )
    assert wait_until(lambda: d.execute_script(links) == 3 * 5, 20)  # query → result, then a break, per result
    maps = d.execute_script(WIRE_OF, "map-graph.figure")
    assert maps and all(m["down"] < 15_000 for m in maps)
    assert d.execute_script(count, n_classes) == len(engine.index) and map_points(d) == 5
    assert not server_errors(dash_page)


def test_an_upload_is_sent_once_and_panel_f_shows_it_from_the_server(dash_page, app, engine_cfg, tmp_path):
    import base64

    import numpy as np
    from PIL import Image

    engine, _ = engine_cfg
    dash_page.start_server(app)
    d = dash_page.driver
    dash_page.wait_for_element("#query-text", timeout=30)
    wait_for_map(dash_page, "Circle")
    # a noisy 700 px photo (about 1.5 MB as PNG): it would dominate any request that carried it
    pixels = (np.random.default_rng(1).random((700, 700, 3)) * 255).astype("uint8")
    pixels[200:500, 200:500] = (200, 40, 40)
    path = tmp_path / "noisy.png"
    Image.fromarray(pixels).save(path)
    size = path.stat().st_size
    assert size > 1_000_000
    d.execute_script(WIRE)
    upload(d, path)
    assert wait_until(lambda: "uploaded: noisy.png" in text_of(d, "query-reference-caption"), 30)
    search(dash_page, "make it red", k=5)
    assert wait_until(lambda: "noisy.png" in summary(d) and len(tiles(d)) == 5, 60)
    assert wait_until(
        lambda: (d.find_element(By.ID, "explain-ref-img").get_attribute("src") or "").count("/upload/"), 30
    )
    assert wait_until(
        lambda: d.execute_script("return document.getElementById('explain-ref-img').naturalWidth") > 0, 20
    )
    assert wait_until(
        lambda: (d.find_element(By.ID, "explain-ref-heat").get_attribute("src") or "").startswith("data:image/png"), 90
    )
    # ▶ and the ideals redraw the map and panel F: none of it carries the image
    click_fresh(d, "#explain-next")
    click_fresh(d, "#results-gallery .tile-body", 1)
    assert wait_until(lambda: len(d.find_elements(By.CSS_SELECTOR, ".tile.ideal")) == 1, 20)
    time.sleep(1.5)
    wire = d.execute_script(ALL_WIRE)
    carrying = [e["out"] for e in wire if e["up"] > size / 2]
    assert carrying == [e["out"] for e in wire if "query-upload.contents" in e["out"] and e["up"] > size / 2]
    assert len(carrying) == 1  # the drop itself, once; never as State afterwards
    assert max(e["up"] for e in wire if "query-upload.contents" not in e["out"]) < 50_000
    assert not any(
        "data:image/png;base64," + base64.b64encode(path.read_bytes()[:60]).decode()[:40] in e["body"]
        for e in wire
        if "query-upload.contents" not in e["out"]
    )
    # the server answers for the upload's thumbnail, and a search from it still works after the page forgot the file
    search(dash_page, "make it blue", k=3)
    assert wait_until(lambda: "noisy.png" in summary(d) and len(tiles(d)) == 3, 30)
    assert not server_errors(dash_page)


def test_relevance_feedback_moves_the_query_toward_the_ideals(dash_page, app, engine_cfg):
    """Choosing relevance feedback in A uses the images marked ideal as its relevant set (it used to rank exactly
    as its base method: the marks never reached it); the page says what it did, and without marks what to do."""
    engine, cfg = engine_cfg
    ref = engine.index.ids[0]  # the default reference
    dash_page.start_server(app)
    d = dash_page.driver
    dash_page.wait_for_element("#query-text", timeout=30)
    choose(d, "query-method", "Relevance feedback")
    search(dash_page, "make it red", k=8)
    assert wait_until(lambda: "mark ideals" in text_of(d, "query-message"), 30), text_of(d, "query-message")
    base = gallery_ids(d)
    assert base == engine.search(ref, "make it red", k=8, method="feedback", exclude_reference=True).ids
    for i in (5, 7):  # two images far down the list are what the user meant
        click_fresh(d, "#results-gallery .tile-body", i)
    assert wait_until(lambda: len(d.find_elements(By.CSS_SELECTOR, ".tile.ideal")) == 2)
    ideals = [base[5], base[7]]
    click_fresh(d, "#query-search")
    assert wait_until(lambda: "moved toward the 2 image(s)" in text_of(d, "query-message"), 30)
    moved = gallery_ids(d)
    expected = engine.search(ref, "make it red", k=8, method="feedback", relevant=ideals, exclude_reference=True)
    assert moved == expected.ids and moved != base
    rank = lambda ids, i: ids.index(i) if i in ids else len(ids)  # noqa: E731
    assert sum(rank(moved, i) for i in ideals) < sum(rank(base, i) for i in ideals)
    assert not server_errors(dash_page)


def test_the_search_index_can_be_chosen_for_a_query(dash_page, engine_cfg, shared_maps, tmp_path):
    """Panel A's "search index": semantic hashing answers the top k (Hamming distance alone here, hashing.rerank =
    0, so its ranking differs from the exact one) and the message says which index answered."""
    from infocir.config import apply_overrides
    from infocir.engine import RetrievalEngine
    from infocir.ui.app import create_app
    from infocir.ui.layout import default_method

    engine, cfg = engine_cfg
    cfg = apply_overrides(cfg, {"hashing.rerank": "0"})
    hashed = RetrievalEngine(cfg, engine.bundle, engine.scan, engine.index, tmp_path)
    dash_page.start_server(create_app(hashed, cfg, maps=shared_maps))
    d = dash_page.driver
    dash_page.wait_for_element("#query-text", timeout=30)
    ref, method = engine.index.ids[0], default_method(hashed, cfg)  # the page's defaults
    search(dash_page, "make it red", k=10)
    assert wait_until(lambda: len(tiles(d)) == 10, 30)
    exact = gallery_ids(d)
    assert exact == hashed.search(ref, "make it red", k=10, method=method, exclude_reference=True).ids
    choose(d, "query-backend", "Semantic hashing")
    click_fresh(d, "#query-search")
    assert wait_until(lambda: "from the hashing index" in text_of(d, "query-message"), 30), text_of(d, "query-message")
    expected = hashed.search(ref, "make it red", k=10, method=method, exclude_reference=True, backend="hashing").ids
    assert gallery_ids(d) == expected and expected != exact
    assert list((tmp_path / "hashing").glob("*.npz"))  # the codes were built once and kept beside the index
    # "same search on the command line" names the index too
    assert "--set retrieval.backend=hashing" in (d.find_element(By.ID, "share-cli").get_attribute("value") or "")
    assert not server_errors(dash_page)

"""Issue 15, "what users of embedding explorers expect": share and export, readable explanations and the
keyboard, each performed in a real headless Chromium (dash[testing]) the way a user does it."""

from __future__ import annotations

import csv
import io
import json
import shlex

import pytest

pytestmark = pytest.mark.browser

from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

from conftest import make_image_folder, tiny_config  # noqa: E402
from infocir.engine import RetrievalEngine  # noqa: E402
from infocir.ui.app import create_app  # noqa: E402
from test_browser import (  # noqa: E402
    choose,
    click_fresh,
    gallery_ids,
    heatmap_rows,
    server_errors,
    start_and_search,
    tiles,
    wait_until,
)

# the fixtures engine_cfg (24 images, built once per module), shared_maps and app are in conftest.py


# --------------------------------------------------------------------------- helpers
def ideal_ids(d) -> list[str]:
    return d.execute_script(
        "return [...document.querySelectorAll('#results-gallery .tile.ideal')].map(e => e.dataset.id)"
    )


def value(d, element_id: str) -> str:
    return d.find_element(By.ID, element_id).get_attribute("value") or ""


def allow_downloads(d, folder):
    """Headless Chromium saves downloads only where it is told to (DevTools protocol)."""
    folder.mkdir(parents=True, exist_ok=True)
    d.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(folder)})


def downloaded(folder, suffix: str, before: set = frozenset(), timeout: float = 30.0):
    """The file with ``suffix`` that appeared in ``folder`` (complete, not a .crdownload)."""

    def done():
        new = [p for p in folder.glob(f"*{suffix}") if p.name not in before]
        return new[0] if new and not list(folder.glob("*.crdownload")) else None

    path = wait_until(done, timeout)
    assert path, f"no {suffix} file was downloaded into {folder}"
    return path


def active(d, what: str = "el => el"):
    return d.execute_script(f"const f = {what}; return f(document.activeElement);")


def press(d, *keys):
    ActionChains(d).send_keys(*keys).perform()


def tab_until(d, test_js: str, limit: int = 40, back: bool = False) -> bool:
    """Press Tab (Shift+Tab) until ``test_js`` (a function of the focused element) holds."""
    for _ in range(limit):
        if d.execute_script(f"return ({test_js})(document.activeElement);"):
            return True
        if back:
            ActionChains(d).key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT).perform()
        else:
            press(d, Keys.TAB)
    return bool(d.execute_script(f"return ({test_js})(document.activeElement);"))


def focus_ring(d) -> tuple[str, float]:
    """The focused element's outline (style, width in px): what makes the focus visible."""
    style, width = d.execute_script(
        "const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth];"
    )
    return style, float(width.replace("px", "") or 0)


def start_point(d, element_id: str):
    """Click a non-interactive text: sequential focus navigation (Tab) starts from there, as for a user."""
    el = d.find_element(By.ID, element_id)
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
    ActionChains(d).move_to_element(el).click().perform()


def search_again(d, text: str, k: int | None = None):
    """A new search on a page that has one: select what the boxes hold and type over it (``clear()`` does
    not empty a React-controlled input), then Enter."""
    if k is not None:
        box = d.find_element(By.ID, "query-k")
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(str(k))
    t = d.find_element(By.ID, "query-text")
    t.send_keys(Keys.CONTROL, "a")
    t.send_keys(text)
    t.send_keys(Keys.ENTER)


def text_of(d, selector: str) -> str:
    """The text of the first match, read in one script (no stale element while the panel re-renders)."""
    return d.execute_script("const e = document.querySelector(arguments[0]); return e ? e.textContent : '';", selector)


def summary(d) -> str:
    return d.find_element(By.ID, "results-summary").text


# --------------------------------------------------------------------------- share and export
def test_a_copied_link_reproduces_the_page(dash_page, app, engine_cfg):
    """The address follows the query (reference, text, method, k, ideals); opening it in a new tab
    restores panel A, runs the search and marks the ideals; Back returns to the previous query."""
    engine, _ = engine_cfg
    d = start_and_search(dash_page, app, "make it red", 6)
    ref = gallery_ids(d)[3]
    click_fresh(d, "#results-gallery .use-ref", 3)  # ↺: this image becomes the reference
    assert wait_until(lambda: ref in d.find_element(By.ID, "query-reference").text)
    choose(d, "query-method", "WeiCom")
    search_again(d, "make it red and small", k=7)
    assert wait_until(lambda: len(tiles(d)) == 7 and ref in summary(d) and "weicom" in summary(d), 30)
    for i in (1, 4):
        click_fresh(d, "#results-gallery .tile-body", i)
    assert wait_until(lambda: len(ideal_ids(d)) == 2), (ideal_ids(d), summary(d), d.current_url)
    ids, ideals = gallery_ids(d), ideal_ids(d)
    assert wait_until(lambda: d.current_url.count("ideal=") == 2, 20), d.current_url
    link = value(d, "share-link")
    assert link == d.current_url and "method=weicom" in link and "k=7" in link

    d.switch_to.new_window("tab")  # a fresh session: nothing but the link
    d.get(link)
    assert wait_until(lambda: gallery_ids(d) == ids, 40)
    assert value(d, "query-text") == "make it red and small" and value(d, "query-k") == "7"
    assert ref in d.find_element(By.ID, "query-reference").text
    assert "WeiCom" in d.find_element(By.ID, "query-method").text
    assert wait_until(lambda: sorted(ideal_ids(d)) == sorted(ideals), 20)
    assert ref in summary(d) and "2 ideals" in summary(d)

    search_again(d, "a blue star", k=4)
    assert wait_until(lambda: len(tiles(d)) == 4 and "text=a+blue+star" in d.current_url, 30)
    d.back()  # the browser's Back: the previous query comes back, searched again
    assert wait_until(lambda: gallery_ids(d) == ids, 40)
    assert value(d, "query-text") == "make it red and small"
    assert not server_errors(dash_page)


def test_results_download_as_csv_and_json_and_the_cli_command(dash_page, app, engine_cfg, tmp_path, capsys):
    """Results CSV and JSON hold ids, paths, ranks, scores, method, model and the dataset fingerprint from
    the engine; "copy as CLI command" copies an `infocir search` line that prints the same ids."""
    from infocir.cli import main

    engine, _ = engine_cfg
    d = start_and_search(dash_page, app, "make it red", 5)
    shown = gallery_ids(d)
    folder = tmp_path / "downloads"
    allow_downloads(d, folder)
    click_fresh(d, "#share-results-csv")
    rows = list(csv.DictReader(io.StringIO(downloaded(folder, ".csv").read_text())))
    assert [r["id"] for r in rows] == shown and [r["rank"] for r in rows] == ["1", "2", "3", "4", "5"]
    fingerprint = engine.index.manifest.key.dataset_fingerprint
    for r in rows:
        assert r["path"] == engine.index.paths[engine.index.row_of[r["id"]]]
        assert r["method"] == "average" and r["model"] == engine.bundle.name and r["dataset_fingerprint"] == fingerprint
        assert r["text"] == "make it red"
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    page_scores = d.execute_script(
        "return [...document.querySelectorAll('#results-gallery .tile .score')].map(e => e.textContent)"
    )
    assert [f"{s:.3f}" for s in scores] == page_scores

    click_fresh(d, "#share-results-json")
    doc = json.loads(downloaded(folder, ".json").read_text())
    assert [r["id"] for r in doc["results"]] == shown and doc["results"][0]["rank"] == 1
    assert doc["dataset"]["fingerprint"] == fingerprint and doc["model"] == engine.bundle.name
    assert doc["query"]["text"] == "make it red" and doc["query"]["k"] == 5 and doc["query"]["method"] == "average"

    command = value(d, "share-cli")
    assert command.startswith("infocir search --reference ")
    # the copy button puts exactly that line on the clipboard
    d.execute_cdp_cmd(
        "Browser.grantPermissions",
        {"origin": dash_page.server_url.rstrip("/"), "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
    )
    click_fresh(d, "#share-cli-copy")
    pasted = wait_until(
        lambda: d.execute_async_script(
            "const done = arguments[0]; navigator.clipboard.readText().then(done, () => done(''));"
        ),
        10,
    )
    assert pasted == command
    argv = shlex.split(pasted)
    capsys.readouterr()
    assert argv[0] == "infocir" and main(argv[1:]) == 0
    printed = [ln.split()[-1] for ln in capsys.readouterr().out.splitlines() if ln.strip()[:1].isdigit()]
    assert printed == shown
    assert not server_errors(dash_page)


def test_enhancement_table_pins_the_baseline_and_tables_download(dash_page, app, tmp_path):
    """E: the baseline is the first row with Δ columns against it; a row is chosen with the keyboard;
    E's table and F3's table download as CSV."""
    d = start_and_search(dash_page, app, "change it", 8)
    shown = gallery_ids(d)
    for i in (2, 4):
        click_fresh(d, "#results-gallery .tile-body", i)
    assert wait_until(lambda: len(ideal_ids(d)) == 2)
    click_fresh(d, "#enhance-run")
    assert wait_until(lambda: len(d.find_elements(By.CSS_SELECTOR, ".enhance-table tbody tr")) >= 3, 90)
    assert wait_until(lambda: d.find_elements(By.CSS_SELECTOR, ".enhance-table tr.selected"))
    table = d.execute_script("""
        return [...document.querySelectorAll('.enhance-table tbody tr')].map(tr => ({
            cls: tr.className, cells: [...tr.children].map(td => td.textContent.trim())}));""")
    assert "baseline" in table[0]["cls"] and all("baseline" not in r["cls"] for r in table[1:])
    heads = [h.text for h in d.find_elements(By.CSS_SELECTOR, ".enhance-table thead th")]
    assert heads[:4] == ["#", "prompt", "nDCG@k", "Δ"] and heads.count("Δ") == 6
    num = lambda s: float(s.replace("★", "").strip())  # noqa: E731
    for r in table[1:]:  # Δ nDCG = the row's nDCG − the baseline's (both as shown, 3 decimals)
        if r["cells"][3] not in ("–", "±0"):
            assert num(r["cells"][3]) == pytest.approx(num(r["cells"][2]) - num(table[0]["cells"][2]), abs=0.0015)
        else:
            assert r["cells"][3] == "–" or abs(num(r["cells"][2]) - num(table[0]["cells"][2])) < 0.0015
    assert table[0]["cells"][3] == ""  # the baseline has no Δ against itself

    # keyboard: Tab from the table's caption to a row that is not selected, Enter selects it
    d.execute_script("document.querySelector('#enhance-table .muted').id = 'e-caption'")
    start_point(d, "e-caption")
    assert tab_until(
        d, "el => el.tagName === 'TR' && !el.classList.contains('selected') && !el.classList.contains('baseline')"
    )
    target = active(d, "el => el.querySelector('td.prompt').textContent")
    assert focus_ring(d)[0] != "none" and focus_ring(d)[1] >= 2
    press(d, Keys.ENTER)
    assert wait_until(lambda: text_of(d, ".enhance-table tr.selected td.prompt") == target)
    assert wait_until(lambda: target in (d.find_element(By.ID, "enhance-preview").get_attribute("textContent") or ""))

    folder = tmp_path / "downloads"
    allow_downloads(d, folder)
    click_fresh(d, "#enhance-download")
    rows = list(csv.DictReader(io.StringIO(downloaded(folder, ".csv").read_text())))
    assert rows[0]["baseline"] == "True" and rows[0]["prompt"] == "change it" and rows[0]["d_ndcg"] in ("0.0", "")
    assert [r["prompt"] for r in rows] == [r["cells"][1].replace(" baseline", "").strip() for r in table]
    assert rows[0]["top_k"].split() == shown

    assert wait_until(lambda: heatmap_rows(d) == len(table), 30)  # F3: the query and every candidate
    before = {p.name for p in folder.iterdir()}
    click_fresh(d, "#explain-heatmap-download")
    f3 = list(csv.DictReader(io.StringIO(downloaded(folder, ".csv", before).read_text())))
    original = [r for r in f3 if r["prompt"].startswith("original")]
    assert [r["image"] for r in original if r["rank"]] == shown
    assert [int(r["rank"]) for r in original if r["rank"]] == list(range(1, 9))
    candidates = {r["cells"][1].strip() for r in table[1:]}
    assert {r["prompt"] for r in f3} - {original[0]["prompt"]} == candidates and target in candidates
    assert not server_errors(dash_page)


# --------------------------------------------------------------------------- readable explanations
def test_saliency_maps_have_a_colour_scale_and_enlarge(dash_page, app):
    d = start_and_search(dash_page, app, "make it red", 6)
    heat = lambda i: d.find_element(By.ID, i).get_attribute("src") or ""  # noqa: E731
    assert wait_until(lambda: heat("explain-ref-heat").startswith("data:image/png"), 60)
    assert wait_until(lambda: heat("explain-cand-heat").startswith("data:image/png"), 60)
    # the colour scale beside the maps: visible, high at the top, level with the maps
    legend = d.find_element(By.CSS_SELECTOR, ".f1 .saliency-legend img.legend-strip")
    assert legend.is_displayed() and legend.get_attribute("src").startswith("data:image/png")
    ends = [e.text for e in d.find_elements(By.CSS_SELECTOR, ".f1 .saliency-legend .legend-end")]
    assert ends == ["high", "low"]

    def box(el):
        return d.execute_script(
            "const r = arguments[0].getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom];", el
        )

    cand = box(d.find_element(By.ID, "explain-cand-overlay"))
    strip = box(legend)
    assert strip[0] >= cand[2] and strip[1] < cand[3] and strip[3] > cand[1]  # right of the maps, level with them
    assert strip[3] - strip[1] >= 100

    # click the candidate's map: it opens enlarged, with the same map and the scale
    overlay = d.find_element(By.ID, "explain-cand-overlay")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", overlay)
    ActionChains(d).move_to_element(overlay).click().perform()
    modal = d.find_element(By.ID, "explain-zoom")
    assert wait_until(lambda: modal.is_displayed(), 10)
    assert heat("explain-zoom-heat") == heat("explain-cand-heat")
    assert "/media/512/" in heat("explain-zoom-base")
    big = box(d.find_element(By.CSS_SELECTOR, "#explain-zoom .zoom-overlay"))
    assert big[2] - big[0] >= 2.5 * (cand[2] - cand[0])  # much larger than in F1
    assert "rank 1/6" in d.find_element(By.ID, "explain-zoom-caption").text
    assert d.find_element(By.CSS_SELECTOR, "#explain-zoom .legend-strip").is_displayed()
    assert wait_until(lambda: active(d, "el => el.id") == "explain-zoom-close", 5)
    press(d, Keys.ESCAPE)  # Escape closes it and gives the focus back
    assert wait_until(lambda: not modal.is_displayed(), 10)
    assert wait_until(lambda: active(d, "el => el.id") == "explain-cand-overlay", 5)
    # the keyboard opens the reference's map: Shift+Tab to it, Enter
    assert tab_until(d, "el => el.id === 'explain-ref-overlay'", 5, back=True)
    assert focus_ring(d)[0] != "none"
    press(d, Keys.ENTER)
    assert wait_until(lambda: modal.is_displayed(), 10)
    assert heat("explain-zoom-heat") == heat("explain-ref-heat")
    assert "reference" in d.find_element(By.ID, "explain-zoom-caption").text
    click_fresh(d, "#explain-zoom-close")
    assert wait_until(lambda: not modal.is_displayed(), 10)
    assert not server_errors(dash_page)


@pytest.fixture(scope="module")
def wide_engine(tmp_path_factory):
    """48 images: enough for a 40-column F3."""
    tmp = tmp_path_factory.mktemp("wide")
    data = make_image_folder(tmp / "data", per_class=12, shapes=("circle", "star", "square", "heart"))
    cfg = tiny_config(
        data, tmp / "cache", **{"umap.n_epochs": "20", "umap.n_neighbors": "5", "umap.pca_components": "0"}
    )
    return RetrievalEngine.from_config(cfg, progress=False), cfg


F3_JS = """
const g = document.querySelector('#explain-heatmap .js-plotly-plot');
if (!g || !g._fullData || !g._fullData[0] || g._fullData[0].type !== 'heatmap') return null;
const xa = g._fullLayout.xaxis, t = g._fullData[0];
const cells = [...g.querySelectorAll('.heatmaplayer text, .hm text, g.textpoint text')];
return {columns: t.z[0].length, ticks: xa.ticktext, cell: xa._length / t.z[0].length,
        images: [...g.querySelectorAll('image')].map(i => i.getAttribute('href'))
                .filter(h => h && h.includes('/media/')),
        font: t.textfont && t.textfont.size, scroll: [g.parentElement.closest('.f3-scroll').scrollWidth,
        g.parentElement.closest('.f3-scroll').clientWidth]};
"""


def test_f3_stays_readable_at_forty_columns(dash_page, wide_engine):
    """F3 shows the N largest rank changes (N on the page), thumbnails head the columns, cells keep
    their size at 40+ columns (the table scrolls instead)."""
    from infocir.explain.rank_delta import largest_changes, rank_delta_table

    engine, cfg = wide_engine
    d = start_and_search(dash_page, create_app(engine, cfg), "make it red", 40)
    box = d.find_element(By.ID, "explain-compare-text")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
    box.send_keys("a small blue star")
    box.send_keys(Keys.ENTER)
    f3 = wait_until(lambda: d.execute_script(F3_JS), 40)
    assert f3 and f3["columns"] == 20  # the default: the 20 largest changes
    ref = d.find_element(By.ID, "query-reference").text.strip()
    exclude = cfg.retrieval.exclude_reference  # the page's "exclude the reference" switch starts there
    orig = engine.search(ref, "make it red", k=40, method="average", exclude_reference=exclude).ids
    other = engine.search(ref, "a small blue star", k=40, method="average", exclude_reference=exclude).ids
    assert gallery_ids(d) == orig
    table = rank_delta_table(orig, [("a small blue star", other)], 40, original_label="original: make it red")
    assert len(table.images) >= 40
    want = largest_changes(table, 20).images
    assert f3["ticks"] == [i.rsplit("/", 1)[-1] for i in want]
    assert [i.split("/media/64/")[-1] for i in f3["images"]] == want  # a thumbnail heads each column
    shown = d.find_element(By.ID, "explain-heatmap-shown").text
    assert f"20 largest rank changes of {len(table.images)}" in shown

    n = d.find_element(By.ID, "explain-heatmap-columns")
    n.send_keys(Keys.CONTROL, "a")
    n.send_keys("60")
    n.send_keys(Keys.ENTER)
    f3 = wait_until(
        lambda: (lambda r: r if r and r["columns"] == len(table.images) else None)(d.execute_script(F3_JS)), 20
    )
    assert f3 and f3["columns"] >= 40
    assert f3["cell"] >= 40 and f3["font"] >= 12  # every cell as large as with few columns
    assert len(f3["images"]) == f3["columns"]
    assert f3["scroll"][0] > f3["scroll"][1]  # wider than the panel: it scrolls
    assert d.execute_script(
        "return [...document.querySelectorAll('#explain-heatmap image')]"
        ".filter(i => (i.getAttribute('href') || '').includes('/media/')).every(i => i.getBBox().width >= 30)"
    )
    assert f"all {len(table.images)} images" in d.find_element(By.ID, "explain-heatmap-shown").text
    assert not server_errors(dash_page)


# --------------------------------------------------------------------------- keyboard
def test_tiles_ideals_and_pager_work_with_the_keyboard(dash_page, app):
    d = start_and_search(dash_page, app, "make it red", 6)
    ids = gallery_ids(d)
    start_point(d, "results-summary")
    # the feedback bar's controls (α, β, γ, pseudo, P, Refine) come between the summary and the tiles
    assert tab_until(d, "el => el.classList.contains('tile-body')", 12)
    first = active(d, "el => el.parentElement.dataset.id")
    assert first == ids[0]
    style, width = focus_ring(d)
    assert style != "none" and width >= 2  # the focus is visible
    press(d, Keys.ENTER)  # Enter marks it as an ideal
    assert wait_until(lambda: ideal_ids(d) == [ids[0]])
    assert active(d, "el => el.parentElement && el.parentElement.dataset.id") == ids[0]  # focus stays on it
    assert active(d, "el => el.getAttribute('aria-pressed')") == "true"
    press(d, Keys.TAB)  # the tile's ↺ button
    assert active(d, "el => el.className") == "use-ref" and focus_ring(d)[0] != "none"
    press(d, Keys.TAB)  # its ✗ (not relevant) toggle
    assert active(d, "el => el.className").startswith("nonrel-toggle") and focus_ring(d)[0] != "none"
    press(d, Keys.TAB)
    assert active(d, "el => el.parentElement.dataset.id") == ids[1]
    y = d.execute_script("return window.scrollY")
    press(d, Keys.SPACE)  # Space marks the second one (and does not scroll the page)
    assert wait_until(lambda: sorted(ideal_ids(d)) == sorted(ids[:2]))
    assert d.execute_script("return window.scrollY") == y
    press(d, Keys.SPACE)  # and unmarks it
    assert wait_until(lambda: ideal_ids(d) == [ids[0]])
    ActionChains(d).key_down(Keys.SHIFT).send_keys(Keys.TAB, Keys.TAB, Keys.TAB).key_up(Keys.SHIFT).perform()
    press(d, Keys.SPACE)  # back on the first tile (past its ✗ and ↺): unmark it
    assert wait_until(lambda: ideal_ids(d) == [])

    # ◀ ▶ in F1
    caption = lambda: d.find_element(By.ID, "explain-cand-caption").text  # noqa: E731
    assert wait_until(lambda: "rank 1/6" in caption(), 30)
    d.execute_script("document.querySelector('.f1 .sub').id = 'f1-title'")
    start_point(d, "f1-title")
    assert tab_until(d, "el => el.id === 'explain-next'", 6)
    assert focus_ring(d)[0] != "none"
    press(d, Keys.ENTER)
    assert wait_until(lambda: "rank 2/6" in caption(), 20)
    press(d, Keys.SPACE)
    assert wait_until(lambda: "rank 3/6" in caption(), 20)
    assert tab_until(d, "el => el.id === 'explain-prev'", 3, back=True)
    press(d, Keys.ENTER)
    assert wait_until(lambda: "rank 2/6" in caption(), 20)
    assert not server_errors(dash_page)

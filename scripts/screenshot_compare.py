"""Screenshots of "Methods side by side" (issue 18 §2) after a real comparison: a benchmark query loaded from the
query browser (its ground-truth targets score the methods), then 2–3 methods compared.

python scripts/screenshot_compare.py [--url http://localhost:8051] [--query 157] [--methods "SEARLE (φ)" Average WeiCom]

Writes <out>/compare-methods-<width>.png (the whole page: the map's markers at the top, the section at the bottom)
and <out>/compare-methods-map-<width>.png (the viewport over the map)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from infocir.ui.browser import click_fresh, type_query, wait_for_map_drawn, wait_until
from infocir.ui.chrome import start_chromium
from screenshots import full_page  # scripts/screenshots.py, beside this file

COLUMNS_JS = "return document.querySelectorAll('#cmp-view .cmp-col').length;"


def set_methods(d, labels: list[str]) -> None:
    """The methods multi-select as a user sets it: open, deselect all, tick the wanted ones in order, close."""
    el = d.find_element(By.ID, "cmp-methods")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
    el.click()
    buttons = wait_until(lambda: d.find_elements(By.CSS_SELECTOR, ".dash-dropdown-action-button"), 10)
    [b for b in buttons if b.text.strip() == "Deselect All"][0].click()
    for label in labels:
        options = d.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option")
        [o for o in options if (o.get_attribute("textContent") or "").strip() == label][0].click()
    d.switch_to.active_element.send_keys(Keys.ESCAPE)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://localhost:8051")
    ap.add_argument("--out", default="docs/screenshots")
    ap.add_argument("--width", type=int, default=1440)
    ap.add_argument("--query", type=int, default=157, help="the benchmark query to load (its position)")
    ap.add_argument("--k", type=int, default=10, help="panel A's k for the comparison (0: as the page has it)")
    ap.add_argument("--methods", nargs="+", default=["SEARLE (φ)", "Average", "WeiCom"])
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    d = start_chromium(args.width, 1000)
    try:
        d.get(args.url)
        wait_until(lambda: d.find_elements(By.ID, "query-text"), 120)
        if not wait_for_map_drawn(d, 300):
            raise SystemExit("the map was not drawn within 300 s")
        # load the benchmark query: A gets its reference and text, B its results, the targets are known
        click_fresh(d, "#bench-toggle")
        row = f'#bench-table tr.bench-row[data-q="{args.query}"]'
        assert wait_until(lambda: d.find_elements(By.CSS_SELECTOR, row), 120), "the benchmark table did not come"
        click_fresh(d, row)
        text = wait_until(lambda: d.find_element(By.ID, "query-text").get_attribute("value"), 20)
        assert wait_until(lambda: text in d.find_element(By.ID, "results-summary").text, 60)
        click_fresh(d, "#bench-toggle")  # closed again: the page ends with the comparison
        if args.k:  # the benchmark table's cut-off, so that the section's AP@k is the table's
            type_query(d, text, args.k)
            assert wait_until(lambda: len(d.find_elements(By.CSS_SELECTOR, "#results-gallery .tile")) == args.k, 60)
        click_fresh(d, "#cmp-toggle")
        set_methods(d, args.methods)
        click_fresh(d, "#cmp-run")
        assert wait_until(lambda: d.execute_script(COLUMNS_JS) == len(args.methods), 60), "no comparison"
        wait_until(
            lambda: d.execute_script(
                "return [...document.querySelectorAll('#cmp-view img')].every(i => i.complete && i.naturalWidth > 0)"
            ),
            30,
        )
        time.sleep(1.5)  # the map's patch and the heatmap's thumbnails
        full_page(d, out / f"compare-methods-{args.width}.png", args.width)
        d.execute_script("document.querySelector('#map-graph').scrollIntoView({block: 'center'})")
        time.sleep(0.8)
        d.save_screenshot(str(out / f"compare-methods-map-{args.width}.png"))
        print("saved", out / f"compare-methods-{args.width}.png", out / f"compare-methods-map-{args.width}.png")
    except Exception:
        full_page(d, out / "failure.png", args.width)
        raise
    finally:
        d.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

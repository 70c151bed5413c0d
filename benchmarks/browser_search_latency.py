"""Time from clicking Search to the gallery showing the new top-k, measured inside the browser,
and what each search costs on the wire.

    python benchmarks/browser_search_latency.py --url http://localhost:8051 --runs 10 [--upload image.png]

A MutationObserver on the gallery records when it holds k tiles of the new query;
``performance.now()`` differences exclude the WebDriver's own polling.  A wrapper around the page's
``fetch`` counts, per search, the callback requests that render the gallery, the histogram and the
map, and the bytes of the map's responses (the figure JSON as sent) and of all request bodies (what
the browser uploads: with ``--upload`` the reference is an uploaded image first).
"""

from __future__ import annotations

import argparse
import statistics
import time

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

# the browser tests' helpers: the same request recorder, the same way of typing a query and of waiting
from infocir.ui.browser import WIRE_JS, type_query, wait_for_map_drawn
from infocir.ui.chrome import start_chromium

WIRE_SUMMARY = """
const w = window.__wire, has = (e, id) => String(e.out).includes(id);
const sum = (xs) => xs.reduce((a, e) => a + e.down, 0), maps = w.filter(e => has(e, 'map-graph.figure'));
return {requests: w.length, up: w.reduce((a, e) => a + e.up, 0), down: sum(w),
        map_bytes: sum(maps), map_renders: maps.length,
        gallery_renders: w.filter(e => has(e, 'results-gallery.children')).length,
        histogram_renders: w.filter(e => has(e, 'dist-histogram.figure')).length};
"""

ARM = """
const k = arguments[0], text = arguments[1];
window.__done = null;
const gal = document.getElementById('results-gallery'), sum = document.getElementById('results-summary');
const check = () => {
  if (window.__done === null && gal.querySelectorAll('.tile img').length === k && sum.textContent.includes(text)) {
    window.__done = performance.now();
  }
};
window.__obs && window.__obs.disconnect();
window.__obs = new MutationObserver(check);
window.__obs.observe(gal, {childList: true, subtree: true});
window.__obs.observe(sum, {childList: true, subtree: true, characterData: true});
window.__map = null;
const plot = document.querySelector('#map-graph .js-plotly-plot');
// the map is redrawn for this search when its top-k trace is a new one with k points (the map may
// now be drawn before the gallery: it is sent as a small patch)
window.__oldTopk = plot ? (plot.data || []).find(t => t.name === 'top-k') : null;
if (plot && !plot.__timed) {
  plot.__timed = true;
  plot.on('plotly_afterplot', () => {
    const t = (plot.data || []).find(t => t.name === 'top-k');
    const f = (plot._fullData || []).find(t => t.name === 'top-k');
    if (window.__map === null && t && t !== window.__oldTopk && f && f._length === window.__k) {
      window.__map = performance.now();
    }
  });
}
window.__k = k;
window.__t0 = performance.now();
document.getElementById('query-search').click();
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://localhost:8051")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("-k", type=int, default=24)
    ap.add_argument("--upload", help="an image file to upload as the reference before the searches")
    ap.add_argument("--settle", type=float, default=1.5, help="seconds to wait after each search for late requests")
    args = ap.parse_args()
    d = start_chromium()
    try:
        d.get(args.url)
        wait = WebDriverWait(d, 300)
        wait.until(lambda drv: drv.find_elements(By.ID, "query-text"))
        if not wait_for_map_drawn(d, 300):
            raise SystemExit("the map was not drawn within 300 s")
        n_images = d.find_element(By.CLASS_NAME, "dataset-badge").text
        if args.upload:
            from pathlib import Path

            d.find_element(By.CSS_SELECTOR, "#query-upload input[type=file]").send_keys(
                str(Path(args.upload).resolve())
            )
            wait.until(lambda drv: "uploaded" in drv.find_element(By.ID, "query-reference-caption").text)
        times, map_times, wire = [], [], []
        for i in range(args.runs):
            text = f"make it {['red', 'blue', 'green', 'pink', 'brown'][i % 5]} {i}"
            type_query(d, text, submit=False)  # ARM clicks Search once the observers are in place
            d.execute_script(WIRE_JS)
            d.execute_script(ARM, args.k, text)
            wait.until(lambda drv: drv.execute_script("return window.__done !== null"))
            times.append(d.execute_script("return window.__done - window.__t0"))
            wait.until(lambda drv: drv.execute_script("return window.__map !== null"))
            map_times.append(d.execute_script("return window.__map - window.__t0"))
            time.sleep(args.settle)
            wire.append(d.execute_script(WIRE_SUMMARY))
        print(
            f"{n_images}; k={args.k}; {args.runs} searches"
            + (f"; uploaded reference {args.upload}" if args.upload else "")
        )
        p50, p50_map = statistics.median(times), statistics.median(map_times)
        print(f"click → gallery rendered: p50 {p50:.0f} ms, min {min(times):.0f} ms, max {max(times):.0f} ms")
        print(f"click → map redrawn with the top-k: p50 {p50_map:.0f} ms, max {max(map_times):.0f} ms")
        med = {key: statistics.median(w[key] for w in wire) for key in wire[0]}
        print(
            f"per search (median): {med['requests']:.0f} callback requests, {med['up'] / 1000:.1f} kB sent, "
            f"{med['down'] / 1000:.1f} kB received; map figure {med['map_bytes'] / 1000:.1f} kB in "
            f"{med['map_renders']:.0f} response(s); gallery rendered {med['gallery_renders']:.0f}×, "
            f"histogram {med['histogram_renders']:.0f}×"
        )
    finally:
        d.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

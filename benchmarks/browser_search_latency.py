"""Time from clicking Search to the gallery showing the new top-k, measured inside the browser.

    python benchmarks/browser_search_latency.py --url http://localhost:8051 --runs 10

A MutationObserver on the gallery records when it holds k tiles of the new query;
``performance.now()`` differences exclude the WebDriver's own polling.
"""
from __future__ import annotations

import argparse
import statistics
import time

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from infocir.ui.chrome import chrome_options

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
if (plot && !plot.__timed) {
  plot.__timed = true;
  plot.on('plotly_afterplot', () => {
    const t = (plot._fullData || []).find(t => t.name === 'top-k');
    if (window.__map === null && window.__done !== null && t && t._length === window.__k) window.__map = performance.now();
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
    args = ap.parse_args()
    d = webdriver.Chrome(options=chrome_options())
    try:
        d.get(args.url)
        wait = WebDriverWait(d, 300)
        wait.until(lambda drv: drv.find_elements(By.ID, "query-text"))
        wait.until(lambda drv: drv.execute_script(
            "const g=document.querySelector('#map-graph .js-plotly-plot'); return !!(g && g.data && g.data.length > 1);"))
        n_images = d.find_element(By.CLASS_NAME, "dataset-badge").text
        times, map_times = [], []
        for i in range(args.runs):
            text = f"make it {['red', 'blue', 'green', 'pink', 'brown'][i % 5]} {i}"
            box = d.find_element(By.ID, "query-text")
            box.clear()
            box.send_keys(text)
            time.sleep(0.3)
            d.execute_script(ARM, args.k, text)
            wait.until(lambda drv: drv.execute_script("return window.__done !== null"))
            times.append(d.execute_script("return window.__done - window.__t0"))
            wait.until(lambda drv: drv.execute_script("return window.__map !== null"))
            map_times.append(d.execute_script("return window.__map - window.__t0"))
            time.sleep(0.5)
        print(f"{n_images}; k={args.k}; {args.runs} searches")
        print(f"click → gallery rendered: p50 {statistics.median(times):.0f} ms, min {min(times):.0f} ms, max {max(times):.0f} ms")
        print(f"click → map redrawn with the top-k: p50 {statistics.median(map_times):.0f} ms, max {max(map_times):.0f} ms")
    finally:
        d.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

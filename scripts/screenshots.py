"""Drive a running dashboard in headless Chromium and save full-page screenshots.

python scripts/screenshots.py [--url http://localhost:8051] [--out docs/screenshots] [--text "make it red"]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from infocir.ui.chrome import chrome_options


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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://localhost:8051")
    ap.add_argument("--out", default="docs/screenshots")
    ap.add_argument("--text", default="make it red")
    ap.add_argument("--width", type=int, default=1440)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    d = webdriver.Chrome(options=chrome_options(args.width, 1000))
    try:
        d.get(args.url)
        wait = WebDriverWait(d, 120)
        wait.until(EC.presence_of_element_located((By.ID, "query-text")))
        wait.until(
            lambda drv: drv.execute_script(
                "const g=document.querySelector('#map-graph .js-plotly-plot'); return !!(g && g.data && g.data.length > 1);"
            )
        )
        t = d.find_element(By.ID, "query-text")
        t.clear()
        t.send_keys(args.text)
        t.send_keys(Keys.ENTER)
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
        # E: enhance the prompt against the marked ideals, then F explains the (preselected) best candidate
        d.find_element(By.ID, "enhance-run").click()
        wait.until(lambda drv: drv.find_elements(By.CSS_SELECTOR, ".enhance-table tr.selected"))
        wait.until(
            lambda drv: (drv.find_element(By.ID, "explain-cand-heat").get_attribute("src") or "").startswith("data:")
        )
        wait.until(
            lambda drv: drv.execute_script(
                "const g=document.querySelector('#explain-heatmap .js-plotly-plot'); return !!(g && g.data && g.data.length);"
            )
        )
        time.sleep(1.5)
        full_page(d, out / f"enhance-explain-{args.width}.png", args.width)
        print("saved", sorted(p.name for p in out.glob("*.png")))
    except Exception:
        full_page(d, out / "failure.png", args.width)
        raise
    finally:
        d.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Driving the dashboard in a real browser, as a user does: shared by the browser tests (tests/test_browser*.py),
``benchmarks/browser_search_latency.py`` and ``scripts/screenshots.py``.  Needs selenium (the ``test`` extra);
nothing in the app imports this module.

Every wait is on a condition (``wait_until``), never a fixed sleep."""

from __future__ import annotations

import math
import time

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

# The pixel positions (from the plot's top-left) and index rows of a map trace's points, by trace name.
MAP_POINT_JS = """
const g = document.querySelector('#map-graph .js-plotly-plot');
if (!g || !g._fullLayout || !g._fullData) return null;
const t = g._fullData.find(t => t.name === arguments[0]);
if (!t) return null;
const xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis, r = g.getBoundingClientRect();
const pts = [];
for (let i = 0; i < t._length; i++) {
  pts.push([xa._offset + xa.l2p(t.x[i]), ya._offset + ya.l2p(t.y[i]), t.customdata[i]]);
}
return {w: r.width, h: r.height, pts: pts};
"""
# Number of top-k points drawn on the map (-1: no map yet).
TOPK_JS = (
    "const g=document.querySelector('#map-graph .js-plotly-plot');"
    "if(!g||!g._fullData) return -1; const t=g._fullData.find(t=>t.name==='top-k'); return t? t._length : 0;"
)
# The map shows the dataset (more than the empty 'fitting' figure).
MAP_DRAWN_JS = (
    "const g=document.querySelector('#map-graph .js-plotly-plot'); return !!(g && g.data && g.data.length > 1);"
)
# Records every callback request of the page: its output, the bytes sent and received, the bodies.
WIRE_JS = """
if (!window.__wire) {
  window.__wire = [];
  const orig = window.fetch;
  window.fetch = function(url, opts) {
    const p = orig.apply(this, arguments);
    if (String(url).includes('_dash-update-component') && opts && typeof opts.body === 'string') {
      let out = '';
      try { out = JSON.parse(opts.body).output; } catch (e) {}
      const body = opts.body;
      p.then(r => r.clone().text()).then(t => window.__wire.push({out: out, up: new Blob([body]).size, body: body,
                                                                  down: new Blob([t]).size, text: t})).catch(() => {});
    }
    return p;
  };
}
window.__wire.length = 0;
"""


def wait_until(fn, timeout: float = 30.0, step: float = 0.2):
    """Poll ``fn`` until it returns something true (returned) or ``timeout`` seconds pass (its last value)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(step)
    return fn()


def click_fresh(d, selector: str, i: int = 0, attempts: int = 20) -> None:
    """Click the i-th match, finding it again if a re-render made it stale."""
    for _ in range(attempts):
        try:
            d.find_elements(By.CSS_SELECTOR, selector)[i].click()
            return
        except (StaleElementReferenceException, IndexError):
            time.sleep(0.25)
    raise AssertionError(f"could not click {selector}[{i}]")


def tiles(d) -> list:
    return d.find_elements(By.CSS_SELECTOR, "#results-gallery .tile")


def gallery_ids(d) -> list[str]:
    return d.execute_script("return [...document.querySelectorAll('#results-gallery .tile')].map(e => e.dataset.id)")


def type_query(d, text: str, k: int | None = None, submit: bool = True) -> None:
    """Panel A as a user fills it: select what the boxes hold and type over it, then Enter."""
    if k is not None:
        box = d.find_element(By.ID, "query-k")
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(str(k))
    t = d.find_element(By.ID, "query-text")
    t.send_keys(Keys.CONTROL, "a")
    t.send_keys(text)
    if submit:
        t.send_keys(Keys.ENTER)


def map_points(d) -> int:
    return d.execute_script(TOPK_JS)


def wait_for_map_drawn(d, timeout: float = 300.0) -> bool:
    return bool(wait_until(lambda: d.execute_script(MAP_DRAWN_JS), timeout))


def drag(d, element, path) -> None:
    """A real mouse drag along ``path`` (pixel positions in the element, from its top-left corner)."""
    chain = ActionChains(d).move_to_element_with_offset(element, int(path[0][0]), int(path[0][1])).click_and_hold()
    for (x0, y0), (x1, y1) in zip(path, path[1:], strict=False):
        chain = chain.move_by_offset(int(x1 - x0), int(y1 - y0))
    chain.release().perform()


def lasso_path(cx: float, cy: float, r: float, n: int = 12) -> list[tuple[float, float]]:
    """A closed circle of ``n`` steps around (cx, cy): a lasso drawn with the mouse."""
    return [(cx + r * math.cos(a / n * 2 * math.pi), cy + r * math.sin(a / n * 2 * math.pi)) for a in range(n + 1)]


def choose(d, dropdown_id: str, label: str) -> None:
    """Pick an option of a dcc.Dropdown the way a user does: open it, click the option."""
    el = d.find_element(By.ID, dropdown_id)
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
    el.click()

    def text(o):
        return o.get_attribute("textContent") or ""

    assert wait_until(
        lambda: any(label in text(o) for o in d.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option")), 10
    )
    for o in d.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option"):
        if label in text(o):
            o.click()
            return
    raise AssertionError(f"no option {label!r} in #{dropdown_id}")

"""Driving the dashboard in a real browser, as a user does: shared by the browser tests (tests/test_browser*.py),
``benchmarks/browser_search_latency.py`` and ``scripts/screenshots.py``.  Needs selenium (the ``test`` extra);
nothing in the app imports this module.

Every wait is on a condition (``wait_until``), never a fixed sleep."""

from __future__ import annotations

import math
import threading
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
    """Pick an option of a dcc.Dropdown the way a user does: open it, click the option.  (Dash loads the dropdown
    component's code on demand: the element may appear a moment after the rest of the page.)"""
    found = wait_until(lambda: d.find_elements(By.ID, dropdown_id), 10)
    assert found, f"no dropdown #{dropdown_id} on the page"
    el = found[0]
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


class AppServer:
    """One threaded HTTP server for a whole test module whose Dash app can be swapped between tests: starting a
    server (and a browser, ``DashPage``) for every test cost more than most tests themselves."""

    def __init__(self) -> None:
        from werkzeug.serving import make_server

        self.app = None
        self._server = make_server("127.0.0.1", 0, self._dispatch, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/"
        self._thread = threading.Thread(target=self._server.serve_forever, name="dash-test-server", daemon=True)
        self._thread.start()

    def _dispatch(self, environ, start_response):
        if self.app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"no app"]
        return self.app.server(environ, start_response)

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)


class DashPage:
    """A browser and an ``AppServer`` shared by one test module, with the subset of dash[testing]'s ``dash_duo``
    that the browser tests use.  ``reset()`` gives the next test a fresh page: one tab, no storage, no cookies,
    the default window size, no old console log."""

    def __init__(self, width: int = 1440, height: int = 900) -> None:
        from infocir.ui.chrome import start_chromium

        self.size = (width, height)
        self.server = AppServer()
        self.driver = start_chromium(width, height)

    @property
    def server_url(self) -> str:
        return self.server.url

    def reset(self) -> None:
        d = self.driver
        for handle in d.window_handles[1:]:
            d.switch_to.window(handle)
            d.close()
        d.switch_to.window(d.window_handles[0])
        d.get("about:blank")
        d.delete_all_cookies()
        d.execute_cdp_cmd("Storage.clearDataForOrigin", {"origin": self.server.url.rstrip("/"), "storageTypes": "all"})
        d.set_window_size(*self.size)
        d.get_log("browser")  # drain: get_logs() reports this test's messages only
        self.server.app = None

    def start_server(self, app) -> None:
        """Serve ``app`` and open it, waiting for Dash's renderer (as ``dash_duo.start_server``)."""
        app.scripts.config.serve_locally = True
        app.css.config.serve_locally = True
        self.server.app = app
        self.driver.get(self.server.url)
        self.wait_for_element("#react-entry-point", timeout=30)

    def find_element(self, selector: str):
        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def wait_for_element(self, selector: str, timeout: float = 10):
        from selenium.webdriver.support import expected_conditions as EC
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, timeout).until(EC.presence_of_element_located((By.CSS_SELECTOR, selector)))

    def wait_for_contains_text(self, selector: str, text: str, timeout: float = 10) -> None:
        if not wait_until(lambda: text in (self.find_elements_text(selector)), timeout):
            raise AssertionError(f"{selector} did not come to contain {text!r} within {timeout} s")

    def find_elements_text(self, selector: str) -> str:
        return " ".join(e.text for e in self.driver.find_elements(By.CSS_SELECTOR, selector))

    def get_logs(self) -> list[dict]:
        """The browser console's SEVERE entries since this test began."""
        return [e for e in self.driver.get_log("browser") if e.get("level") == "SEVERE"]

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            self.server.stop()

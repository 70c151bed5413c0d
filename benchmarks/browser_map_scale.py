"""The dashboard in headless Chromium at 10k, 100k and 1M images: time to first render, Search → gallery and map,
and a lasso on the map → the gallery browsing the selection; bytes on the wire and memory.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/browser_map_scale.py --sizes 10000 100000 1000000 [--runs 5]
        [--out ~/.cache/infocir-large-world] [--json results.json] [--tool lasso|select]
        [--set SECTION.FIELD=VALUE ...] [--world-set SECTION.FIELD=VALUE ...]

For each size the collection of ``large_world.py`` (the demo world's real features plus noise, its real image
files, a precomputed map; written once and reused) is served by the real ``infocir serve`` (waitress, a
subprocess on a free loopback port), and a fresh headless Chromium opens it.  Everything is timed inside the
page with ``performance.now()``, from listeners installed before the page's own scripts run (CDP
``Page.addScriptToEvaluateOnNewDocument``), never by WebDriver polling:

* first render: navigation start → the map drawn with the dataset (Plotly's ``plotly_afterplot`` with more
  than one trace).  The first load after the server starts is reported apart ("cold": it includes the map
  service loading the cached map and numba's compile); then ``--runs`` reloads.
* search: the click on Search → the gallery shows the new top-k (``browser_search_latency.py``'s observers)
  and the map's top-k trace is redrawn with k points; the later of the two is the figure.
* lasso: the lasso (or box) tool chosen in the map's mode bar, then a real mouse drag (selenium ActionChains)
  around the middle of the plot; mouse release → the gallery says "Browsing N images selected on the map" with
  its tiles (also release → Plotly's ``plotly_selected``, → the selection sent to the server, and → the map's
  answer, which dims the other points, arrived).
  "Back to results" between two selections; each lasso is a little wider than the one before.

Where the time goes: each callback answer's Resource Timing gives the server's time (request sent → first byte)
and its last byte; a ``longtask`` observer sums the page's own blocked time in each interval ("page busy").
Bytes are the callback bodies each way as the page sends and receives them (a ``fetch`` wrapper; the server
sends no gzip: the Content-Encoding is reported), per output.  Memory: the server's resident set (now and its
peak, VmHWM), the browser's processes (PSS summed) and the page's JS heap.  The machine's cores, load average
and the share of the CPU other processes used during the measurement are printed with the table; ``--json``
keeps every run and each answer's timeline.  Needs selenium (the ``test`` extra) and Debian's chromium.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from browser_search_latency import ARM  # the search observers (gallery tiles, the map's new top-k trace)
from infocir.ui.browser import drag, lasso_path, type_query, wait_until
from infocir.ui.chrome import start_chromium
from large_world import DEFAULT_OUT, ensure_world
from load_test import HOST, free_port, stop_server, wait_ready

# Installed before the page's scripts: a fetch wrapper recording every callback answer (output, bytes each way, when
# it was sent and when the page could read it, Content-Encoding), the page's long tasks (main thread busy ≥ 50 ms),
# and the first time the map shows the dataset.  ``__entries()`` adds to each answer its Resource Timing: when the
# request left (requestStart), the server's first byte (responseStart: server time = responseStart − requestStart)
# and the last byte (responseEnd): what the page waited for versus what the browser's own work delayed.
INIT_JS = """
performance.setResourceTimingBufferSize(100000);
window.__wire = [];
window.__long = [];
try {
  new PerformanceObserver(l => { for (const e of l.getEntries()) window.__long.push([e.startTime, e.duration]); })
    .observe({type: 'longtask', buffered: true});
} catch (e) {}
const origFetch = window.fetch;
window.fetch = function(url, opts) {
  const p = origFetch.apply(this, arguments);
  if (String(url).includes('_dash-update-component') && opts && typeof opts.body === 'string') {
    let out = '';
    try { out = JSON.parse(opts.body).output; } catch (e) {}
    const body = opts.body, t0 = performance.now();
    p.then(r => r.clone().text().then(t => window.__wire.push({
      out: String(out), up: new Blob([body]).size, down: new Blob([t]).size, t0: t0, t1: performance.now(),
      enc: r.headers.get('content-encoding') || ''}))).catch(() => {});
  }
  return p;
};
window.__entries = () => {
  const res = performance.getEntriesByType('resource').filter(e => e.name.includes('_dash-update-component'));
  const used = new Set();
  return [...window.__wire].sort((a, b) => a.t0 - b.t0).map(e => {
    let best = -1, bd = 50;
    res.forEach((r, i) => {
      const dd = Math.abs(r.startTime - e.t0);
      if (!used.has(i) && dd < bd) { bd = dd; best = i; }
    });
    if (best < 0) return {...e, req: null, ttfb: null, end: null};
    used.add(best);
    const r = res[best];
    return {...e, req: r.requestStart, ttfb: r.responseStart, end: r.responseEnd};
  });
};
window.__busy = (a, b) => window.__long.reduce(
  (s, [st, du]) => s + Math.max(0, Math.min(b, st + du) - Math.max(a, st)), 0);
window.__ttfr = {};
const __hook = () => {
  if (window.__ttfr.layout === undefined && document.getElementById('query-search')) {
    window.__ttfr.layout = performance.now();
  }
  const g = document.querySelector('#map-graph .js-plotly-plot');
  if (g && g.on && !g.__ttfrHooked) {
    g.__ttfrHooked = true;
    const check = () => {
      if (window.__ttfr.map === undefined && g.data && g.data.length > 1 && g._fullData) {
        window.__ttfr.map = performance.now();
      }
    };
    g.on('plotly_afterplot', check);
    check();
  }
  if (window.__ttfr.map !== undefined && window.__ttfr.layout !== undefined) window.__ttfrObs.disconnect();
};
window.__ttfrObs = new MutationObserver(__hook);
window.__ttfrObs.observe(document, {childList: true, subtree: true});
"""

# One callback answer as reported: [sent, request left, server's first byte, last byte, read by the page] (ms since
# navigation start), bytes up, bytes down, output.
TIMELINE = """const tl = (es) => es.map(e => [e.t0, e.req, e.ttfb, e.end, e.t1]
  .map(x => x === null ? null : Math.round(x)).concat([e.up, e.down, e.out.slice(0, 60)]));"""

PAGE_STATS = (
    TIMELINE
    + """
const nav = performance.getEntriesByType('navigation')[0] || {};
const res = performance.getEntriesByType('resource');
const named = (s) => res.filter(e => e.name.includes(s)).reduce((a, e) => a + (e.encodedBodySize || 0), 0);
const w = window.__entries(), maps = w.filter(e => e.out.includes('map-graph.figure'));
const first = maps.filter(e => e.end !== null && e.end <= window.__ttfr.map).pop() || maps[0] || {};
return {ttfr: window.__ttfr.map, layout: window.__ttfr.layout, dom_content_loaded: nav.domContentLoadedEventEnd,
        load: nav.loadEventEnd, layout_bytes: named('_dash-layout'), dependencies_bytes: named('_dash-dependencies'),
        map_bytes: first.down || 0, map_sent: first.t0, map_server_ms: first.ttfb - first.req,
        map_transfer_ms: first.end - first.ttfb, map_end: first.end,
        busy_ms: window.__busy(0, window.__ttfr.map),
        callbacks: w.length, callback_bytes: w.reduce((a, e) => a + e.down, 0),
        encodings: [...new Set(w.map(e => e.enc))], timeline: tl(w),
        js_heap: (performance.memory || {}).usedJSHeapSize || 0};
"""
)

# Per search / selection: what went over the wire since the wrapper was last emptied, and when.
WIRE_SINCE = (
    TIMELINE
    + """
const w = window.__entries(), sum = (xs, k) => xs.reduce((a, e) => a + e[k], 0), last = (xs) => xs[xs.length - 1];
const maps = w.filter(e => e.out.includes('map-graph.figure'));
const browse = w.filter(e => e.out.includes('store-browse.data'));
const gal = w.filter(e => e.out.includes('results-gallery.children'));
const server = (e) => e && e.ttfb !== null ? e.ttfb - e.req : null;
return {requests: w.length, up: sum(w, 'up'), down: sum(w, 'down'), map_bytes: sum(maps, 'down'),
        browse_up: sum(browse, 'up'), browse_sent: browse.length ? browse[0].t0 : null,
        map_arrived: maps.length ? last(maps).t1 : null, map_end: maps.length ? last(maps).end : null,
        map_server_ms: server(last(maps)),
        gallery_server_ms: server(last(gal)), gallery_sent: gal.length ? last(gal).t0 : null,
        gallery_end: gal.length ? last(gal).end : null, timeline: tl(w)};
"""
)

ARM_LASSO = """
window.__lasso = {};
const plot = document.querySelector('#map-graph .js-plotly-plot');
const gal = document.getElementById('results-gallery'), sum = document.getElementById('results-summary');
const L = window.__lasso;
document.addEventListener('mousedown', () => { if (L.down === undefined) L.down = performance.now(); },
                          {capture: true, once: true});
document.addEventListener('mouseup', () => { if (L.up === undefined) L.up = performance.now(); },
                          {capture: true, once: true});
const check = () => {
  if (L.gallery === undefined && sum.textContent.includes('selected on the map')
      && gal.querySelectorAll('.tile img').length > 0) {
    L.gallery = performance.now();
    const m = sum.textContent.match(/Browsing ([\\d,]+) image/);
    L.selected = m ? Number(m[1].replace(/,/g, '')) : null;
  }
};
window.__lobs && window.__lobs.disconnect();
window.__lobs = new MutationObserver(check);
window.__lobs.observe(gal, {childList: true, subtree: true});
window.__lobs.observe(sum, {childList: true, subtree: true, characterData: true});
if (!plot.__lassoHooked) {
  plot.__lassoHooked = true;
  plot.on('plotly_selected', () => { const L = window.__lasso; if (L.selected_event === undefined)
                                       L.selected_event = performance.now(); });
}
const xa = plot._fullLayout.xaxis, ya = plot._fullLayout.yaxis;
return {cx: xa._offset + xa._length / 2, cy: ya._offset + ya._length / 2, w: xa._length, h: ya._length};
"""

SEARCH_TEXTS = ("make it red", "make it blue", "make it green", "make it pink", "make it brown", "make it yellow")


def need(fn, timeout: float, what: str) -> None:
    """Wait for ``fn`` to be true; a clear error (not a silent wait) when it is not within ``timeout`` seconds."""
    if not wait_until(fn, timeout):
        raise SystemExit(f"{what} within {timeout:.0f} s")


def pct(xs: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of ``xs``."""
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s) + 0.5) - 1))] if s else float("nan")


def summary(xs: list[float | None]) -> dict:
    v = [x for x in xs if x is not None]
    return {"p50": statistics.median(v) if v else None, "p95": pct(v, 95) if v else None, "runs": v}


class CpuShare:
    """The machine's CPU used by other processes than ``roots``' trees (the server, the browser, this script) while
    the measurement ran, as a percentage of all cores: system busy time (``/proc/stat``) minus our processes' CPU
    time.  Approximate: a process of ours that ended before ``stop`` counts as someone else's."""

    def __init__(self, roots: list[int]):
        self.roots = roots
        self.t0, self.busy0, self.own0 = time.monotonic(), self._busy(), self._own()

    @staticmethod
    def _busy() -> float:
        t = psutil.cpu_times()
        return sum(t) - t.idle - getattr(t, "iowait", 0.0)

    def _own(self) -> dict[int, float]:
        out = {}
        for root in self.roots:
            for pid in tree_pids(root):
                try:
                    c = psutil.Process(pid).cpu_times()
                    out[pid] = c.user + c.system
                except psutil.Error:
                    pass
        return out

    def stop(self) -> dict:
        wall, busy, own = time.monotonic() - self.t0, self._busy() - self.busy0, self._own()
        ours = sum(v - self.own0.get(pid, 0.0) for pid, v in own.items())
        cores = psutil.cpu_count() or 1
        return {
            "seconds": wall,
            "others_percent": max(0.0, busy - ours) / (wall * cores) * 100,
            "ours_percent": ours / (wall * cores) * 100,
        }


def tree_pids(pid: int) -> set[int]:
    try:
        p = psutil.Process(pid)
        return {pid, *(c.pid for c in p.children(recursive=True))}
    except psutil.Error:
        return set()


def pss_mb(pids: set[int]) -> float:
    total = 0
    for pid in pids:
        try:
            total += psutil.Process(pid).memory_full_info().pss
        except psutil.Error:
            pass
    return total / 2**20


def server_memory(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of the server in MB."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                fields[k] = int(v.split()[0]) / 1024
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


def start_server(args: list[str], port: int, log_path: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIR_")}  # the world's settings only
    env.update(HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    cmd = [
        sys.executable,
        "-c",
        "import sys; from infocir.cli import main; sys.exit(main(sys.argv[1:]))",
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        *args,
    ]
    log = open(log_path, "w")  # noqa: SIM115 (the child holds it)
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def open_page(d, url: str, timeout: float) -> dict:
    d.get("about:blank")
    d.get(url)
    if not wait_until(lambda: d.execute_script("return window.__ttfr && window.__ttfr.map !== undefined"), timeout):
        raise SystemExit(f"the map was not drawn within {timeout:.0f} s")
    time.sleep(0.5)  # answers still arriving after the first draw are counted too
    return d.execute_script(PAGE_STATS)


def one_search(d, text: str, k: int, timeout: float) -> dict:
    type_query(d, text, submit=False)  # ARM clicks Search once its observers are in place
    d.execute_script("window.__wire.length = 0")
    d.execute_script(ARM, k, text)
    if not wait_until(lambda: d.execute_script("return window.__done !== null && window.__map !== null"), timeout):
        raise SystemExit(f"search {text!r}: the gallery or the map was not updated within {timeout:.0f} s")
    out = d.execute_script(
        "return {t0: window.__t0, gallery: window.__done - window.__t0, map: window.__map - window.__t0,"
        " both: Math.max(window.__done, window.__map) - window.__t0,"
        " busy: window.__busy(window.__t0, Math.max(window.__done, window.__map))}"
    )
    time.sleep(0.5)
    return {**out, **d.execute_script(WIRE_SINCE)}


def choose_tool(d, tool: str) -> None:
    graph = d.find_element(By.CSS_SELECTOR, "#map-graph .js-plotly-plot")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", graph)
    ActionChains(d).move_to_element(graph).perform()  # the mode bar shows on hover
    btn = wait_until(lambda: d.find_elements(By.CSS_SELECTOR, f"#map-graph .modebar-btn[data-val='{tool}']"), 10)
    if not btn:
        raise SystemExit(f"no {tool} button in the map's mode bar")
    btn[0].click()
    if not wait_until(lambda: d.execute_script(MODE_JS) == tool, 10):
        raise SystemExit(f"the map's drag mode did not become {tool}")


MODE_JS = "return document.querySelector('#map-graph .js-plotly-plot')._fullLayout.dragmode"


def one_lasso(d, tool: str, i: int, timeout: float) -> dict:
    graph = d.find_element(By.CSS_SELECTOR, "#map-graph .js-plotly-plot")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", graph)
    d.execute_script("window.__wire.length = 0")
    box = d.execute_script(ARM_LASSO)
    r = min(box["w"], box["h"]) * (0.12 + 0.01 * i)
    cx, cy = box["cx"], box["cy"]
    path = lasso_path(cx, cy, r, 16) if tool == "lasso" else [(cx - r, cy - r), (cx, cy), (cx + r, cy + r)]
    drag(d, graph, path)
    done = lambda: d.execute_script("return window.__lasso.gallery !== undefined")  # noqa: E731
    need(done, timeout, "the gallery did not browse the selection")
    wire = lambda: d.execute_script(WIRE_SINCE)  # noqa: E731
    need(lambda: wire()["map_arrived"] is not None, timeout, "the map did not answer the selection")
    time.sleep(0.5)
    L, w = d.execute_script("return window.__lasso"), wire()
    up = L["up"]
    rel = lambda t: (t - up) if t is not None else None  # noqa: E731
    out = {
        **w,
        "gallery": rel(L.get("gallery")),
        "plotly_selected": rel(L.get("selected_event")),
        "sent": rel(w["browse_sent"]),  # the selection leaves the browser
        "gallery_sent": rel(w["gallery_sent"]),  # the gallery's request (after the selection's answer)
        "gallery_end": rel(w["gallery_end"]),  # its last byte
        "dimmed": rel(w["map_end"]),  # the map's answer (which dims the other points): its last byte
        "gesture": up - L["down"] if L.get("down") is not None else None,
        "busy": d.execute_script("return window.__busy(arguments[0], arguments[1])", up, L.get("gallery")),
        "selected": L.get("selected"),
        "up_at": up,
    }
    # back to the results (the map's answer undims the points) before the next selection
    d.execute_script("window.__wire.length = 0")
    d.find_element(By.ID, "results-back").click()
    back = lambda: "selected on the map" not in d.find_element(By.ID, "results-summary").text  # noqa: E731
    need(back, timeout, "the gallery did not return to the results")
    need(lambda: wire()["map_arrived"] is not None, timeout, "the map was not redrawn after 'back to results'")
    return out


def run_size(n: int, args, log_dir: Path) -> dict:
    overrides = dict(s.split("=", 1) for s in args.world_set)
    t0 = time.perf_counter()
    world, written = ensure_world(n, args.out, overrides)
    t_world = time.perf_counter() - t0
    print(f"[{n:,}] world {'written' if written else 'reused'} in {t_world:.1f} s: {world.cache}", flush=True)
    port = free_port()
    log_path = log_dir / f"server-{n}.log"
    served = [a for v in args.set for a in ("--set", v)]  # served settings only: the world stays as written
    proc = start_server(world.serve_args() + served, port, log_path)
    d = None
    try:
        url = f"http://{HOST}:{port}/"
        t_up = wait_ready(url.rstrip("/"), proc, log_path, args.timeout)
        print(f"[{n:,}] server answering after {t_up:.1f} s (log {log_path})", flush=True)
        d = start_chromium(1440, 900)
        d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": INIT_JS})
        cold = open_page(d, url, args.timeout)
        badge = d.find_element(By.CLASS_NAME, "dataset-badge").text
        if f"{n:,}" not in badge and str(n) not in badge:
            raise SystemExit(f"the page serves {badge!r}, not {n:,} images (was the index rebuilt? see {log_path})")
        print(f"[{n:,}] cold first render {cold['ttfr']:.0f} ms ({badge})", flush=True)
        cpu = CpuShare([os.getpid(), proc.pid, d.service.process.pid])
        loads = [open_page(d, url, args.timeout) for _ in range(args.runs)]
        step = args.step_timeout
        searches = [
            one_search(d, SEARCH_TEXTS[i % len(SEARCH_TEXTS)] + f" {i}", args.k, step) for i in range(args.runs)
        ]
        choose_tool(d, args.tool)
        lassos = [one_lasso(d, args.tool, i, step) for i in range(args.runs)]
        share = cpu.stop()
        rss, hwm = server_memory(proc.pid)
        browser = pss_mb(tree_pids(d.service.process.pid))
        heap = d.execute_script("return (performance.memory || {}).usedJSHeapSize || 0") / 2**20
    finally:
        if d is not None:
            d.quit()
        stop_server(proc)
    last = loads[-1]
    return {
        "n": n,
        "badge": badge,
        "world_seconds": t_world,
        "world_written": written,
        "server_start_s": t_up,
        "cold_first_render_ms": cold["ttfr"],
        "first_render_ms": summary([x["ttfr"] for x in loads]),
        "layout_ms": summary([x["layout"] for x in loads]),
        "first_render_busy_ms": summary([x["busy_ms"] for x in loads]),
        "map_server_ms": summary([x["map_server_ms"] for x in loads]),
        "map_transfer_ms": summary([x["map_transfer_ms"] for x in loads]),
        "map_end_to_drawn_ms": summary([x["ttfr"] - x["map_end"] for x in loads]),
        "search_both_ms": summary([x["both"] for x in searches]),
        "search_gallery_ms": summary([x["gallery"] for x in searches]),
        "search_map_ms": summary([x["map"] for x in searches]),
        "search_busy_ms": summary([x["busy"] for x in searches]),
        "search_gallery_server_ms": summary([x["gallery_server_ms"] for x in searches]),
        "search_map_server_ms": summary([x["map_server_ms"] for x in searches]),
        "lasso_gallery_ms": summary([x["gallery"] for x in lassos]),
        "lasso_plotly_selected_ms": summary([x["plotly_selected"] for x in lassos]),
        "lasso_sent_ms": summary([x["sent"] for x in lassos]),
        "lasso_gallery_sent_ms": summary([x["gallery_sent"] for x in lassos]),
        "lasso_gallery_end_ms": summary([x["gallery_end"] for x in lassos]),
        "lasso_gallery_server_ms": summary([x["gallery_server_ms"] for x in lassos]),
        "lasso_map_server_ms": summary([x["map_server_ms"] for x in lassos]),
        "lasso_busy_ms": summary([x["busy"] for x in lassos]),
        "lasso_dimmed_ms": summary([x["dimmed"] for x in lassos]),
        "lasso_gesture_ms": summary([x["gesture"] for x in lassos]),
        "lasso_selected": [x["selected"] for x in lassos],
        "map_first_draw_bytes": last["map_bytes"],
        "layout_bytes": last["layout_bytes"],
        "page_callback_bytes": last["callback_bytes"],
        "content_encodings": last["encodings"],
        "search_map_bytes": statistics.median(x["map_bytes"] for x in searches),
        "search_down_bytes": statistics.median(x["down"] for x in searches),
        "lasso_upload_bytes": statistics.median(x["browse_up"] for x in lassos),
        "lasso_map_bytes": statistics.median(x["map_bytes"] for x in lassos),
        "lasso_down_bytes": statistics.median(x["down"] for x in lassos),
        "server_rss_mb": rss,
        "server_peak_rss_mb": hwm,
        "browser_pss_mb": browser,
        "js_heap_mb": heap,
        "cpu": share,
        "raw": {"cold": cold, "loads": loads, "searches": searches, "lassos": lassos},
    }


def machine() -> dict:
    model = ""
    try:
        model = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "")
    except OSError:
        pass
    try:
        chromium = subprocess.run(["/usr/bin/chromium", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        chromium = ""
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "chromium": chromium,
        "loadavg": os.getloadavg(),
    }


def ms(s: dict) -> str:
    return "–" if s["p50"] is None else f"{s['p50']:,.0f} / {s['p95']:,.0f}"


def table(results: list[dict]) -> str:
    rows = [
        "| N | server up s | cold render ms | first render ms p50 / p95 | search → gallery + map ms p50 / p95 "
        "| lasso → gallery ms p50 / p95 | selected (median) | map first draw MB | map per search kB "
        "| lasso upload kB | server RSS MB (peak) | browser PSS MB | others' CPU % |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        sel = [x for x in r["lasso_selected"] if x is not None]
        rows.append(
            f"| {r['n']:,} | {r['server_start_s']:.1f} | {r['cold_first_render_ms']:,.0f} | {ms(r['first_render_ms'])} "
            f"| {ms(r['search_both_ms'])} | {ms(r['lasso_gallery_ms'])} "
            f"| {statistics.median(sel) if sel else 0:,.0f} | {r['map_first_draw_bytes'] / 1e6:.2f} "
            f"| {r['search_map_bytes'] / 1e3:.1f} | {r['lasso_upload_bytes'] / 1e3:,.1f} "
            f"| {r['server_rss_mb']:,.0f} ({r['server_peak_rss_mb']:,.0f}) | {r['browser_pss_mb']:,.0f} "
            f"| {r['cpu']['others_percent']:.0f} |"
        )
    return "\n".join(rows)


def details(r: dict) -> str:
    """Where the time goes (p50 / p95 ms): server = the request's time to first byte; busy = the page's long tasks
    (main thread blocked ≥ 50 ms at a time) in the interval."""
    return (
        f"{r['n']:,}:\n"
        f"  first render: map answer server {ms(r['map_server_ms'])}, transfer {ms(r['map_transfer_ms'])}, "
        f"last byte → drawn {ms(r['map_end_to_drawn_ms'])}; page busy {ms(r['first_render_busy_ms'])}; "
        f"layout {r['layout_bytes'] / 1e3:.0f} kB, all callback answers {r['page_callback_bytes'] / 1e6:.2f} MB\n"
        f"  search: gallery {ms(r['search_gallery_ms'])}, map {ms(r['search_map_ms'])}; server: gallery "
        f"{ms(r['search_gallery_server_ms'])}, map {ms(r['search_map_server_ms'])}; "
        f"page busy {ms(r['search_busy_ms'])}; "
        f"{r['search_down_bytes'] / 1e3:.0f} kB received\n"
        f"  lasso: gesture {ms(r['lasso_gesture_ms'])}; after release: plotly_selected "
        f"{ms(r['lasso_plotly_selected_ms'])}, selection sent {ms(r['lasso_sent_ms'])}, gallery request sent "
        f"{ms(r['lasso_gallery_sent_ms'])} (server {ms(r['lasso_gallery_server_ms'])}), its last byte "
        f"{ms(r['lasso_gallery_end_ms'])}, gallery shown {ms(r['lasso_gallery_ms'])}; map answer's last byte "
        f"{ms(r['lasso_dimmed_ms'])} (server {ms(r['lasso_map_server_ms'])}); page busy {ms(r['lasso_busy_ms'])}; "
        f"upload {r['lasso_upload_bytes'] / 1e3:,.1f} kB, answers {r['lasso_down_bytes'] / 1e3:,.1f} kB "
        f"(map {r['lasso_map_bytes'] / 1e3:,.1f} kB)\n"
        f"  JS heap {r['js_heap_mb']:.0f} MB; Content-Encoding {r['content_encodings']}; CPU over the "
        f"{r['cpu']['seconds']:.0f} s measured: ours {r['cpu']['ours_percent']:.0f} %, others "
        f"{r['cpu']['others_percent']:.0f} % of all cores"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("-k", type=int, default=24)
    ap.add_argument("--tool", choices=("lasso", "select"), default="lasso", help="select: the box")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the worlds are kept (large_world.py)")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="a setting of the server only (ui.*, retrieval.*); not [model], [index], [umap] or [dataset]: the "
        "written world and its map were made without it (the map would be fitted again)",
    )
    ap.add_argument(
        "--world-set",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="a setting the world is written and served with (e.g. model.name); a world written with other ones is "
        "written again",
    )
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds the server's start or a page load may take")
    ap.add_argument("--step-timeout", type=float, default=300.0, help="seconds a search or a selection may take")
    ap.add_argument("--json", type=Path, help="write every figure (and each run) here")
    ap.add_argument("--log-dir", type=Path, default=Path("/tmp/infocir-browser-scale"))
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a kill still quits the browser and the server
    args.log_dir.mkdir(parents=True, exist_ok=True)
    m = machine()
    results = []
    for n in args.sizes:
        results.append(run_size(n, args, args.log_dir))
        print(table(results[-1:]).splitlines()[-1], flush=True)
    m["loadavg_end"] = os.getloadavg()
    print(
        f"\n{m['cpus']} cores ({m['cpu_model']}), {m['memory_gb']} GB; {m['chromium']}; load average "
        f"{m['loadavg'][0]:.2f} at the start, {m['loadavg_end'][0]:.2f} at the end; k={args.k}, {args.runs} runs, "
        f"tool {args.tool}" + (f"; served with {' '.join(args.set)}" if args.set else "")
    )
    print(table(results))
    for r in results:
        print(details(r))
    for n, target in ((100_000, 1000), (1_000_000, 2000)):
        for r in results:
            if r["n"] == n and r["search_both_ms"]["p50"] is not None:
                p = r["search_both_ms"]["p95"]
                print(
                    f"target: search → gallery and map ≤ {target} ms at {n:,}: p95 {p:,.0f} ms "
                    f"{'met' if p <= target else 'MISSED'}"
                )
    if args.json:
        args.json.write_text(
            json.dumps({"machine": m, "args": {k: str(v) for k, v in vars(args).items()}, "results": results}, indent=1)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

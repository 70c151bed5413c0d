"""Bounded load test of the dashboard on its production server: N simulated users searching at once.

    .venv/bin/python benchmarks/load_test.py [--users 8] [--seconds 60] [--threads 8] [--no-token] [--json out.json]

Loopback only and self-stopping: it starts ``serve`` (waitress, the default config: the demo world) in a
subprocess on a free port of 127.0.0.1, with a random access token (``CIR_UI_TOKEN``) unless ``--no-token``,
and stops it at the end.  Each user has its own cookie session (``?token=`` on the first visit, as a
browser) and its own queries of the demo world (user u takes queries u, u+N, u+2N, ...).  A search round
is what a browser sends after a click on Search, through Dash's HTTP endpoints: ``POST
/_dash-update-component`` for the search callback, then for the panels that redraw from its results
(gallery, histogram, word cloud, map).  The callbacks are found in ``/_dash-dependencies`` and their
input and state values start from ``/_dash-layout``, then follow the answers, like the renderer's store.
The explanation and enhancement jobs a browser would start are not sent (they run in background jobs).

Before the timed phase one session sends every query once on its own (and waits for the map); during
it every search answer must equal that answer (ids and order), name the user's own reference and
text, and the gallery must show the user's top result: any other answer counts as cross-talk.  Prints
requests served, errors (non-2xx, timeouts, broken answers), cross-talk, p50/p95 latency per request
kind and per search round; exits 1 when there was an error or cross-talk.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import requests

HOST = "127.0.0.1"  # loopback only, on purpose: this is not a tool for loading other machines
FOLLOW_UPS = ("results-gallery.children", "dist-histogram.figure", "dist-wordcloud.src", "map-graph.figure")
TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- the server
def start_server(port: int, token: str, threads: int, log_path: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIR_UI_")}
    env.update(HF_HUB_OFFLINE="1", CIR_UI_THREADS=str(threads), PYTHONUNBUFFERED="1")
    if token:
        env["CIR_UI_TOKEN"] = token
    cmd = [
        sys.executable,
        "-c",
        "import sys; from infocir.cli import main; sys.exit(main(sys.argv[1:]))",
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
    ]
    log = open(log_path, "w")  # noqa: SIM115 (closed by stop_server's caller through the process)
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def wait_ready(base: str, proc: subprocess.Popen, log_path: Path, timeout: float) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with code {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if requests.get(base + "/", timeout=5).status_code in (200, 401):
                return time.perf_counter() - t0
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the server did not answer within {timeout:.0f} s:\n{log_path.read_text()[-3000:]}")


# --------------------------------------------------------------------------- a small Dash client
def split_prop(s: str) -> tuple[str, str]:
    ident, _, prop = s.rpartition(".")
    return ident, prop.split("@")[0]


def outputs_of(dep: dict) -> list[tuple[str, str]]:
    out = dep["output"]
    parts = out[2:-2].split("...") if out.startswith("..") else [out]
    return [split_prop(p) for p in parts]


def layout_values(node, values: dict | None = None) -> dict:
    """(component id, prop) → value for every component in the /_dash-layout tree."""
    values = {} if values is None else values
    if isinstance(node, list):
        for child in node:
            layout_values(child, values)
    elif isinstance(node, dict):
        props = node.get("props")
        if isinstance(props, dict):
            ident = props.get("id")
            if isinstance(ident, str):
                for k, v in props.items():
                    if k != "children" or not isinstance(v, (dict, list)):
                        values[(ident, k)] = v
            for v in props.values():
                if isinstance(v, (dict, list)):
                    layout_values(v, values)
    return values


class DashUser:
    """One browser tab: a cookie session and the client-side values of every component."""

    def __init__(self, base: str, token: str, deps: list[dict] | None = None, layout: dict | None = None):
        self.base = base
        self.http = requests.Session()
        if token:
            r = self.http.get(f"{base}/?token={token}", timeout=TIMEOUT_S)  # 303 → cookie → 200
            if r.status_code != 200 or not self.http.cookies:
                raise SystemExit(f"the token did not open the app (HTTP {r.status_code})")
        self.deps = deps if deps is not None else self.http.get(f"{base}/_dash-dependencies", timeout=TIMEOUT_S).json()
        layout = layout if layout is not None else self.http.get(f"{base}/_dash-layout", timeout=TIMEOUT_S).json()
        self.values = layout_values(layout)
        self.search = next(
            d
            for d in self.deps
            if ("store-results", "data") in outputs_of(d)
            and {"id": "query-search", "property": "n_clicks"}
            in [{"id": i["id"], "property": i["property"]} for i in d["inputs"]]
        )
        self.follow_ups = [
            d
            for d in self.deps
            if d["output"].lstrip(".").startswith(FOLLOW_UPS)
            and any((i["id"], i["property"]) == ("store-results", "data") for i in d["inputs"])
        ]
        self.map = next(d for d in self.follow_ups if ("map-graph", "figure") in outputs_of(d))
        self.clicks = 0

    def fire(self, dep: dict, changed: list[str]) -> tuple[int, float, dict | None, str]:
        """POST one callback as the renderer does; (HTTP status, seconds, answer, raw text)."""

        def entry(x):
            return {"id": x["id"], "property": x["property"], "value": self.values.get((x["id"], x["property"]))}

        outs = [{"id": i, "property": p} for i, p in outputs_of(dep)]
        body = {
            "output": dep["output"],
            "outputs": outs if dep["output"].startswith("..") else outs[0],
            "inputs": [entry(x) for x in dep["inputs"]],
            "state": [entry(x) for x in dep["state"]],
            "changedPropIds": changed,
        }
        t0 = time.perf_counter()
        r = self.http.post(f"{self.base}/_dash-update-component", json=body, timeout=TIMEOUT_S)
        dt = time.perf_counter() - t0
        if r.status_code != 200:
            return r.status_code, dt, None, r.text[:300]
        data = r.json()
        for ident, props in data.get("response", {}).items():
            for prop, value in props.items():
                self.values[(ident, prop)] = value
        return r.status_code, dt, data, r.text

    def search_for(self, reference: str, text: str) -> tuple[int, float, dict | None, str]:
        self.clicks += 1
        self.values.update(
            {
                ("query-reference", "value"): reference,
                ("query-text", "value"): text,
                ("query-ref-mode", "data"): "dataset",
                ("query-search", "n_clicks"): self.clicks,
            }
        )
        return self.fire(self.search, ["query-search.n_clicks"])


def results_of(answer: dict | None) -> dict | None:
    try:
        return answer["response"]["store-results"]["data"]
    except (TypeError, KeyError):
        return None


# --------------------------------------------------------------------------- the run
def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000, q)) if xs else float("nan")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=8, help="simulated users at once (default 8)")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the timed phase (default 60)")
    ap.add_argument("--per-user", type=int, default=4, help="different queries per user, in turn (default 4)")
    ap.add_argument("--threads", type=int, default=8, help="waitress threads (ui.threads, default 8)")
    ap.add_argument("--no-token", action="store_true", help="serve without an access token")
    ap.add_argument("--startup-timeout", type=float, default=900.0, help="seconds to wait for the server to start")
    ap.add_argument("--json", help="write the figures to this file as well")
    args = ap.parse_args(argv)
    if not 1 <= args.users <= 64 or not 1 <= args.seconds <= 1800:
        ap.error("--users must be 1..64 and --seconds 1..1800 (the test is bounded)")
    return args


def queries_per_user(users: int, per_user: int) -> list[list[dict]]:
    """User u takes queries u, u+N, u+2N, ... of the default config's demo world."""
    from infocir.config import load_config
    from infocir.data.demo_world import read_queries

    cfg = load_config(environ={})
    world = cfg.cache_dir / "demo_world"  # the default config's dataset (the server generates it if missing)
    if not (world / "queries.json").is_file():
        raise SystemExit(f"no demo world in {world}: run `python cir_app/run.py build-index` once first")
    queries = read_queries(world)
    return [[queries[(u + j * users) % len(queries)] for j in range(per_user)] for u in range(users)]


def solo_answers(solo_user: DashUser, mine: list[list[dict]], timeout: float) -> dict[tuple[str, str], list[str]]:
    """Wait for the map, then every query once on its own: the answers the timed phase must reproduce."""
    t0 = time.perf_counter()
    while True:
        status, _, answer, _ = solo_user.fire(solo_user.map, ["map-poll.n_intervals"])
        if status == 200 and answer["response"].get("map-poll", {}).get("disabled"):
            break
        if time.perf_counter() - t0 > timeout:
            raise SystemExit("the map did not become ready")
        time.sleep(1.0)
    solo: dict[tuple[str, str], list[str]] = {}
    for q in (q for qs in mine for q in qs):
        status, _, answer, raw = solo_user.search_for(q["reference_id"], q["text"])
        res = results_of(answer)
        if status != 200 or not res or not res.get("ids"):
            raise SystemExit(f"the solo search for {q['reference_id']!r} / {q['text']!r} failed: {status} {raw[:200]}")
        solo[(q["reference_id"], q["text"])] = res["ids"]
    return solo


class Tally:
    """What the users' threads record, under one lock."""

    def __init__(self) -> None:
        self.lat: dict[str, list[float]] = defaultdict(list)
        self.rounds: list[float] = []
        self.errors: list[str] = []
        self.crosstalk: list[str] = []
        self.served = 0
        self.lock = threading.Lock()

    def error(self, line: str) -> None:
        with self.lock:
            self.errors.append(line)


def search_round(me: DashUser, u: int, q: dict, solo: dict[tuple[str, str], list[str]], tally: Tally) -> None:
    """One search and the panels it redraws, checked against the solo answer."""
    t_round = time.perf_counter()
    status, dt, answer, raw = me.search_for(q["reference_id"], q["text"])
    res = results_of(answer)
    with tally.lock:
        if status != 200 or res is None:
            tally.errors.append(f"user {u} search: HTTP {status} {raw[:120]}")
            return
        tally.served += 1
        tally.lat["search"].append(dt)
        ref = (res.get("reference") or {}).get("id")
        if ref != q["reference_id"] or res.get("text") != q["text"] or res.get("ids") != solo[(ref, q["text"])]:
            tally.crosstalk.append(
                f"user {u} asked {q['reference_id']!r}/{q['text']!r}, got {ref!r}/{res.get('text')!r}"
            )
    for dep in me.follow_ups:
        status, dt, answer, raw = me.fire(dep, ["store-results.data"])
        kind = dep["output"].lstrip(".").split(".")[0]
        with tally.lock:
            if status not in (200, 204):
                tally.errors.append(f"user {u} {kind}: HTTP {status} {raw[:120]}")
                continue
            tally.served += 1
            tally.lat[kind].append(dt)
            # (the raw text has "/" escaped by plotly's encoder: look in the parsed answer)
            if kind == "results-gallery" and res["ids"][0] not in json.dumps(answer):
                tally.crosstalk.append(f"user {u}: the gallery does not show its top result {res['ids'][0]!r}")
    with tally.lock:
        tally.rounds.append(time.perf_counter() - t_round)


def timed_phase(base: str, token: str, solo_user: DashUser, mine, solo, seconds: float, tally: Tally) -> float:
    """Every user searches its queries in turn until the deadline; returns the elapsed seconds."""
    deps, layout = solo_user.deps, solo_user.http.get(f"{base}/_dash-layout", timeout=TIMEOUT_S).json()
    start = threading.Barrier(len(mine) + 1)
    deadline = [0.0]

    def user(u: int) -> None:
        try:
            me = DashUser(base, token, deps, layout)
        except Exception as exc:  # noqa: BLE001 (counted, not raised: the run must finish)
            tally.error(f"user {u}: could not open the app: {exc!r}")
            start.wait()
            return
        start.wait()
        i = 0
        while time.perf_counter() < deadline[0]:
            q = mine[u][i % len(mine[u])]
            i += 1
            try:
                search_round(me, u, q, solo, tally)
            except requests.RequestException as exc:
                tally.error(f"user {u}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=user, args=(u,), daemon=True) for u in range(len(mine))]
    for t in threads:
        t.start()
    deadline[0] = time.perf_counter() + seconds
    start.wait()
    t_start = time.perf_counter()
    for t in threads:
        t.join(seconds + 2 * TIMEOUT_S)
    elapsed = time.perf_counter() - t_start
    hung = sum(t.is_alive() for t in threads)
    if hung:
        tally.error(f"{hung} users still waiting for an answer {2 * TIMEOUT_S:.0f} s after the end")
    return elapsed


def summarise(args: argparse.Namespace, token: str, tally: Tally, elapsed: float, log_text: str) -> dict:
    all_lat = [x for xs in tally.lat.values() for x in xs]

    def p50_p95(xs: list[float]) -> dict:
        return {"p50": round(pct(xs, 50), 1), "p95": round(pct(xs, 95), 1)}

    return {
        "users": args.users,
        "seconds": args.seconds,
        "elapsed_s": round(elapsed, 1),
        "server": "waitress",
        "threads": args.threads,
        "token": bool(token),
        "requests_served": tally.served,
        "requests_per_s": round(tally.served / elapsed, 1),
        "search_rounds": len(tally.rounds),
        "errors": len(tally.errors),
        "crosstalk": len(tally.crosstalk),
        "server_tracebacks": log_text.count("Traceback"),
        "token_in_server_log": bool(token) and token in log_text,
        "latency_ms": {k: {"n": len(v), **p50_p95(v)} for k, v in sorted(tally.lat.items())},
        "all_requests": len(all_lat),
        "all_requests_ms": p50_p95(all_lat),
        "search_round_ms": p50_p95(tally.rounds),
        "cpu_count": os.cpu_count(),
        "load_avg_1m_end": round(os.getloadavg()[0], 2),
    }


def print_report(f: dict, tally: Tally) -> None:
    print(
        f"\n{f['users']} users for {f['elapsed_s']:.1f} s on waitress ({f['threads']} threads), token "
        f"{'on' if f['token'] else 'off'}, {f['cpu_count']} CPUs (1-min load at the end {f['load_avg_1m_end']})"
    )
    print(f"  requests served: {f['requests_served']} ({f['requests_per_s']}/s), search rounds: {f['search_rounds']}")
    print(
        f"  errors: {f['errors']}   cross-talk: {f['crosstalk']}   server tracebacks: {f['server_tracebacks']}   "
        f"token in the server log: {'YES' if f['token_in_server_log'] else 'no'}"
    )
    print(f"  {'request':<18}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}")
    rows = [
        *((k, v["n"], v, "") for k, v in f["latency_ms"].items()),
        ("all requests", f["all_requests"], f["all_requests_ms"], ""),
        ("search round", f["search_rounds"], f["search_round_ms"], "   (search + the 4 panels it redraws)"),
    ]
    for label, n, v, note in rows:
        print(f"  {label:<18}{n:>6}{v['p50']:>10.1f}{v['p95']:>10.1f}{note}")
    for line in (tally.errors + tally.crosstalk)[:10]:
        print("  !", line)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mine = queries_per_user(args.users, args.per_user)
    token = "" if args.no_token else secrets.token_urlsafe(16)
    port = free_port()
    base = f"http://{HOST}:{port}"
    log_path = Path(tempfile.mkdtemp(prefix="infocir-load-")) / "server.log"
    tally = Tally()
    proc = start_server(port, token, args.threads, log_path)
    try:
        startup = wait_ready(base, proc, log_path, args.startup_timeout)
        print(
            f"server up on {base} after {startup:.1f} s (waitress, {args.threads} threads, token "
            f"{'on' if token else 'off'}); log: {log_path}",
            flush=True,
        )
        if token:
            assert requests.get(base + "/_dash-layout", timeout=10).status_code == 401, "the token is not enforced"
        solo_user = DashUser(base, token)
        solo = solo_answers(solo_user, mine, args.startup_timeout)
        print(
            f"{len(solo)} distinct queries answered alone; timed phase: {args.users} users × {args.seconds:g} s",
            flush=True,
        )
        elapsed = timed_phase(base, token, solo_user, mine, solo, args.seconds, tally)
    finally:
        stop_server(proc)
    figures = summarise(args, token, tally, elapsed, log_path.read_text(errors="replace"))
    print_report(figures, tally)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    ok = not tally.errors and not tally.crosstalk and not figures["token_in_server_log"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

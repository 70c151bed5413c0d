"""The benchmark query browser (issue 18 §1): the active benchmark's queries with each chosen method's
AP@k, first-target rank and R@k (``evaluation.query_table``; panel A's method alone by default, up to 3
side by side with a Δ AP column), worst first, sortable and filterable; a row loads its query into panel A
and searches, its ground-truth targets are marked in B and can be copied to the ideals; the table
downloads as CSV or JSON.

The table is computed on the job runner (a few seconds per method for the demo world's queries) and
polled through the gated interval (ui/polling.py); each (methods, k) table is kept on the server, so
sorting, filtering, stepping and reopening never compute it again.  The page holds compact rows (no
target lists; method i's figures under ``ap<i>``, ``first<i>``, ``recall<i>``, and ``delta`` = ap1 − ap0):
the targets of the selected query come from the benchmark, on the server."""

from __future__ import annotations

import json
import logging
import statistics
import threading

from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update

from infocir import export
from infocir.cache import BoundedCache
from infocir.evaluation.benchmarks import Benchmark, load_benchmark
from infocir.evaluation.query_table import query_table
from infocir.ui import ids, polling
from infocir.ui.media import media_url
from infocir.ui.services import Services, user_message

log = logging.getLogger(__name__)
HIDDEN, SHOWN = {"display": "none"}, {}
MAX_METHODS = 3
# the query's own columns: key → (header, worst-first direction: ascending?)
QUERY_COLUMNS = {"q": ("#", True), "text": ("text", True), "group": ("attribute", True), "n": ("targets", True)}


def columns(methods: list[str], k: int) -> list[tuple[str, str, bool]]:
    """The sortable columns as (key, header, ascending first?): the query's, then AP@k, first target and R@k of
    each method (headers "AP@10 · searle" when there are several), then Δ AP (method 2 − method 1)."""
    cols = [(key, label, asc) for key, (label, asc) in QUERY_COLUMNS.items()]
    for i, m in enumerate(methods):
        tag = f" · {m}" if len(methods) > 1 else ""
        cols += [(f"ap{i}", f"AP@{k}{tag}", True), (f"first{i}", f"first target{tag}", False)]
        cols.append((f"recall{i}", f"R@{k}{tag}", True))
    if len(methods) > 1:  # largest first: where method 2 beats method 1 most
        cols.append(("delta", f"Δ AP@{k} ({methods[1]} − {methods[0]})", False))
    return cols


def first_direction(col: str) -> bool:
    """The direction a column sorts in on its first click (worst first; Δ: method 2's biggest wins first)."""
    return not (col.startswith("first") or col == "delta")


class BenchmarkTables:
    """The benchmark (loaded once, unless given) and its tables per (methods, k), kept for the app's lifetime."""

    def __init__(self, s: Services, keep: int = 16, bench: Benchmark | None = None):
        self.s = s
        self._bench = bench
        self._tables: BoundedCache[dict] = BoundedCache(keep)
        self._lock = threading.Lock()

    def benchmark(self) -> Benchmark:
        with self._lock:
            if self._bench is None:
                ui = self.s.config.ui  # ui.benchmark / ui.benchmark_path: which queries the view lists
                self._bench = load_benchmark(ui.benchmark, self.s.engine, ui.benchmark_path or None)
            return self._bench

    def cached(self, methods: tuple[str, ...], k: int) -> dict | None:
        return self._tables.get((tuple(methods), k))

    def compute(self, methods: tuple[str, ...], k: int) -> dict:
        """The page's table: compact rows for the methods and k, each method's aggregate, the compute time."""
        methods = tuple(methods)
        t = query_table(self.s.engine, self.benchmark(), list(methods), k=k)
        rows = []
        for r in t.rows:
            row = {"q": r["query"], "ref": r["reference_id"], "text": r["text"], "group": r["group"]}
            row["n"] = len(r["targets"])
            for i, m in enumerate(methods):
                v = r["methods"][m]
                row |= {f"ap{i}": v["ap"], f"first{i}": v["first_rank"], f"recall{i}": v["recall"]}
            if len(methods) > 1:
                row["delta"] = row["ap1"] - row["ap0"]
            rows.append(row)
        agg = [t.aggregate[m] for m in methods]
        data = {
            "benchmark": t.benchmark,
            "methods": list(methods),
            "k": k,
            "rows": rows,
            "agg": [{"map": a[f"mAP@{k}"], "recall": a[f"R@{k}"], "median_first": a["median_first_rank"]} for a in agg],
            "seconds": round(t.seconds, 2),
        }
        self._tables.put((methods, k), data)
        return data

    def targets(self, q: int) -> list[str]:
        return list(self.benchmark().queries[q].target_ids)


def sort_rows(rows: list[dict], col: str, asc: bool) -> list[dict]:
    """Rows sorted by ``col``; "ap<i>" ascending is worst first (ties: that method's further first target first).
    A query whose targets cannot be ranked at all counts as the furthest first target."""
    far = float("inf")

    def first(r: dict, i: str) -> float:
        return far if r[f"first{i}"] is None else r[f"first{i}"]

    def key(r):
        if col.startswith("ap"):
            f = first(r, col[2:])
            return (r[col], -f if asc else f, r["q"])
        if col.startswith("first"):
            return (first(r, col[5:]), r["q"])
        if col in ("text", "group"):
            return (str(r[col]).lower(), r["q"])
        return (r[col], r["q"])

    return sorted(rows, key=key, reverse=not asc)


def filter_rows(rows: list[dict], text: str | None) -> list[dict]:
    t = (text or "").strip().lower()
    if not t:
        return rows
    return [r for r in rows if t in r["text"].lower() or t in str(r["group"]).lower()]


def aggregate(rows: list[dict], n_methods: int) -> list[dict]:
    """Each method's mean AP and R (%) and median first-target rank over ``rows`` (the data's "agg" shape)."""

    def mean(key: str) -> float | None:
        return 100 * sum(r[key] for r in rows) / len(rows) if rows else None

    out = []
    for i in range(n_methods):
        firsts = [r[f"first{i}"] for r in rows if r[f"first{i}"] is not None]
        median = statistics.median(firsts) if firsts else None
        out.append({"map": mean(f"ap{i}"), "recall": mean(f"recall{i}"), "median_first": median})
    return out


def agg_row(label: str, n: int, agg: list[dict], cls: str) -> html.Tr:
    """An aggregate row: the label, the number of queries (under "targets"), each method's mAP, median first
    target and R (%), and Δ mAP in points when there are several methods."""

    def num(v, fmt: str = "{:.1f}") -> str:
        return "–" if v is None else fmt.format(v)

    cells = [html.Td(label, colSpan=4), html.Td(f"{n} queries", className="num")]
    for a in agg:
        cells += [
            html.Td(f"mAP {num(a['map'])}", className="num"),
            html.Td(f"median {num(a['median_first'], '{:g}')}", className="num"),
            html.Td(num(a["recall"]), className="num"),
        ]
    if len(agg) > 1:
        d = None if agg[0]["map"] is None else agg[1]["map"] - agg[0]["map"]
        cells.append(html.Td(num(d, "{:+.1f}"), className="num", title="Δ mAP, in points"))
    return html.Tr(cells, className=cls)


def table_view(data: dict, sort: dict, filt: str | None, selected: int | None) -> list:
    """Pure: the caption, the aggregate rows and the query rows of the view."""
    k, methods = data["k"], data["methods"]
    cols = columns(methods, k)
    col, asc = (sort or {}).get("col", "ap0"), bool((sort or {}).get("asc", True))
    if col not in {c for c, _, _ in cols}:  # a column of a method no longer shown: worst first again
        col, asc = "ap0", True
    shown = sort_rows(filter_rows(data["rows"], filt), col, asc)
    heads = [
        html.Th(
            label + ((" ▲" if asc else " ▼") if key == col else ""),
            id={"type": ids.BENCH_SORT_COL, "col": key},
            n_clicks=0,
            className=f"sortable {'sorted' if key == col else ''}".strip(),
            title=f"sort by {label}",
        )
        for key, label, _ in cols
    ]
    heads.insert(1, html.Th("reference"))
    head_rows = [
        html.Tr(heads),
        agg_row("all queries (evaluate's figures)", len(data["rows"]), data["agg"], "aggregate"),
    ]
    if len(shown) != len(data["rows"]):
        head_rows.append(agg_row("shown (filtered)", len(shown), aggregate(shown, len(methods)), "aggregate filtered"))

    def figures(r: dict) -> list:
        cells = []
        for i in range(len(methods)):
            first = r[f"first{i}"]
            cells += [
                html.Td(f"{r[f'ap{i}']:.3f}", className="num"),
                html.Td("–" if first is None else str(first), className="num"),
                html.Td(f"{r[f'recall{i}']:.0f}", className="num"),
            ]
        if "delta" in r:
            cells.append(html.Td(f"{r['delta']:+.3f}", className="num delta"))
        return cells

    body = [
        html.Tr(
            [
                html.Td(str(r["q"]), className="num"),
                html.Td(html.Img(src=media_url(r["ref"], 64), alt=r["ref"], className="bench-thumb")),
                html.Td(r["text"], className="prompt"),
                html.Td(str(r["group"])),
                html.Td(str(r["n"]), className="num"),
                *figures(r),
            ],
            id={"type": ids.BENCH_ROW, "index": r["q"]},
            n_clicks=0,
            className="bench-row selected" if r["q"] == selected else "bench-row",
            title=f"{r['ref']}\nclick (or ↑/↓) to load this query into A and search",
            **{"data-q": str(r["q"]), "aria-selected": "true" if r["q"] == selected else "false"},
        )
        for r in shown
    ]
    sorted_by = next(label for key, label, _ in cols if key == col)
    caption = html.Div(
        f"{data['benchmark']} · {' vs '.join(methods)} · k {k} · {len(data['rows'])} queries "
        f"(computed in {data['seconds']:.1f} s) · sorted by {sorted_by} {'▲' if asc else '▼'}",
        className="muted",
    )
    return [caption, html.Table([html.Thead(head_rows), html.Tbody(body)], className="bench-table")]


def register(app: Dash, s: Services) -> None:
    tables = BenchmarkTables(s)
    polling.register_gate(app, ids.BENCH_POLL)
    register_compute(app, s, tables)
    register_view(app)
    register_load(app, s, tables)
    register_export(app, s)


def register_compute(app: Dash, s: Services, tables: BenchmarkTables) -> None:
    """Opening the view (or changing its methods or k while it is open) computes the table on the job
    runner, unless the server has it; the gated poll brings it to the page."""

    @app.callback(
        Output(ids.BENCH_BODY, "style"),
        Output(ids.BENCH_TOGGLE, "children"),
        Input(ids.BENCH_TOGGLE, "n_clicks"),
    )
    def _toggle(n):
        open_ = bool((n or 0) % 2)
        return (SHOWN if open_ else HIDDEN), ("▾" if open_ else "▸") + " Benchmark queries"

    @app.callback(
        Output(ids.BENCH_METHODS, "value"),
        Input(ids.METHOD, "value"),
        State(ids.BENCH_METHODS, "value"),
        prevent_initial_call=True,
    )
    def _follow(method, chosen):
        """One method (or none) chosen: the view follows panel A's method; several stay as chosen."""
        return [method] if len(chosen or []) <= 1 else no_update

    @app.callback(
        Output(ids.BENCH_DATA, "data"),
        Output(ids.BENCH_JOB, "data"),
        Output(ids.BENCH_POLL, "disabled"),
        Output(ids.BENCH_STATUS, "children"),
        Input(ids.BENCH_TOGGLE, "n_clicks"),
        Input(ids.BENCH_METHODS, "value"),
        Input(ids.BENCH_K, "value"),
        State(ids.METHOD, "value"),
        State(ids.BENCH_DATA, "data"),
        State(ids.BENCH_JOB, "data"),
        prevent_initial_call=True,
    )
    def _start(n, chosen, k, method, data, old_job):
        if not (n or 0) % 2:
            return no_update, no_update, no_update, no_update  # closed: nothing is computed
        if k is None or int(k) != k or not 1 <= int(k) <= 100:
            return no_update, no_update, True, "k must be a whole number from 1 to 100."
        methods = tuple(chosen or [method])  # none chosen: panel A's
        if len(methods) > MAX_METHODS:
            return no_update, no_update, True, f"Choose at most {MAX_METHODS} methods (now {len(methods)})."
        k = int(k)
        if data and tuple(data.get("methods", ())) == methods and data.get("k") == k:
            return no_update, no_update, no_update, ""
        cached = tables.cached(methods, k)
        if cached is not None:
            s.jobs.cancel(old_job)
            return cached, None, True, ""
        try:
            n_queries = len(tables.benchmark().queries)
        except Exception as exc:
            return None, None, True, user_message(exc, "Loading the benchmark")
        s.jobs.cancel(old_job)
        job = s.jobs.submit([("table", lambda: tables.compute(methods, k))])
        return no_update, job, False, f"Computing {', '.join(methods)}: AP@{k} for {n_queries} queries…"

    @app.callback(
        Output(ids.BENCH_DATA, "data", allow_duplicate=True),
        Output(ids.BENCH_STATUS, "children", allow_duplicate=True),
        Output(ids.BENCH_POLL, "disabled", allow_duplicate=True),
        Output(polling.answered(ids.BENCH_POLL), "data"),
        Input(polling.tick(ids.BENCH_POLL), "data"),
        State(ids.BENCH_JOB, "data"),
        prevent_initial_call=True,
    )
    def _poll(tick, job_id):
        job = s.jobs.get(job_id)
        if job is None:
            return no_update, no_update, True, tick
        if not job.finished:
            return no_update, no_update, False, tick
        if "table" in job.errors:
            return no_update, job.errors["table"], True, tick
        return job.results["table"], "", True, tick


def register_view(app: Dash) -> None:
    @app.callback(
        Output(ids.BENCH_TABLE, "children"),
        Input(ids.BENCH_DATA, "data"),
        Input(ids.BENCH_SORT, "data"),
        Input(ids.BENCH_FILTER, "value"),
        Input(ids.BENCH_SELECTED, "data"),
    )
    def _render(data, sort, filt, selected):
        if not data:
            return None
        return table_view(data, sort, filt, selected)

    @app.callback(
        Output(ids.BENCH_SORT, "data"),
        Input({"type": ids.BENCH_SORT_COL, "col": ALL}, "n_clicks"),
        State(ids.BENCH_SORT, "data"),
        prevent_initial_call=True,
    )
    def _sort(_clicks, sort):
        if not ctx.triggered_id or not any(t["value"] for t in ctx.triggered):
            return no_update  # the headers were re-rendered, not clicked
        col = ctx.triggered_id["col"]
        if (sort or {}).get("col") == col:
            return {"col": col, "asc": not sort.get("asc", True)}
        return {"col": col, "asc": first_direction(col)}  # a new column starts worst first


def register_load(app: Dash, s: Services, tables: BenchmarkTables) -> None:
    @app.callback(
        Output(ids.BENCH_SELECTED, "data"),
        Output(ids.BENCH_TARGETS, "data"),
        Output(ids.REFERENCE, "value", allow_duplicate=True),
        Output(ids.REF_MODE, "data", allow_duplicate=True),
        Output(ids.UPLOAD_REF, "data", allow_duplicate=True),
        Output(ids.TEXT, "value", allow_duplicate=True),
        Output(ids.EXCLUDE_REF, "value", allow_duplicate=True),
        Output(ids.SEARCH, "n_clicks", allow_duplicate=True),
        Input({"type": ids.BENCH_ROW, "index": ALL}, "n_clicks"),
        State(ids.SEARCH, "n_clicks"),
        prevent_initial_call=True,
    )
    def _load(_clicks, search_clicks):
        """A row: its query becomes panel A's (reference, text; the reference left out of its results, as
        the table ranks) and the search runs at once, reading what this same response sets."""
        if not ctx.triggered_id or not any(t["value"] for t in ctx.triggered):
            return (no_update,) * 8  # rows were re-rendered, not clicked
        q = int(ctx.triggered_id["index"])
        query = tables.benchmark().queries[q]
        if query.reference_id not in s.engine.index.row_of:  # a reference file outside the index (i-CIR)
            return (no_update,) * 8
        marks = {"reference": query.reference_id, "text": query.text, "targets": list(query.target_ids)}
        return (
            q,
            marks,
            query.reference_id,
            "dataset",
            None,
            query.text,
            ["exclude"],
            (search_clicks or 0) + 1,
        )

    @app.callback(
        Output(ids.IDEALS_STORE, "data", allow_duplicate=True),
        Input(ids.BENCH_COPY, "n_clicks"),
        State(ids.BENCH_TARGETS, "data"),
        State(ids.IDEALS_STORE, "data"),
        prevent_initial_call=True,
    )
    def _copy(_n, marks, ideals):
        if not marks:
            return no_update
        have = list(ideals or [])
        return have + [t for t in marks["targets"] if t not in have]


def export_rows(data: dict) -> list[dict]:
    """Every query (not only the filtered ones), worst first by the first method: the query's fields, then
    each method's ``<method> AP@k``, ``<method> first rank``, ``<method> R@k`` (``QueryTable.flat_rows``'s
    names), then the Δ AP@k column when there are several methods."""
    k, methods = data["k"], data["methods"]
    out = []
    for r in sort_rows(data["rows"], "ap0", True):
        row = {"query": r["q"], "reference_id": r["ref"], "text": r["text"], "group": r["group"], "targets": r["n"]}
        for i, m in enumerate(methods):
            row |= {f"{m} AP@{k}": r[f"ap{i}"], f"{m} first rank": r[f"first{i}"], f"{m} R@{k}": r[f"recall{i}"]}
        if "delta" in r:
            row[f"Δ AP@{k} ({methods[1]} − {methods[0]})"] = r["delta"]
        out.append(row)
    return out


def register_export(app: Dash, s: Services) -> None:
    @app.callback(
        Output(ids.BENCH_DOWNLOAD, "data"),
        Input(ids.BENCH_CSV, "n_clicks"),
        Input(ids.BENCH_JSON, "n_clicks"),
        State(ids.BENCH_DATA, "data"),
        prevent_initial_call=True,
    )
    def _export(_csv, _json, data):
        if not data or not ctx.triggered_id:
            return no_update
        k, methods = data["k"], data["methods"]
        stem = f"benchmark-{data['benchmark']}-{'-'.join(methods)}-k{k}"
        rows = export_rows(data)
        if ctx.triggered_id == ids.BENCH_JSON:
            meta = {
                "benchmark": data["benchmark"],
                "methods": methods,
                "k": k,
                "model": s.engine.bundle.name,
                "queries": len(rows),
                "aggregate": {  # evaluate's figures per method
                    m: {f"mAP@{k}": a["map"], f"R@{k}": a["recall"], "median_first_target_rank": a["median_first"]}
                    for m, a in zip(methods, data["agg"], strict=True)
                },
            }
            return dcc.send_string(json.dumps({"meta": meta, "rows": rows}, indent=1), f"{stem}.json")
        return dcc.send_string(export.to_csv(rows), f"{stem}.csv", type="text/csv")

"""The benchmark query browser (issue 18 §1): the active benchmark's queries with the current method's
AP@k, first-target rank and R@k (``evaluation.query_table``), worst first, sortable and filterable; a
row loads its query into panel A and searches, its ground-truth targets are marked in B and can be
copied to the ideals; the table downloads as CSV or JSON.

The table is computed on the job runner (a few seconds for the demo world's queries) and polled
through the gated interval (ui/polling.py); each (method, k) table is kept on the server, so sorting,
filtering, stepping and reopening never compute it again.  The page holds compact rows (no target
lists): the targets of the selected query come from the benchmark, on the server."""

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
# column key → (header, worst-first direction: ascending?)
COLUMNS = {
    "query": ("#", True),
    "text": ("text", True),
    "group": ("attribute", True),
    "n": ("targets", True),
    "ap": ("AP@k", True),
    "first": ("first target", False),
    "recall": ("R@k", True),
}


class BenchmarkTables:
    """The benchmark (loaded once) and its tables per (method, k), kept for the app's lifetime."""

    def __init__(self, s: Services, keep: int = 16):
        self.s = s
        self._bench: Benchmark | None = None
        self._tables: BoundedCache[dict] = BoundedCache(keep)
        self._lock = threading.Lock()

    def benchmark(self) -> Benchmark:
        with self._lock:
            if self._bench is None:
                ui = self.s.config.ui  # ui.benchmark / ui.benchmark_path: which queries the view lists
                self._bench = load_benchmark(ui.benchmark, self.s.engine, ui.benchmark_path or None)
            return self._bench

    def cached(self, method: str, k: int) -> dict | None:
        return self._tables.get((method, k))

    def compute(self, method: str, k: int) -> dict:
        """The page's table: compact rows for one method and k, the aggregate, the compute time."""
        t = query_table(self.s.engine, self.benchmark(), [method], k=k)
        rows = [
            {
                "q": r["query"],
                "ref": r["reference_id"],
                "text": r["text"],
                "group": r["group"],
                "n": len(r["targets"]),
                "ap": r["methods"][method]["ap"],
                "first": r["methods"][method]["first_rank"],
                "recall": r["methods"][method]["recall"],
            }
            for r in t.rows
        ]
        agg = t.aggregate[method]
        data = {
            "benchmark": t.benchmark,
            "method": method,
            "k": k,
            "rows": rows,
            "map": agg[f"mAP@{k}"],
            "recall": agg[f"R@{k}"],
            "median_first": agg["median_first_rank"],
            "seconds": round(t.seconds, 2),
        }
        self._tables.put((method, k), data)
        return data

    def targets(self, q: int) -> list[str]:
        return list(self.benchmark().queries[q].target_ids)


def sort_rows(rows: list[dict], col: str, asc: bool) -> list[dict]:
    """Rows sorted by ``col``; "ap" ascending is worst first (ties: the further first target first).  A query
    whose targets cannot be ranked at all counts as the furthest first target."""
    far = float("inf")

    def key(r):
        first = r["first"] if r["first"] is not None else far
        if col == "ap":
            return (r["ap"], -first if asc else first, r["q"])
        if col == "first":
            return (first, r["q"])
        if col in ("text", "group"):
            return (str(r[col]).lower(), r["q"])
        return (r[col], r["q"])

    return sorted(rows, key=key, reverse=not asc)


def filter_rows(rows: list[dict], text: str | None) -> list[dict]:
    t = (text or "").strip().lower()
    if not t:
        return rows
    return [r for r in rows if t in r["text"].lower() or t in str(r["group"]).lower()]


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.1f}"


def table_view(data: dict, sort: dict, filt: str | None, selected: int | None) -> list:
    """Pure: the caption, the aggregate rows and the query rows of the view."""
    k = data["k"]
    col, asc = (sort or {}).get("col", "ap"), bool((sort or {}).get("asc", True))
    shown = sort_rows(filter_rows(data["rows"], filt), col, asc)
    heads = []
    for key, (label, _) in COLUMNS.items():
        arrow = (" ▲" if asc else " ▼") if key == col else ""
        heads.append(
            html.Th(
                (label[:-1] + str(k) if label.endswith("@k") else label) + arrow,
                id={"type": ids.BENCH_SORT_COL, "col": key},
                n_clicks=0,
                className=f"sortable {'sorted' if key == col else ''}".strip(),
                title=f"sort by {label}",
            )
        )
    heads.insert(1, html.Th("reference"))
    median = data.get("median_first")

    def agg_row(label: str, rows: list[dict], cls: str) -> html.Tr:
        n = len(rows)
        m_ap = sum(r["ap"] for r in rows) / n if n else None
        m_r = sum(r["recall"] for r in rows) / n if n else None
        firsts = [r["first"] for r in rows if r["first"] is not None]
        med = statistics.median(firsts) if firsts else None
        return html.Tr(
            [
                html.Td(label, colSpan=5),
                html.Td(f"{n} queries", className="num"),
                html.Td(f"mAP {_pct(m_ap)}", className="num"),
                html.Td("–" if med is None else f"median {med:g}", className="num"),
                html.Td(f"{_pct(m_r)}", className="num"),
            ],
            className=cls,
        )

    aggregate = html.Tr(
        [
            html.Td("all queries (evaluate's figures)", colSpan=5),
            html.Td(f"{len(data['rows'])} queries", className="num"),
            html.Td(f"mAP {data['map']:.1f}", className="num"),
            html.Td("–" if median is None else f"median {median:g}", className="num"),
            html.Td(f"{data['recall']:.1f}", className="num"),
        ],
        className="aggregate",
    )
    head_rows = [html.Tr(heads), aggregate]
    if len(shown) != len(data["rows"]):
        head_rows.append(agg_row("shown (filtered)", shown, "aggregate filtered"))
    body = [
        html.Tr(
            [
                html.Td(str(r["q"]), className="num"),
                html.Td(html.Img(src=media_url(r["ref"], 64), alt=r["ref"], className="bench-thumb")),
                html.Td(r["text"], className="prompt"),
                html.Td(str(r["group"])),
                html.Td(str(r["n"]), className="num"),
                html.Td(f"{r['ap']:.3f}", className="num"),
                html.Td("–" if r["first"] is None else str(r["first"]), className="num"),
                html.Td(f"{r['recall']:.0f}", className="num"),
            ],
            id={"type": ids.BENCH_ROW, "index": r["q"]},
            n_clicks=0,
            className="bench-row selected" if r["q"] == selected else "bench-row",
            title=f"{r['ref']}\nclick (or ↑/↓) to load this query into A and search",
            **{"data-q": str(r["q"]), "aria-selected": "true" if r["q"] == selected else "false"},
        )
        for r in shown
    ]
    caption = html.Div(
        f"{data['benchmark']} · {data['method']} · k {k} · {len(data['rows'])} queries "
        f"(computed in {data['seconds']:.1f} s) · sorted by {COLUMNS[col][0]} {'▲' if asc else '▼'}",
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
    """Opening the view (or changing the method or k while it is open) computes the table on the job
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
        Output(ids.BENCH_DATA, "data"),
        Output(ids.BENCH_JOB, "data"),
        Output(ids.BENCH_POLL, "disabled"),
        Output(ids.BENCH_STATUS, "children"),
        Input(ids.BENCH_TOGGLE, "n_clicks"),
        Input(ids.METHOD, "value"),
        Input(ids.BENCH_K, "value"),
        State(ids.BENCH_DATA, "data"),
        State(ids.BENCH_JOB, "data"),
        prevent_initial_call=True,
    )
    def _start(n, method, k, data, old_job):
        if not (n or 0) % 2:
            return no_update, no_update, no_update, no_update  # closed: nothing is computed
        if k is None or int(k) != k or not 1 <= int(k) <= 100:
            return no_update, no_update, True, "k must be a whole number from 1 to 100."
        k = int(k)
        if data and data.get("method") == method and data.get("k") == k:
            return no_update, no_update, no_update, no_update
        cached = tables.cached(method, k)
        if cached is not None:
            s.jobs.cancel(old_job)
            return cached, None, True, ""
        try:
            n_queries = len(tables.benchmark().queries)
        except Exception as exc:
            return None, None, True, user_message(exc, "Loading the benchmark")
        s.jobs.cancel(old_job)
        job = s.jobs.submit([("table", lambda: tables.compute(method, k))])
        return no_update, job, False, f"Computing {method}'s AP@{k} for {n_queries} queries…"

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
        return {"col": col, "asc": COLUMNS[col][1]}  # a new column starts worst first


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


def register_export(app: Dash, s: Services) -> None:
    @app.callback(
        Output(ids.BENCH_DOWNLOAD, "data"),
        Input(ids.BENCH_CSV, "n_clicks"),
        Input(ids.BENCH_JSON, "n_clicks"),
        State(ids.BENCH_DATA, "data"),
        prevent_initial_call=True,
    )
    def _export(_csv, _json, data):
        """Every query (not only the filtered ones), worst first."""
        if not data or not ctx.triggered_id:
            return no_update
        k, method = data["k"], data["method"]
        stem = f"benchmark-{data['benchmark']}-{method}-k{k}"
        rows = [
            {
                "query": r["q"],
                "reference_id": r["ref"],
                "text": r["text"],
                "group": r["group"],
                "targets": r["n"],
                "method": method,
                f"AP@{k}": r["ap"],
                "first_target_rank": r["first"],
                f"R@{k}": r["recall"],
            }
            for r in sort_rows(data["rows"], "ap", True)
        ]
        if ctx.triggered_id == ids.BENCH_JSON:
            meta = {
                "benchmark": data["benchmark"],
                "method": method,
                "k": k,
                "model": s.engine.bundle.name,
                "queries": len(rows),
                f"mAP@{k}": data["map"],
                f"R@{k}": data["recall"],
                "median_first_target_rank": data["median_first"],
            }
            return dcc.send_string(json.dumps({"meta": meta, "rows": rows}, indent=1), f"{stem}.json")
        return dcc.send_string(export.to_csv(rows), f"{stem}.csv", type="text/csv")

"""Share and export: the query in the page's address (a copied link reproduces the page), downloads of
the results (CSV, JSON), of panel E's table and of F3's table, and the ``infocir search`` command of
the current query.  The formats are ``infocir.export``'s.

Two ``dcc.Location`` components: ``ids.URL`` is read (on load and on back/forward) and ``ids.URL_WRITE``
is written after each search or ideal change, so no callback feeds its own input."""

from __future__ import annotations

import re

from dash import Dash, Input, Output, State, ctx, dcc, no_update

from infocir import export
from infocir.enhance.scoring import COLUMNS as METRIC_COLUMNS
from infocir.index.id_search import reference_options
from infocir.ui import ids
from infocir.ui.callbacks.explanations import heatmap_table
from infocir.ui.query_state import base_results
from infocir.ui.services import Services


def _slug(text: str, limit: int = 40) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text or "").strip("-")[:limit] or "query"


def current_query(results: dict | None, ideals) -> export.SharedQuery | None:
    """The shareable query of a results store (None without results); a preview of E's candidate shares the
    query it previews for (the preview is not adopted)."""
    results = base_results(results)
    if not results:
        return None
    ref = results.get("reference") or {}
    exclude = results.get("exclude_reference")
    return export.SharedQuery(
        reference=ref.get("id") if ref.get("kind") == "dataset" else None,
        text=results.get("text", ""),
        method=results.get("method"),
        k=results.get("k"),
        ideals=tuple(ideals or ()),
        exclude_reference=None if exclude is None else bool(exclude),
    )


def meta(s: Services, results: dict) -> dict:
    """The provenance columns of an export: method, model, weights, dataset, reference, text."""
    index = s.engine.index
    ref = results.get("reference") or {}
    return {
        "method": results.get("method"),
        "model": s.engine.bundle.name,
        "weights": index.manifest.key.weights_hash,
        "dataset_fingerprint": index.manifest.key.dataset_fingerprint,
        "reference": ref.get("id") or (f"upload:{ref.get('name')}" if ref.get("kind") == "upload" else ""),
        "text": results.get("text", ""),
    }


def result_rows(s: Services, results: dict) -> list[dict]:
    """The page's results with each image's path from the index (ids, not the browser's row numbers)."""
    index = s.engine.index
    rows = [index.row_of[i] for i in results["ids"]]
    return export.result_rows(
        results["ids"],
        results["scores"],
        [index.paths[r] for r in rows],
        [index.classes[r] for r in rows],
        meta(s, results),
    )


def chosen_index(results: dict) -> dict[str, str]:
    """The search index chosen in A for this query, as a ``--set`` override (none when it was the configured one)."""
    return {"retrieval.backend": results["backend"]} if results.get("backend") else {}


def cli(s: Services, results: dict) -> str:
    """The `infocir search` command of the page's query (while E previews a candidate: the query's, as the link)."""
    results = base_results(results)
    ref = results.get("reference") or {}
    upload = ref.get("kind") == "upload"
    reference = ref.get("name") if upload else (ref.get("id") if ref.get("kind") == "dataset" else None)
    command = export.cli_command(
        reference,
        results.get("text", ""),
        results["k"],
        results.get("method"),
        export.config_overrides(s.config) | chosen_index(results),
        exclude_reference=bool(results.get("exclude_reference")),
        relevant=results.get("relevant") or (),
    )
    if upload:
        command = f"# the reference was an upload: save it as {ref.get('name')!r} in this folder first\n" + command
    params = results.get("method_params") or {}
    if params.get("rounds"):  # the command line has no flag for earlier feedback rounds: say what it runs instead
        command = (
            f"# feedback step {len(params['rounds'])}: the command line runs one Rocchio step with the last marks; "
            "the steps are engine.search(..., method='feedback', rounds=...) in Python\n" + command
        )
    elif params:
        extra = " ".join(f"{k}={v}" for k, v in params.items())
        command = f"# method settings from the page ({extra}) are Python parameters of engine.search\n" + command
    return command


def register(app: Dash, s: Services) -> None:
    register_address(app, s)
    register_downloads(app, s)


def register_address(app: Dash, s: Services) -> None:
    """The address and the command line."""
    index = s.engine.index
    methods = {m.name: m for m in s.engine.methods()}

    @app.callback(
        Output(ids.URL_WRITE, "search"),
        Output(ids.URL_WRITTEN, "data"),
        Output(ids.SHARE_NOTE, "children"),
        Output(ids.SHARE_CLI, "value"),
        Input(ids.RESULTS_STORE, "data"),
        Input(ids.IDEALS_STORE, "data"),
        prevent_initial_call=True,
    )
    def _write_url(results, ideals):
        """One response per search or ideal change: the address (a link to this query) and the command."""
        q = current_query(results, ideals)
        if q is None:
            return no_update, no_update, no_update, ""
        command = (
            cli(s, results) if f"{ids.RESULTS_STORE}.data" in ctx.triggered_prop_ids else no_update
        )  # not per ideal
        if q.reference is None and (results.get("reference") or {}).get("kind") == "upload":
            return (
                "",
                "",
                (
                    "A link cannot carry an uploaded reference image: the address holds no query while an "
                    "upload is the reference (the downloads and the command still work)."
                ),
                command,
            )
        search = export.query_string(q)
        return search, search, "", command

    app.clientside_callback(
        "function(search) { return window.location.origin + window.location.pathname + (search || ''); }",
        Output(ids.SHARE_LINK, "value"),
        Input(ids.URL_WRITE, "search"),
    )

    @app.callback(
        Output(ids.REFERENCE, "value", allow_duplicate=True),
        Output(ids.REF_MODE, "data", allow_duplicate=True),
        Output(ids.TEXT, "value", allow_duplicate=True),
        Output(ids.K, "value", allow_duplicate=True),
        Output(ids.METHOD, "value", allow_duplicate=True),
        Output(ids.EXCLUDE_REF, "value", allow_duplicate=True),
        Output(ids.SEARCH, "n_clicks", allow_duplicate=True),
        Output(ids.IDEALS_STORE, "data", allow_duplicate=True),
        Output(ids.SHARE_NOTE, "children", allow_duplicate=True),
        Output(ids.REFERENCE, "options", allow_duplicate=True),
        Input(ids.URL, "search"),
        State(ids.URL_WRITTEN, "data"),
        State(ids.RESULTS_STORE, "data"),
        State(ids.IDEALS_STORE, "data"),
        State(ids.SEARCH, "n_clicks"),
        prevent_initial_call=True,
    )
    def _restore(search, written, results, ideals, clicks):
        """Opening a link (or going back/forward): panel A takes the link's query, the search runs and
        the link's ideals are marked.  The page's own address updates are not links: ignored (an older
        one arriving after a newer ideal click would otherwise undo that click)."""
        q = export.parse_query_string(search)
        if q is None or search == written:
            return (no_update,) * 10
        now = current_query(results, ideals)
        keep = (no_update,) * 7
        if now is not None and q.same_search(now):
            if set(q.ideals) == set(now.ideals):
                return (no_update,) * 10
            return (*keep, [i for i in q.ideals if i in index.row_of], no_update, no_update)
        notes = []
        if q.reference is not None and q.reference not in index.row_of:
            return (
                *keep,
                no_update,
                f"The link's reference {q.reference!r} is not in this dataset; nothing was searched.",
                no_update,
            )
        method = q.method
        if method is not None and not (method in methods and methods[method].available):
            notes.append(f"The link's method {method!r} is not available here; the page's method is used.")
            method = None
        unknown = [i for i in q.ideals if i not in index.row_of]
        if unknown:
            notes.append(f"{len(unknown)} of the link's ideals are not in this dataset and were left out.")
        return (
            q.reference if q.reference is not None else no_update,
            "dataset",
            q.text,
            q.k if q.k is not None else no_update,
            method if method is not None else no_update,
            no_update if q.exclude_reference is None else (["exclude"] if q.exclude_reference else []),
            (clicks or 0) + 1,
            [i for i in q.ideals if i in index.row_of],
            " ".join(notes),
            # the reference's option comes with it: a dropdown that has not listed it yet would drop it
            reference_options(s.id_search, "", s.config.ui.reference_options, q.reference)
            if q.reference is not None
            else no_update,
        )


def register_downloads(app: Dash, s: Services) -> None:
    engine, index = s.engine, s.engine.index

    @app.callback(
        Output(ids.DL_RESULTS, "data"),
        Output(ids.SHARE_NOTE, "children", allow_duplicate=True),
        Input(ids.DL_RESULTS_CSV, "n_clicks"),
        Input(ids.DL_RESULTS_JSON, "n_clicks"),
        State(ids.RESULTS_STORE, "data"),
        State(ids.IDEALS_STORE, "data"),
        prevent_initial_call=True,
    )
    def _download_results(_csv, _json, results, ideals):
        if not results or not results.get("ids"):
            return no_update, "Run a search first: there are no results to download."
        rows = result_rows(s, results)
        stem = f"infocir-results-{_slug(results.get('text', ''))}"
        if ctx.triggered_id == ids.DL_RESULTS_JSON:
            ref = results.get("reference") or {}
            query = {
                "reference": ref.get("id") or ref.get("name"),
                "reference_kind": ref.get("kind"),
                "text": results.get("text", ""),
                "method": results.get("method"),
                "k": results["k"],
                "ideals": list(ideals or []),
            }
            m = meta(s, results)
            doc_meta = {
                "method": m["method"],
                "model": m["model"],
                "weights": m["weights"],
                "dataset": {
                    "root": str(engine.scan.root),
                    "fingerprint": m["dataset_fingerprint"],
                    "images": len(index),
                },
            }
            return dcc.send_string(
                export.results_json(rows, query, doc_meta), f"{stem}.json", type="application/json"
            ), ""
        return dcc.send_string(export.to_csv(rows, export.RESULT_FIELDS), f"{stem}.csv", type="text/csv"), ""

    @app.callback(
        Output(ids.E_DOWNLOAD_FILE, "data"),
        Output(ids.E_STATUS, "children", allow_duplicate=True),
        Input(ids.E_DOWNLOAD, "n_clicks"),
        State(ids.E_RESULT, "data"),
        prevent_initial_call=True,
    )
    def _download_enhancement(_n, result):
        if not result:
            return no_update, "Enhance a prompt first: there is no table to download."
        rows = export.enhancement_rows(result, METRIC_COLUMNS)
        for r in rows:
            r.update(
                method=result.get("method"),
                k=result.get("k"),
                provider=result.get("provider"),
                query_text=result.get("query_text", ""),
                ideals=result.get("ideals", []),
            )
        fields = (
            ["place", "prompt", "baseline"]
            + [c for m in METRIC_COLUMNS for c in (m, f"d_{m}")]
            + ["method", "k", "provider", "query_text", "ideals", "top_k"]
        )
        return dcc.send_string(
            export.to_csv(rows, fields),
            f"infocir-enhancement-{_slug(result.get('query_text', ''))}.csv",
            type="text/csv",
        ), no_update

    @app.callback(
        Output(ids.F_HEATMAP_DOWNLOAD_FILE, "data"),
        Output(ids.F_HEATMAP_NOTE, "children", allow_duplicate=True),
        Input(ids.F_HEATMAP_DOWNLOAD, "n_clicks"),
        State(ids.RESULTS_STORE, "data"),
        State(ids.F_COMPARE_STORE, "data"),
        State(ids.F_SORT, "value"),
        prevent_initial_call=True,
    )
    def _download_rank_delta(_n, results, compare, sort_by):
        results = base_results(results)  # F3 compares with the query's own ranking, also while E previews
        if not results or not compare:
            return no_update, "Compare the query with another prompt first: F3 is empty."
        t = heatmap_table(results, compare, sort_by)
        rows = export.rank_delta_rows(t.images, t.prompts, t.ranks, t.delta, results["k"])
        return dcc.send_string(
            export.to_csv(rows, ("prompt", "image", "rank", "delta")),
            f"infocir-rank-change-{_slug(results.get('text', ''))}.csv",
            type="text/csv",
        ), no_update

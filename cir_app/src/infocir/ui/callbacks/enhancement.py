"""Panel E: rewrites of the modification text (LLM or offline), each re-run and scored against the
ideals.  Every candidate is a row of F3's rank-change heatmap; clicking a row previews that prompt in every
panel (B, C, D's query ✕ and top-k, F1 and F2) without replacing the query; "Adopt" makes it the query text.

A preview is a results store of its own (``preview``, and the search's results under ``preview_of``), so each
panel that draws the results draws the preview with no change of its own; what belongs to the search itself
(E's staleness, F3's original ranking, the share link) reads ``query_state.base_results``."""

from __future__ import annotations

import math

from dash import ALL, Dash, Input, Output, State, ctx, html, no_update

from infocir.enhance import RANKING_RULE, enhance
from infocir.enhance.scoring import LOWER_IS_BETTER
from infocir.export import metric_delta
from infocir.ui import ids, polling
from infocir.ui.callbacks.query import results_store
from infocir.ui.media import media_url
from infocir.ui.query_state import base_results, same_ranking_setup, search_key
from infocir.ui.services import Services, user_message

STALE_NOTE = (
    "Stale: this table was made for an earlier search, not for the results shown now. "
    "Enhance again to score prompts for the current query."
)


COLUMNS = (
    ("ndcg", "nDCG@k", "{:.3f}"),
    ("map", "mAP@k", "{:.3f}"),
    ("mrr", "MRR", "{:.3f}"),
    ("coverage", "coverage", "{:.0%}"),
    ("mean_rank", "mean rank", "{:.1f}"),
    ("mean_similarity", "mean sim.", "{:.3f}"),
)


def _fmt(value, pattern: str) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else pattern.format(value)


def _delta(value, base, key: str, pattern: str) -> tuple[str, str]:
    """A Δ cell against the baseline: its text and its class (better/worse/same; mean rank: lower is better)."""
    d = metric_delta(value, base)
    if d is None:
        return "–", "delta"
    if abs(d) < 1e-9:
        return "±0", "delta same"
    better = (d < 0) if key in LOWER_IS_BETTER else (d > 0)
    text = f"{d * 100:+.0f} pp" if pattern.endswith("%}") else ("{:+.1f}" if "1f" in pattern else "{:+.3f}").format(d)
    return text, "delta " + ("better" if better else "worse")


def results_table(result: dict, selected: int | None) -> html.Table:
    """The baseline (the original prompt) pinned as the first row, then the candidates best first (the
    ranking rule; "#" is each row's place by it, the baseline's included); beside each metric its Δ
    against the baseline; the best value of each column starred.  Every row is a keyboard stop: Tab
    reaches it, Enter or Space selects it, as a click does."""
    best = result.get("best", {})
    rows = result["rows"]
    base = next((r for r in rows if r["is_baseline"]), None)
    head = html.Tr(
        [html.Th("#"), html.Th("prompt")]
        + [
            c
            for _, label, _ in COLUMNS
            for c in (html.Th(label), html.Th("Δ", className="delta", title=f"{label} − baseline"))
        ]
    )
    place = {i: p + 1 for p, i in enumerate(result["order"])}
    shown = sorted(range(len(rows)), key=lambda i: (not rows[i]["is_baseline"], place.get(i, len(rows) + 1)))
    body = []
    for i in shown:
        row = rows[i]
        cells = [
            html.Td(str(place.get(i, "–"))),
            html.Td(
                [row["text"], html.Span(" baseline", className="tag") if row["is_baseline"] else None],
                className="prompt",
            ),
        ]
        for key, _, pattern in COLUMNS:
            is_best = i in best.get(key, []) and len(best.get(key, [])) < len(rows)
            value = row["metrics"].get(key)
            cells.append(
                html.Td(_fmt(value, pattern) + (" ★" if is_best else ""), className="num best" if is_best else "num")
            )
            if row["is_baseline"] or base is None:
                cells.append(html.Td("", className="delta"))
            else:
                text, cls = _delta(value, base["metrics"].get(key), key, pattern)
                cells.append(html.Td(text, className=cls))
        cls = " ".join(
            c for c in ("baseline" if row["is_baseline"] else "", "selected" if i == selected else "", "kbd") if c
        )
        body.append(
            html.Tr(
                cells,
                id={"type": ids.E_ROW, "index": i},
                className=cls,
                n_clicks=0,
                tabIndex="0",
                role="button",
                title="click (or Enter) to show this prompt's results and compare it in F3",
                **{"aria-pressed": "true" if i == selected else "false"},
            )
        )
    return html.Table([html.Thead(head), html.Tbody(body)], className="enhance-table")


def register_preview(app: Dash, s: Services) -> None:
    @app.callback(
        Output(ids.RESULTS_STORE, "data", allow_duplicate=True),
        Output(ids.QUERY_VECTOR, "data", allow_duplicate=True),
        Output(ids.E_STATUS, "children", allow_duplicate=True),
        Input({"type": ids.E_ROW, "index": ALL}, "n_clicks"),
        State(ids.E_RESULT, "data"),
        State(ids.RESULTS_STORE, "data"),
        State(ids.QUERY_VECTOR, "data"),
        prevent_initial_call=True,
    )
    def _preview(clicks, result, results, kept):
        """A click on a candidate previews its prompt everywhere; on the original row, ends the preview."""
        if not ctx.triggered_id or not any(clicks or []) or not result or not results:
            return no_update, no_update, no_update  # rows re-rendered, not clicked
        base = base_results(results)
        if result.get("search") != search_key(base):
            return no_update, no_update, no_update  # a stale table (it says so): its rows are not this search's
        row = result["rows"][ctx.triggered_id["index"]]
        previewing = results.get("preview")
        if row["is_baseline"]:
            if not previewing:
                return no_update, no_update, no_update
            return base, results.get("preview_of_vector"), "Back to the query's own results."
        if previewing and previewing.get("text") == row["text"]:
            return no_update, no_update, no_update
        try:
            res = s.search_like(base, row["text"])  # ranked exactly as the search was, with the candidate's text
        except Exception as exc:
            return no_update, no_update, user_message(exc, "Preview")
        query = {
            key: base[key]
            for key in ("reference", "method", "k", "exclude_reference", "expansion", "within")
            if key in base
        }
        data, vector = results_store(
            s,
            res,
            {**query, "text": row["text"]},
            base.get("relevant") or [],
            base.get("backend"),
            base.get("method_params"),
        )
        data["preview"] = {"text": row["text"], "row": ctx.triggered_id["index"]}
        data["preview_of"] = base
        data["preview_of_vector"] = results.get("preview_of_vector") if previewing else kept
        return data, vector, f"Previewing “{row['text']}” in every panel; Adopt makes it the query."

    @app.callback(Output(ids.END_PREVIEW, "style"), Input(ids.RESULTS_STORE, "data"), prevent_initial_call=True)
    def _shown(results):
        return {} if (results or {}).get("preview") else {"display": "none"}

    @app.callback(
        Output(ids.RESULTS_STORE, "data", allow_duplicate=True),
        Output(ids.QUERY_VECTOR, "data", allow_duplicate=True),
        Output(ids.E_STATUS, "children", allow_duplicate=True),
        Input(ids.END_PREVIEW, "n_clicks"),
        State(ids.RESULTS_STORE, "data"),
        prevent_initial_call=True,
    )
    def _end(n, results):
        if not n or not (results or {}).get("preview"):
            return no_update, no_update, no_update
        return base_results(results), results.get("preview_of_vector"), "Back to the query's own results."


def candidate_rows(result: dict, current: list | None, search: list | None) -> list[dict]:
    """F3's rows: the prompts typed in F3 for this search (the last three), then every candidate of the table
    (the original excluded: it is F3's reference ranking)."""
    typed = [e for e in (current or []) if not e.get("enhanced") and e.get("for") == search][-3:]
    texts = {e["label"] for e in typed}
    enhanced = [
        {"label": r["text"], "ids": r["ids"], "enhanced": True, "for": search}
        for r in result["rows"]
        if not r["is_baseline"] and r["text"] not in texts
    ]
    return typed + enhanced


def register(app: Dash, s: Services) -> None:
    register_run(app, s)
    polling.register_gate(app, ids.E_POLL)
    register_table(app)
    register_preview(app, s)


def register_run(app: Dash, s: Services) -> None:
    @app.callback(
        Output(ids.E_IDEALS_NOTE, "children"), Input(ids.IDEALS_STORE, "data"), Input(ids.RESULTS_STORE, "data")
    )
    def _ideals_note(ideals, results):
        if not results:
            return "Run a search, then mark the images you meant as ideals (click them in B or select them on the map)."
        n = len(ideals or [])
        return f"{n} ideal image{'s' if n != 1 else ''} marked." + ("" if n else " Mark at least one in B or D.")

    @app.callback(
        Output(ids.E_JOB, "data"),
        Output(ids.E_POLL, "disabled"),
        Output(ids.E_STATUS, "children"),
        Input(ids.E_RUN, "n_clicks"),
        State(ids.RESULTS_STORE, "data"),
        State(ids.IDEALS_STORE, "data"),
        State(ids.E_PROVIDER, "value"),
        State(ids.E_JOB, "data"),
        prevent_initial_call=True,
    )
    def _start(_clicks, results, ideals, provider, old_job):
        results = base_results(results)  # while a candidate is previewed, the rewrites are still the query's
        if not results:
            return no_update, True, "Run a search first."
        if not ideals:
            return no_update, True, "Mark at least one ideal image (click it in B) so the candidates can be scored."
        try:
            reference = s.reference_from(results)  # an upload is read from the server's store, by its key
        except Exception as exc:
            return no_update, True, user_message(exc, "Enhancement")
        s.jobs.cancel(old_job)
        progress: dict = {}

        def run():
            result = enhance(
                s.engine,
                reference,
                results.get("text", ""),
                ideals,
                k=results["k"],
                method=results["method"],
                method_params=s.ranking_params(results),  # a feedback step's candidates rank as the step did
                provider=provider,
                progress=lambda done, total: progress.update(done=done, total=total),
                exclude_reference=bool(results.get("exclude_reference")),
            )
            # the search it was made for: a later search marks the table stale (query_state.search_key)
            return result.to_dict() | {"query_text": results.get("text", ""), "search": search_key(results)}

        job = s.jobs.submit([("enhance", run)], progress=progress)
        return job, False, "Generating candidates…"

    @app.callback(
        Output(ids.E_RESULT, "data"),
        Output(ids.E_SELECTED, "data"),
        Output(ids.E_STATUS, "children", allow_duplicate=True),
        Output(ids.E_POLL, "disabled", allow_duplicate=True),
        Output(polling.answered(ids.E_POLL), "data"),
        Input(polling.tick(ids.E_POLL), "data"),
        State(ids.E_JOB, "data"),
        prevent_initial_call=True,
    )
    def _poll(tick, job_id):
        """``tick`` is echoed for the poll's gate (ui/polling.py)."""
        job = s.jobs.get(job_id)
        if job is None:
            return no_update, no_update, "", True, tick
        if not job.finished:
            p = job.progress
            text = f"Scoring prompts… {p['done']}/{p['total']}" if p.get("total") else "Generating candidates…"
            return no_update, no_update, text, False, tick
        if "enhance" in job.errors:
            return no_update, no_update, job.errors["enhance"], True, tick
        result = job.results["enhance"]
        best = next((i for i in result["order"] if not result["rows"][i]["is_baseline"]), None)
        return result, best, f"{result['message']} ({result['elapsed_s']:.1f} s)", True, tick


def register_table(app: Dash) -> None:
    @app.callback(
        Output(ids.E_TABLE, "children"),
        Output(ids.E_PREVIEW, "children"),
        Output(ids.E_ADOPT, "disabled"),
        Input(ids.E_RESULT, "data"),
        Input(ids.E_SELECTED, "data"),
        Input(ids.RESULTS_STORE, "data"),
        State(ids.IDEALS_STORE, "data"),
    )
    def _table(result, selected, results, ideals):
        if not result:
            return html.P(RANKING_RULE, className="muted"), None, True
        row = result["rows"][selected] if selected is not None and selected < len(result["rows"]) else None
        preview = None
        if row is not None:
            ideal = set(ideals or result.get("ideals", []))
            preview = [html.Div(f"top-{result['k']} for “{row['text']}”", className="sub")] + [
                html.Img(
                    src=media_url(i, 128), title=f"rank {r + 1}: {i}", className="mini ideal" if i in ideal else "mini"
                )
                for r, i in enumerate(row["ids"])
            ]
        caption = html.Div(
            f"for the query “{result.get('query_text', '')}” · method {result['method']} · "
            f"k {result['k']} · {len(result['ideals'])} ideals · provider {result['provider']}",
            className="muted",
        )
        stale = result.get("search") != search_key(results)  # made for another search (Adopt, a new search)
        table = results_table(result, selected)
        if stale:
            caption = html.Div([caption, html.Div(STALE_NOTE, className="message stale-note", role="status")])
            table = html.Div(table, className="stale", title=STALE_NOTE)
        return (
            [caption, table, html.P(RANKING_RULE, className="muted")],
            preview,
            stale or row is None or row["is_baseline"],
        )

    @app.callback(
        Output(ids.E_SELECTED, "data", allow_duplicate=True),
        Input({"type": ids.E_ROW, "index": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )
    def _select(clicks):
        if not ctx.triggered_id or not any(clicks or []):
            return no_update
        return ctx.triggered_id["index"]

    @app.callback(
        Output(ids.F_COMPARE_STORE, "data", allow_duplicate=True),
        Output(ids.E_STATUS, "children", allow_duplicate=True),
        Input(ids.E_RESULT, "data"),
        Input(ids.E_SELECTED, "data"),
        State(ids.F_COMPARE_STORE, "data"),
        State(ids.RESULTS_STORE, "data"),
        prevent_initial_call=True,
    )
    def _to_f3(result, selected, current, results):
        """Every candidate goes to F3 as a row, when the table arrives and again when a row is clicked after a
        search that changed only the text (Adopt)."""
        if result is None or not results:
            return no_update, no_update
        key = search_key(results)
        if ctx.triggered_id == ids.E_SELECTED and (
            selected is None or any(e.get("enhanced") and e.get("for") == key for e in current or [])
        ):
            return no_update, no_update  # F3 has the candidates already
        if not same_ranking_setup(result.get("search"), search_key(results)):
            # another reference, method, k or exclusion: the row's ranks cannot be set against the results
            return no_update, (
                "This table was made for another reference, method or k: run Enhance again to "
                "compare its prompts with the current results in F3."
            )
        return candidate_rows(result, current, key), no_update

    @app.callback(
        Output(ids.TEXT, "value"),
        Output(ids.SEARCH, "n_clicks"),
        Input(ids.E_ADOPT, "n_clicks"),
        State(ids.E_RESULT, "data"),
        State(ids.E_SELECTED, "data"),
        State(ids.SEARCH, "n_clicks"),
        prevent_initial_call=True,
    )
    def _adopt(_clicks, result, selected, search_clicks):
        try:
            text = result["rows"][selected]["text"]
        except (TypeError, IndexError, KeyError):
            return no_update, no_update
        return text, (search_clicks or 0) + 1  # adopting runs the search with the new text

"""Panel B's relevance-feedback iterations: Refine, the history of steps, and going back to one.

A step is a search whose query is the previous step's query moved by Rocchio with the marks of that moment
(★ ideals relevant, ✗ not relevant, or pseudo feedback's top and bottom P).  The results store of a step records
its ``method_params`` (the base method and every round so far), so any panel that ranks "like these results"
(F3's comparisons, E's candidates) recomputes exactly that step; the page keeps each step's results and vector
in ``ids.FB_HISTORY`` so that going back to one costs no search."""

from __future__ import annotations

from dash import ALL, Dash, Input, Output, State, ctx, html, no_update

from infocir import metrics as M
from infocir.evaluation.feedback_iterations import pseudo_marks
from infocir.ui import ids
from infocir.ui.callbacks.query import results_store
from infocir.ui.services import Services, user_message

NEEDS_MARKS = (
    "Mark results ★ relevant (click a tile) or ✗ not relevant, or tick pseudo feedback, then Refine: the query "
    "moves toward the relevant images and away from the others."
)


def next_rounds(results: dict, marks: dict, weights: dict[str, float]) -> tuple[str | None, list[dict]]:
    """The base method and the rounds of the step that refines ``results`` with ``marks`` (pure).

    A step of a feedback history carries its own rounds; a plain search starts them; a search made with the
    "feedback" method in panel A (its ideals already applied once) counts that as the first round."""
    params = results.get("method_params") or {}
    if "rounds" in params:
        base, rounds = params.get("base"), list(params["rounds"])
    elif results.get("method") == "feedback":
        base = None  # feedback.base_method, as that search used
        rounds = [{"relevant": list(results["relevant"]), "nonrelevant": []}] if results.get("relevant") else []
    else:
        base, rounds = results.get("method"), []
    return base, rounds + [{**marks, **weights}]


def checked_weights(alpha, beta, gamma) -> dict[str, float]:
    """α, β, γ from the page; ValueError with a sentence when one is not a number from 0 to 100."""
    out = {}
    for name, value in (("α", alpha), ("β", beta), ("γ", gamma)):
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
            raise ValueError(f"{name} must be a number from 0 to 100.")
        out[{"α": "alpha", "β": "beta", "γ": "gamma"}[name]] = float(value)
    return out


def step_metrics(results: dict, relevant: list[str]) -> dict:
    """A step's figures against the page's ideals: AP@k, how many ideals are in the top k, the best ideal's rank."""
    ranked, k = results["ids"], int(results["k"])
    wanted = set(relevant)
    first = next((i + 1 for i, iid in enumerate(ranked) if iid in wanted), None)
    return {
        "ap": M.average_precision_at_k(ranked, relevant, k) if relevant else None,
        "found": sum(iid in wanted for iid in ranked[:k]),
        "first": first,
    }


def history_view(history: dict | None, ideals: list[str]) -> list:
    """The steps as buttons (query → step 1 → step 2 …), each with its figures against the current ideals."""
    steps = (history or {}).get("steps") or []
    if len(steps) < 2 and not ideals:
        return []
    at = (history or {}).get("at", 0)
    items: list = []
    for i, step in enumerate(steps):
        res = step["results"]
        m = step_metrics(res, ideals)
        name = "query" if i == 0 else f"step {i}"
        figures = (
            f"AP@{res['k']} {m['ap']:.2f} · {m['found']}/{len(ideals)} ideals · first #{m['first'] or '–'}"
            if ideals
            else "mark ideals to score"
        )
        rounds = (res.get("method_params") or {}).get("rounds") or []
        last = rounds[-1] if i and rounds else None
        tip = (
            f"{len(last['relevant'])} relevant, {len(last['nonrelevant'])} not relevant; "
            f"α {last['alpha']:g}, β {last['beta']:g}, γ {last['gamma']:g}"
            if last
            else f"the search: {res.get('method')}"
        )
        if i:
            items.append(html.Span("→", className="fb-arrow"))
        items.append(
            html.Button(
                [html.B(name), html.Span(figures, className="fb-figures")],
                id={"type": ids.FB_STEP, "index": i},
                n_clicks=0,
                className="fb-step" + (" current" if i == at else ""),
                title=tip + ("\n(shown)" if i == at else "\nclick to go back to this step"),
                role="listitem",
                **{"aria-current": "step" if i == at else "false", "data-step": str(i)},
            )
        )
    return items


def register(app: Dash, s: Services) -> None:
    register_refine(app, s)
    register_history(app)


def pseudo_or_page_marks(results: dict, ideals, nonrel, pseudo, p) -> dict:
    """The marks of a Refine: pseudo feedback's top and bottom P of the results, or the page's ★ and ✗ marks.
    ValueError with a sentence when there are none or P is out of range."""
    if "pseudo" in (pseudo or []):
        most = max(1, len(results["ids"]) // 2)
        if p is None or int(p) != p or not 1 <= p <= most:
            raise ValueError(f"P must be a whole number from 1 to {most} (half of k).")
        return pseudo_marks(results["ids"], int(p), int(p), len(results["ids"]))
    marks = {"relevant": list(ideals or []), "nonrelevant": list(nonrel or [])}
    if not marks["relevant"] and not marks["nonrelevant"]:
        raise ValueError(NEEDS_MARKS)
    return marks


def step_outputs() -> list[Output]:
    """What showing a step sets (Refine and going back alike): the results and their vector, no map browse or
    highlight, the history, and the bar's sentence."""
    return [
        Output(ids.RESULTS_STORE, "data", allow_duplicate=True),
        Output(ids.QUERY_VECTOR, "data", allow_duplicate=True),
        Output(ids.BROWSE_STORE, "data", allow_duplicate=True),
        Output(ids.HIGHLIGHT_STORE, "data", allow_duplicate=True),
        Output(ids.FB_HISTORY, "data", allow_duplicate=True),
        Output(ids.FB_MESSAGE, "children", allow_duplicate=True),
    ]


def register_refine(app: Dash, s: Services) -> None:
    @app.callback(
        *step_outputs(),
        Input(ids.REFINE, "n_clicks"),
        State(ids.RESULTS_STORE, "data"),
        State(ids.IDEALS_STORE, "data"),
        State(ids.NONREL_STORE, "data"),
        State(ids.FB_ALPHA, "value"),
        State(ids.FB_BETA, "value"),
        State(ids.FB_GAMMA, "value"),
        State(ids.FB_PSEUDO, "value"),
        State(ids.FB_PSEUDO_P, "value"),
        State(ids.FB_HISTORY, "data"),
        prevent_initial_call=True,
    )
    def _refine(n, results, ideals, nonrel, alpha, beta, gamma, pseudo, p, history):
        skip = (no_update,) * 5
        if not n:
            return *skip, no_update
        if not results:
            return *skip, "Run a search first: Refine moves its query."
        try:
            weights = checked_weights(alpha, beta, gamma)
            marks = pseudo_or_page_marks(results, ideals, nonrel, pseudo, p)
        except ValueError as exc:
            return *skip, str(exc)
        base, rounds = next_rounds(results, marks, weights)
        try:
            res = s.search(
                results.get("reference") or {},
                results.get("text", ""),
                int(results["k"]),
                "feedback",
                bool(results.get("exclude_reference")),
                None,
                results.get("backend"),
                {"base": base, "rounds": rounds},
                None,
                results.get("expansion"),
                s.within_mask(results),  # a search within a map selection refines within it
            )
        except Exception as exc:
            return *skip, user_message(exc, "Refine")
        steps = list((history or {}).get("steps") or [])
        at = int((history or {}).get("at", len(steps) - 1))
        steps = steps[: at + 1]  # refining an earlier step drops the steps after it
        if not steps or steps[-1]["results"].get("ids") != results.get("ids"):
            steps.append({"results": results, "vector": None})  # a history that lost its start
        query = {
            key: results[key]
            for key in ("reference", "text", "k", "exclude_reference", "expansion", "within")
            if key in results
        }
        data, kept = results_store(
            s,
            res,
            {**query, "method": "feedback", "iteration": len(steps)},
            [],
            results.get("backend"),
            {"base": base, "rounds": rounds},
        )
        steps.append({"results": data, "vector": kept})
        moved = len(set(data["ids"]) - set(results["ids"]))
        how = "pseudo feedback" if "pseudo" in (pseudo or []) else "your marks"
        message = (
            f"Step {len(steps) - 1}: the query moved with {how} ({len(marks['relevant'])} relevant, "
            f"{len(marks['nonrelevant'])} not relevant); {moved} of the top {len(data['ids'])} are new."
        )
        return data, kept, None, None, {"steps": steps, "at": len(steps) - 1}, message


def register_history(app: Dash) -> None:
    @app.callback(
        *step_outputs(),
        Input({"type": ids.FB_STEP, "index": ALL}, "n_clicks"),
        State(ids.FB_HISTORY, "data"),
        prevent_initial_call=True,
    )
    def _restore(_clicks, history):
        if not ctx.triggered_id or not any(t["value"] for t in ctx.triggered) or not history:
            return (no_update,) * 6  # the steps were re-rendered, not clicked
        i = ctx.triggered_id["index"]
        steps = history.get("steps") or []
        if not 0 <= i < len(steps) or i == history.get("at"):
            return (no_update,) * 6
        step = steps[i]
        name = "the query" if i == 0 else f"step {i}"
        note = f"Back at {name}; Refine continues from it (the later steps are replaced)."
        return step["results"], step.get("vector"), None, None, {**history, "at": i}, note

    @app.callback(
        Output(ids.FB_HISTORY_VIEW, "children"),
        Input(ids.FB_HISTORY, "data"),
        Input(ids.IDEALS_STORE, "data"),
        prevent_initial_call=True,  # nothing to list before the first search
    )
    def _history(history, ideals):
        return history_view(history, list(ideals or []))

    @app.callback(
        Output(ids.FB_MESSAGE, "children", allow_duplicate=True),
        Input(ids.RESULTS_STORE, "data"),
        State(ids.FB_HISTORY, "data"),
        prevent_initial_call=True,
    )
    def _clear_message(results, history):
        """A new search (not a step) clears the last step's sentence."""
        if results and results.get("iteration"):
            return no_update
        return ""

"""Methods side by side (issue 18 §2): Compare runs panel A's query with 2–3 methods and shows their top-k in
columns (each tile with its rank in the other lists), overlap@k, their metrics against the ideals (or the
loaded benchmark query's ground truth), F3's rank-change heatmap across methods, and their top-k on the map.

The searches run on the request: each is a few milliseconds (OTI's first optimisation of a reference takes
seconds; the page shows Dash's loading state meanwhile).  The page keeps the comparison (``ids.CMP_STORE``:
the query and each method's top k); the columns, the overlap and the heatmap are computed from it by
``evaluation.method_comparison``.  A search in panel A for another query marks the comparison stale: its
markers leave the map, the section says so."""

from __future__ import annotations

from dash import Dash, Input, Output, Patch, State, html, no_update

from infocir.evaluation.method_comparison import compare_methods, first_relevant_rank
from infocir.explain.rank_delta import largest_changes
from infocir.ui import ids
from infocir.ui.callbacks.gallery import benchmark_targets
from infocir.ui.compare_view import MAX_METHODS, MIN_METHODS, comparison_view
from infocir.ui.figures import empty_figure, rank_delta_figure
from infocir.ui.media import media_url
from infocir.ui.query_state import page_reference, same_reference
from infocir.ui.services import Services, takes_relevant, user_message

HIDDEN, SHOWN = {"display": "none"}, {}
HEATMAP_COLUMNS = 40  # the images whose rank differs most across the methods (F3's rule, largest_changes)


def same_query(a: dict | None, b: dict | None) -> bool:
    """Two queries (a comparison's, a results store's) that rank the same images given the same method."""
    if not a or not b:
        return False
    return (
        same_reference(a.get("reference"), b.get("reference"))
        and (a.get("text") or "") == (b.get("text") or "")
        and a.get("k") == b.get("k")
        and bool(a.get("exclude_reference")) == bool(b.get("exclude_reference"))
    )


def check_choice(methods: list | None, k) -> str | None:
    """Why the comparison cannot run (a sentence for the page), or None."""
    n = len(methods or [])
    if not MIN_METHODS <= n <= MAX_METHODS:
        return f"Choose {MIN_METHODS} or {MAX_METHODS} methods to compare (now {n})."
    if k is None or int(k) != k or not 1 <= int(k) <= 100:
        return "k (panel A) must be a whole number from 1 to 100."
    return None


def relevant_set(ideals: list | None, marks: dict | None, query: dict) -> tuple[list[str], str | None]:
    """What the methods are scored against: the page's ideals, else the ground-truth targets of the benchmark
    query loaded in A while A still holds it (``gallery.benchmark_targets``), else nothing."""
    if ideals:
        return list(ideals), "ideals"
    targets = benchmark_targets(marks, query)
    return (targets, "targets") if targets else ([], None)


class Comparer:
    """The section's callbacks, bound to the app's services."""

    def __init__(self, s: Services):
        self.s = s
        self.labels = {m.name: m.label for m in s.engine.methods()}

    def run(self, _n, methods, mode, ref, upload, text, k, exclude, ideals, marks, backend):
        """Compare: each chosen method ranks panel A's query; a method that cannot run it is named in the
        message and the others are compared when at least two remain."""
        problem = check_choice(methods, k)
        if problem:
            return no_update, problem
        backend = None if backend in (None, "", "configured") else backend
        k = int(k)
        ref_info = page_reference(mode, ref, upload)
        exclude = "exclude" in (exclude or [])
        query = {"reference": ref_info, "text": text or "", "k": k, "exclude_reference": exclude}
        relevant, source = relevant_set(ideals, marks, query)
        done, failed = [], []
        for name in methods:
            label = self.labels.get(name, name)
            try:
                given = list(ideals or []) if takes_relevant(name) else []
                res = self.s.search(ref_info, text or "", k, name, exclude, given, backend)
                first = self.first_rank(res, relevant, ref_info, exclude) if relevant else None
            except Exception as exc:
                said = user_message(exc, label)
                failed.append(said if label in said else f"{label}: {said}")  # user errors often name it
                continue
            done.append(
                {
                    "name": name,
                    "label": label,
                    "ids": res.ids,
                    "rows": res.rows.tolist(),
                    "classes": res.classes,
                    "ms": round(res.elapsed_ms, 1),
                    "first_rank": first,
                    "given_ideals": bool(given),
                }
            )
        message = " ".join(f"{f.rstrip('.')}." for f in failed)
        if len(done) < MIN_METHODS:
            return None, (message + " Fewer than two methods could run this query: nothing to compare.").strip()
        data = {"query": query, "methods": done, "relevant": relevant, "relevant_source": source, "stale": False}
        return data, message

    def first_rank(self, res, relevant: list[str], ref_info: dict, exclude: bool) -> int | None:
        """The first relevant image's rank in the method's full ranking (the harness's rule), the reference
        left out as the search left it out."""
        engine = self.s.engine
        excluded = []
        if exclude and ref_info.get("kind") == "dataset":
            row = engine.reference_row(ref_info.get("id"))
            excluded = [] if row is None else [row]
        return first_relevant_rank(res.ids, relevant, res.all_scores, engine.index.row_of, excluded)

    @classmethod
    def render(cls, data):
        """The columns, the overlap matrix and the heatmap of the comparison the page holds; a failure is a
        sentence in the section (and a logged traceback), never a broken page."""
        if not data:
            return None, empty_figure(""), HIDDEN
        try:
            return cls.draw(data)
        except Exception as exc:
            return html.Div(user_message(exc, "Drawing the comparison"), className="message error"), no_update, HIDDEN

    @staticmethod
    def draw(data):
        methods = data["methods"]
        k = data["query"]["k"]
        cmp = compare_methods(
            {m["name"]: m["ids"] for m in methods}, k, data.get("relevant") or None, first_ranks(data)
        )
        labels = [m["label"] + (" (baseline)" if i == 0 else "") for i, m in enumerate(methods)]
        table = largest_changes(cmp.as_delta_table(labels), HEATMAP_COLUMNS)
        fig = rank_delta_figure(
            table.images,
            table.prompts,
            table.ranks,
            table.delta,
            k,
            thumbnails=[media_url(i, 64) for i in table.images],
        )
        relevant = set(data.get("relevant") or [])
        if relevant:  # the relevant images' columns are marked: where each method put them reads at a glance
            fig.update_xaxes(ticktext=[("◎ " if i in relevant else "") + i.rsplit("/", 1)[-1] for i in table.images])
        return comparison_view(data, cmp), fig, SHOWN

    @staticmethod
    def map_markers(data, on_map):
        """What the map draws for the comparison: each method's top-k rows, in the order compared."""
        if not data or data.get("stale") or "map" not in (on_map or []):
            return None
        return [{"label": f"{m['label']} top-{data['query']['k']}", "rows": m["rows"]} for m in data["methods"]]

    @staticmethod
    def mark_stale(results, data):
        """A search in A for another query: the comparison stays on the page, marked as of its own query."""
        if not data or data.get("stale") or not results or same_query(data["query"], results):
            return no_update
        patch = Patch()
        patch["stale"] = True
        return patch


def first_ranks(data: dict) -> dict:
    return {m["name"]: m.get("first_rank") for m in data["methods"]}


def register(app: Dash, s: Services) -> None:
    c = Comparer(s)

    @app.callback(
        Output(ids.CMP_BODY, "style"),
        Output(ids.CMP_TOGGLE, "children"),
        Input(ids.CMP_TOGGLE, "n_clicks"),
        prevent_initial_call=True,  # the layout starts closed: no request on page load
    )
    def _toggle(n):
        open_ = bool((n or 0) % 2)
        return (SHOWN if open_ else HIDDEN), ("▾" if open_ else "▸") + " Methods side by side"

    app.callback(
        Output(ids.CMP_STORE, "data"),
        Output(ids.CMP_MESSAGE, "children"),
        Input(ids.CMP_RUN, "n_clicks"),
        State(ids.CMP_METHODS, "value"),
        State(ids.REF_MODE, "data"),
        State(ids.REFERENCE, "value"),
        State(ids.UPLOAD_REF, "data"),
        State(ids.TEXT, "value"),
        State(ids.K, "value"),
        State(ids.EXCLUDE_REF, "value"),
        State(ids.IDEALS_STORE, "data"),
        State(ids.BENCH_TARGETS, "data"),
        State(ids.BACKEND, "value"),
        prevent_initial_call=True,
    )(c.run)
    app.callback(
        Output(ids.CMP_VIEW, "children"),
        Output(ids.CMP_HEATMAP, "figure"),
        Output(f"{ids.CMP_HEATMAP}-wrap", "style"),
        Input(ids.CMP_STORE, "data"),
        prevent_initial_call=True,
    )(c.render)
    app.callback(
        Output(ids.CMP_MAP, "data"),
        Input(ids.CMP_STORE, "data"),
        Input(ids.CMP_ON_MAP, "value"),
        prevent_initial_call=True,
    )(c.map_markers)
    app.callback(
        Output(ids.CMP_STORE, "data", allow_duplicate=True),
        Input(ids.RESULTS_STORE, "data"),
        State(ids.CMP_STORE, "data"),
        prevent_initial_call=True,
    )(c.mark_stale)

"""Panel B: the results gallery (or a map selection), ideals, and 'use as reference'."""

from __future__ import annotations

import os

from dash import ALL, Dash, Input, Output, State, ctx, get_asset_url, html, no_update

from infocir.ui import ids
from infocir.ui.media import media_url
from infocir.ui.query_state import base_results
from infocir.ui.services import Services

HIDDEN, SHOWN = {"display": "none"}, {}


def placeholder_src() -> str:
    """The picture of a tile whose image file is gone (the media route answers 404 for it)."""
    try:
        return get_asset_url("missing.svg")
    except Exception:  # noqa: BLE001 - outside a running app (a pure call in a test): the default prefix
        return "/assets/missing.svg"


def tile(
    rank: int | None,
    image_id: str,
    score: float | None,
    cls: str,
    ideal: bool,
    highlight: str | None,
    missing: bool = False,
    row: int | None = None,
    target: bool = False,
    not_relevant: bool = False,
) -> html.Div:
    """One gallery tile (pure); ``missing``: the file was deleted since the index was built; ``row``: its
    index row, which assets/linking.js uses to ring the image's point on the map while the tile is pointed at;
    ``target``: a ground-truth target of the benchmark query shown (the benchmark view), framed apart from ideals;
    ``not_relevant``: marked ✗ for relevance feedback (an ideal is the relevant mark)."""
    state = " ideal" if ideal else ""
    if not_relevant:
        state += " nonrel"
    if target:
        state += " target"
    if highlight is not None:
        state += " hl" if cls == highlight else " dim"
    if missing:
        state += " missing"
    caption = [
        html.Span(f"#{rank}" if rank else "·", className="rank"),
        html.Span(f"{score:.3f}" if score is not None else "", className="score"),
        html.Span(cls, className="cls"),
    ]
    if missing:
        caption.append(html.Span("image missing", className="gone"))
    return html.Div(
        [
            html.Div(
                [
                    html.Img(src=placeholder_src() if missing else media_url(image_id), alt=image_id),
                    html.Span("★ ideal", className="badge") if ideal else None,
                    html.Span("◎ target", className="badge target-badge") if target else None,
                    html.Span("✗ not relevant", className="badge nonrel-badge") if not_relevant else None,
                    html.Div(caption, className="caption"),
                ],
                id={"type": ids.TILE, "id": image_id},
                n_clicks=0,
                className="tile-body kbd",
                title=f"{image_id}\nclick to {'unmark' if ideal else 'mark'} as ideal",
                # a keyboard stop: Tab reaches it, Enter or Space toggles the ideal (assets/keyboard.js)
                tabIndex="0",
                role="button",
                **{
                    "aria-pressed": "true" if ideal else "false",
                    "aria-label": f"{image_id}, {'ideal' if ideal else 'mark as ideal'}",
                },
            ),
            html.Button(
                "↺", id={"type": ids.USE_REF, "id": image_id}, n_clicks=0, className="use-ref", title="use as reference"
            ),
            html.Button(
                "✗",
                id={"type": ids.NOT_RELEVANT, "id": image_id},
                n_clicks=0,
                className="nonrel-toggle" + (" on" if not_relevant else ""),
                title="unmark: not relevant" if not_relevant else "mark not relevant (relevance feedback)",
                **{"aria-pressed": "true" if not_relevant else "false"},
            ),
        ],
        className="tile" + state,
        **{"data-id": image_id, "data-class": cls, "data-row": "" if row is None else str(row)},
    )


def benchmark_targets(marks: dict | None, results: dict | None) -> list[str]:
    """The ground-truth targets to mark: those of the benchmark query loaded from the benchmark view, while
    the results shown are that query's (same dataset reference, same text); none after the user changes it."""
    results = base_results(results)  # a preview of E's candidate is still that query's view
    if not marks or not results:
        return []
    ref = results.get("reference") or {}
    if (
        ref.get("kind") != "dataset"
        or ref.get("id") != marks.get("reference")
        or results.get("text") != marks.get("text")
    ):
        return []
    return list(marks.get("targets") or [])


def toggle(marks: list | None, image_id: str) -> list[str]:
    """``marks`` with ``image_id`` removed when it is there, else added at the end."""
    marks = list(marks or [])
    return without(marks, image_id) if image_id in marks else marks + [image_id]


def without(marks: list | None, image_id: str) -> list[str]:
    return [i for i in marks or [] if i != image_id]


def added(marks: list | None, image_ids: list[str]) -> list[str]:
    have = list(marks or [])
    return have + [i for i in image_ids if i not in set(have)]


def register(app: Dash, s: Services) -> None:
    index = s.engine.index
    limit = s.config.ui.max_images_on_scatterplot

    def gone(image_id: str) -> bool:
        row = index.row_of.get(image_id)
        return row is not None and not os.path.isfile(index.paths[row])

    @app.callback(
        Output(ids.GALLERY, "children"),
        Output(ids.GALLERY_SUMMARY, "children"),
        Output(ids.BACK_TO_RESULTS, "style"),
        Output(ids.MARK_SELECTION, "style"),
        Output(ids.MARK_SELECTION_NOT_RELEVANT, "style"),
        Input(ids.RESULTS_STORE, "data"),
        Input(ids.BROWSE_STORE, "data"),
        Input(ids.IDEALS_STORE, "data"),
        Input(ids.HIGHLIGHT_STORE, "data"),
        Input(ids.BENCH_TARGETS, "data"),
        Input(ids.NONREL_STORE, "data"),
    )
    def _gallery(results, browse, ideals, highlight, marks, nonrel):
        ideals, nonrel = set(ideals or []), set(nonrel or [])
        targets = set(benchmark_targets(marks, results))
        # the rows a map selection holds (over a density layer: all inside it), unless the results were searched
        # within that selection: then the results
        rows = s.browsed(results, browse)
        if rows is not None and len(rows):
            shown = [int(r) for r in rows[:limit]]
            tiles = [
                tile(
                    None,
                    index.ids[r],
                    None,
                    index.classes[r],
                    index.ids[r] in ideals,
                    highlight,
                    gone(index.ids[r]),
                    r,
                    not_relevant=index.ids[r] in nonrel,
                )
                for r in shown
            ]
            more = f" (showing the first {limit}; ui.max_images_on_scatterplot)" if len(rows) > limit else ""
            n = len(rows)
            return tiles, f"Browsing {n:,} image{'s'[: n != 1]} selected on the map{more}.", SHOWN, SHOWN, SHOWN
        if not results:
            return [], "Run a search to see results.", HIDDEN, HIDDEN, HIDDEN
        tiles = [
            tile(
                i + 1,
                iid,
                sc,
                cls,
                iid in ideals,
                highlight,
                gone(iid),
                index.row_of.get(iid),
                iid in targets,
                iid in nonrel,
            )
            for i, (iid, sc, cls) in enumerate(zip(results["ids"], results["scores"], results["classes"], strict=True))
        ]
        ref = results["reference"]
        ref_text = ref.get("id") or ref.get("name") or "no reference"
        mode = results.get("mode")
        if mode == "text":
            query = [html.Span("text → images · "), html.Span("“" + results["text"] + "”")]
        elif mode == "image":
            query = [html.Span("image → images · "), html.Span(ref_text, className="mono")]
        else:
            query = [
                html.Span(f"{results['method']} · "),
                html.Span(ref_text, className="mono"),
                html.Span(" + “" + results["text"] + "”"),
            ]
        within = results.get("within")
        top = f"Top {len(tiles)} of the {within['count']:,} selected images · " if within else f"Top {len(tiles)} · "
        summary = [
            html.Span(top, className="within-selection" if within else None),
            *query,
            html.Span(f" · {len(ideals)} ideal{'s' if len(ideals) != 1 else ''} selected", className="muted"),
        ]
        if nonrel:
            summary.append(html.Span(f" · {len(nonrel)} not relevant", className="muted"))
        if results.get("preview"):
            summary.insert(1, html.Span("preview of E's prompt, not adopted · ", className="fb-step-note"))
        if results.get("iteration"):
            summary.insert(1, html.Span(f"feedback step {results['iteration']} · ", className="fb-step-note"))
        return tiles, summary, HIDDEN, HIDDEN, HIDDEN

    register_marks(app, s)

    @app.callback(
        Output(ids.BROWSE_STORE, "data", allow_duplicate=True),
        Input(ids.BACK_TO_RESULTS, "n_clicks"),
        prevent_initial_call=True,
    )
    def _back(_n):
        return None

    @app.callback(
        Output(ids.REFERENCE, "value", allow_duplicate=True),
        Output(ids.REF_MODE, "data", allow_duplicate=True),
        Output(ids.UPLOAD_REF, "data", allow_duplicate=True),
        Output(ids.SEARCH, "n_clicks", allow_duplicate=True),
        Input({"type": ids.USE_REF, "id": ALL}, "n_clicks"),
        State(ids.SEARCH, "n_clicks"),
        prevent_initial_call=True,
    )
    def _use_as_reference(_clicks, search_clicks):
        """↺: that image becomes the reference (replacing an upload) and the search runs again at once,
        so panels A, B and D show the same query.  The search reads the new reference: it is set in the
        same response that triggers it."""
        if not ctx.triggered_id or not any(t["value"] for t in ctx.triggered):
            return (no_update,) * 4  # tiles were re-rendered, not clicked
        return ctx.triggered_id["id"], "dataset", None, (search_clicks or 0) + 1


def register_marks(app: Dash, s: Services) -> None:
    """★ ideal (relevant) and ✗ not relevant, on tiles and on a map selection; one image has one mark."""
    index = s.engine.index
    limit = s.config.ui.max_images_on_scatterplot

    @app.callback(
        Output(ids.IDEALS_STORE, "data"),
        Output(ids.NONREL_STORE, "data"),
        Input({"type": ids.TILE, "id": ALL}, "n_clicks"),
        Input({"type": ids.NOT_RELEVANT, "id": ALL}, "n_clicks"),
        State(ids.IDEALS_STORE, "data"),
        State(ids.NONREL_STORE, "data"),
        prevent_initial_call=True,
    )
    def _toggle_mark(_tiles, _crosses, ideals, nonrel):
        """A click on a tile toggles ★ ideal (relevant), on its ✗ toggles not relevant: one image has one mark."""
        if not ctx.triggered_id or not any(t["value"] for t in ctx.triggered):
            return no_update, no_update  # tiles were re-rendered, not clicked
        iid = ctx.triggered_id["id"]
        if ctx.triggered_id["type"] == ids.TILE:
            ideals, nonrel = toggle(ideals, iid), without(nonrel, iid)
        else:
            nonrel, ideals = toggle(nonrel, iid), without(ideals, iid)
        return ideals, nonrel

    @app.callback(
        Output(ids.IDEALS_STORE, "data", allow_duplicate=True),
        Output(ids.NONREL_STORE, "data", allow_duplicate=True),
        Input(ids.MARK_SELECTION, "n_clicks"),
        Input(ids.MARK_SELECTION_NOT_RELEVANT, "n_clicks"),
        State(ids.BROWSE_STORE, "data"),
        State(ids.IDEALS_STORE, "data"),
        State(ids.NONREL_STORE, "data"),
        prevent_initial_call=True,
    )
    def _mark_selection(_n, _m, browse, ideals, nonrel):
        rows = s.selection(browse)
        chosen = [index.ids[int(r)] for r in (rows if rows is not None else [])[:limit]]
        if ctx.triggered_id == ids.MARK_SELECTION:
            return added(ideals, chosen), [i for i in nonrel or [] if i not in set(chosen)]
        return [i for i in ideals or [] if i not in set(chosen)], added(nonrel, chosen)

    @app.callback(
        Output(ids.IDEALS_STORE, "data", allow_duplicate=True),
        Output(ids.NONREL_STORE, "data", allow_duplicate=True),
        Input(ids.CLEAR_IDEALS, "n_clicks"),
        prevent_initial_call=True,
    )
    def _clear(_n):
        return [], []

"""Panel B: the results gallery (or a map selection), ideals, and 'use as reference'."""

from __future__ import annotations

import os

from dash import ALL, Dash, Input, Output, State, ctx, get_asset_url, html, no_update

from infocir.ui import ids
from infocir.ui.media import media_url
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
) -> html.Div:
    """One gallery tile (pure); ``missing``: the file was deleted since the index was built; ``row``: its
    index row, which assets/linking.js uses to ring the image's point on the map while the tile is pointed at;
    ``target``: a ground-truth target of the benchmark query shown (the benchmark view), framed apart from ideals."""
    state = " ideal" if ideal else ""
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
        ],
        className="tile" + state,
        **{"data-id": image_id, "data-class": cls, "data-row": "" if row is None else str(row)},
    )


def benchmark_targets(marks: dict | None, results: dict | None) -> list[str]:
    """The ground-truth targets to mark: those of the benchmark query loaded from the benchmark view, while
    the results shown are that query's (same dataset reference, same text); none after the user changes it."""
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
        Input(ids.RESULTS_STORE, "data"),
        Input(ids.BROWSE_STORE, "data"),
        Input(ids.IDEALS_STORE, "data"),
        Input(ids.HIGHLIGHT_STORE, "data"),
        Input(ids.BENCH_TARGETS, "data"),
    )
    def _gallery(results, browse, ideals, highlight, marks):
        ideals = set(ideals or [])
        targets = set(benchmark_targets(marks, results))
        if browse and browse.get("rows"):
            rows = browse["rows"]
            shown = rows[:limit]
            tiles = [
                tile(
                    None, index.ids[r], None, index.classes[r], index.ids[r] in ideals, highlight, gone(index.ids[r]), r
                )
                for r in shown
            ]
            more = f" (showing the first {limit}; ui.max_images_on_scatterplot)" if len(rows) > limit else ""
            return tiles, f"Browsing {len(rows)} images selected on the map{more}.", SHOWN, SHOWN
        if not results:
            return [], "Run a search to see results.", HIDDEN, HIDDEN
        tiles = [
            tile(i + 1, iid, sc, cls, iid in ideals, highlight, gone(iid), index.row_of.get(iid), iid in targets)
            for i, (iid, sc, cls) in enumerate(zip(results["ids"], results["scores"], results["classes"], strict=True))
        ]
        ref = results["reference"]
        ref_text = ref.get("id") or ref.get("name") or "no reference"
        summary = [
            html.Span(f"Top {len(tiles)} · {results['method']} · "),
            html.Span(ref_text, className="mono"),
            html.Span(" + “" + results["text"] + "”"),
            html.Span(f" · {len(ideals)} ideal{'s' if len(ideals) != 1 else ''} selected", className="muted"),
        ]
        return tiles, summary, HIDDEN, HIDDEN

    @app.callback(
        Output(ids.IDEALS_STORE, "data"),
        Input({"type": ids.TILE, "id": ALL}, "n_clicks"),
        State(ids.IDEALS_STORE, "data"),
        prevent_initial_call=True,
    )
    def _toggle_ideal(clicks, ideals):
        if not ctx.triggered_id or not any(t["value"] for t in ctx.triggered):
            return no_update  # tiles were re-rendered, not clicked
        iid = ctx.triggered_id["id"]
        ideals = list(ideals or [])
        return [i for i in ideals if i != iid] if iid in ideals else ideals + [iid]

    @app.callback(
        Output(ids.IDEALS_STORE, "data", allow_duplicate=True),
        Input(ids.MARK_SELECTION, "n_clicks"),
        State(ids.BROWSE_STORE, "data"),
        State(ids.IDEALS_STORE, "data"),
        prevent_initial_call=True,
    )
    def _mark_selection(_n, browse, ideals):
        rows = (browse or {}).get("rows", [])[:limit]
        have = list(ideals or [])
        return have + [index.ids[r] for r in rows if index.ids[r] not in have]

    @app.callback(
        Output(ids.IDEALS_STORE, "data", allow_duplicate=True),
        Input(ids.CLEAR_IDEALS, "n_clicks"),
        prevent_initial_call=True,
    )
    def _clear(_n):
        return []

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

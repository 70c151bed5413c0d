"""Panel D: the UMAP map with the query marked; selection browses, a click picks a reference.

The dataset's points are sent once, when the map is first drawn; a new search, a highlight, the
ideals or the lines switch change only the markers, and are sent as a ``dash.Patch`` of those
traces (``figures.MAP_OVERLAYS``) and of the class traces' opacity."""

from __future__ import annotations

from dash import Dash, Input, Output, Patch, State, ctx, no_update

from infocir.ui import ids
from infocir.ui.figures import (
    MAP_OVERLAYS,
    class_opacities,
    class_trace_rows,
    embedding_figure,
    empty_figure,
    map_overlays,
    map_point_rows,
)
from infocir.ui.query_state import with_vector
from infocir.ui.services import Services


def register(app: Dash, s: Services) -> None:
    index = s.engine.index
    per_class = class_trace_rows(index.classes, s.colours)
    class_names = [index.classes[int(rows[0])] for rows in per_class]

    @app.callback(
        Output(ids.MAP, "figure"),
        Output(ids.MAP_STATUS, "children"),
        Output(ids.MAP_POLL, "disabled"),
        Input(ids.MAP_POLL, "n_intervals"),
        Input(ids.RESULTS_STORE, "data"),
        Input(ids.HIGHLIGHT_STORE, "data"),
        Input(ids.IDEALS_STORE, "data"),
        Input(ids.MAP_LINES, "value"),
        State(ids.MAP_TOOL, "data"),
        State(ids.MAP_POLL, "disabled"),
        State(ids.QUERY_VECTOR, "data"),
    )
    def _map(_n, results, highlight, ideals, lines, tool, drawn, kept):
        state, message = s.maps.status()
        if state == "fitting":
            return empty_figure(message), message, False
        if state == "error":
            return empty_figure("The map is unavailable."), message, True
        m = s.maps.map
        ref_xy, query_xy = s.placements(with_vector(results, kept)) if results else (None, None)
        ideal_rows = [index.row_of[i] for i in (ideals or []) if i in index.row_of]
        note = ""
        if results and query_xy is None and results.get("method"):
            note = "This method fuses scores rather than composing one query vector, so no ✕ is drawn."
        res_rows, show_lines = (results or {}).get("rows", []), "lines" in (lines or [])
        if not drawn or ctx.triggered_id in (None, ids.MAP_POLL):
            # first drawing (the poll stops once the map is on the page): the dataset and the markers
            fig = embedding_figure(
                m.coords,
                index.classes,
                s.colours,
                res_rows,
                ref_xy,
                query_xy,
                highlight,
                show_lines,
                ideal_rows,
                dragmode=tool or "lasso",
                fixed_overlays=True,
            )
            return fig, note, True
        # the map is on the page: replace only the markers and the classes' opacity
        patch = Patch()
        for i, opacity in enumerate(class_opacities(class_names, highlight)):
            patch["data"][i]["marker"]["opacity"] = opacity
        overlays = map_overlays(m.coords, index.classes, s.colours, res_rows, ref_xy, query_xy, show_lines, ideal_rows)
        for j, name in enumerate(MAP_OVERLAYS):
            patch["data"][len(per_class) + j] = overlays[name].to_plotly_json()
        if tool:
            patch["layout"]["dragmode"] = tool
        return patch, note, no_update

    @app.callback(Output(ids.MAP_TOOL, "data"), Input(ids.MAP, "relayoutData"), prevent_initial_call=True)
    def _tool(relayout):
        # Plotly keeps zoom across redraws (uirevision) but not the mode-bar tool: remember it here.
        tool = (relayout or {}).get("dragmode")
        return tool if tool in ("zoom", "pan", "select", "lasso") else no_update

    def event_rows(points, results, ideals) -> list[int]:
        """Index rows of the map points in a click or selection event (see figures.map_point_rows); the
        page's map has every overlay of MAP_OVERLAYS in its place (links, top-k, ideals, ...)."""
        ideal_rows = [index.row_of[i] for i in (ideals or []) if i in index.row_of]
        overlays = {"links": [], "top-k": (results or {}).get("rows", []), "ideals": ideal_rows}
        return [r for r in map_point_rows(points, index.classes, s.colours, overlays) if 0 <= r < len(index)]

    @app.callback(
        Output(ids.BROWSE_STORE, "data", allow_duplicate=True),
        Input(ids.MAP, "selectedData"),
        State(ids.RESULTS_STORE, "data"),
        State(ids.IDEALS_STORE, "data"),
        prevent_initial_call=True,
    )
    def _select(selected, results, ideals):
        if not selected or not selected.get("points"):
            return no_update
        rows = event_rows(selected["points"], results, ideals)
        return {"rows": rows} if rows else no_update

    @app.callback(
        Output(ids.REFERENCE, "value", allow_duplicate=True),
        Output(ids.MAP, "clickData"),
        Input(ids.MAP, "clickData"),
        State(ids.RESULTS_STORE, "data"),
        State(ids.IDEALS_STORE, "data"),
        prevent_initial_call=True,
    )
    def _click(click, results, ideals):
        if not click or not click.get("points"):
            return no_update, no_update
        rows = event_rows(click["points"][:1], results, ideals)
        if not rows:
            return no_update, None
        return index.ids[rows[0]], None

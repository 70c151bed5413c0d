"""Panel D: the UMAP map with the query marked; selection browses, a click picks a reference."""
from __future__ import annotations

from dash import Dash, Input, Output, State, no_update

from infocir.ui import ids
from infocir.ui.figures import embedding_figure, empty_figure, map_point_rows
from infocir.ui.services import Services


def register(app: Dash, s: Services) -> None:
    index = s.engine.index

    @app.callback(
        Output(ids.MAP, "figure"),
        Output(ids.MAP_STATUS, "children"),
        Output(ids.MAP_POLL, "disabled"),
        Input(ids.MAP_POLL, "n_intervals"),
        Input(ids.RESULTS_STORE, "data"),
        Input(ids.HIGHLIGHT_STORE, "data"),
        Input(ids.IDEALS_STORE, "data"),
        Input(ids.MAP_LINES, "value"),
        State(ids.UPLOAD, "contents"),
        State(ids.MAP_TOOL, "data"),
    )
    def _map(_n, results, highlight, ideals, lines, upload, tool):
        state, message = s.maps.status()
        if state == "fitting":
            return empty_figure(message), message, False
        if state == "error":
            return empty_figure("The map is unavailable."), message, True
        m = s.maps.map
        ref_xy, query_xy = s.placements(results, upload) if results else (None, None)
        ideal_rows = [index.row_of[i] for i in (ideals or []) if i in index.row_of]
        fig = embedding_figure(m.coords, index.classes, s.colours, (results or {}).get("rows", []), ref_xy, query_xy,
                               highlight, "lines" in (lines or []), ideal_rows, dragmode=tool or "lasso")
        note = ""
        if results and query_xy is None and results.get("method"):
            note = "This method fuses scores rather than composing one query vector, so no ✕ is drawn."
        return fig, note, True

    @app.callback(Output(ids.MAP_TOOL, "data"), Input(ids.MAP, "relayoutData"), prevent_initial_call=True)
    def _tool(relayout):
        # Plotly keeps zoom across redraws (uirevision) but not the mode-bar tool: remember it here.
        tool = (relayout or {}).get("dragmode")
        return tool if tool in ("zoom", "pan", "select", "lasso") else no_update

    def event_rows(points, results, ideals, lines) -> list[int]:
        """Index rows of the map points in a click or selection event (see figures.map_point_rows)."""
        overlays: dict[str, list[int]] = {}
        res_rows = (results or {}).get("rows", [])
        if res_rows:
            if "lines" in (lines or []) and (results or {}).get("query_xy") is not None:  # the links trace comes first
                overlays["links"] = []
            overlays["top-k"] = res_rows
        ideal_rows = [index.row_of[i] for i in (ideals or []) if i in index.row_of]
        if ideal_rows:
            overlays["ideals"] = ideal_rows
        return [r for r in map_point_rows(points, index.classes, s.colours, overlays) if 0 <= r < len(index)]

    @app.callback(
        Output(ids.BROWSE_STORE, "data", allow_duplicate=True),
        Input(ids.MAP, "selectedData"),
        State(ids.RESULTS_STORE, "data"),
        State(ids.IDEALS_STORE, "data"),
        State(ids.MAP_LINES, "value"),
        prevent_initial_call=True,
    )
    def _select(selected, results, ideals, lines):
        if not selected or not selected.get("points"):
            return no_update
        rows = event_rows(selected["points"], results, ideals, lines)
        return {"rows": rows} if rows else no_update

    @app.callback(
        Output(ids.REFERENCE, "value", allow_duplicate=True),
        Output(ids.MAP, "clickData"),
        Input(ids.MAP, "clickData"),
        State(ids.RESULTS_STORE, "data"),
        State(ids.IDEALS_STORE, "data"),
        State(ids.MAP_LINES, "value"),
        prevent_initial_call=True,
    )
    def _click(click, results, ideals, lines):
        if not click or not click.get("points"):
            return no_update, no_update
        rows = event_rows(click["points"][:1], results, ideals, lines)
        if not rows:
            return no_update, None
        return index.ids[rows[0]], None

"""Panel D: the UMAP map with the query marked; selection browses, a click picks a reference."""
from __future__ import annotations

from dash import Dash, Input, Output, State, no_update

from infocir.ui import ids
from infocir.ui.figures import embedding_figure, empty_figure
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
    )
    def _map(_n, results, highlight, ideals, lines, upload):
        state, message = s.maps.status()
        if state == "fitting":
            return empty_figure(message), message, False
        if state == "error":
            return empty_figure("The map is unavailable."), message, True
        m = s.maps.map
        ref_xy, query_xy = s.placements(results, upload) if results else (None, None)
        ideal_rows = [index.row_of[i] for i in (ideals or []) if i in index.row_of]
        fig = embedding_figure(m.coords, index.classes, s.colours, (results or {}).get("rows", []), ref_xy, query_xy,
                               highlight, "lines" in (lines or []), ideal_rows)
        note = ""
        if results and query_xy is None and results.get("method"):
            note = "This method fuses scores rather than composing one query vector, so no ✕ is drawn."
        return fig, note, True

    @app.callback(
        Output(ids.BROWSE_STORE, "data", allow_duplicate=True),
        Input(ids.MAP, "selectedData"),
        prevent_initial_call=True,
    )
    def _select(selected):
        if not selected or not selected.get("points"):
            return no_update
        rows = []
        for p in selected["points"]:
            r = p.get("customdata")
            if isinstance(r, int) and r not in rows:
                rows.append(r)
        return {"rows": rows} if rows else no_update

    @app.callback(
        Output(ids.REFERENCE, "value", allow_duplicate=True),
        Output(ids.MAP, "clickData"),
        Input(ids.MAP, "clickData"),
        prevent_initial_call=True,
    )
    def _click(click):
        if not click or not click.get("points"):
            return no_update, no_update
        r = click["points"][0].get("customdata")
        if not isinstance(r, int) or not 0 <= r < len(index):
            return no_update, None
        return index.ids[r], None

"""Panel C: class histogram (C1, click a bar to highlight the class) and word cloud (C2)."""

from __future__ import annotations

from dash import Dash, Input, Output, State, no_update

from infocir.ui import ids
from infocir.ui.figures import class_histogram, class_weights, wordcloud_data_uri
from infocir.ui.services import Services


def register(app: Dash, s: Services) -> None:
    @app.callback(Output(ids.HISTOGRAM, "figure"), Input(ids.RESULTS_STORE, "data"), Input(ids.HIGHLIGHT_STORE, "data"))
    def _histogram(results, highlight):
        return class_histogram((results or {}).get("classes", []), highlight, s.colours)

    @app.callback(
        Output(ids.HIGHLIGHT_STORE, "data"),
        Output(ids.HISTOGRAM, "clickData"),
        Output(ids.HIGHLIGHT_NOTE, "children"),
        Input(ids.HISTOGRAM, "clickData"),
        State(ids.HIGHLIGHT_STORE, "data"),
        prevent_initial_call=True,
    )
    def _toggle_highlight(click, current):
        if not click or not click.get("points"):
            return no_update, no_update, no_update
        cls = click["points"][0].get("customdata") or click["points"][0].get("y")
        new = None if cls == current else cls
        # clickData is reset so that clicking the same bar again fires again (to clear)
        return new, None, (f"Highlighting “{new}” — click the bar again to clear." if new else "")

    # A new search clears the highlight in the same response that sets the results (query._search), so
    # the gallery, this histogram and the map render once per search, not twice.

    @app.callback(Output(ids.WORDCLOUD, "src"), Input(ids.RESULTS_STORE, "data"), Input(ids.WORDCLOUD_MODE, "value"))
    def _wordcloud(results, mode):
        if not results or not results.get("classes"):
            return ""
        weights = class_weights(results["classes"], results["scores"] if mode == "score" else None)
        return wordcloud_data_uri(weights, s.colours)

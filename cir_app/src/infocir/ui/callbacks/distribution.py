"""Panel C: class histogram (C1) and word cloud (C2) of the top-k, or of the images selected on the map;
a click on a bar or on a word highlights that class in B and D (click again to clear)."""

from __future__ import annotations

from dash import ALL, Dash, Input, Output, State, ctx, html, no_update

from infocir.ui import ids
from infocir.ui.figures import class_histogram, class_weights, wordcloud_picture
from infocir.ui.services import Services


def counted(s: Services, results: dict | None, browse: dict | None) -> tuple[list[str], list | None, str]:
    """What C counts: the classes of a map selection (B browses it too) or of the top-k, their scores
    (None for a selection: it has none) and a phrase naming them."""
    rows = s.browsed(results, browse)  # over a density layer: every image inside the region drawn
    if rows is not None and len(rows):
        n, classes = len(rows), s.engine.index.classes
        return [classes[int(r)] for r in rows], None, f"the {n:,} image{'s'[: n != 1]} selected on the map"
    results = results or {}
    return results.get("classes", []), results.get("scores"), "the top-k"


def histogram(s: Services, results, highlight, browse):
    classes, _, of = counted(s, results, browse)
    scope = ""
    if of != "the top-k":
        scope = f"Counting {of} (“Back to results” in B returns to the top-k)."
    return class_histogram(classes, highlight, s.colours, of=of), scope


def toggle_highlight(click, _words, current):
    """A bar or a word of the cloud: the same highlight (clicking it again clears it)."""
    if ctx.triggered_id == ids.HISTOGRAM:
        if not click or not click.get("points"):
            return no_update, no_update, no_update
        cls = click["points"][0].get("customdata") or click["points"][0].get("y")
    elif isinstance(ctx.triggered_id, dict) and any(t["value"] for t in ctx.triggered):
        cls = ctx.triggered_id["name"]
    else:
        return no_update, no_update, no_update  # the words were re-rendered, not clicked
    new = None if cls == current else cls
    # clickData is reset so that clicking the same bar again fires again (to clear)
    return new, None, (f"Highlighting “{new}” — click the bar (or the word) again to clear." if new else "")


def wordcloud(s: Services, results, mode, browse, highlight):
    """C2's picture and, over it, one transparent button per word (a click highlights its class)."""
    classes, scores, of = counted(s, results, browse)
    if not classes:
        return "", []
    weights = class_weights(classes, scores if mode == "score" and scores is not None else None)
    pic = wordcloud_picture(weights, s.colours)
    words = [
        html.Button(
            "",
            id={"type": ids.WORD, "name": word},
            n_clicks=0,
            className="cloud-word" + (" hl" if word == highlight else ""),
            title=f"{word}: highlight this class",
            style={"left": f"{x:.2f}%", "top": f"{y:.2f}%", "width": f"{w:.2f}%", "height": f"{h:.2f}%"},
            **{"aria-label": f"highlight {word}", "data-word": word},
        )
        for word, x, y, w, h in pic.boxes
    ]
    # a new highlight restyles the words only: the picture (the same, from the cache) is not sent again
    return (no_update if ctx.triggered_id == ids.HIGHLIGHT_STORE else pic.uri), words


def register(app: Dash, s: Services) -> None:
    app.callback(
        Output(ids.HISTOGRAM, "figure"),
        Output(ids.DIST_SCOPE, "children"),
        Input(ids.RESULTS_STORE, "data"),
        Input(ids.HIGHLIGHT_STORE, "data"),
        Input(ids.BROWSE_STORE, "data"),
    )(lambda results, highlight, browse: histogram(s, results, highlight, browse))
    app.callback(
        Output(ids.HIGHLIGHT_STORE, "data"),
        Output(ids.HISTOGRAM, "clickData"),
        Output(ids.HIGHLIGHT_NOTE, "children"),
        Input(ids.HISTOGRAM, "clickData"),
        Input({"type": ids.WORD, "name": ALL}, "n_clicks"),
        State(ids.HIGHLIGHT_STORE, "data"),
        prevent_initial_call=True,
    )(toggle_highlight)
    # A new search clears the highlight in the same response that sets the results (query._search), so
    # the gallery, this histogram and the map render once per search, not twice.
    app.callback(
        Output(ids.WORDCLOUD, "src"),
        Output(ids.WORDCLOUD_WORDS, "children"),
        Input(ids.RESULTS_STORE, "data"),
        Input(ids.WORDCLOUD_MODE, "value"),
        Input(ids.BROWSE_STORE, "data"),
        Input(ids.HIGHLIGHT_STORE, "data"),
    )(lambda results, mode, browse, highlight: wordcloud(s, results, mode, browse, highlight))

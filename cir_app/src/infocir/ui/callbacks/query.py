"""Panels A and B: run a search and render the gallery."""
from __future__ import annotations

import logging

from dash import Dash, Input, Output, State, html, no_update

from infocir.config import AppConfig
from infocir.engine import RetrievalEngine
from infocir.errors import is_user_error
from infocir.ui import ids
from infocir.ui.media import media_url

log = logging.getLogger(__name__)


def gallery_items(result: dict) -> list:
    """Gallery tiles for a stored result (pure)."""
    tiles = []
    for rank, (iid, score, cls) in enumerate(zip(result["ids"], result["scores"], result["classes"]), start=1):
        tiles.append(
            html.Figure(
                [html.Img(src=media_url(iid), alt=iid, title=iid, loading="lazy"),
                 html.Figcaption([html.Span(f"#{rank}", className="rank"), html.Span(f"{score:.3f}", className="score"),
                                  html.Span(cls, className="cls")])],
                className="tile",
            )
        )
    return tiles


def register(app: Dash, engine: RetrievalEngine, cfg: AppConfig) -> None:
    @app.callback(Output(ids.REFERENCE_PREVIEW, "src"), Input(ids.REFERENCE, "value"))
    def _preview(ref):
        return media_url(ref) if ref else ""

    @app.callback(
        Output(ids.RESULTS_STORE, "data"),
        Output(ids.MESSAGE, "children"),
        Input(ids.SEARCH, "n_clicks"),
        Input(ids.TEXT, "n_submit"),
        State(ids.REFERENCE, "value"),
        State(ids.TEXT, "value"),
        State(ids.K, "value"),
        State(ids.METHOD, "value"),
        prevent_initial_call=True,
    )
    def _search(_clicks, _submit, ref, text, k, method):
        if not k or not 1 <= int(k) <= 100:
            return no_update, "k must be a whole number from 1 to 100."
        try:
            res = engine.search(ref or None, text or "", k=int(k), method=method)
        except Exception as exc:  # the browser gets a sentence, the log keeps the details
            if is_user_error(exc) or isinstance(exc, KeyError):
                return no_update, str(exc).strip("'\"")
            log.exception("search failed")
            return no_update, "Search failed because of an internal error; see the server log."
        data = {"ids": res.ids, "scores": [float(s) for s in res.scores], "classes": res.classes,
                "reference": ref, "text": text or "", "method": method, "k": int(k)}
        return data, f"{len(res.ids)} results in {res.elapsed_ms:.0f} ms"

    @app.callback(Output(ids.GALLERY, "children"), Output(ids.GALLERY_SUMMARY, "children"), Input(ids.RESULTS_STORE, "data"))
    def _gallery(data):
        if not data:
            return [], "Run a search to see results."
        return gallery_items(data), f"Top {len(data['ids'])} for “{data['text']}” ({data['method']})"

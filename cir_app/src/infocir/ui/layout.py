"""Page layout: pure functions from engine facts to Dash components."""
from __future__ import annotations

from dash import dcc, html

from infocir.config import AppConfig
from infocir.engine import RetrievalEngine
from infocir.ui import ids


def panel(letter: str, title: str, help_text: str, *children, class_name: str = "") -> html.Div:
    """A titled card with a one-line 'how to read this' tooltip."""
    return html.Div(
        [
            html.Div([html.Span(letter, className="panel-letter"), html.H3(title),
                      html.Span("?", className="panel-help", title=help_text)], className="panel-head"),
            *children,
        ],
        className=f"panel {class_name}",
    )


def method_options(engine: RetrievalEngine) -> list[dict]:
    return [
        {"label": m.label if m.available else f"{m.label} (unavailable: {m.reason})", "value": m.name,
         "disabled": not m.available, "title": m.description}
        for m in engine.methods()
    ]


def query_panel(engine: RetrievalEngine, cfg: AppConfig) -> html.Div:
    ids_ = engine.index.ids
    return panel(
        "A", "Query",
        "Pick a reference image, describe how the target differs from it, choose k and a method, then Search.",
        html.Label("Reference image", htmlFor=ids.REFERENCE),
        dcc.Dropdown(id=ids.REFERENCE, options=[{"label": i, "value": i} for i in ids_], value=ids_[0],
                     clearable=True, placeholder="dataset image id"),
        html.Img(id=ids.REFERENCE_PREVIEW, className="reference-preview"),
        html.Label("Modification text", htmlFor=ids.TEXT),
        dcc.Input(id=ids.TEXT, type="text", value="", placeholder='e.g. "make it red"', debounce=False,
                  className="text-input", n_submit=0),
        html.Div([
            html.Div([html.Label("k", htmlFor=ids.K),
                      dcc.Input(id=ids.K, type="number", min=1, max=100, step=1, value=cfg.ui.gallery_size)],
                     className="k-box"),
            html.Div([html.Label("Method", htmlFor=ids.METHOD),
                      dcc.Dropdown(id=ids.METHOD, options=method_options(engine), value=cfg.retrieval.method,
                                   clearable=False)], className="method-box"),
        ], className="row"),
        html.Button("Search", id=ids.SEARCH, n_clicks=0, className="primary"),
        html.Div(id=ids.MESSAGE, className="message", role="status"),
        class_name="panel-a",
    )


def results_panel() -> html.Div:
    return panel(
        "B", "Results",
        "The top-k images, best first, with rank, similarity score and class.",
        html.Div(id=ids.GALLERY_SUMMARY, className="summary"),
        dcc.Loading(html.Div(id=ids.GALLERY, className="gallery")),
        class_name="panel-b",
    )


def build_layout(engine: RetrievalEngine, cfg: AppConfig) -> html.Div:
    return html.Div(
        [
            dcc.Store(id=ids.RESULTS_STORE, storage_type="memory"),
            html.Header([html.H1("InfoCIR"), html.Span("explainable composed image retrieval", className="tagline"),
                         html.Span(f"{len(engine.index)} images · {engine.bundle.name}", className="dataset-badge")]),
            html.Main([query_panel(engine, cfg), results_panel()], className="grid",
                      style={"--row-size": str(cfg.ui.gallery_row_size)}),
        ],
        className="app",
    )

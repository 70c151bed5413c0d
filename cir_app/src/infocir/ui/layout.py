"""Page layout: pure functions from engine facts to Dash components."""

from __future__ import annotations

from collections.abc import Sequence

from dash import dcc, html

from infocir.config import AppConfig
from infocir.engine import RetrievalEngine
from infocir.index.id_search import IdSearch, reference_options
from infocir.ui import ids
from infocir.ui.compare_view import compare_view
from infocir.ui.polling import poll_stores

HELP = {
    "A": "Pick a reference image (upload one or choose from the dataset, the gallery or the map), describe how the "
    "image you want differs from it, choose how many results (k) and a retrieval method, then Search (or press Enter). "
    "Picking a dataset image (or ✕ remove upload) replaces an upload. The reference itself is left out of its "
    "results unless you untick “exclude the reference”.",
    "B": "The top-k images, best first, with rank, similarity score and class. Click an image to mark it as an "
    "'ideal' target (gold frame); ↺ makes it the reference and searches again. After a map selection the gallery "
    "shows the selected images. Pointing at an image rings its point on the map (D).",
    "C": "C1 counts the classes among the top-k (or among the images selected on the map); click a bar to highlight "
    "that class in the gallery and on the map (click again to clear). C2 shows the same classes as a word cloud, "
    "sized by count or by summed score; clicking a word highlights its class like a bar.",
    "D": "Every dataset image as a point, placed by UMAP so that similar images sit close; colours are classes, or "
    "any attribute of the dataset's attributes.csv ('colour by'). ★ is the reference, ✕ the composed query (placed "
    "with the same fitted projection), ringed points the top-k, gold rings the ideals. Point at a dot to see its "
    "image; click it to open it (use as reference, mark ideal). Zoom with the wheel, drag to lasso or box-select "
    "images into the gallery (the other points dim).",
    "E": "How should the text have been phrased? Mark the images you meant as ideals (B or D), then Enhance: a "
    "generator (an LLM when a key is configured, otherwise the built-in offline one) proposes rewrites, and each one "
    "and the original are searched again and scored against the ideals. Click a row to see its results and its rank "
    "changes in F3; Adopt makes it the query text.",
    "F": "Why these results? F1 colours the image regions that raised each image's similarity to the composed query "
    "(Grad-ECLIP by default; switch explainer to compare), for the reference and for one candidate at a time (◀ ▶). "
    "F2 scores each word of the prompt the method encoded (green raised the similarity to the shown candidate, red "
    "lowered it; faint words are the method's template). F3 compares the top-k of the query with other prompts: "
    "each cell is an image's rank under a prompt, coloured by how far it moved (blue = up).",
}


def panel(letter: str, title: str, *children, class_name: str = "", extra=None) -> html.Section:
    """A titled card with a 'how to read this' tooltip."""
    head = [html.Span(letter, className="panel-letter"), html.H3(title)]
    if extra is not None:
        head.append(extra)
    head.append(
        html.Span("?", className="panel-help", title=HELP.get(letter, ""), **{"aria-label": HELP.get(letter, "")})
    )
    return html.Section(
        [html.Div(head, className="panel-head"), *children],
        className=f"panel {class_name}",
        id=f"panel-{letter.lower()}",
    )


def backend_options(engine) -> list[dict]:
    """Panel A's search-index choice: the configured backend, semantic hashing, and FAISS's indexes when installed
    (each is built on first use, then kept for every session)."""
    from infocir.index.backends import FAISS_NAMES, faiss_available

    labels = {"hashing": "Semantic hashing (Hamming, re-ranked)", "faiss-flat": "FAISS flat (exact)"}
    labels |= {"faiss-ivf": "FAISS IVF (approximate)", "faiss-hnsw": "FAISS HNSW (approximate)"}
    names = ["hashing", *(FAISS_NAMES if faiss_available() else ())]
    opts = [{"label": f"As configured ({engine.backend.name})", "value": "configured"}]
    return opts + [{"label": labels[n], "value": n} for n in names if n != engine.backend.name]


def method_options(engine: RetrievalEngine) -> list[dict]:
    return [
        {
            "label": m.label if m.available else f"{m.label} — unavailable",
            "value": m.name,
            "disabled": not m.available,
            "title": m.description if m.available else m.reason,
        }
        for m in engine.methods()
    ]


def default_method(engine: RetrievalEngine, cfg: AppConfig) -> str:
    infos = {m.name: m for m in engine.methods()}
    if cfg.retrieval.method in infos and infos[cfg.retrieval.method].available:
        return cfg.retrieval.method
    from infocir.methods.registry import fallback_method_name

    return fallback_method_name(engine.context)


QUERY_MODES = (
    ("composed", "Composed", "a reference image plus a modification text (composed image retrieval)"),
    ("text", "Text → images", "the text alone retrieves images (the reference is not used)"),
    ("image", "Image → images", "the reference image alone retrieves similar images (the text is not used)"),
)


def query_panel(engine: RetrievalEngine, cfg: AppConfig) -> html.Section:
    return panel(
        "A",
        "Query",
        dcc.RadioItems(
            id=ids.QUERY_MODE,
            options=[{"label": label, "value": value, "title": tip} for value, label, tip in QUERY_MODES],
            value="composed",
            inline=True,
            className="mode-switch",
        ),
        html.Div(reference_inputs(engine, cfg), id=ids.REFERENCE_BLOCK),
        html.Div(
            [
                html.Label("Modification text", htmlFor=ids.TEXT, id=ids.TEXT_LABEL),
                dcc.Input(
                    id=ids.TEXT,
                    type="text",
                    value="",
                    placeholder='e.g. "make it red"',
                    className="text-input",
                    n_submit=0,
                    autoComplete="off",
                ),
            ],
            id=ids.TEXT_BLOCK,
        ),
        *query_options(engine, cfg),
        class_name="panel-a",
    )


def reference_inputs(engine: RetrievalEngine, cfg: AppConfig) -> list:
    """Panel A's reference: an upload, or a dataset image picked by id, and its preview."""
    return [
        dcc.Upload(
            id=ids.UPLOAD,
            children=html.Div(["Drop a reference image here or ", html.A("browse", className="link")]),
            className="upload",
            multiple=False,
            max_size=-1,  # no `accept`: a rejected file must still get a message
        ),
        html.Div(id=ids.UPLOAD_MESSAGE, className="message error", role="alert"),
        html.Label("…or pick one from the dataset", htmlFor=ids.REFERENCE),
        # The options are the first ids and the reference; typing searches the ids on the server
        # (callbacks/query.py): the page never holds every id (30 MB at 1M images).
        dcc.Dropdown(
            id=ids.REFERENCE,
            options=reference_options(IdSearch(engine.index.ids), "", cfg.ui.reference_options, engine.index.ids[0]),
            value=engine.index.ids[0],
            clearable=False,
            placeholder="type to search image ids",
            optionHeight=30,
            maxHeight=260,
        ),
        html.Figure(
            [
                html.Img(id=ids.REFERENCE_PREVIEW, className="reference-preview", alt="reference image"),
                html.Figcaption(id=ids.REFERENCE_CAPTION),
            ],
            className="reference",
        ),
        html.Div(
            [
                html.Button(
                    "✕ remove upload",
                    id=ids.UPLOAD_REMOVE,
                    n_clicks=0,
                    className="ghost small",
                    style={"display": "none"},
                    title="use the dataset image picked above instead of the upload",
                ),
                html.Span(id=ids.REF_PENDING, className="pending", role="status"),
            ],
            className="reference-actions",
        ),
    ]


def query_options(engine: RetrievalEngine, cfg: AppConfig) -> list:
    """k, the method and its settings, the exclusion switch, the search index, Search, and the messages."""
    return [
        html.Div(
            [
                html.Div(
                    [
                        html.Label("k", htmlFor=ids.K),
                        dcc.Input(id=ids.K, type="number", min=1, max=100, step=1, value=cfg.ui.gallery_size),
                    ],
                    className="k-box",
                ),
                html.Div(
                    [
                        html.Label("Method", htmlFor=ids.METHOD),
                        dcc.Dropdown(
                            id=ids.METHOD,
                            options=method_options(engine),
                            value=default_method(engine, cfg),
                            clearable=False,
                            searchable=False,
                        ),
                    ],
                    className="method-box",
                    id=ids.METHOD_BLOCK,
                ),
            ],
            className="row",
        ),
        html.Details(
            [
                html.Summary("Method settings", title="what this query may change for the method chosen"),
                html.Div(id=ids.METHOD_SETTINGS, className="method-settings"),
            ],
            id=ids.METHOD_SETTINGS_BOX,
            className="method-settings-box",
        ),
        dcc.Checklist(
            id=ids.EXCLUDE_REF,
            options=[
                {
                    "label": " exclude the reference from its results",
                    "value": "exclude",
                    "title": "a dataset image used as the reference is not ranked among "
                    "its own results, as the evaluation does",
                }
            ],
            value=["exclude"] if cfg.retrieval.exclude_reference else [],
            className="inline-check exclude-ref",
        ),
        dcc.Checklist(
            id=ids.EXPANSION,
            options=[
                {
                    "label": " expand with captions",
                    "value": "on",
                    "title": "collection expansion: each image also scores by its captions (captions.csv beside the "
                    "dataset); an image counts once, with its best score",
                }
            ],
            value=["on"] if cfg.retrieval.expansion else [],
            className="inline-check exclude-ref",
        ),
        html.Div(
            [
                dcc.Checklist(
                    id=ids.SEARCH_SELECTION,
                    options=[{"label": " search only the images selected on the map", "value": "on", "disabled": True}],
                    value=[],
                    className="inline-check exclude-ref",
                ),
                html.Span(
                    "Select images on the map (lasso or box) to search only them.",
                    id=ids.SEARCH_SELECTION_NOTE,
                    className="muted",
                ),
                html.Button(
                    "✕ clear selection",
                    id=ids.CLEAR_SELECTION,
                    n_clicks=0,
                    className="ghost small",
                    style={"display": "none"},
                ),
            ],
            className="search-selection",
        ),
        html.Div(
            [
                html.Label("Search index", htmlFor=ids.BACKEND),
                dcc.Dropdown(
                    id=ids.BACKEND,
                    options=backend_options(engine),
                    value="configured",
                    clearable=False,
                    searchable=False,
                ),
            ],
            className="backend-box",
            title="Where a composed query's top k come from. Methods that fuse full score vectors always score "
            "every image exactly.",
        ),
        html.Button("Search", id=ids.SEARCH, n_clicks=0, className="primary"),
        dcc.Loading(html.Div(id=ids.MESSAGE, className="message", role="status"), type="dot"),
        html.Button("Cancel", id=ids.SLOW_CANCEL, n_clicks=0, className="ghost small", style={"display": "none"}),
        dcc.Store(id=ids.SLOW_JOB, storage_type="memory"),
        dcc.Interval(id=ids.SLOW_POLL, interval=300, disabled=True),
        *poll_stores(ids.SLOW_POLL),
        share_box(),
    ]


def results_panel(cfg: AppConfig) -> html.Section:
    hidden = {"display": "none"}
    actions = html.Div(
        [
            html.Button("Back to results", id=ids.BACK_TO_RESULTS, className="ghost", style=hidden),
            html.Button(
                "Back to the query",
                id=ids.END_PREVIEW,
                className="ghost",
                style=hidden,
                title="end the preview of E's candidate prompt: the query's own results again",
            ),
            html.Button(
                "★ all", id=ids.MARK_SELECTION, className="ghost", style=hidden, title="mark every image shown as ideal"
            ),
            html.Button(
                "✗ all",
                id=ids.MARK_SELECTION_NOT_RELEVANT,
                className="ghost",
                style=hidden,
                title="mark every image shown as not relevant",
            ),
            html.Button("Clear marks", id=ids.CLEAR_IDEALS, className="ghost", title="unmark every ideal and ✗"),
        ],
        className="panel-actions",
    )
    return panel(
        "B",
        "Results",
        html.Div(id=ids.GALLERY_SUMMARY, className="summary"),
        feedback_bar(cfg),
        html.Div(id=ids.GALLERY, className="gallery"),
        class_name="panel-b",
        extra=actions,
    )


def weight_input(input_id: str, label: str, value: float, tip: str) -> html.Label:
    return html.Label(
        [label, dcc.Input(id=input_id, type="number", value=value, min=0, max=100, step=0.05, debounce=True)],
        className="fb-weight",
        title=tip,
    )


def feedback_bar(cfg: AppConfig) -> html.Div:
    """Relevance-feedback iterations: the Rocchio weights, pseudo feedback, Refine, and the history of steps."""
    fb = cfg.feedback
    return html.Div(
        [
            html.Div(
                [
                    html.Span("Feedback", className="fb-title", title=FEEDBACK_HELP),
                    weight_input(ids.FB_ALPHA, "α", fb.alpha, "weight of the current query"),
                    weight_input(ids.FB_BETA, "β", fb.beta, "weight of the mean of the images marked ★ relevant"),
                    weight_input(ids.FB_GAMMA, "γ", fb.gamma, "weight of the mean of the images marked ✗ not relevant"),
                    dcc.Checklist(
                        id=ids.FB_PSEUDO,
                        options=[{"label": " pseudo: top/bottom", "value": "pseudo"}],
                        value=[],
                        className="fb-pseudo",
                    ),
                    html.Label(
                        ["P", dcc.Input(id=ids.FB_PSEUDO_P, type="number", value=3, min=1, max=50, step=1)],
                        className="fb-weight fb-p",
                        title="pseudo feedback: the top P results are relevant, the bottom P not",
                    ),
                    html.Button("Refine ⟳", id=ids.REFINE, n_clicks=0, className="primary small"),
                ],
                className="fb-controls",
            ),
            html.Div(id=ids.FB_HISTORY_VIEW, className="fb-history", role="list"),
            html.Div(id=ids.FB_MESSAGE, className="fb-message", role="status"),
        ],
        className="feedback-bar",
    )


FEEDBACK_HELP = (
    "Relevance feedback (Rocchio): mark results ★ relevant (click a tile) or ✗ not relevant, then Refine: the "
    "query moves to α·q + β·mean(★) − γ·mean(✗) and searches again. Each Refine is one more step from the step "
    "shown; click a step to go back to it. Pseudo feedback takes the top P results as relevant and the bottom P "
    "as not relevant instead of your marks."
)


def distribution_panel() -> html.Section:
    return panel(
        "C",
        "Classes in the top-k",
        html.Div(id=ids.DIST_SCOPE, className="scope"),
        html.Div("C1 · histogram", className="sub"),
        dcc.Graph(id=ids.HISTOGRAM, config={"displayModeBar": False}, className="histogram"),
        html.Div(id=ids.HIGHLIGHT_NOTE, className="message"),
        html.Div(
            [
                html.Span("C2 · word cloud", className="sub"),
                dcc.RadioItems(
                    id=ids.WORDCLOUD_MODE,
                    options=[{"label": "count", "value": "count"}, {"label": "score", "value": "score"}],
                    value="count",
                    inline=True,
                    className="radio",
                ),
            ],
            className="sub-row",
        ),
        html.Div(
            [
                html.Img(id=ids.WORDCLOUD, className="wordcloud", alt="word cloud of the classes in the top-k"),
                html.Div(id=ids.WORDCLOUD_WORDS, className="cloud-words"),
            ],
            className="cloud-wrap",
        ),
        class_name="panel-c",
    )


def map_panel(attributes: Sequence[str] = (), attributes_note: str = "") -> html.Section:
    """D: the map with its "colour by" menu (class and every column of attributes.csv), the hover card
    and the card a click opens."""
    colour_by = html.Div(
        [
            html.Span("colour by", className="inline-label"),
            dcc.Dropdown(
                id=ids.MAP_COLOUR,
                options=[{"label": "class", "value": "class"}] + [{"label": a, "value": a} for a in attributes],
                value="class",
                clearable=False,
                searchable=False,
                className="colour-by",
            ),
        ],
        className="colour-by-box",
        title="colour the points by class or by a column of the dataset's attributes.csv",
    )
    lines = dcc.Checklist(
        id=ids.MAP_LINES, options=[{"label": " lines to results", "value": "lines"}], value=[], className="inline-check"
    )
    return panel(
        "D",
        "Embedding map",
        html.Div(id=ids.MAP_STATUS, className="message"),
        html.Div(attributes_note, id=ids.MAP_COLOUR_NOTE, className="message error", role="alert"),
        html.Div(
            [
                # An offline tool: no "share to Plotly's cloud" or "edit in Chart Studio" buttons.
                dcc.Graph(
                    id=ids.MAP,
                    clear_on_unhover=True,
                    config={
                        "displaylogo": False,
                        "scrollZoom": True,
                        "showSendToCloud": False,
                        "showEditInChartStudio": False,
                        "showLink": False,
                        "modeBarButtonsToRemove": ["toImage", "autoScale2d", "sendDataToCloud"],
                    },
                    className="map",
                ),
                dcc.Tooltip(id=ids.MAP_HOVER, direction="right", className="map-hover", loading_text=""),
                map_card(),
            ],
            id=ids.MAP_WRAP,
            className="map-wrap",
        ),
        dcc.Interval(id=ids.MAP_POLL, interval=1000, disabled=False),
        *poll_stores(ids.MAP_POLL),
        dcc.Store(id=ids.MAP_CARD_STORE, storage_type="memory"),
        dcc.Store(id=ids.MAP_READY, storage_type="memory"),
        dcc.Store(id=ids.MAP_DRAWN, storage_type="memory"),
        dcc.Store(id=ids.MAP_REGION, storage_type="memory"),
        class_name="panel-d",
        extra=html.Div([colour_by, lines], className="map-controls"),
    )


def map_card() -> html.Div:
    """The card a click on a map point opens, beside the point: the image, what it is, two actions."""
    return html.Div(
        [
            html.Button(
                "✕", id=ids.MAP_CARD_CLOSE, n_clicks=0, className="ghost small card-close", title="close (Esc)"
            ),
            html.Img(id=ids.MAP_CARD_IMG, className="card-img", alt="the clicked image"),
            html.Div(id=ids.MAP_CARD_TEXT, className="card-text"),
            html.Div(
                [
                    html.Button("Use as reference", id=ids.MAP_CARD_USE, n_clicks=0, className="primary small"),
                    html.Button("☆ Mark ideal", id=ids.MAP_CARD_IDEAL, n_clicks=0, className="ghost"),
                ],
                className="card-actions",
            ),
        ],
        id=ids.MAP_CARD,
        className="map-card",
        style={"display": "none"},
        role="dialog",
        **{"aria-label": "the clicked image"},
    )


def overlay(
    img_id: str, heat_id: str, caption_id: str, alt: str, overlay_id: str | None = None, mask_id: str | None = None
) -> html.Figure:
    """An image with its saliency layer stacked on top (the opacity slider styles the layer) and, with
    ``mask_id``, the outline of the region the query text refers to; a click, Enter or Space on it opens
    the enlarged view."""
    mask = (
        [html.Img(id=mask_id, className="overlay-heat overlay-mask", alt=f"region of the {alt} the text refers to")]
        if mask_id
        else []
    )
    return html.Figure(
        [
            html.Div(
                [
                    html.Img(id=img_id, className="overlay-base", alt=alt),
                    html.Img(id=heat_id, className="overlay-heat", alt=f"saliency map of the {alt}"),
                    *mask,
                ],
                className="overlay kbd",
                id=overlay_id,
                n_clicks=0,
                tabIndex="0",
                role="button",
                title=f"enlarge the {alt} and its map",
                **{"aria-label": f"enlarge the {alt} and its saliency map"},
            ),
            html.Figcaption(id=caption_id),
        ],
        className="overlay-card",
    )


def evidence_options(explainer: str) -> list[dict]:
    """F1's evidence choices; "lowers" and "both" only for explainers with a signed map (``ImageExplainer.signed``),
    so the choice is never offered where it would change nothing."""
    from infocir.explain.base import EXPLAINERS

    cls = EXPLAINERS.get(explainer or "")
    signed = cls is not None and bool(cls.signed)
    return [
        {"label": " raises", "value": "for"},
        *(
            {
                "label": label,
                "value": value,
                "disabled": not signed,
                "title": "" if signed else "this explainer's map has no sign: it shows only what raises the score",
            }
            for label, value in ((" lowers", "against"), (" both", "both"))
        ),
    ]


def saliency_legend(evidence: str = "for", height: int = 150, width: int = 14, legend_id: str = ids.F_LEGEND):
    """F1's colour scale for ``evidence`` (the maps' own ramp, ``explain.render.legend_uri``), high at the top;
    for ``both``, what raises the score at the top and what lowers it at the bottom."""
    from infocir.explain.render import EVIDENCE

    return html.Div(
        legend_parts(evidence, height, width),
        id=legend_id,
        className="saliency-legend",
        title=f"saliency ({EVIDENCE.get(evidence, evidence)}), each map scaled to its own maximum; "
        "low values are transparent",
    )


def legend_parts(evidence: str, height: int, width: int) -> list:
    """The legend's end labels and strip for ``evidence`` (the callback swaps them when the choice changes)."""
    from infocir.explain.render import legend_uri

    top, bottom = ("raises", "lowers") if evidence == "both" else ("high", "low")
    return [
        html.Span(top, className="legend-end"),
        html.Img(
            src=legend_uri(height, width, evidence),
            className="legend-strip",
            alt=f"saliency colour scale, {top} at the top, {bottom} at the bottom",
        ),
        html.Span(bottom, className="legend-end"),
    ]


def zoom_modal() -> html.Div:
    """The enlarged image + map, opened from F1 (closed by its button, Escape or a click outside it; it
    follows the shown explanation, and ← → step through the candidates)."""
    return html.Div(
        html.Div(
            [
                html.Div(
                    [
                        html.Div(
                            [
                                html.Img(id=ids.F_ZOOM_BASE, className="overlay-base", alt="enlarged image"),
                                html.Img(id=ids.F_ZOOM_HEAT, className="overlay-heat", alt="enlarged saliency map"),
                            ],
                            className="overlay zoom-overlay",
                        ),
                        saliency_legend("for", 400, 18, ids.F_ZOOM_LEGEND),
                    ],
                    className="zoom-pair",
                ),
                html.Div(id=ids.F_ZOOM_CAPTION, className="zoom-caption"),
                html.Div(
                    "← → previous / next candidate · Esc or a click outside closes",
                    id=ids.F_ZOOM_HINT,
                    className="muted zoom-hint",
                ),
                html.Button(
                    "✕ close", id=ids.F_ZOOM_CLOSE, n_clicks=0, className="ghost zoom-close", title="close (Esc)"
                ),
            ],
            className="zoom-card",
        ),
        id=ids.F_ZOOM,
        className="zoom-modal",
        style={"display": "none"},
        role="dialog",
        **{"aria-modal": "true", "aria-label": "enlarged saliency map"},
    )


def explanation_panel(cfg: AppConfig) -> html.Section:
    from infocir.explain.base import list_explainers
    from infocir.explain.service import REFERENCE_VIEWS
    from infocir.explain.text_attribution import TOKEN_METHODS

    controls = html.Div(
        [
            html.Div(
                [
                    html.Label("Explainer", htmlFor=ids.F_EXPLAINER),
                    dcc.Dropdown(
                        id=ids.F_EXPLAINER,
                        clearable=False,
                        searchable=False,
                        value=cfg.saliency.explainer,
                        # the panel's explainers, and the configured one where it is not among them (e.g.
                        # saliency.explainer = "grad_eclip_magnitude"): the dropdown shows what the maps use
                        options=[
                            {"label": c.label, "value": c.name, "title": c.description}
                            for c in list_explainers()
                            if c.in_ui or c.name == cfg.saliency.explainer
                        ],
                    ),
                ],
                className="ctl",
            ),
            html.Div(
                [
                    html.Label("Overlay opacity", htmlFor=ids.F_OPACITY),
                    dcc.Slider(
                        id=ids.F_OPACITY,
                        min=0,
                        max=1,
                        step=0.05,
                        value=0.65,
                        marks=None,
                        tooltip={"placement": "bottom"},
                    ),
                ],
                className="ctl slider",
            ),
            html.Div(
                [
                    html.Label("Reference map", htmlFor=ids.F_REF_VIEW),
                    dcc.Dropdown(
                        id=ids.F_REF_VIEW,
                        clearable=False,
                        searchable=False,
                        value=cfg.saliency.reference_view,
                        options=[
                            {
                                "label": "for the shown candidate",
                                "value": "candidate",
                                "title": REFERENCE_VIEWS["candidate"],
                            },
                            {"label": "for the composed query", "value": "query", "title": REFERENCE_VIEWS["query"]},
                            {
                                "label": "φ-norm (pseudo-word)",
                                "value": "phi_norm",
                                "title": REFERENCE_VIEWS["phi_norm"],
                            },
                        ],
                    ),
                ],
                className="ctl",
            ),
            html.Div(
                [
                    html.Label("Evidence on the score", htmlFor=ids.F_EVIDENCE),
                    dcc.RadioItems(
                        id=ids.F_EVIDENCE,
                        value="for",
                        inline=True,
                        options=evidence_options(cfg.saliency.explainer),
                    ),
                ],
                className="ctl evidence",
                title="the map's patches that raise the score (the published map), or those that lower it "
                "(the part its ReLU drops; explainers with a signed map)",
            ),
            html.Div(
                dcc.Checklist(
                    id=ids.F_SEGMENT,
                    options=[
                        {
                            "label": " segment the text's region",
                            "value": "on",
                            "title": "outline the region of the shown candidate that the query text refers to "
                            f"([segmentation] provider: {cfg.segmentation.provider})",
                        }
                    ],
                    value=[],
                ),
                className="ctl segment-toggle",
            ),
            html.Div(
                [
                    html.Label("Word scores", htmlFor=ids.F_TOKEN_METHOD),
                    dcc.Dropdown(
                        id=ids.F_TOKEN_METHOD,
                        clearable=False,
                        searchable=False,
                        value=cfg.saliency.token_method,
                        options=[{"label": v, "value": k} for k, v in TOKEN_METHODS.items()],
                    ),
                ],
                className="ctl",
            ),
        ],
        className="explain-controls",
    )
    f1 = html.Div(
        [
            html.Div("F1 · saliency", className="sub"),
            html.Div(
                [
                    overlay(ids.F_REF_IMG, ids.F_REF_HEAT, ids.F_REF_CAPTION, "reference", ids.F_REF_OVERLAY),
                    html.Div(
                        [
                            overlay(
                                ids.F_CAND_IMG,
                                ids.F_CAND_HEAT,
                                ids.F_CAND_CAPTION,
                                "candidate",
                                ids.F_CAND_OVERLAY,
                                ids.F_CAND_MASK,
                            ),
                            html.Div(
                                [
                                    html.Button(
                                        "◀ previous", id=ids.F_PREV, className="ghost", n_clicks=0, disabled=True
                                    ),
                                    html.Button("next ▶", id=ids.F_NEXT, className="ghost", n_clicks=0),
                                    html.Button(
                                        "Save maps",
                                        id=ids.F_SAVE,
                                        className="ghost",
                                        n_clicks=0,
                                        title="write both maps as PNG and their patch grids as .npy "
                                        "(signed maps also before the ReLU) to "
                                        f"{cfg.saliency.output_dir}",
                                    ),
                                ],
                                className="pager",
                            ),
                            html.Div(id=ids.F_SAVE_NOTE, className="message", role="status"),
                        ]
                    ),
                    saliency_legend(),
                ],
                className="pair",
            ),
        ],
        className="f1",
    )
    f2 = html.Div(
        [
            html.Div("F2 · word attribution", className="sub"),
            dcc.Graph(id=ids.F_TOKENS, config={"displayModeBar": False}),
            html.Div(id=ids.F_TOKENS_NOTE, className="message"),
        ],
        className="f2",
    )
    f3 = html.Div(
        [
            html.Div("F3 · rank change", className="sub"),
            html.Div(
                [
                    dcc.Input(
                        id=ids.F_COMPARE_TEXT,
                        type="text",
                        placeholder="another modification text to compare",
                        className="text-input",
                        n_submit=0,
                        autoComplete="off",
                    ),
                    html.Button("Compare", id=ids.F_COMPARE, className="ghost", n_clicks=0),
                    dcc.Dropdown(
                        id=ids.F_SORT,
                        value="original",
                        clearable=False,
                        searchable=False,
                        className="sort",
                        options=[{"label": "original rank", "value": "original"}],
                    ),
                ],
                className="compare-row",
            ),
            f3_columns_row(),
            html.Div(id=ids.F_HEATMAP_NOTE, className="message"),
            html.Div(dcc.Graph(id=ids.F_HEATMAP, config={"displayModeBar": False}), className="f3-scroll"),
        ],
        className="f3",
    )
    return panel(
        "F",
        "Explanations",
        controls,
        html.Div(id=ids.F_STATUS, className="message", role="status"),
        html.Div([f1, f2, f3], className="explain-body"),
        dcc.Store(id=ids.F_INDEX, data=0),
        dcc.Store(id=ids.F_JOB),
        dcc.Store(id=ids.F_SHOWN),
        dcc.Store(id=ids.F_COMPARE_STORE, data=[]),
        dcc.Interval(id=ids.F_POLL, interval=400, disabled=True),
        *poll_stores(ids.F_POLL),
        zoom_modal(),
        class_name="panel-f",
    )


def provider_options(cfg: AppConfig) -> tuple[list[dict], str]:
    """The enhancement providers with their availability, and the one ``enhancement.provider`` picks."""
    from infocir.enhance import list_providers, resolve_provider

    infos = list_providers(cfg)
    try:
        default = resolve_provider(cfg).name
    except Exception:  # an explicitly configured provider that cannot run: start on the offline one
        default = "offline"
    return [
        {
            "label": i.label if i.available else f"{i.label} — {i.reason}",
            "value": i.name,
            "disabled": not i.available,
            "title": i.description if i.available else i.reason,
        }
        for i in infos
    ], default


def enhancement_panel(cfg: AppConfig) -> html.Section:
    options, default = provider_options(cfg)
    return panel(
        "E",
        "Prompt enhancement",
        html.Div(
            [
                html.Div(
                    [
                        html.Label("Generator", htmlFor=ids.E_PROVIDER),
                        dcc.Dropdown(
                            id=ids.E_PROVIDER,
                            options=options,
                            value=default,
                            clearable=False,
                            searchable=False,
                            optionHeight=44,
                        ),
                    ],
                    className="ctl",
                ),
                html.Button("Enhance prompt", id=ids.E_RUN, n_clicks=0, className="primary inline"),
                html.Button(
                    "Adopt selected as query text", id=ids.E_ADOPT, n_clicks=0, className="ghost", disabled=True
                ),
                enhancement_download(),
            ],
            className="enhance-controls",
        ),
        html.Div(id=ids.E_IDEALS_NOTE, className="message"),
        html.Div(id=ids.E_STATUS, className="message", role="status"),
        html.Div(id=ids.E_TABLE),
        html.Div(id=ids.E_PREVIEW, className="enhance-preview"),
        dcc.Store(id=ids.E_JOB),
        dcc.Store(id=ids.E_RESULT),
        dcc.Store(id=ids.E_SELECTED),
        dcc.Interval(id=ids.E_POLL, interval=400, disabled=True),
        *poll_stores(ids.E_POLL),
        class_name="panel-e",
    )


def build_layout(
    engine: RetrievalEngine, cfg: AppConfig, attributes: Sequence[str] = (), attributes_note: str = ""
) -> html.Div:
    """The page; ``attributes``: the columns of the dataset's attributes.csv the map can be coloured by
    (``attributes_note``: why the file could not be used)."""
    return html.Div(
        [
            dcc.Store(id=ids.SESSION, storage_type="memory"),
            dcc.Store(id=ids.RESULTS_STORE, storage_type="memory"),
            dcc.Store(id=ids.IDEALS_STORE, storage_type="memory", data=[]),
            dcc.Store(id=ids.NONREL_STORE, storage_type="memory", data=[]),
            dcc.Store(id=ids.FB_HISTORY, storage_type="memory"),
            dcc.Store(id=ids.HIGHLIGHT_STORE, storage_type="memory"),
            dcc.Store(id=ids.MAP_TOOL, storage_type="memory"),
            dcc.Store(id=ids.BROWSE_STORE, storage_type="memory"),
            dcc.Store(id=ids.REF_MODE, storage_type="memory", data="dataset"),
            dcc.Store(id=ids.UPLOAD_REF, storage_type="memory"),
            dcc.Store(id=ids.QUERY_VECTOR, storage_type="memory"),
            dcc.Location(id=ids.URL, refresh=False),
            dcc.Location(id=ids.URL_WRITE, refresh="callback-nav"),
            dcc.Store(id=ids.URL_WRITTEN, storage_type="memory"),
            html.Header(
                [
                    html.H1("InfoCIR"),
                    html.Span("explainable composed image retrieval", className="tagline"),
                    html.Span(
                        f"{len(engine.index):,} images · {len(set(engine.index.classes))} classes · "
                        f"{engine.bundle.name}",
                        className="dataset-badge",
                    ),
                ]
            ),
            html.Main(
                [
                    query_panel(engine, cfg),
                    distribution_panel(),
                    map_panel(attributes, attributes_note),
                    results_panel(cfg),
                ],
                className="grid",
                style={"--row-size": str(cfg.ui.gallery_row_size)},
            ),
            html.Div([enhancement_panel(cfg), explanation_panel(cfg)], className="grid lower"),
            benchmark_view(engine, cfg),
            compare_view(engine, cfg),
        ],
        className="app",
    )


# --------------------------------------------------------------------------- share and export (ui/callbacks/share.py)
F3_DEFAULT_COLUMNS = 20


def f3_columns_row() -> html.Div:
    """F3's column count (the images whose rank moved most) and its CSV download."""
    return html.Div(
        [
            html.Label(
                "columns",
                htmlFor=ids.F_HEATMAP_COLUMNS,
                className="inline-label",
                title="how many images F3 shows: those whose rank changed most",
            ),
            dcc.Input(
                id=ids.F_HEATMAP_COLUMNS,
                type="number",
                min=1,
                max=500,
                step=1,
                value=F3_DEFAULT_COLUMNS,
                className="columns-input",
                debounce=True,
            ),
            html.Span(id=ids.F_HEATMAP_SHOWN, className="muted"),
            html.Button(
                "Download F3 (CSV)",
                id=ids.F_HEATMAP_DOWNLOAD,
                n_clicks=0,
                className="ghost",
                title="every image of every compared prompt: rank and Δ against the original",
            ),
            dcc.Download(id=ids.F_HEATMAP_DOWNLOAD_FILE),
        ],
        className="columns-row",
    )


def enhancement_download() -> html.Span:
    return html.Span(
        [
            html.Button("Download table (CSV)", id=ids.E_DOWNLOAD, n_clicks=0, className="ghost"),
            dcc.Download(id=ids.E_DOWNLOAD_FILE),
        ]
    )


def share_box() -> html.Div:
    """Panel A's share and export block: the link, the command line, the result downloads."""
    return html.Div(
        [
            html.Div("Share and export", className="sub"),
            html.Label("Link to this query", htmlFor=ids.SHARE_LINK),
            html.Div(
                [
                    dcc.Input(
                        id=ids.SHARE_LINK, type="text", readOnly=True, value="", className="text-input mono copy-text"
                    ),
                    dcc.Clipboard(
                        id=ids.SHARE_LINK_COPY, target_id=ids.SHARE_LINK, title="copy the link", className="copy"
                    ),
                ],
                className="copy-row",
            ),
            html.Label("Same search on the command line", htmlFor=ids.SHARE_CLI),
            html.Div(
                [
                    dcc.Textarea(
                        id=ids.SHARE_CLI, readOnly=True, value="", className="text-input mono copy-text cli", rows=4
                    ),
                    dcc.Clipboard(
                        id=ids.SHARE_CLI_COPY, target_id=ids.SHARE_CLI, title="copy as CLI command", className="copy"
                    ),
                ],
                className="copy-row",
            ),
            html.Div(
                [
                    html.Button("Results CSV", id=ids.DL_RESULTS_CSV, n_clicks=0, className="ghost"),
                    html.Button("Results JSON", id=ids.DL_RESULTS_JSON, n_clicks=0, className="ghost"),
                ],
                className="download-row",
            ),
            html.Div(id=ids.SHARE_NOTE, className="message", role="status"),
            dcc.Download(id=ids.DL_RESULTS),
        ],
        className="share-box",
    )


# ------------------------------------------------------------------ benchmark queries (ui/callbacks/benchmark.py)
BENCH_HELP = (
    "The benchmark's queries (the demo world's queries.json) with the chosen method's AP@k, the rank of the first "
    "ground-truth target and R@k, worst first. Choose 2 or 3 methods to see their columns side by side, with Δ AP "
    "(the second method's AP − the first's; sort by it to see where the second wins). "
    "Click a column header to sort by it (again: reverse), type to filter "
    "by text or changed attribute. Click a row (or ↑/↓ in the focused table) to load that query into A and search: "
    "its targets get a teal frame in B; 'copy targets to ideals' marks them as ideals for E and F."
)


def benchmark_view(engine: RetrievalEngine, cfg: AppConfig) -> html.Section:
    """A collapsible section: closed, nothing is computed."""
    controls = html.Div(
        [
            html.Div(  # 1–3 methods side by side; with one, it follows panel A's method (benchmark.py's _follow)
                dcc.Dropdown(
                    id=ids.BENCH_METHODS,
                    options=method_options(engine),
                    value=[default_method(engine, cfg)],
                    multi=True,
                    placeholder="panel A's method",
                ),
                className="bench-methods",
                title="methods: 1 (panel A's) to 3 side by side",
            ),
            html.Label("k", htmlFor=ids.BENCH_K, className="inline-label"),
            html.Div(  # a box of its own: Dash's number input (with its − + stepper) fills its container
                dcc.Input(id=ids.BENCH_K, type="number", min=1, max=100, step=1, value=10, debounce=True),
                className="bench-k",
            ),
            dcc.Input(
                id=ids.BENCH_FILTER,
                type="text",
                value="",
                placeholder="filter by text or attribute",
                className="text-input bench-filter",
                autoComplete="off",
            ),
            html.Button("Copy targets to ideals", id=ids.BENCH_COPY, n_clicks=0, className="ghost"),
            html.Button("Table CSV", id=ids.BENCH_CSV, n_clicks=0, className="ghost"),
            html.Button("Table JSON", id=ids.BENCH_JSON, n_clicks=0, className="ghost"),
            dcc.Download(id=ids.BENCH_DOWNLOAD),
        ],
        className="bench-controls",
    )
    return html.Section(
        [
            html.Div(
                [
                    html.Button(
                        "▸ Benchmark queries",
                        id=ids.BENCH_TOGGLE,
                        n_clicks=0,
                        className="ghost bench-toggle",
                        **{"aria-controls": ids.BENCH_BODY},
                    ),
                    html.Span("?", className="panel-help", title=BENCH_HELP, **{"aria-label": BENCH_HELP}),
                ],
                className="panel-head",
            ),
            html.Div(
                [
                    controls,
                    html.Div(id=ids.BENCH_STATUS, className="message", role="status"),
                    html.Div(
                        id=ids.BENCH_TABLE,
                        className="bench-table-wrap",
                        tabIndex="0",
                        title="↑/↓ step through the queries",
                        **{"aria-label": "benchmark queries; up and down arrows step through them"},
                    ),
                ],
                id=ids.BENCH_BODY,
                style={"display": "none"},
            ),
            dcc.Store(id=ids.BENCH_SORT, data={"col": "ap0", "asc": True}),
            dcc.Store(id=ids.BENCH_DATA),
            dcc.Store(id=ids.BENCH_JOB),
            dcc.Store(id=ids.BENCH_SELECTED),
            dcc.Store(id=ids.BENCH_TARGETS),
            dcc.Interval(id=ids.BENCH_POLL, interval=400, disabled=True),
            *poll_stores(ids.BENCH_POLL),
        ],
        className="panel bench",
        id=ids.BENCH,
    )

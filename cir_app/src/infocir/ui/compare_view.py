"""Methods side by side (issue 18 §2): the section's layout and its pure renderings.

The section compares 2–3 methods on panel A's query: one gallery column per method (each tile with its rank
in the other lists), the overlap@k matrix, each method's metrics against the ideals or the benchmark query's
ground truth, and F3's rank-change heatmap across methods (rows = methods).  The callbacks are in
``ui/callbacks/compare.py``; the figures come from ``evaluation.method_comparison``."""

from __future__ import annotations

from dash import dcc, html

from infocir.config import AppConfig
from infocir.engine import RetrievalEngine
from infocir.evaluation.method_comparison import MethodComparison, MethodScores
from infocir.ui import ids
from infocir.ui.figures import COMPARE_MARKERS
from infocir.ui.media import media_url

HELP = (
    "Compare 2 or 3 methods on panel A's query (reference, text, k, exclude the reference): one column per "
    "method, best first; the badges under each image give its rank in the other methods' lists (– when they do "
    "not retrieve it). Overlap@k is the share of the k results two methods have in common. AP@k, R@k and the "
    "first relevant rank are scored against your ideals, or, without ideals, against the ground-truth targets "
    "of the benchmark query loaded from ▸ Benchmark queries. The heatmap has a row per method: cells are "
    "ranks, colours the change against the first method. 'On the map' draws each method's top-k in D in its "
    "own marker (◇ □ △). Each method runs with its configured settings (panel A's per-query settings apply to "
    "A's own search)."
)
MIN_METHODS, MAX_METHODS = 2, 3


def initial_methods(engine: RetrievalEngine, cfg: AppConfig) -> list[str]:
    """Two methods to start from: panel A's default and the next available one (a quick first comparison)."""
    from infocir.ui.layout import default_method  # layout.py places this section: imported late, no cycle

    first = default_method(engine, cfg)
    others = [m.name for m in engine.methods() if m.available and m.name != first]
    return [first] + others[:1]


def compare_view(engine: RetrievalEngine, cfg: AppConfig) -> html.Section:
    """A collapsible section below the benchmark view; nothing is computed until Compare."""
    from infocir.ui.layout import method_options

    controls = html.Div(
        [
            dcc.Dropdown(
                id=ids.CMP_METHODS,
                options=method_options(engine),
                value=initial_methods(engine, cfg),
                multi=True,
                clearable=True,
                placeholder="choose 2 or 3 methods",
                className="cmp-methods",
            ),
            html.Button("Compare", id=ids.CMP_RUN, n_clicks=0, className="primary"),
            dcc.Checklist(
                id=ids.CMP_ON_MAP,
                options=[{"label": " on the map (D)", "value": "map"}],
                value=["map"],
                className="cmp-on-map",
            ),
        ],
        className="cmp-controls",
    )
    return html.Section(
        [
            html.Div(
                [
                    html.Button(
                        "▸ Methods side by side",
                        id=ids.CMP_TOGGLE,
                        n_clicks=0,
                        className="ghost bench-toggle",
                        **{"aria-controls": ids.CMP_BODY},
                    ),
                    html.Span("?", className="panel-help", title=HELP, **{"aria-label": HELP}),
                ],
                className="panel-head",
            ),
            html.Div(
                [
                    controls,
                    html.Div(id=ids.CMP_MESSAGE, className="message", role="status"),
                    html.Div(id=ids.CMP_VIEW),
                    html.Div(
                        dcc.Graph(id=ids.CMP_HEATMAP, config={"displayModeBar": False}),
                        className="cmp-heatmap-wrap",
                        style={"display": "none"},
                        id=f"{ids.CMP_HEATMAP}-wrap",
                    ),
                ],
                id=ids.CMP_BODY,
                style={"display": "none"},
            ),
            dcc.Store(id=ids.CMP_STORE),
            dcc.Store(id=ids.CMP_MAP),
        ],
        className="panel bench cmp",
        id=ids.CMP,
    )


# --------------------------------------------------------------------------- pure renderings of a comparison
def glyph(slot: int) -> html.Span:
    """The method's map marker, as the page shows it beside its name."""
    _, colour, _, char = COMPARE_MARKERS[slot]
    return html.Span(char, className="cmp-glyph", style={"color": colour})


def describe_query(query: dict) -> str:
    ref = query.get("reference") or {}
    who = ref.get("name") if ref.get("kind") == "upload" else ref.get("id")
    where = f"reference {who}" if who else "no reference"
    excluded = ", reference left out" if query.get("exclude_reference") else ""
    return f"{where} · “{query.get('text', '')}” · k {query.get('k')}{excluded}"


def _num(v: float) -> str:
    return f"{v:.3f}"


def score_line(sc: MethodScores | None, k: int) -> list:
    """The column header's metrics: AP@k, R@k, the relevant images found and the first relevant rank."""
    if sc is None:
        return [html.Span("mark ideals to score", className="muted")]
    if sc.first_rank is None:
        first = "–"
    else:
        first = f"#{sc.first_rank}" + ("" if sc.first_rank <= k else f" (beyond {k})")
    items = [
        ("AP", f"AP@{k}", _num(sc.ap)),
        ("R", f"R@{k}", f"{sc.recall:.0f}"),
        ("found", "found", f"{sc.found}/{sc.relevant}"),
        ("first", "first relevant", first),
    ]
    return [
        html.Span([html.Span(label, className="muted"), " ", html.B(value)], className="cmp-metric", **{"data-m": m})
        for m, label, value in items
    ]


def tile(iid: str, rank: int, row: int, cls: str, others: dict, slots: dict, labels: dict, mark: str) -> html.Div:
    """One image of a column: thumbnail, rank, class, and its rank in each other list ("– in …": not there)."""
    badges = []
    for other, r in others.items():
        text = f"#{r} in {other}" if r is not None else f"– in {other}"
        badges.append(
            html.Span(
                [glyph(slots[other]), " ", text],
                className="cmp-badge" + ("" if r is not None else " absent"),
                title=(f"rank {r} in {labels[other]}" if r is not None else f"not in the top-k of {labels[other]}"),
                **{"data-method": other, "data-rank": "" if r is None else str(r)},
            )
        )
    return html.Div(
        [
            html.Img(src=media_url(iid, 128), alt=iid, title=iid),
            html.Div([html.Span(f"#{rank}", className="rank"), html.Span(cls, className="cls")], className="caption"),
            html.Div(badges, className="cmp-badges"),
        ],
        className=f"tile cmp-tile {mark}".strip(),
        **{"data-id": iid, "data-rank": str(rank), "data-row": str(row)},
    )


def overlap_table(cmp: MethodComparison, labels: dict, slots: dict) -> html.Table:
    """overlap@k for every pair, with the shared count: the diagonal is a method against itself."""
    k = cmp.k
    head = html.Tr(
        [html.Th(f"overlap@{k}")] + [html.Th([glyph(slots[m]), " ", labels[m]], scope="col") for m in cmp.methods]
    )
    body = []
    for i, a in enumerate(cmp.methods):
        cells = [html.Th([glyph(slots[a]), " ", labels[a]], scope="row")]
        for j, b in enumerate(cmp.methods):
            v = cmp.overlap[i][j]
            cells.append(
                html.Td(
                    [html.B(f"{v:.2f}"), html.Span(f" ({round(v * k)}/{k})", className="muted")],
                    className="num diag" if i == j else "num",
                    **{"data-a": a, "data-b": b, "data-overlap": f"{v:.4f}"},
                )
            )
        body.append(html.Tr(cells))
    return html.Table([html.Thead(head), html.Tbody(body)], className="bench-table cmp-overlap")


def relevance_line(data: dict) -> str:
    n = len(data.get("relevant") or [])
    source = data.get("relevant_source")
    if source == "ideals":
        line = f"Scored against the {n} image(s) marked ideal (gold frame; ◎ in the heatmap)."
    elif source == "targets":
        line = (
            f"Scored against the {n} ground-truth target(s) of the benchmark query loaded in A "
            "(teal frame; ◎ in the heatmap)."
        )
    else:
        return "Mark ideals in B or D (or load a benchmark query) to score the methods."
    fed = [m["label"] for m in data["methods"] if m.get("given_ideals")]
    if fed and source == "ideals":  # a method that was given the ideals is scored on what it was told
        line += f" {', '.join(fed)} took these ideals as its input: its scores are not independent of them."
    return line


def comparison_view(data: dict, cmp: MethodComparison) -> list:
    """The caption, the overlap@k matrix and one column per method (``data``: the comparison store)."""
    k = cmp.k
    methods = data["methods"]
    labels = {m["name"]: m["label"] for m in methods}
    slots = {m["name"]: i for i, m in enumerate(methods)}
    ideals = set(data.get("relevant") or []) if data.get("relevant_source") == "ideals" else set()
    targets = set(data.get("relevant") or []) if data.get("relevant_source") == "targets" else set()
    columns = []
    for m in methods:
        name = m["name"]
        sc = cmp.scores[name] if cmp.scores else None
        tiles = [
            tile(
                iid,
                i + 1,
                m["rows"][i],
                m["classes"][i],
                cmp.cross_ranks[name][i],
                slots,
                labels,
                ("ideal" if iid in ideals else "") + (" target" if iid in targets else ""),
            )
            for i, iid in enumerate(cmp.lists[name])
        ]
        head = html.Div(
            [
                html.Div(
                    [glyph(slots[name]), " ", html.B(labels[name]), html.Span(f" {name}", className="muted mono")]
                ),
                html.Div(score_line(sc, k), className="cmp-metrics"),
                html.Div(f"{len(m['ids'])} results in {m['ms']:.0f} ms", className="muted small"),
            ],
            className="cmp-col-head",
        )
        columns.append(
            html.Div(
                [head, html.Div(tiles, className="cmp-gallery")],
                className="cmp-col",
                **{"data-method": name},
            )
        )
    caption = [
        html.Div(["Compared: ", html.Span(describe_query(data["query"]), className="mono")], className="muted"),
        html.Div(relevance_line(data), className="muted cmp-relevance"),
    ]
    if data.get("stale"):
        caption.insert(
            0,
            html.Div(
                "Panel B now shows another query: this comparison is of the query below (Compare again for the new "
                "one). Its markers are off the map.",
                className="message error cmp-stale",
            ),
        )
    return [
        html.Div(caption, className="cmp-caption"),
        html.Div(
            [html.Div(columns, className=f"cmp-columns n{len(methods)}"), overlap_table(cmp, labels, slots)],
            className="cmp-main",
        ),
    ]

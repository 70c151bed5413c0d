"""Pure figure builders: data in, Plotly figures (or image data URIs) out. No engine, no I/O."""

from __future__ import annotations

import base64
import io
from collections import Counter
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

# A qualitative palette with enough distinct, print-safe colours; classes beyond it cycle.
PALETTE = (
    "#4c78a8",
    "#f58518",
    "#54a24b",
    "#e45756",
    "#72b7b2",
    "#eeca3b",
    "#b279a2",
    "#ff9da6",
    "#9d755d",
    "#bab0ac",
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#17becf",
)
FONT = dict(family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=12, color="#1f2430")


def class_colours(classes: Sequence[str]) -> dict[str, str]:
    """A stable colour per class (sorted order, so every panel agrees)."""
    return {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(sorted(set(classes)))}


def _base_layout(fig: go.Figure, **kw) -> go.Figure:
    fig.update_layout(
        **{"font": FONT, "paper_bgcolor": "white", "plot_bgcolor": "white", "margin": dict(l=8, r=8, t=8, b=8), **kw}
    )
    return fig


def empty_figure(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(
        text=message, showarrow=False, font=dict(size=13, color="#6b7280"), x=0.5, y=0.5, xref="paper", yref="paper"
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _base_layout(fig, height=260)


def class_histogram(classes: Sequence[str], highlight: str | None, colours: dict[str, str]) -> go.Figure:
    """C1: how many of the top-k fall in each class, most frequent first; the highlighted class stands out."""
    if not classes:
        return empty_figure("Run a search to see the class distribution.")
    counts = Counter(classes).most_common()
    names = [c for c, _ in counts]
    values = [n for _, n in counts]
    opacity = [1.0 if highlight in (None, c) else 0.3 for c in names]
    fig = go.Figure(
        go.Bar(
            x=values,
            y=names,
            orientation="h",
            marker=dict(
                color=[colours.get(c, "#888") for c in names],
                opacity=opacity,
                line=dict(color=["#1f2430" if c == highlight else "rgba(0,0,0,0)" for c in names], width=2),
            ),
            customdata=names,
            hovertemplate="%{y}: %{x} of the top-k<extra>click to highlight</extra>",
            text=values,
            textposition="auto",
        )
    )
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_xaxes(title=None, dtick=max(1, max(values) // 5), gridcolor="#eef0f3")
    return _base_layout(fig, height=max(200, 26 * len(names) + 40), bargap=0.25, clickmode="event")


def class_weights(classes: Sequence[str], scores: Sequence[float] | None = None) -> dict[str, float]:
    """Word-cloud weights: class frequency, or the sum of (shifted, positive) scores per class."""
    if scores is None:
        return {c: float(n) for c, n in Counter(classes).items()}
    s = np.asarray(scores, float)
    s = s - s.min() + 1e-3 * (abs(s.max()) + 1e-3)  # strictly positive, order-preserving
    out: dict[str, float] = {}
    for c, v in zip(classes, s):
        out[c] = out.get(c, 0.0) + float(v)
    return out


def wordcloud_data_uri(weights: dict[str, float], colours: dict[str, str], width: int = 420, height: int = 220) -> str:
    """C2: a PNG word cloud as a data URI. Works for one class and for all-equal weights."""
    from wordcloud import WordCloud

    if not weights:
        return ""
    weights = {k: v for k, v in weights.items() if v > 0} or {k: 1.0 for k in weights}
    wc = WordCloud(
        width=width,
        height=height,
        background_color="white",
        prefer_horizontal=0.95,
        random_state=0,
        max_font_size=min(96, height // 2),
        min_font_size=10,
        relative_scaling=0.6,
        margin=6,
        color_func=lambda word, **_: colours.get(word, "#333"),
    )
    # WordCloud splits on nothing when given frequencies, so multi-word classes stay whole.
    img = wc.generate_from_frequencies(weights).to_image()
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def class_trace_rows(classes: Sequence[str], colours: dict[str, str]) -> list[np.ndarray]:
    """Index rows of each per-class map trace, in trace order (sorted class names, empty ones skipped)."""
    classes_arr = np.asarray(classes)
    out = []
    for c in sorted(colours):
        rows = np.flatnonzero(classes_arr == c)
        if len(rows):
            out.append(rows)
    return out


def map_point_rows(
    points: Sequence[dict], classes: Sequence[str], colours: dict[str, str], overlays: dict[str, Sequence[int]]
) -> list[int]:
    """Index rows of the points of a Plotly click or selection event on the map.

    ``customdata`` (plain lists, see embedding_figure) is used when the event carries it; otherwise
    the row is recovered from ``curveNumber``/``pointNumber``: class traces come first in
    ``class_trace_rows`` order, then the overlays named in ``overlays`` (trace name → rows, in the
    order they were drawn).  Events on the reference and query markers give no row."""
    per_class = class_trace_rows(classes, colours)
    overlay_rows = list(overlays.values())
    rows: list[int] = []
    for p in points or []:
        r = p.get("customdata")
        if isinstance(r, list) and r:
            r = r[0]
        if not isinstance(r, int):
            curve, point = p.get("curveNumber"), p.get("pointNumber", p.get("pointIndex"))
            if not isinstance(curve, int) or not isinstance(point, int):
                continue
            if curve < len(per_class):
                src = per_class[curve]
            elif curve - len(per_class) < len(overlay_rows):
                src = overlay_rows[curve - len(per_class)]
            else:
                continue
            if not 0 <= point < len(src):
                continue
            r = int(src[point])
        if r not in rows:
            rows.append(r)
    return rows


MAP_OVERLAYS = ("links", "top-k", "ideals", "reference", "composed query")  # drawn over the class traces, in this order


def class_opacities(names: Sequence[str], highlight: str | None) -> list[float]:
    """Marker opacity of each class trace: a highlighted class stands out, the others dim (not hide)."""
    return [(0.85 if c == highlight else 0.12) if highlight is not None else 0.55 for c in names]


def map_overlays(
    coords: np.ndarray,
    classes: Sequence[str],
    colours: dict[str, str],
    result_rows: Sequence[int] = (),
    reference_xy: Sequence[float] | None = None,
    query_xy: Sequence[float] | None = None,
    show_lines: bool = False,
    ideal_rows: Sequence[int] = (),
) -> dict[str, go.Scattergl]:
    """The map's markers over the dataset, one trace per name of MAP_OVERLAYS (an empty trace where
    there is nothing to draw, so each keeps its place and a redraw can replace it alone)."""
    res = np.asarray(result_rows, int)
    ideals = np.asarray(ideal_rows, int)
    out: dict[str, go.Scattergl] = {}
    xs, ys = [], []
    if show_lines and query_xy is not None:
        for r in res:
            xs += [query_xy[0], float(coords[r, 0]), None]
            ys += [query_xy[1], float(coords[r, 1]), None]
    out["links"] = go.Scattergl(
        x=xs,
        y=ys,
        mode="lines",
        line=dict(color="rgba(31,36,48,0.25)", width=1),
        hoverinfo="skip",
        showlegend=False,
        name="links",
    )
    out["top-k"] = go.Scattergl(
        x=coords[res, 0].tolist(),
        y=coords[res, 1].tolist(),
        mode="markers",
        name="top-k",
        customdata=res.tolist(),
        marker=dict(
            size=11, color=[colours.get(classes[r], "#888") for r in res], line=dict(color="#1f2430", width=1.5)
        ),
        text=[f"#{i + 1}" for i in range(len(res))],
        hovertemplate="%{text} · " + "%{customdata}<extra>top-k</extra>",
        showlegend=bool(len(res)),
    )
    out["ideals"] = go.Scattergl(
        x=coords[ideals, 0].tolist(),
        y=coords[ideals, 1].tolist(),
        mode="markers",
        name="ideals",
        customdata=ideals.tolist(),
        showlegend=bool(len(ideals)),
        marker=dict(size=15, symbol="circle-open", color="#d4a017", line=dict(width=3)),
        hovertemplate="ideal<extra></extra>",
    )
    # WebGL like the points, so that the markers drawn last are on top of the top-k rings.
    ref = [] if reference_xy is None else [reference_xy]
    out["reference"] = go.Scattergl(
        x=[p[0] for p in ref],
        y=[p[1] for p in ref],
        mode="markers",
        name="reference",
        showlegend=bool(ref),
        marker=dict(size=20, symbol="star", color="#ffd43b", line=dict(color="#1f2430", width=1.5)),
        hovertemplate="reference<extra></extra>",
    )
    q = [] if query_xy is None else [query_xy]
    out["composed query"] = go.Scattergl(
        x=[p[0] for p in q],
        y=[p[1] for p in q],
        mode="markers",
        name="composed query",
        showlegend=bool(q),
        marker=dict(size=16, symbol="x", color="#e03131", line=dict(color="white", width=1)),
        hovertemplate="composed query<extra></extra>",
    )
    return out


def embedding_figure(
    coords: np.ndarray,
    classes: Sequence[str],
    colours: dict[str, str],
    result_rows: Sequence[int] = (),
    reference_xy: Sequence[float] | None = None,
    query_xy: Sequence[float] | None = None,
    highlight: str | None = None,
    show_lines: bool = False,
    ideal_rows: Sequence[int] = (),
    uirevision: str = "map",
    dragmode: str = "lasso",
    fixed_overlays: bool = False,
) -> go.Figure:
    """D: every image as a WebGL point coloured by class, with the reference (star), the composed
    query (X), the top-k (ringed) and the ideals (gold) on top. ``customdata`` holds index rows as
    plain lists: Plotly ≥ 6 sends numpy arrays as typed arrays, and scattergl click and selection
    events then arrive without them (map_point_rows also recovers rows from point numbers).

    ``fixed_overlays``: all of MAP_OVERLAYS follow the class traces, empty ones included, so that a
    redraw can patch the markers in place (``dash.Patch``) without sending the dataset again;
    otherwise only the overlays with something to draw."""
    fig = go.Figure()
    per_class = class_trace_rows(classes, colours)
    names = [classes[int(rows[0])] for rows in per_class]
    for rows, c, opacity in zip(per_class, names, class_opacities(names, highlight)):
        fig.add_trace(
            go.Scattergl(
                x=coords[rows, 0],
                y=coords[rows, 1],
                mode="markers",
                name=c,
                customdata=rows.tolist(),
                marker=dict(size=5, color=colours[c], opacity=opacity),
                hovertemplate=f"{c}<extra></extra>",
            )
        )
    overlays = map_overlays(coords, classes, colours, result_rows, reference_xy, query_xy, show_lines, ideal_rows)
    for name, trace in overlays.items():
        if fixed_overlays or len(trace.x or ()):
            fig.add_trace(trace)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x", scaleratio=1)
    return _base_layout(
        fig,
        height=620,
        dragmode=dragmode,
        uirevision=uirevision,
        clickmode="event+select",
        legend=dict(orientation="h", y=-0.02, x=0, font=dict(size=11), itemsizing="constant"),
        hovermode="closest",
    )


def token_figure(
    words: Sequence[str], scores: Sequence[float], is_template: Sequence[bool], title: str = ""
) -> go.Figure:
    """F2: one signed bar per word of the prompt, in reading order; the method's template words
    are drawn faint so the user's own words stand out."""
    colours = ["#2f9e44" if s >= 0 else "#e03131" for s in scores]
    opacity = [0.35 if t else 1.0 for t in is_template]
    # Repeated words ("a ... a") need distinct categories: position-tagged x values, word labels.
    x = [f"{i}:{w}" for i, w in enumerate(words)]
    fig = go.Figure(
        go.Bar(
            x=x,
            y=list(scores),
            marker={"color": colours, "opacity": opacity},
            customdata=[["template" if t else "your text"] for t in is_template],
            hovertemplate="%{text}<br>score %{y:+.4f}<br>%{customdata[0]}<extra></extra>",
            text=list(words),
            textposition="none",
        )
    )
    fig.update_xaxes(tickvals=x, ticktext=list(words), tickangle=-30)
    fig.update_yaxes(zeroline=True, zerolinecolor="#adb5bd", title_text="attribution")
    return _base_layout(
        fig,
        height=230,
        title={"text": title, "font": {"size": 12}, "x": 0.01},
        margin={"l": 50, "r": 8, "t": 26, "b": 50},
    )


F3_CELL = (46, 32)  # px per image column and per prompt row: a rank fits at 12 px and 40+ columns stay readable
F3_THUMB = 40  # px: the thumbnail heading each column
F3_LABELS = 220  # px of left margin for the prompt labels


def rank_delta_figure(
    images: Sequence[str],
    prompts: Sequence[str],
    ranks: np.ndarray,
    delta: np.ndarray,
    k: int,
    thumbnails: Sequence[str] | None = None,
    cell: tuple[int, int] = F3_CELL,
) -> go.Figure:
    """F3: prompts × images; colour = rank change against the original (blue: moved up), text =
    the rank under that prompt ("–" when not in its top-k).  Every cell has a fixed size (``cell``, px)
    whatever the number of columns: the figure grows wider and the page scrolls it, instead of squeezing
    40 columns into unreadable slivers.  ``thumbnails`` (image URLs, one per column) head the columns."""
    text = [[str(r) if r <= k else "–" for r in row] for row in ranks]
    hover = [
        [
            f"{img}<br>{p}: {'rank ' + str(r) if r <= k else 'not in top-' + str(k)}<br>Δ {d:+d}"
            for img, r, d in zip(images, rrow, drow)
        ]
        for p, rrow, drow in zip(prompts, ranks, delta)
    ]
    lim = max(1, int(np.abs(delta).max()) if delta.size else 1)
    short = [i.rsplit("/", 1)[-1] for i in images]
    labels = [p if len(p) <= 34 else p[:32] + "…" for p in prompts]
    n, rows = len(images), len(prompts)
    top = F3_THUMB + 10 if thumbnails else 8
    bottom, right = 90, 70  # rotated file names; the colour bar
    plot_w, plot_h = cell[0] * max(n, 1), cell[1] * max(rows, 1)
    fig = go.Figure(
        go.Heatmap(
            z=delta,
            x=list(range(n)),
            y=labels,
            text=text,
            texttemplate="%{text}",
            hovertext=hover,
            hoverinfo="text",
            colorscale=[[0, "#1c7ed6"], [0.5, "#f8f9fa"], [1, "#e8590c"]],
            zmin=-lim,
            zmax=lim,
            colorbar={"title": {"text": "Δ rank", "side": "right"}, "thickness": 10, "len": 1, "lenmode": "fraction"},
            xgap=2,
            ygap=2,
            textfont={"size": 12},
        )
    )
    if thumbnails:
        fig.update_layout(
            images=[
                dict(
                    source=src,
                    xref="x",
                    yref="paper",
                    x=j,
                    y=1.0,
                    sizex=0.92,
                    sizey=F3_THUMB / plot_h,
                    xanchor="center",
                    yanchor="bottom",
                    sizing="contain",
                    layer="above",
                )
                for j, src in enumerate(thumbnails)
            ]
        )
    fig.update_xaxes(
        tickvals=list(range(n)),
        ticktext=short,
        tickangle=-60,
        tickfont={"size": 10},
        range=[-0.5, n - 0.5],
        fixedrange=True,
    )
    fig.update_yaxes(autorange="reversed", fixedrange=True, tickfont={"size": 12})
    return _base_layout(
        fig,
        width=F3_LABELS + plot_w + right,
        height=top + plot_h + bottom,
        autosize=False,
        margin={"l": F3_LABELS, "r": right, "t": top, "b": bottom},
    )

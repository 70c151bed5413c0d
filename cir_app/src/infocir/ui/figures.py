"""Pure figure builders: data in, Plotly figures (or image data URIs) out. No engine, no I/O."""

from __future__ import annotations

import base64
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import plotly.graph_objects as go

from infocir.projection.density import DensityGrid

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


def class_histogram(
    classes: Sequence[str], highlight: str | None, colours: dict[str, str], of: str = "the top-k"
) -> go.Figure:
    """C1: how many of the top-k (or of ``of``: a map selection) fall in each class, most frequent first;
    the highlighted class stands out."""
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
            hovertemplate="%{y}: %{x} of " + of + "<extra>click to highlight</extra>",
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
    for c, v in zip(classes, s, strict=True):
        out[c] = out.get(c, 0.0) + float(v)
    return out


@dataclass(frozen=True)
class WordCloudPicture:
    """C2's picture and where each word sits on it (in % of the picture: it is shown at any width)."""

    uri: str
    boxes: tuple[tuple[str, float, float, float, float], ...] = ()  # (word, left, top, width, height) %


def wordcloud_data_uri(weights: dict[str, float], colours: dict[str, str], width: int = 420, height: int = 220) -> str:
    """C2: a PNG word cloud as a data URI. Works for one class and for all-equal weights."""
    return wordcloud_picture(weights, colours, width, height).uri


def wordcloud_picture(
    weights: dict[str, float], colours: dict[str, str], width: int = 420, height: int = 220
) -> WordCloudPicture:
    """C2 with each word's box, so that a click on a word can act on it (cached: the same cloud is asked
    for again whenever the highlight changes)."""
    if not weights:
        return WordCloudPicture("")
    return _wordcloud(tuple(sorted(weights.items())), tuple(sorted(colours.items())), width, height)


@lru_cache(maxsize=64)
def _wordcloud(weights: tuple, colours: tuple, width: int, height: int) -> WordCloudPicture:
    from PIL import Image, ImageDraw, ImageFont
    from wordcloud import WordCloud

    colour_of = dict(colours)
    freq = {k: v for k, v in weights if v > 0} or {k: 1.0 for k, _ in weights}
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
        color_func=lambda word, **_: colour_of.get(word, "#333"),
    )
    # WordCloud splits on nothing when given frequencies, so multi-word classes stay whole.
    img = wc.generate_from_frequencies(freq).to_image()
    buf = io.BytesIO()
    img.save(buf, "PNG")
    draw = ImageDraw.Draw(Image.new("L", (1, 1)))
    boxes = []
    for (word, _), font_size, (top, left), orientation, _colour in wc.layout_:
        font = ImageFont.TransposedFont(ImageFont.truetype(wc.font_path, font_size), orientation=orientation)
        _, _, w, h = draw.textbbox((0, 0), word, font=font, anchor="lt")
        boxes.append((word, 100 * left / width, 100 * top / height, 100 * w / width, 100 * h / height))
    return WordCloudPicture("data:image/png;base64," + base64.b64encode(buf.getvalue()).decode(), tuple(boxes))


def rows_by_label(labels: Sequence, names: Sequence) -> list[np.ndarray]:
    """Index rows (int64, ascending) of each of ``names`` among ``labels`` (one label per row; a label not in
    ``names``, e.g. None, is in no group), in ``names`` order: one stable argsort of the label codes and a slice
    per name, O(N log N) whatever the number of names (a scan per name cost 5.7 s at 1M points × 1,000 classes)."""
    code_of = {name: i for i, name in enumerate(names)}
    codes = np.fromiter((code_of.get(v, -1) for v in labels), np.int64, count=len(labels))
    order = np.argsort(codes, kind="stable")  # rows of each code together, ascending within it
    ends = np.cumsum(np.bincount(codes + 1, minlength=len(names) + 1))  # slot 0: the rows in no group
    return [order[ends[i] : ends[i + 1]] for i in range(len(names))]


def class_trace_rows(classes: Sequence[str], colours: dict[str, str]) -> list[np.ndarray]:
    """Index rows of each per-class map trace, in trace order (sorted class names, empty ones skipped)."""
    return [rows for rows in rows_by_label(classes, sorted(colours)) if len(rows)]


# ----------------------------------------------------------------------------------------- map colouring
MISSING_COLOUR = "#c7c9ce"
COLOUR_SCALE = "Viridis"


@dataclass(frozen=True)
class MapGroups:
    """How the map's dataset points are split into traces: one per class (the default), one per value of
    a categorical attribute, or one coloured trace for a numeric attribute (+ one for missing values).
    ``names``/``rows``/``colours``: per trace, in trace order; ``values``: a numeric trace's colour values."""

    attribute: str
    names: tuple[str, ...]
    rows: tuple[np.ndarray, ...]
    colours: tuple[str, ...]
    values: tuple[list | None, ...] = ()

    def trace_of_row(self) -> dict[int, tuple[int, int]]:
        return {int(r): (t, i) for t, rows in enumerate(self.rows) for i, r in enumerate(rows)}

    def restricted(self, keep: np.ndarray) -> MapGroups:
        """The same traces holding only the rows of ``keep`` (the points drawn over a density layer); traces
        left empty are dropped, so that a trace number still names a drawn trace."""
        keep = np.asarray(keep, np.int64)
        mask = np.zeros(int(keep.max()) + 1 if keep.size else 0, bool)
        mask[keep] = True
        names, rows, colours, values = [], [], [], []
        for t, r in enumerate(self.rows):
            inside = r < len(mask)
            chosen = np.zeros(len(r), bool)
            chosen[inside] = mask[r[inside]]
            if not chosen.any():
                continue
            names.append(self.names[t])
            rows.append(r[chosen])
            colours.append(self.colours[t])
            v = self.values[t] if self.values else None
            values.append(None if v is None else [v[i] for i in np.flatnonzero(chosen)])
        return MapGroups(
            self.attribute, tuple(names), tuple(rows), tuple(colours), tuple(values) if self.values else ()
        )


def _named_colour(value: str) -> str | None:
    """A CSS colour named by an attribute value ("red", "blue"): the demo world's colours look like themselves."""
    from PIL import ImageColor

    try:
        r, g, b = ImageColor.getrgb(value.strip().lower())[:3]
    except ValueError:
        return None
    return f"rgb({r},{g},{b})"


def class_groups(classes: Sequence[str], colours: dict[str, str]) -> MapGroups:
    rows = class_trace_rows(classes, colours)
    names = tuple(classes[int(r[0])] for r in rows)
    return MapGroups("class", names, tuple(rows), tuple(colours[n] for n in names))


def attribute_groups(name: str, kind: str, values: Sequence) -> MapGroups:
    """The traces for an attribute column (``values``: one per dataset row; None is missing)."""
    missing = np.asarray([v is None for v in values])
    missing_rows = np.flatnonzero(missing)
    tail = (("(missing)",), (missing_rows,), (MISSING_COLOUR,), (None,)) if len(missing_rows) else ((), (), (), ())
    if kind == "numeric":
        rows = np.flatnonzero(~missing)
        head = ((name,), (rows,), ("",), ([float(values[int(r)]) for r in rows],))
        return MapGroups(name, *(a + b for a, b in zip(head, tail, strict=True)))
    cats = sorted({v for v in values if v is not None}, key=lambda v: (str(v).lower(), str(v)))
    named = [_named_colour(c) for c in cats]
    use_named = all(named) and len(set(named)) == len(named)
    colours = tuple(named) if use_named else tuple(PALETTE[i % len(PALETTE)] for i in range(len(cats)))
    rows = tuple(rows_by_label(values, cats))  # None (missing) is no category
    return MapGroups(
        name,
        tuple(cats) + tail[0],
        rows + tail[1],
        colours + tail[2],
        (None,) * len(cats) + tail[3],
    )


def group_opacities(groups: MapGroups, classes: Sequence[str], highlight: str | None) -> list:
    """Marker opacity per trace: a highlighted class stands out, the others dim (not hide).  Coloured by
    class, one number per trace; by another attribute, one per point (a class spans several traces)."""
    if groups.attribute == "class" or highlight is None:
        return class_opacities(groups.names, highlight if groups.attribute == "class" else None)
    return [[0.85 if classes[int(r)] == highlight else 0.12 for r in rows] for rows in groups.rows]


def selected_points(groups: MapGroups, selected_rows: Sequence[int] | None) -> list:
    """Each trace's ``selectedpoints`` (positions in the trace) for a map selection; None: no selection
    (nothing dimmed).  Plotly draws the others with ``unselected`` opacity: dimmed, not hidden."""
    if selected_rows is None:
        return [None] * len(groups.rows)
    chosen = np.asarray(selected_rows, np.int64)  # up to every row of a 1M map at density: one mask, not a scan
    top = 1 + max([int(chosen.max()) if chosen.size else -1] + [int(r.max()) for r in groups.rows if len(r)])
    mask = np.zeros(top, bool)
    mask[chosen[chosen >= 0]] = True
    return [np.flatnonzero(mask[rows]).tolist() for rows in groups.rows]


def map_point_rows(
    points: Sequence[dict],
    classes: Sequence[str],
    colours: dict[str, str],
    overlays: dict[str, Sequence[int]],
    groups: MapGroups | None = None,
    leading: int = 0,
) -> list[int]:
    """Index rows of the points of a Plotly click or selection event on the map.

    ``customdata`` (plain lists, see embedding_figure) is used when the event carries it; otherwise
    the row is recovered from ``curveNumber``/``pointNumber``: the dataset traces come first (``groups``,
    by default one per class in ``class_trace_rows`` order), then the overlays named in ``overlays``
    (trace name → rows, in the order they were drawn).  ``leading``: traces drawn before the dataset's (the
    density layer, ``density_trace``), which hold no row.  Events on the reference and query markers give
    no row."""
    per_trace = [np.empty(0, np.int64)] * leading
    per_trace += list(groups.rows) if groups is not None else class_trace_rows(classes, colours)
    overlay_rows = list(overlays.values())
    rows: list[int] = []
    for p in points or []:
        r = p.get("customdata")
        if isinstance(r, list) and r:
            r = r[0]
        if not isinstance(r, int):
            r = _row_from_numbers(p, per_trace, overlay_rows)
            if r is None:
                continue
        if r not in rows:
            rows.append(r)
    return rows


def _row_from_numbers(p: dict, per_trace: list, overlay_rows: list) -> int | None:
    curve, point = p.get("curveNumber"), p.get("pointNumber", p.get("pointIndex"))
    if not isinstance(curve, int) or not isinstance(point, int):
        return None
    if curve < len(per_trace):
        src = per_trace[curve]
    elif curve - len(per_trace) < len(overlay_rows):
        src = overlay_rows[curve - len(per_trace)]
    else:
        return None
    return int(src[point]) if 0 <= point < len(src) else None


# drawn over the dataset traces, in this order; "hovered" rings the point of the gallery tile under the
# pointer (set in the browser by assets/linking.js, so it costs no request)
MAP_OVERLAYS = ("links", "top-k", "ideals", "targets", "reference", "composed query", "hovered")
UNSELECTED = {"marker": {"opacity": 0.07}}  # a map selection dims the other points (does not hide them)


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
    target_rows: Sequence[int] = (),
) -> dict[str, go.Scattergl]:
    """The map's markers over the dataset, one trace per name of MAP_OVERLAYS (an empty trace where
    there is nothing to draw, so each keeps its place and a redraw can replace it alone); ``target_rows``: the
    ground-truth targets of the benchmark query shown (teal squares, apart from the gold ideals)."""
    res = np.asarray(result_rows, int)
    ideals = np.asarray(ideal_rows, int)
    targets = np.asarray(target_rows, int)
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
        hoverinfo="none",  # the hover card (ids.MAP_HOVER) shows the image, its id, class and rank
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
        hoverinfo="none",
    )
    out["targets"] = go.Scattergl(
        x=coords[targets, 0].tolist(),
        y=coords[targets, 1].tolist(),
        mode="markers",
        name="targets",
        customdata=targets.tolist(),
        showlegend=bool(len(targets)),
        marker=dict(size=19, symbol="square-open", color="#0c8599", line=dict(width=2.5)),
        hoverinfo="none",
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
    out["hovered"] = go.Scattergl(
        x=[],
        y=[],
        mode="markers",
        name="hovered",
        showlegend=False,
        hoverinfo="skip",
        marker=dict(size=24, symbol="circle-open", color="#3b5bdb", line=dict(width=4)),
    )
    return out


# Methods side by side (issue 18 §2) on the map: one trace per compared method after MAP_OVERLAYS, always
# COMPARE_SLOTS of them (empty ones too) so that a patch can replace them in place.  Open symbols of
# decreasing size nest when methods agree on an image: every method's mark stays visible.
COMPARE_SLOTS = 3
COMPARE_MARKERS = (  # (Plotly symbol, colour, size, the glyph the page shows for it)
    ("diamond-open", "#7048e8", 21, "◇"),
    ("square-open", "#0ca678", 14, "□"),
    ("triangle-up-open", "#e8590c", 9, "△"),
)


def comparison_traces(coords: np.ndarray, methods: Sequence[dict] = ()) -> list[go.Scattergl]:
    """The compared methods' top-k on the map, one marker style per method (``COMPARE_MARKERS``, in the order
    compared): ``methods`` holds ``{"label", "rows"}``; the missing slots are empty traces."""
    out = []
    for slot, (symbol, colour, size, _) in enumerate(COMPARE_MARKERS[:COMPARE_SLOTS]):
        m = methods[slot] if slot < len(methods) else {"label": f"compared {slot + 1}", "rows": []}
        rows = np.asarray(m.get("rows") or [], int)
        out.append(
            go.Scattergl(
                x=coords[rows, 0].tolist(),
                y=coords[rows, 1].tolist(),
                mode="markers",
                name=m["label"],
                meta="compare",  # tells these from the dataset's traces (their names are the methods')
                customdata=rows.tolist(),  # index rows: the hover card and a click work on these points too
                marker=dict(size=size, symbol=symbol, color=colour, line=dict(width=2.5, color=colour)),
                hoverinfo="none",
                showlegend=bool(len(rows)),
            )
        )
    return out


# The density layer (issue 21): empty cells transparent, then a light-to-slate grey ramp, so that the sampled
# points' class colours and the overlays stay readable on top of it.
DENSITY_SCALE = [
    [0.0, "rgba(255,255,255,0)"],
    [1 / 255, "#eef0f4"],
    [0.5, "#c5cad5"],
    [1.0, "#7d8596"],
]


def density_levels(counts: np.ndarray) -> np.ndarray:
    """Log-scaled counts as colour levels: 0 for an empty cell, 1..255 for 1..max points (uint8: a 256 × 256
    grid is 64 kB before base64)."""
    top = np.log1p(max(1, int(counts.max()))) if counts.size else 1.0
    level = 1 + np.round(254 * np.log1p(counts) / top)
    return np.where(counts > 0, level, 0).astype(np.uint8)


def density_trace(grid: DensityGrid) -> go.Heatmap:
    """The density layer: every map point counted per cell, colour = log count; no hover (the sampled points
    over it have theirs), a colour bar in images per cell."""
    counts = grid.counts
    top = max(1, int(counts.max()))
    ticks = [c for c in (1, 10, 100, 1_000, 10_000, 100_000, 1_000_000) if c <= top]
    if ticks[-1] != top:
        ticks.append(top)
    levels = density_levels(np.asarray(ticks))
    z = density_levels(counts)
    return go.Heatmap(
        # a typed array (plotly.py sends a 2-D numpy array as nested lists: 149 kB instead of 87 kB for 256²)
        z={"dtype": "u1", "bdata": base64.b64encode(z.tobytes()).decode(), "shape": f"{z.shape[0]}, {z.shape[1]}"},
        x0=grid.x0 + grid.cell / 2,
        dx=grid.cell,
        y0=grid.y0 + grid.cell / 2,
        dy=grid.cell,
        zmin=0,
        zmax=255,
        colorscale=DENSITY_SCALE,
        zsmooth="best",  # interpolated: a shaded field, not a mosaic of cells, under the points
        name=f"density of all {grid.total:,}",
        meta="density",
        hoverinfo="skip",
        showscale=True,
        colorbar=dict(
            title=dict(text="images<br>per cell", side="top", font=dict(size=10)),
            tickvals=levels.tolist(),
            ticktext=[f"{c:,}" for c in ticks],
            tickfont=dict(size=10),
            thickness=10,
            len=0.38,
            x=1.0,
            y=0.0,
            yanchor="bottom",
        ),
    )


def dataset_traces(
    coords: np.ndarray,
    classes: Sequence[str],
    groups: MapGroups,
    highlight: str | None = None,
    selected_rows: Sequence[int] | None = None,
    dense: bool = False,
) -> list[go.Scattergl]:
    """The dataset's points, one WebGL trace per group (see MapGroups); ``dense``: drawn over a density layer
    (a numeric attribute's colour bar then leaves room below it for the layer's)."""
    traces = []
    opacities = group_opacities(groups, classes, highlight)
    chosen = selected_points(groups, selected_rows)
    for t, (rows, name, colour) in enumerate(zip(groups.rows, groups.names, groups.colours, strict=True)):
        values = groups.values[t] if groups.values else None
        marker: dict = dict(size=5, color=colour, opacity=opacities[t])
        if values is not None:  # a numeric attribute: a continuous scale with its colour bar as the legend
            marker.update(
                color=values,
                colorscale=COLOUR_SCALE,
                showscale=True,
                colorbar=dict(title=dict(text=name, side="right"), thickness=10, len=0.6, x=1.0)
                | (dict(len=0.5, y=1.0, yanchor="top") if dense else {}),
            )
        traces.append(
            go.Scattergl(
                x=coords[rows, 0],
                y=coords[rows, 1],
                mode="markers",
                name=name,
                customdata=rows.tolist(),
                marker=marker,
                hoverinfo="none",  # the hover card (ids.MAP_HOVER) replaces Plotly's label
                selectedpoints=chosen[t],
                unselected=UNSELECTED,
                showlegend=values is None,
            )
        )
    return traces


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
    groups: MapGroups | None = None,
    selected_rows: Sequence[int] | None = None,
    target_rows: Sequence[int] = (),
    density: DensityGrid | None = None,
) -> go.Figure:
    """D: every image as a WebGL point coloured by class (or by ``groups``: an attribute), with the
    reference (star), the composed query (X), the top-k (ringed) and the ideals (gold) on top.

    ``density`` (a map of more than ``ui.map_density_above`` images): the first trace is that layer, every
    point counted (``density_trace``), and ``groups`` hold only the points drawn over it (a sample); the legend
    title says so.  The overlays are drawn as always, from ``coords`` (every row).
    ``customdata`` holds index rows as plain lists: Plotly ≥ 6 sends numpy arrays as typed arrays, and
    scattergl click and selection events then arrive without them (map_point_rows also recovers rows
    from point numbers).  ``selected_rows``: a map selection, the other points dimmed.

    ``fixed_overlays``: all of MAP_OVERLAYS follow the dataset traces, empty ones included, so that a
    redraw can patch the markers in place (``dash.Patch``) without sending the dataset again;
    otherwise only the overlays with something to draw."""
    groups = groups or class_groups(classes, colours)
    dense = density is not None
    fig = go.Figure([density_trace(density)] if dense else [])
    fig.add_traces(dataset_traces(coords, classes, groups, highlight, selected_rows, dense))
    overlays = map_overlays(
        coords, classes, colours, result_rows, reference_xy, query_xy, show_lines, ideal_rows, target_rows
    )
    for trace in overlays.values():
        if fixed_overlays or len(trace.x or ()):
            fig.add_trace(trace)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x", scaleratio=1)
    title = None if groups.attribute == "class" else dict(text=f"{groups.attribute}: ", font=dict(size=11))
    heading = {}
    if dense:  # what the grey and the points are, above the map (the legend keeps its width for the names)
        drawn = sum(len(r) for r in groups.rows)
        heading = dict(
            title=dict(
                text=f"grey: all {density.total:,} images (log density) · points: {drawn:,} of them, "
                f"by {groups.attribute}",
                font=dict(size=11, color="#4b5263"),
                x=0.01,
                xanchor="left",
                y=0.995,
                yanchor="top",
            ),
            margin=dict(l=8, r=8, t=30, b=8),
        )
    return _base_layout(
        fig,
        height=620,
        dragmode=dragmode,
        uirevision=uirevision,
        clickmode="event",  # a click opens the point's card; lasso and box select
        legend=dict(orientation="h", y=-0.02, x=0, font=dict(size=11), itemsizing="constant", title=title),
        hovermode="closest",
        **heading,
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
            for img, r, d in zip(images, rrow, drow, strict=True)
        ]
        for p, rrow, drow in zip(prompts, ranks, delta, strict=True)
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

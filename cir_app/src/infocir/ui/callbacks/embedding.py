"""Panel D: the UMAP map with the query marked, linked both ways with the other panels.

* Pointing at a point shows a hover card (``ids.MAP_HOVER``): its thumbnail, id, class and rank.
* A click opens the point's card (``ids.MAP_CARD``) with "use as reference" and "mark ideal".
* A lasso or box selection browses the selected images in B and C, and dims the other points.
* Above ``ui.map_density_above`` images the points are a density layer of all of them under a class-stratified
  sample (``Services.density``, ``Services.sample``); a lasso or box then selects every image inside the
  region drawn (``projection.density``), the page says how many, and the store holds the region, not the rows.
* "colour by" colours the points by class or by any column of the dataset's ``attributes.csv``.
* Pointing at a gallery tile rings its point (``assets/linking.js``, in the browser: no request).
* "Methods side by side" draws each compared method's top-k in a marker of its own
  (``figures.comparison_traces``, after the overlays; ``ids.CMP_MAP``).

The dataset's points are sent once, when the map is first drawn (and again when the colouring
changes); a new search, a highlight, the ideals, the lines switch or a selection change only the
markers, and are sent as a ``dash.Patch`` of those traces (``figures.MAP_OVERLAYS``) and of the
dataset traces' opacity and selected points.

While the map is fitted, a 1 s poll asks only whether it is ready (``ids.MAP_READY``); the figure is
never drawn by the poll.  (It was: on a busy server a figure took longer than a tick, the browser keeps
only the newest answer of a callback, so each tick dropped the answer before it, searches included,
and the map could stay without its top-k markers.)  ``ids.MAP_DRAWN`` is set by the answer that carries
the full figure: a patch is sent only onto a figure the page has."""

from __future__ import annotations

from dash import Dash, Input, Output, Patch, State, ctx, html, no_update

from infocir.projection.density import selection_region
from infocir.ui import ids, polling
from infocir.ui.callbacks.gallery import benchmark_targets
from infocir.ui.figures import (
    MAP_OVERLAYS,
    comparison_traces,
    embedding_figure,
    empty_figure,
    group_opacities,
    map_overlays,
    map_point_rows,
    selected_points,
)
from infocir.ui.media import media_url
from infocir.ui.query_state import with_vector
from infocir.ui.services import Services

CARD_WIDTH = 232  # px, as in style.css (.map-card)
FULL_REDRAW = (None, ids.MAP_READY, ids.MAP_COLOUR)  # what sends the dataset's points (again)


class MapPanel:
    """The callbacks of panel D, bound to the app's services."""

    def __init__(self, s: Services):
        self.s = s
        self.index = s.engine.index

    # ------------------------------------------------------------------ the figure
    def poll(self, tick):
        """Cheap: the map service's state (the figure callback draws once it is "ready"); ``tick`` is
        echoed for the poll's gate (ui/polling.py)."""
        state, message = self.s.maps.status()
        if state == "fitting":
            return no_update, message, False, tick
        return state, message, True, tick

    def figure(
        self, ready, results, highlight, ideals, lines, browse, colour, tool, drawn, kept, compare=None, marks=None
    ):
        if ready != "ready":
            text = "The map is unavailable." if ready == "error" else "The map is being built…"
            return empty_figure(text), no_update, None
        m, index = self.s.maps.map, self.index
        groups = self.s.groups(colour)
        ref_xy, query_xy = self.s.placements(with_vector(results, kept)) if results else (None, None)
        ideal_rows = [index.row_of[i] for i in (ideals or []) if i in index.row_of]
        # the benchmark query's ground-truth targets, while its results are shown (as B frames them)
        target_rows = [index.row_of[i] for i in benchmark_targets(marks, results) if i in index.row_of]
        note = ""
        if results and query_xy is None and results.get("method"):
            note = "This method fuses scores rather than composing one query vector, so no ✕ is drawn."
        res_rows, show_lines = (results or {}).get("rows", []), "lines" in (lines or [])
        selected = self.s.selection(browse)
        if selected is not None and not len(selected):
            selected = None
        density = self.s.density()
        lead = 0 if density is None else 1  # the density layer comes first
        if density is not None and selected is not None:
            count = f"{len(selected):,} image{'s'[: len(selected) != 1]}"
            note = (note + " " if note else "") + (
                f"The selection holds {count}: every image inside it, not only the points drawn."
            )
        if drawn != groups.attribute or ctx.triggered_id in FULL_REDRAW:
            # first drawing (the poll stops once the map is on the page) or a new colouring: everything
            fig = embedding_figure(
                m.coords,
                index.classes,
                self.s.colours,
                res_rows,
                ref_xy,
                query_xy,
                highlight,
                show_lines,
                ideal_rows,
                dragmode=tool or "lasso",
                fixed_overlays=True,
                groups=groups,
                selected_rows=selected,
                target_rows=target_rows,
                density=density,
            )
            fig.add_traces(comparison_traces(m.coords, compare or []))  # after MAP_OVERLAYS, always present
            return fig, note, groups.attribute
        # the map is on the page: replace only the markers, the opacities and the selected points
        patch = Patch()
        chosen = selected_points(groups, selected)
        for i, opacity in enumerate(group_opacities(groups, index.classes, highlight)):
            patch["data"][lead + i]["marker"]["opacity"] = opacity
            patch["data"][lead + i]["selectedpoints"] = chosen[i]
        overlays = map_overlays(
            m.coords, index.classes, self.s.colours, res_rows, ref_xy, query_xy, show_lines, ideal_rows, target_rows
        )
        for j, name in enumerate(MAP_OVERLAYS):
            patch["data"][lead + len(groups.rows) + j] = overlays[name].to_plotly_json()
        if ctx.triggered_id == ids.CMP_MAP:  # the methods side by side: sent only when they change
            first = lead + len(groups.rows) + len(MAP_OVERLAYS)
            for j, trace in enumerate(comparison_traces(m.coords, compare or [])):
                patch["data"][first + j] = trace.to_plotly_json()
        if selected is None:
            patch["layout"]["selections"] = []  # no lasso outline left without a selection
        if tool:
            patch["layout"]["dragmode"] = tool
        return patch, note, no_update

    @staticmethod
    def tool(relayout):
        # Plotly keeps zoom across redraws (uirevision) but not the mode-bar tool: remember it here.
        tool = (relayout or {}).get("dragmode")
        return tool if tool in ("zoom", "pan", "select", "lasso") else no_update

    # ------------------------------------------------------------------ events
    def event_rows(self, points, results, ideals, colour, marks=None) -> list[int]:
        """Index rows of the map points in a click, hover or selection event (see figures.map_point_rows);
        the page's map has the density layer when ``Services.dense``, the dataset traces of its colouring, then
        every overlay of MAP_OVERLAYS."""
        index = self.index
        ideal_rows = [index.row_of[i] for i in (ideals or []) if i in index.row_of]
        target_rows = [index.row_of[i] for i in benchmark_targets(marks, results) if i in index.row_of]
        overlays = {"links": [], "top-k": (results or {}).get("rows", []), "ideals": ideal_rows, "targets": target_rows}
        lead = 1 if self.s.dense else 0
        rows = map_point_rows(points, index.classes, self.s.colours, overlays, self.s.groups(colour), lead)
        return [r for r in rows if 0 <= r < len(index)]

    def select(self, selected, results, ideals, colour, marks=None):
        """A lasso or box: the rows of the points it caught; over a density layer, the region drawn (B, C and D
        ask ``Services.selection`` for every image inside it; only its count travels with it)."""
        region = selection_region(selected) if self.s.dense else None
        if region is not None:
            rows = self.s.selection({"region": region})
            return {"region": region, "count": len(rows)} if rows is not None and len(rows) else no_update
        if not selected or not selected.get("points"):
            return no_update
        rows = self.event_rows(selected["points"], results, ideals, colour, marks)
        return {"rows": rows} if rows else no_update

    def click(self, click, results, ideals, colour, marks=None):
        """A click opens the point's card beside it (``card``); clickData is reset so that clicking the
        same point again opens it again."""
        if not click or not click.get("points"):
            return no_update, no_update
        point = click["points"][0]
        rows = self.event_rows([point], results, ideals, colour, marks)
        if not rows:
            return no_update, None
        return {"row": rows[0], "bbox": point.get("bbox")}, None

    def describe(self, row: int, results: dict | None, colour: str | None) -> list:
        """What a card says about an image: id, class, its rank in the results, the colouring attribute."""
        iid, cls = self.index.ids[row], self.index.classes[row]
        lines = [html.Div(iid, className="mono card-id"), html.Div(["class ", html.B(cls)], className="card-class")]
        if results and results.get("ids"):
            k = len(results["ids"])
            rank = results["ids"].index(iid) + 1 if iid in results["ids"] else None
            lines.append(
                html.Div(
                    f"rank #{rank} of the top-{k}" if rank else f"not in the top-{k}",
                    className="card-rank" + ("" if rank else " muted"),
                )
            )
        value = self.s.attribute_value(colour, row)
        if colour not in (None, "class"):
            shown = "(missing)" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))
            lines.append(html.Div([f"{colour} ", html.B(shown)], className="card-attr"))
        return lines

    def hover(self, hover, results, ideals, colour, marks=None):
        if not hover or not hover.get("points"):
            return False, no_update, no_update
        point = hover["points"][0]
        rows = self.event_rows([point], results, ideals, colour, marks)
        if not rows or not point.get("bbox"):
            return False, no_update, no_update
        row = rows[0]
        body = html.Div(
            [
                html.Img(src=media_url(self.index.ids[row], 128), className="hover-img"),
                *self.describe(row, results, colour),
            ],
            className="hover-card",
            **{"data-row": str(row)},
        )
        return True, point["bbox"], body

    # ------------------------------------------------------------------ the card a click opens
    def card(self, opened, ideals, results, colour):
        if not opened or opened.get("row") is None or not 0 <= opened["row"] < len(self.index):
            return {"display": "none"}, no_update, no_update, no_update
        row = opened["row"]
        iid = self.index.ids[row]
        bbox = opened.get("bbox") or {}
        x, y = bbox.get("x1", 40), bbox.get("y0", 40)
        style = {
            "display": "flex",
            "left": f"min({x + 14:.0f}px, calc(100% - {CARD_WIDTH + 6}px))",
            "top": f"max(4px, {y - 30:.0f}px)",
        }
        ideal = iid in (ideals or [])
        label = "★ Unmark ideal" if ideal else "☆ Mark ideal"
        return style, media_url(iid, 256), self.describe(row, results, colour), label

    def use(self, n, opened, search_clicks):
        """ "Use as reference": that image replaces the reference (an upload too) and the search runs, as
        ↺ in the gallery does; the card closes."""
        if not n or not opened or opened.get("row") is None:
            return (no_update,) * 5
        return self.index.ids[opened["row"]], "dataset", None, (search_clicks or 0) + 1, None

    def mark(self, n, opened, ideals):
        if not n or not opened or opened.get("row") is None:
            return no_update
        iid = self.index.ids[opened["row"]]
        ideals = list(ideals or [])
        return [i for i in ideals if i != iid] if iid in ideals else ideals + [iid]

    @staticmethod
    def close(n):
        return None if n else no_update


def register(app: Dash, s: Services) -> None:
    p = MapPanel(s)
    app.callback(
        Output(ids.MAP_READY, "data"),
        Output(ids.MAP_STATUS, "children", allow_duplicate=True),
        Output(ids.MAP_POLL, "disabled"),
        Output(polling.answered(ids.MAP_POLL), "data"),
        Input(polling.tick(ids.MAP_POLL), "data"),
        prevent_initial_call="initial_duplicate",
    )(p.poll)
    polling.register_gate(app, ids.MAP_POLL)
    app.callback(
        Output(ids.MAP, "figure"),
        Output(ids.MAP_STATUS, "children"),
        Output(ids.MAP_DRAWN, "data"),
        Input(ids.MAP_READY, "data"),
        Input(ids.RESULTS_STORE, "data"),
        Input(ids.HIGHLIGHT_STORE, "data"),
        Input(ids.IDEALS_STORE, "data"),
        Input(ids.MAP_LINES, "value"),
        Input(ids.BROWSE_STORE, "data"),
        Input(ids.MAP_COLOUR, "value"),
        State(ids.MAP_TOOL, "data"),
        State(ids.MAP_DRAWN, "data"),
        State(ids.QUERY_VECTOR, "data"),
        Input(ids.CMP_MAP, "data"),  # the compared methods' top-k (ui/callbacks/compare.py)
        Input(ids.BENCH_TARGETS, "data"),  # the loaded benchmark query's targets (ui/callbacks/benchmark.py)
    )(p.figure)
    app.callback(Output(ids.MAP_TOOL, "data"), Input(ids.MAP, "relayoutData"), prevent_initial_call=True)(p.tool)
    events = (
        State(ids.RESULTS_STORE, "data"),
        State(ids.IDEALS_STORE, "data"),
        State(ids.MAP_COLOUR, "value"),
        State(ids.BENCH_TARGETS, "data"),
    )
    selection = Input(ids.MAP, "selectedData")
    if s.dense:
        # Over a density layer only the region drawn matters: the browser sends it without the event's points (a
        # lasso around 30,000 drawn points would upload ~2.7 MB of them).
        app.clientside_callback(
            "function(e) { return e ? {points: [], lassoPoints: e.lassoPoints, range: e.range} : null; }",
            Output(ids.MAP_REGION, "data"),
            Input(ids.MAP, "selectedData"),
            prevent_initial_call=True,
        )
        selection = Input(ids.MAP_REGION, "data")
    app.callback(
        Output(ids.BROWSE_STORE, "data", allow_duplicate=True),
        selection,
        *events,
        prevent_initial_call=True,
    )(p.select)
    app.callback(
        Output(ids.MAP_CARD_STORE, "data"),
        Output(ids.MAP, "clickData"),
        Input(ids.MAP, "clickData"),
        *events,
        prevent_initial_call=True,
    )(p.click)
    app.callback(
        Output(ids.MAP_HOVER, "show"),
        Output(ids.MAP_HOVER, "bbox"),
        Output(ids.MAP_HOVER, "children"),
        Input(ids.MAP, "hoverData"),
        *events,
        prevent_initial_call=True,
    )(p.hover)
    register_card(app, p)


def register_card(app: Dash, p: MapPanel) -> None:
    app.callback(
        Output(ids.MAP_CARD, "style"),
        Output(ids.MAP_CARD_IMG, "src"),
        Output(ids.MAP_CARD_TEXT, "children"),
        Output(ids.MAP_CARD_IDEAL, "children"),
        Input(ids.MAP_CARD_STORE, "data"),
        Input(ids.IDEALS_STORE, "data"),
        Input(ids.RESULTS_STORE, "data"),
        State(ids.MAP_COLOUR, "value"),
    )(p.card)
    app.callback(
        Output(ids.REFERENCE, "value", allow_duplicate=True),
        Output(ids.REF_MODE, "data", allow_duplicate=True),
        Output(ids.UPLOAD_REF, "data", allow_duplicate=True),
        Output(ids.SEARCH, "n_clicks", allow_duplicate=True),
        Output(ids.MAP_CARD_STORE, "data", allow_duplicate=True),
        Input(ids.MAP_CARD_USE, "n_clicks"),
        State(ids.MAP_CARD_STORE, "data"),
        State(ids.SEARCH, "n_clicks"),
        prevent_initial_call=True,
    )(p.use)
    app.callback(
        Output(ids.IDEALS_STORE, "data", allow_duplicate=True),
        Input(ids.MAP_CARD_IDEAL, "n_clicks"),
        State(ids.MAP_CARD_STORE, "data"),
        State(ids.IDEALS_STORE, "data"),
        prevent_initial_call=True,
    )(p.mark)
    app.callback(
        Output(ids.MAP_CARD_STORE, "data", allow_duplicate=True),
        Input(ids.MAP_CARD_CLOSE, "n_clicks"),
        prevent_initial_call=True,
    )(p.close)

"""Panel D at scale (issue 21): the density layer, the sample drawn over it, and lasso/box selection of every
image inside a region, computed on the server (``infocir.projection.density``)."""

import base64

import numpy as np
import plotly.graph_objects as go
import pytest

from infocir.config import AppConfig, ConfigError, apply_overrides
from infocir.projection.density import (
    density_grid,
    rows_in_box,
    rows_in_polygon,
    rows_in_region,
    selection_region,
    stratified_sample,
)
from infocir.ui.figures import (
    MAP_OVERLAYS,
    attribute_groups,
    class_colours,
    class_groups,
    comparison_traces,
    density_levels,
    embedding_figure,
    map_point_rows,
    selected_points,
)


def _z(trace) -> np.ndarray:
    """A heatmap's z sent as a typed array ({dtype, bdata, shape}) decoded."""
    spec = trace.z
    shape = tuple(int(v) for v in spec["shape"].split(","))
    return np.frombuffer(base64.b64decode(spec["bdata"]), np.dtype(spec["dtype"])).reshape(shape)


# --------------------------------------------------------------------------------------- the density grid
def test_the_grid_counts_every_point_once_in_square_cells():
    # a 4 × 2 box with 4 cells on its longer side: cells of 1 × 1, 4 across and 2 up
    coords = np.array([[0, 0], [0.5, 0.5], [3.9, 0.2], [4, 2], [4, 0], [2.5, 1.5], [2.5, 1.5]], np.float32)
    grid = density_grid(coords, bins=4)
    assert grid.cell == 1.0 and (grid.x0, grid.y0) == (0.0, 0.0)
    want = np.zeros((2, 4), int)
    want[0, 0] = 2  # (0, 0) and (0.5, 0.5)
    want[0, 3] = 2  # (3.9, 0.2) and (4, 0): the right edge falls in the last cell
    want[1, 3] = 1  # (4, 2): the top-right corner
    want[1, 2] = 2  # (2.5, 1.5) twice
    np.testing.assert_array_equal(grid.counts, want)
    assert grid.total == len(coords)
    one = density_grid(np.ones((5, 2)), bins=8)  # all at one place: one cell
    assert one.counts.shape == (1, 1) and one.total == 5


def test_the_grid_of_many_points_sums_to_n():
    coords = np.random.default_rng(1).normal(size=(50_000, 2)) * [3, 1]
    grid = density_grid(coords, bins=64)
    assert grid.total == 50_000 and grid.counts.shape[1] == 64 and grid.counts.shape[0] < 64


def test_levels_are_log_scaled_and_zero_only_for_empty_cells():
    levels = density_levels(np.array([0, 1, 10, 100, 1000]))
    # 1 + round(254 · ln(1 + c) / ln(1001)): 1 + round(25.48), 1 + round(88.16), 1 + round(169.67), 255
    assert levels.dtype == np.uint8 and levels.tolist() == [0, 26, 89, 171, 255]
    assert density_levels(np.array([0, 1])).tolist() == [0, 255]  # one point at most: full colour


# --------------------------------------------------------------------------------------- the sample
def test_the_sample_is_stratified_by_class_deterministic_and_exact():
    classes = ["a"] * 7000 + ["b"] * 2900 + ["c"] * 99 + ["d"]  # 10,000 rows, one class of one
    rows = stratified_sample(classes, 1000, seed=3)
    assert len(rows) == 1000 and len(set(rows.tolist())) == 1000 and list(rows) == sorted(rows)
    picked = {c: sum(classes[r] == c for r in rows) for c in "abcd"}
    assert picked["d"] == 1  # every class drawn at least once
    # one each first, then the other 996 in proportion to the rest of each class: 697.4, 288.8, 9.8 (+1 each)
    assert picked["a"] == 698 and picked["b"] in (289, 290) and picked["c"] in (10, 11) and sum(picked.values()) == 1000
    np.testing.assert_array_equal(rows, stratified_sample(classes, 1000, seed=3))
    assert not np.array_equal(rows, stratified_sample(classes, 1000, seed=4))
    np.testing.assert_array_equal(stratified_sample(classes[:50], 1000), np.arange(50))  # fewer rows: all
    many = [f"c{i}" for i in range(300)] * 2  # more classes than the sample: still exactly its size
    assert len(stratified_sample(many, 100)) == 100


# --------------------------------------------------------------------------------------- the figure
def _world(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    coords = rng.normal(size=(n, 2)).astype(np.float32)
    classes = [f"class {c}" for c in rng.integers(0, 5, n)]
    return coords, classes, class_colours(classes)


def test_the_density_figure_has_the_layer_below_the_sample_below_the_overlays():
    coords, classes, colours = _world()
    sample = stratified_sample(classes, 400, seed=0)
    groups = class_groups(classes, colours).restricted(sample)
    grid = density_grid(coords, bins=32)
    fig = embedding_figure(
        coords,
        classes,
        colours,
        result_rows=[1, 2, 3],
        reference_xy=[0, 0],
        query_xy=[0.5, 0.5],
        ideal_rows=[2],
        fixed_overlays=True,
        groups=groups,
        density=grid,
    )
    fig.add_traces(comparison_traces(coords, [{"label": "m", "rows": [5, 6]}]))
    data = fig.data
    # order: the density layer, then one WebGL trace per class of the sample, then every overlay, then the methods
    assert isinstance(data[0], go.Heatmap) and data[0].meta == "density" and data[0].hoverinfo == "skip"
    dataset = data[1 : 1 + len(groups.rows)]
    assert [t.name for t in dataset] == sorted(set(classes)) and all(isinstance(t, go.Scattergl) for t in dataset)
    assert [t.name for t in data[1 + len(groups.rows) : 1 + len(groups.rows) + len(MAP_OVERLAYS)]] == list(MAP_OVERLAYS)
    assert [t.meta for t in data[-3:]] == ["compare"] * 3
    # the sample: 400 points, each drawn where its row is, coloured by its class
    assert sum(len(t.customdata) for t in dataset) == 400
    assert sorted(r for t in dataset for r in t.customdata) == sample.tolist()
    for t in dataset:
        np.testing.assert_array_equal(np.c_[t.x, t.y], coords[list(t.customdata)])
        assert {classes[r] for r in t.customdata} == {t.name} and t.marker.color == colours[t.name]
    # the overlays come from every row, not only the sample
    topk = next(t for t in data if t.name == "top-k")
    assert list(topk.customdata) == [1, 2, 3]
    # the layer: every point counted (the histogram sums to N), drawn where the points are
    assert grid.total == len(coords) and data[0].name == f"density of all {len(coords):,}"
    z = _z(data[0])
    np.testing.assert_array_equal(z > 0, grid.counts > 0)
    np.testing.assert_array_equal(z, density_levels(grid.counts))
    assert data[0].x0 == pytest.approx(coords[:, 0].min() + grid.cell / 2, rel=1e-6)
    assert data[0].dx == data[0].dy == grid.cell
    assert "all 3,000 images (log density)" in fig.layout.title.text and "400 of them" in fig.layout.title.text
    # without a density layer: unchanged (the dataset traces first)
    plain = embedding_figure(coords, classes, colours)
    assert all(isinstance(t, go.Scattergl) for t in plain.data) and sum(len(t.x) for t in plain.data) == 3000


def test_a_numeric_colouring_at_density_keeps_its_values_and_colour_bar():
    coords, classes, colours = _world(500)
    values = [float(i) if i % 7 else None for i in range(500)]
    groups = attribute_groups("size", "numeric", values).restricted(np.arange(0, 500, 5))
    assert groups.names == ("size", "(missing)")
    assert list(groups.values[0]) == [float(r) for r in groups.rows[0]]
    fig = embedding_figure(coords, classes, colours, groups=groups, density=density_grid(coords, 16))
    assert fig.data[1].marker.colorbar.yanchor == "top"  # above the density layer's colour bar
    assert "by size" in fig.layout.title.text and fig.layout.legend.title.text == "size: "


def test_events_on_the_sample_map_to_rows_past_the_density_layer():
    coords, classes, colours = _world(200)
    groups = class_groups(classes, colours).restricted(stratified_sample(classes, 50))
    overlays = {"links": [], "top-k": [7, 8], "ideals": [], "targets": []}
    points = [
        {"curveNumber": 1, "pointNumber": 2},  # the first class trace (trace 0 is the layer)
        {"curveNumber": 0, "pointNumber": 5},  # the layer itself: no row
        {"curveNumber": 1 + len(groups.rows) + 1, "pointNumber": 1},  # top-k's second
    ]
    rows = map_point_rows(points, classes, colours, overlays, groups, leading=1)
    assert rows == [int(groups.rows[0][2]), 8]
    # the selected points of each drawn trace, for a selection of rows that are mostly not drawn
    chosen = selected_points(groups, list(range(0, 200, 2)))
    for t, rows in enumerate(groups.rows):
        assert [rows[i] for i in chosen[t]] == [r for r in rows if r % 2 == 0]


# --------------------------------------------------------------------------------------- selection
# A concave "U" (a 6 × 6 square with a 2 × 4 notch cut from the top middle), drawn counter-clockwise.
U = [[0, 0], [6, 0], [6, 6], [4, 6], [4, 2], [2, 2], [2, 6], [0, 6]]
U_CASES = {  # point: inside?  (by hand)
    (1, 1): True,  # the bottom bar
    (3, 1): True,
    (5, 5): True,  # the right arm
    (1, 5): True,  # the left arm
    (3, 4): False,  # in the notch: inside the bounding box, outside the polygon
    (3, 5.9): False,
    (3, 2.5): False,  # just above the notch's floor
    (3, 1.5): True,  # just below it
    (7, 1): False,  # right of the box
    (-1, 3): False,
    (1, 2): True,  # level with the notch's floor (a ray along a horizontal edge)
    (5, 2): True,
    (3, 6): False,  # level with the arms' tops, in the notch
}


def test_points_inside_a_concave_polygon_by_hand():
    pts = np.array(list(U_CASES), np.float64)
    rows = rows_in_polygon(pts, U)
    assert rows.tolist() == [i for i, inside in enumerate(U_CASES.values()) if inside]
    closed = U + [U[0]]  # a lasso that ends where it began: the same
    assert rows_in_polygon(pts, closed).tolist() == rows.tolist()
    assert rows_in_polygon(pts, U[::-1]).tolist() == rows.tolist()  # clockwise: the same
    assert rows_in_polygon(pts, U[:2]).size == 0  # not a polygon


def test_polygon_selection_agrees_with_matplotlib_on_many_points():
    path = pytest.importorskip("matplotlib.path")
    rng = np.random.default_rng(7)
    pts = rng.uniform(-1.2, 1.2, size=(20_000, 2))
    angles = np.sort(rng.uniform(0, 2 * np.pi, 60))
    radius = rng.uniform(0.3, 1.0, 60)  # a star-shaped, very concave polygon of 60 vertices
    poly = np.c_[radius * np.cos(angles), radius * np.sin(angles)]
    want = np.flatnonzero(path.Path(poly).contains_points(pts))
    got = rows_in_polygon(pts, poly)
    assert len(want) > 1000 and np.array_equal(got, want)


def test_box_and_plotly_event_regions():
    pts = np.array([[0, 0], [1, 1], [2, 2], [1, 3], [-1, 1]], np.float32)
    assert rows_in_box(pts, [2, 0], [0, 2]).tolist() == [0, 1, 2]  # edges included, corners in any order
    lasso = {"points": [], "lassoPoints": {"x": [0, 4, 4, 0], "y": [-1, -1, 4, 4]}}
    assert selection_region(lasso) == {"lasso": [[0.0, -1.0], [4.0, -1.0], [4.0, 4.0], [0.0, 4.0]]}
    box = {"points": [{"curveNumber": 1}], "range": {"x": [0.5, 2.5], "y": [0.5, 3.5]}}
    assert selection_region(box) == {"box": [[0.5, 2.5], [0.5, 3.5]]}
    assert rows_in_region(pts, selection_region(box)).tolist() == [1, 2, 3]
    assert rows_in_region(pts, selection_region(lasso)).tolist() == [0, 1, 2, 3]
    assert selection_region({"points": []}) is None and selection_region(None) is None


def test_config_declares_and_validates_the_density_settings():
    cfg = AppConfig()
    assert cfg.ui.map_density_above == 50_000 and cfg.ui.map_sample_points == 30_000
    assert apply_overrides(cfg, {"ui.map_density_above": "0"}).ui.map_density_above == 0  # always density
    for key, bad in (("ui.map_density_above", "-1"), ("ui.map_sample_points", "9"), ("ui.map_density_bins", "2")):
        with pytest.raises(ConfigError, match=key):
            apply_overrides(cfg, {key: bad})

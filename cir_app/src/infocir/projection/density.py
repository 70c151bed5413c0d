"""Panel D at scale (issue 21), in numpy only: the density of every map point, the sample of points drawn
over it, and the rows inside a lasso or box drawn on the map.

Above ``ui.map_density_above`` images the map draws a 2-D histogram of all points (``density_grid``) under a
class-stratified sample (``stratified_sample``); a lasso or a box then selects every image whose coordinates
fall inside it (``rows_in_region``), not only the sampled points the browser knows about."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DensityGrid:
    """Every map point counted in square cells: ``counts[iy, ix]`` points fall in the cell whose lower-left
    corner is ``(x0 + ix·cell, y0 + iy·cell)``."""

    counts: np.ndarray  # int64 [ny, nx]
    x0: float
    y0: float
    cell: float

    @property
    def total(self) -> int:
        return int(self.counts.sum())


def grid_bins(n: int, most: int = 256) -> int:
    """Cells along the longer side for ``n`` points: √n, between 32 and ``most`` (a 256 grid for 5,760 points
    left most cells with one point or none: a layer too faint to read under the points)."""
    return int(min(most, max(32, round(np.sqrt(max(n, 1))))))


def density_grid(coords: np.ndarray, bins: int = 256) -> DensityGrid:
    """A 2-D histogram of ``coords`` [N, 2] with ``bins`` square cells along the longer side of their bounding
    box (the map keeps x and y at one scale, so square cells stay square); the last cell of a side takes the
    points on the box's edge, so every point is counted once."""
    xy = np.asarray(coords, np.float64).reshape(-1, 2)
    if not len(xy):
        return DensityGrid(np.zeros((1, 1), np.int64), 0.0, 0.0, 1.0)
    lo, hi = xy.min(0), xy.max(0)
    span = hi - lo
    cell = float(span.max()) / max(1, bins) or 1.0  # all points at one place: one cell
    nx, ny = (int(min(bins, max(1, np.ceil(s / cell)))) for s in span)
    ix = np.clip(((xy[:, 0] - lo[0]) / cell).astype(np.int64), 0, nx - 1)
    iy = np.clip(((xy[:, 1] - lo[1]) / cell).astype(np.int64), 0, ny - 1)
    counts = np.bincount(iy * nx + ix, minlength=nx * ny).reshape(ny, nx)
    return DensityGrid(counts, float(lo[0]), float(lo[1]), cell)


def stratified_sample(labels: Sequence, size: int, seed: int = 0) -> np.ndarray:
    """``size`` index rows (sorted) drawn without replacement, each label in proportion to its rows (largest
    remainders) and every label at least once when ``size`` allows it; deterministic for a ``seed``.  All rows
    when there are no more than ``size``."""
    n = len(labels)
    if size >= n:
        return np.arange(n, dtype=np.int64)
    names = sorted({str(v) for v in labels})
    code_of = {name: i for i, name in enumerate(names)}
    codes = np.fromiter((code_of[str(v)] for v in labels), np.int64, count=n)
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes, minlength=len(names))
    base = np.minimum(sizes, 1) if len(names) <= size else np.zeros_like(sizes)
    rest = size - int(base.sum())
    share = rest * (sizes - base) / max(1, int((sizes - base).sum()))
    quota = base + np.floor(share).astype(np.int64)
    short = size - int(quota.sum())
    if short > 0:  # the largest fractional parts (ties: the first label) take one more each
        room = quota < sizes
        frac = np.where(room, share - np.floor(share), -1.0)
        quota[np.argsort(-frac, kind="stable")[:short]] += 1
    rng = np.random.default_rng(seed)
    ends = np.cumsum(sizes)
    picked = [
        rng.choice(order[end - count : end], size=q, replace=False)
        for count, end, q in zip(sizes, ends, quota, strict=True)
        if q
    ]
    return np.sort(np.concatenate(picked)) if picked else np.empty(0, np.int64)


def rows_in_polygon(coords: np.ndarray, polygon: Sequence[Sequence[float]]) -> np.ndarray:
    """Index rows (ascending) of the points of ``coords`` [N, 2] inside ``polygon`` ([[x, y], ...], closed or
    not; concave and self-crossing ones by the even-odd rule).

    A ray cast to the right of each point crosses the edges: the points are first kept to the polygon's bounding
    box and sorted by y, so that each edge tests only the contiguous run of points in its y span
    (``y0 <= y < y1``, half-open: a ray through a vertex counts it once) — O(N log N + crossings), not O(N·edges)
    (a lasso drawn with the mouse has hundreds of vertices)."""
    poly = np.asarray(polygon, np.float64).reshape(-1, 2)
    if len(poly) < 3 or not np.isfinite(poly).all():
        return np.empty(0, np.int64)
    xy = np.asarray(coords, np.float64).reshape(-1, 2)
    (xmin, ymin), (xmax, ymax) = poly.min(0), poly.max(0)
    x, y = xy[:, 0], xy[:, 1]
    cand = np.flatnonzero((x >= xmin) & (x <= xmax) & (y >= ymin) & (y <= ymax))
    order = np.argsort(y[cand], kind="stable")
    cand = cand[order]
    px, py = x[cand], y[cand]
    inside = np.zeros(len(cand), bool)
    xi, yi = poly[:, 0], poly[:, 1]
    xj, yj = np.roll(xi, 1), np.roll(yi, 1)  # edge j → i; a closed polygon's repeated vertex is an empty edge
    for ax, ay, bx, by in zip(xi, yi, xj, yj, strict=True):
        if ay == by:
            continue  # horizontal: no half-open span
        a, b = np.searchsorted(py, (min(ay, by), max(ay, by)), side="left")
        if a == b:
            continue
        crossing = ax + (py[a:b] - ay) * (bx - ax) / (by - ay)
        inside[a:b] ^= px[a:b] < crossing
    return np.sort(cand[inside])


def rows_in_box(coords: np.ndarray, xs: Sequence[float], ys: Sequence[float]) -> np.ndarray:
    """Index rows (ascending) of the points inside the box spanning ``xs`` and ``ys`` (edges included)."""
    xy = np.asarray(coords, np.float64).reshape(-1, 2)
    (x0, x1), (y0, y1) = sorted(map(float, xs)), sorted(map(float, ys))
    x, y = xy[:, 0], xy[:, 1]
    return np.flatnonzero((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))


def selection_region(event: dict | None) -> dict | None:
    """The drawn region of a Plotly selection event (``selectedData``), in map coordinates: ``{"lasso":
    [[x, y], ...]}`` from ``lassoPoints`` or ``{"box": [[x0, x1], [y0, y1]]}`` from ``range``; None without
    one (a selection made otherwise, e.g. by a double click)."""
    event = event or {}
    lasso = event.get("lassoPoints") or {}
    if isinstance(lasso.get("x"), list) and isinstance(lasso.get("y"), list) and len(lasso["x"]) >= 3:
        return {"lasso": [[float(a), float(b)] for a, b in zip(lasso["x"], lasso["y"], strict=False)]}
    box = event.get("range") or {}
    if len(box.get("x") or ()) == 2 and len(box.get("y") or ()) == 2:
        return {"box": [[float(v) for v in box["x"]], [float(v) for v in box["y"]]]}
    return None


def rows_in_region(coords: np.ndarray, region: dict) -> np.ndarray:
    """Index rows (ascending) inside a ``selection_region``."""
    if "lasso" in region:
        return rows_in_polygon(coords, region["lasso"])
    if "box" in region:
        return rows_in_box(coords, *region["box"])
    return np.empty(0, np.int64)

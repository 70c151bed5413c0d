"""Panel A's "search only the images selected on the map": the search callback, called as the page calls it (a
POST to Dash's update route), passes the engine a mask of exactly the selection (rows, or every image inside a
density-mode region, resolved on the server), and ranks the selected images as the full ranking orders them."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from dash import no_update

from conftest import BROWSER_SHAPES, make_image_folder, tiny_config
from infocir.engine import RetrievalEngine
from infocir.ui.app import create_app
from infocir.ui.callbacks.query import selection_scope
from infocir.ui.layout import default_method
from infocir.ui.query_state import selection_key

TEXT = "make it red"
METHOD: list[str] = []  # the method panel A starts with (the world's fixture sets it)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("search-selection")
    data = make_image_folder(tmp / "data", per_class=6, shapes=BROWSER_SHAPES)
    cfg = tiny_config(data, tmp / "cache", **{"ui.map_density_above": "1"})  # density mode: regions, not rows
    engine = RetrievalEngine.from_config(cfg, progress=False)
    METHOD[:] = [default_method(engine, cfg)]
    return engine, cfg


class StubMaps:
    """A fitted map without UMAP: fixed coordinates (the selection's region is resolved against them)."""

    def __init__(self, n: int):
        coords = np.random.default_rng(3).uniform(-1, 1, (n, 2)).astype(np.float32)
        self.map = SimpleNamespace(coords=coords, transform=lambda x: np.zeros((len(x), 2), np.float32))

    def start(self) -> None:
        pass

    def status(self):
        return "ready", ""


def search_via_page(app, reference: str, k: int, ticked: bool, browse: dict | None) -> dict:
    """The Search click's request, as the browser sends it; the response's outputs by component id."""
    client = app.server.test_client()
    deps = client.get("/_dash-dependencies").get_json()
    dep = next(
        d for d in deps if any(i["id"] == "query-search" for i in d["inputs"]) and "store-results" in d["output"]
    )
    given = {
        "query-ref-mode": "dataset",
        "query-reference": reference,
        "query-text": TEXT,
        "query-k": k,
        "query-method": METHOD[0],
        "query-exclude-ref": [],
        "query-backend": "configured",
        "query-mode": "composed",
        "query-expansion": [],
        "query-search-selection": ["on"] if ticked else [],
        "store-browse": browse,
    }
    state = [
        [] if s["id"].startswith("{") else {**s, "value": given.get(s["id"])}  # the method settings: none
        for s in dep["state"]
    ]
    outputs = []
    for part in dep["output"].strip(".").split("..."):
        cid, prop = part.split(".", 1)
        outputs.append({"id": cid, "property": prop.split("@")[0]})
    body = {
        "output": dep["output"],
        "outputs": outputs,
        "inputs": [{**dep["inputs"][0], "value": 1}, {**dep["inputs"][1], "value": None}],
        "state": state,
        "changedPropIds": ["query-search.n_clicks"],
    }
    resp = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")
    assert resp.status_code == 200, resp.data[:500]
    return {cid: props for cid, props in resp.get_json()["response"].items()}


def expected_restricted(engine, reference: str, k: int, rows) -> tuple[list[int], np.ndarray]:
    """Independently: every image's score for the query, the full ranking (descending, ties: lower row first),
    kept to ``rows``, its first k."""
    full = engine.search(reference, TEXT, k=len(engine.index), method=METHOD[0])
    scores = full.composition.scores
    if scores is None:  # a vector method: its scores are the index features against the composed vector
        scores = engine.index.features @ full.query_vector
    order = np.lexsort((np.arange(len(scores)), -np.asarray(scores, np.float64)))
    chosen = set(int(r) for r in rows)
    keep = [int(r) for r in order if int(r) in chosen][:k]
    return keep, np.asarray(scores)[keep]


@pytest.mark.parametrize("k", [5, 40])
def test_search_within_a_density_region_ranks_only_the_images_inside_it(world, monkeypatch, k):
    engine, cfg = world
    maps = StubMaps(len(engine.index))
    app = create_app(engine, cfg, maps=maps)
    box = [[-0.6, 0.5], [-0.7, 0.4]]
    xy = maps.map.coords
    inside = np.flatnonzero((xy[:, 0] >= -0.6) & (xy[:, 0] <= 0.5) & (xy[:, 1] >= -0.7) & (xy[:, 1] <= 0.4))
    assert 3 <= len(inside) < len(engine.index)
    browse = {"region": {"box": box}, "count": int(len(inside))}
    seen = []
    real = engine.search

    def spy(*args, **kwargs):
        seen.append(kwargs.get("allowed"))
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "search", spy)
    reference = engine.index.ids[int(inside[0])]
    out = search_via_page(app, reference, k, True, browse)
    monkeypatch.undo()

    # the mask the engine got is exactly the region's rows
    assert len(seen) == 1 and seen[0] is not None
    assert np.flatnonzero(seen[0]).tolist() == inside.tolist()
    assert "store-results" in out, out
    data = out["store-results"]["data"]
    want_rows, want_scores = expected_restricted(engine, reference, k, inside)
    assert data["rows"] == want_rows  # k larger than the selection: all of it
    assert len(data["rows"]) == min(k, len(inside))
    assert set(data["rows"]) <= set(inside.tolist())
    np.testing.assert_allclose(data["scores"], want_scores, atol=1e-4)
    assert data["within"] == {"count": len(inside), "selection": selection_key(browse)}
    # the selection is kept (the box stays usable); the sentence in A names the restriction
    assert "store-browse" not in out
    assert f"only among the {len(inside)} images selected on the map" in out["query-message"]["children"]


def test_search_within_selected_rows_and_without_the_box(world):
    engine, cfg = world
    app = create_app(engine, cfg, maps=StubMaps(len(engine.index)))
    rows = [1, 4, 7, 9, 13, 20, 22]
    browse = {"rows": rows}
    reference = engine.index.ids[0]
    data = search_via_page(app, reference, 4, True, browse)["store-results"]["data"]
    assert data["rows"] == expected_restricted(engine, reference, 4, rows)[0]
    # unticked (or no selection): the whole collection, and the browse ends as before
    out = search_via_page(app, reference, 4, False, browse)
    full = engine.search(reference, TEXT, k=4, method=METHOD[0])
    assert out["store-results"]["data"]["rows"] == full.rows.tolist()
    assert "within" not in out["store-results"]["data"]
    assert out["store-browse"]["data"] is None
    out = search_via_page(app, reference, 4, True, None)
    assert out["store-results"]["data"]["rows"] == full.rows.tolist()


def test_the_box_follows_the_selection():
    options, value, note, style = selection_scope(None)
    assert options[0]["disabled"] and value == [] and "Select images on the map" in note
    assert style == {"display": "none"}
    options, value, note, style = selection_scope({"rows": [3, 5, 8]})
    assert "the 3 images selected" in options[0]["label"] and not options[0].get("disabled")
    assert value is no_update and note == "" and style == {}
    options, _, _, _ = selection_scope({"region": {"box": [[0, 1], [0, 1]]}, "count": 1234})
    assert "the 1,234 images selected" in options[0]["label"]


def test_a_search_like_restricted_results_stays_within_their_selection(world):
    """E's previews and F3's comparisons (``Services.search_like``) rank another text within the same selection."""
    from infocir.errors import UserError
    from infocir.ui.services import Services

    engine, cfg = world
    s = Services(engine, cfg, StubMaps(len(engine.index)))
    rows = [2, 3, 11, 17, 18, 23]
    browse = {"rows": rows}
    reference = engine.index.ids[2]
    allowed = s.selection_mask(browse)
    assert np.flatnonzero(allowed).tolist() == rows
    results = {
        "reference": {"kind": "dataset", "id": reference},
        "text": TEXT,
        "k": 3,
        "method": METHOD[0],
        "within": {"count": len(rows), "selection": selection_key(browse)},
    }
    other = "make it blue"
    res = s.search_like(results, other)
    full = engine.search(reference, other, k=len(engine.index), method=METHOD[0])
    assert res.rows.tolist() == [int(r) for r in full.rows if int(r) in rows][:3]
    unknown = dict(results, within={"count": 2, "selection": "0123456789abcdef"})
    with pytest.raises(UserError, match="search again"):
        s.search_like(unknown, other)

"""The plugin contract, over every registered plugin (as pytorch-grad-cam's run-all test): each CIR
method, explainer, word-attribution method and enhancement provider runs on the demo model through
the public API and returns well-formed output.  A new plugin module is covered without a new test."""

from __future__ import annotations

import numpy as np
import pytest

from infocir.config import apply_overrides
from infocir.enhance import enhance
from infocir.enhance.registry import list_provider_names, list_providers
from infocir.explain.base import EXPLAINERS, patch_grid
from infocir.explain.service import ExplanationService
from infocir.explain.text_attribution import TOKEN_METHODS
from infocir.methods.registry import create_method, list_method_names

K = 6


@pytest.fixture(scope="module")
def engine_and_query(demo_world_engine):
    from infocir.data.demo_world import read_queries

    engine, root = demo_world_engine
    return engine, read_queries(root)[0]


@pytest.mark.parametrize("name", list_method_names())
def test_every_method_returns_a_well_formed_ranking(engine_and_query, name):
    engine, q = engine_and_query
    info = {m.name: m for m in engine.methods()}[name]
    if not info.available:
        assert info.reason, f"{name} is unavailable without saying why"
        return
    params = {"steps": 5} if "steps" in create_method(name).parameters else {}
    res = engine.search(q["reference_id"], q["text"], k=K, method=name, **params)
    assert len(res.ids) == K == len(set(res.ids)) and res.method == name
    assert np.all(np.isfinite(res.scores)) and np.all(np.diff(res.scores) <= 1e-6)  # best first
    assert res.all_scores is not None and len(res.all_scores) == len(engine.index)
    if res.query_vector is not None:
        assert res.query_vector.shape == (engine.index.dim,) and abs(np.linalg.norm(res.query_vector) - 1) < 1e-3
    m = create_method(name)
    if m.composes_from_image(engine.context):  # the explanation hook matches the ranking it explains
        maps = ExplanationService(engine, max_side=64)
        sal = maps.reference_saliency(name, q["reference_id"], q["text"], res.ids[0], "grad_eclip", "candidate")
        assert sal.score == pytest.approx(float(res.scores[0]), abs=0.02)


@pytest.mark.parametrize("name", EXPLAINERS.names())
def test_every_explainer_maps_the_patch_grid(engine_and_query, name):
    engine, q = engine_and_query
    res = engine.search(q["reference_id"], q["text"], k=2, method="average")
    sal = ExplanationService(engine, max_side=96).saliency(res.query_vector, name, image_id=res.ids[1])
    assert sal.grid.shape == patch_grid(engine.bundle.model.visual)
    assert np.all(np.isfinite(sal.grid)) and np.all(sal.grid >= 0) and sal.grid.sum() > 0
    assert sal.aligned.shape[0] > 0 and np.all(np.isfinite(sal.aligned)) and np.isfinite(sal.score)


@pytest.mark.parametrize("token_method", list(TOKEN_METHODS))
def test_every_word_attribution_scores_each_word(engine_and_query, token_method):
    engine, q = engine_and_query
    res = engine.search(q["reference_id"], q["text"], k=1, method="searle")
    t = ExplanationService(engine).tokens("searle", q["reference_id"], q["text"], res.ids[0], token_method)
    assert t.words == ["a", "photo", "of", "[image]", "that", *q["text"].split()]
    assert len(t.scores) == len(t.words) and np.all(np.isfinite(t.scores)) and any(s != 0 for s in t.scores)
    assert t.is_template == [True] * 5 + [False] * len(q["text"].split())


@pytest.mark.parametrize("name", list_provider_names())
def test_every_provider_yields_a_scored_table_or_says_why_not(engine_and_query, stub_server, name, monkeypatch):
    engine, q = engine_and_query
    for var in ("GOOGLE_API_KEY", "GEMINI_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    cfg = apply_overrides(
        engine.config,
        {
            "enhancement.openai_base_url": stub_server.url(),
            "enhancement.openai_model": "m",
            "enhancement.timeout_s": "5",
        },
    )
    monkeypatch.setattr(engine, "config", cfg)
    info = {p.name: p for p in list_providers(cfg)}[name]
    if not info.available:  # e.g. Gemini without a key here: the reason says what to set
        assert info.reason
        return
    res = engine.search(q["reference_id"], q["text"], k=K, method="average")
    table = enhance(engine, q["reference_id"], "change it", ideals=res.ids[:2], k=K, method="average", provider=name)
    assert table.rows[0].is_baseline and len(table.rows) > 1 and sorted(table.order) == list(range(len(table.rows)))
    for row in table.rows:
        assert len(row.ids) == K and all(np.isfinite(v) for v in row.metrics.values())

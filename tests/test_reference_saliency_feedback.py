"""Issue 14's per-candidate reference saliency for relevance feedback: the query the Rocchio rounds moved,
composed from the reference image in torch, is the one that ranked, and the reference map follows each
candidate through it.  Score-fusion methods compose no query from the image: their maps fall back to the
average of reference and text, and say so."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from infocir.data import demo_world as W
from infocir.explain.service import ExplanationService, fallback_query_vector
from infocir.methods.registry import create_method

COMPOSED = "similarity to the composed query"  # the label of the fallback view


@pytest.fixture(scope="module")
def world(demo_world_engine):
    engine, root = demo_world_engine
    q = W.read_queries(root)[0]
    ids = engine.search(q["reference_id"], q["text"], k=12, method="searle").ids
    params = {  # two iterations: a round of marks, then this call's own marks and weights
        "base": "searle",
        "rounds": [{"relevant": [ids[3], ids[7]], "nonrelevant": [ids[0]]}],
        "relevant": [ids[10]],
        "nonrelevant": [ids[1], ids[2]],
        "alpha": 0.8,
        "beta": 1.2,
        "gamma": 0.4,
    }
    return engine, q, params


def test_feedback_composes_from_the_reference_as_it_ranks(world):
    """The torch path (base's compose_from_image, then each Rocchio step) gives compose's numpy query."""
    engine, q, params = world
    want = engine.compose(q["reference_id"], q["text"], "feedback", **params).query_vector
    searle = engine.compose(q["reference_id"], q["text"], "searle").query_vector
    assert float(want @ searle) < 0.99  # the rounds moved the query: the steps are really tested
    m = create_method("feedback", **params)
    assert m.composes_from_image(engine.context)
    query, _ = engine.build_query(q["reference_id"], q["text"])
    emb = engine.bundle.tensor(query.reference_raw[None]).requires_grad_(True)
    got = m.compose_from_image(engine.context, query, emb)
    assert got.shape == (1, engine.index.dim) and got.device == emb.device
    np.testing.assert_allclose(F.normalize(got, dim=-1)[0].detach().float().numpy(), want, atol=1e-4)
    (got[0] @ torch.as_tensor(engine.index.row(5))).backward()  # differentiable in the reference
    assert emb.grad is not None and float(emb.grad.abs().sum()) > 0
    # a base that composes nothing from the image: feedback cannot either (its map falls back)
    assert not create_method("feedback", base="oti").composes_from_image(engine.context)
    with pytest.raises(NotImplementedError):
        create_method("feedback", base="oti").compose_from_image(engine.context, query, emb)


def test_feedback_reference_map_follows_each_candidate(world):
    engine, q, params = world
    res = engine.search(q["reference_id"], q["text"], k=3, method="feedback", **params)
    maps = ExplanationService(engine, max_side=128)

    def ref_map(rank: int, **kw):
        return maps.reference_saliency(
            "feedback", q["reference_id"], q["text"], res.ids[rank], "grad_eclip", "candidate", **kw
        )

    a = ref_map(0, vector=res.query_vector, params=params)
    b = ref_map(2, vector=res.query_vector, params=params)
    # the target on the unmodified reference is the candidate's retrieval score under the moved query
    assert a.score == pytest.approx(float(res.scores[0]), abs=0.01)
    assert b.score == pytest.approx(float(res.scores[2]), abs=0.01)
    assert not np.allclose(a.grid, b.grid) and res.ids[0].rsplit("/", 1)[-1] in a.target
    # Without the marks the method would compose another query than the one that ranked: rather than
    # explain that one, the map falls back to the ranking's own vector, and says so.
    fallback = ref_map(0, vector=res.query_vector)
    assert fallback.target == COMPOSED
    direct = maps.saliency(res.query_vector, "grad_eclip", image_id=q["reference_id"])
    np.testing.assert_allclose(fallback.grid, direct.grid)


SCORE_FUSION = ("product", "weicom", "basic", "fusion", "two_phase")


@pytest.mark.parametrize("name", SCORE_FUSION)
def test_score_fusion_reference_maps_fall_back_with_a_label(world, name):
    """Panel F on a score-fusion method: no vector, so the maps' target is the average of reference and
    text; the reference map says "composed query" and the status line says which query that is."""
    from types import SimpleNamespace

    from infocir.ui.callbacks.explanations import FALLBACK_NOTE, _steps, render_poll
    from infocir.ui.services import Services

    engine, q, _ = world
    info = {m.name: m for m in engine.methods()}[name]
    if not info.available:
        pytest.skip(f"{name} unavailable here: {info.reason}")
    m = create_method(name)
    assert not m.composes_vector() and not m.composes_from_image(engine.context)
    res = engine.search(q["reference_id"], q["text"], k=3, method=name)
    assert res.query_vector is None
    s = Services(engine, engine.config, maps=None)
    s.explanations = ExplanationService(engine, max_side=64)
    results = {
        "ids": res.ids,
        "classes": res.classes,
        "text": q["text"],
        "method": name,
        "k": 3,
        "query_vector": None,
    }
    steps = _steps(s, results, q["reference_id"], 0, "grad_eclip", "grad_eclip", "candidate")
    done = {n: fn() for n, fn in steps if n in ("query", "ref")}
    assert done["query"] == "fallback" and done["ref"].target == COMPOSED
    average = fallback_query_vector(engine, q["reference_id"], q["text"])
    np.testing.assert_allclose(
        done["ref"].grid, s.explanations.saliency(average, "grad_eclip", image_id=q["reference_id"]).grid
    )
    job = SimpleNamespace(steps=[(n, None) for n in done], errors={})
    out = render_poll(engine.config.saliency, job, done, True, set(), results, 0)
    assert COMPOSED in out[1] and FALLBACK_NOTE in out[6]

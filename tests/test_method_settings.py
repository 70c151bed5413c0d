"""Issue 18 §5, engine side: per-query method settings.  A query may set the methods' configuration sections
(BASIC's λ, query-expansion k, preset), checked as the configuration is; fusion takes a vote weight per member;
each changes the ranking as its rule says."""

from __future__ import annotations

import math

import numpy as np
import pytest

from infocir.config import ConfigError, apply_overrides
from infocir.index.backends import top_k
from infocir.methods.base import MethodParameterError

REF, TEXT = "star/star_00.png", "a red circle"


@pytest.fixture
def engine(tiny_engine):
    """The session's tiny engine (conftest), read only here."""
    return tiny_engine


def test_query_settings_equal_a_server_configured_the_same(engine):
    """BASIC with λ = 0.4 and QE k = 5 for one query ranks exactly as an engine configured so."""
    from infocir.engine import RetrievalEngine

    settings = {"basic.harris_lambda": 0.4, "basic.qe_k": 5}
    per_query = engine.compose(REF, TEXT, "basic", settings=settings).scores
    cfg = apply_overrides(engine.config, settings)
    other = RetrievalEngine(cfg, engine.bundle, engine.scan, engine.index)
    np.testing.assert_allclose(per_query, other.compose(REF, TEXT, "basic").scores, rtol=1e-6)
    default = engine.compose(REF, TEXT, "basic").scores
    assert not np.allclose(per_query, default)  # the setting reached the method
    np.testing.assert_allclose(engine.compose(REF, TEXT, "basic").scores, default)  # and only that query


@pytest.mark.parametrize(
    "settings, match",
    [
        ({"basic.harris_lambda": -1}, "harris_lambda"),
        ({"basic.preset": "fancy"}, "preset"),
        ({"model.device": "cuda"}, "a query can set only"),
        ({"basic.nope": 1}, "unknown field"),
    ],
)
def test_bad_query_settings_are_config_errors(engine, settings, match):
    with pytest.raises(ConfigError, match=match):
        engine.search(REF, TEXT, k=3, method="basic", settings=settings)


def test_fusion_member_weights_follow_the_vote_rule(engine):
    """votes = Σ_members w_m · vote_m, vote = log(1/rank) + offset clipped at 0: recomputed here from the members'
    own scores (ties aside: the 1e-3 tie-break is below any vote difference that decides the top here)."""
    members, weights = ["image", "text"], [3.0, 0.5]
    got = engine.compose(REF, TEXT, "fusion", methods=members, weights=weights, depth=50).scores
    n = len(engine.index)
    by_hand = np.zeros(n)
    for name, w in zip(members, weights, strict=True):
        s = engine.compose(REF, TEXT, name).scores.astype(np.float64)
        for i, row in enumerate(top_k(s, 50)):
            by_hand[row] += w * max(0.0, math.log(1 / (i + 1)) + 2.0)
    np.testing.assert_allclose(got, by_hand, atol=2e-3)  # the tie-break adds at most 1e-3
    unweighted = engine.compose(REF, TEXT, "fusion", methods=members, depth=50).scores
    assert not np.allclose(got, unweighted)


@pytest.mark.parametrize("weights", [[1.0], [1.0, -2.0], [1.0, True]])
def test_fusion_weights_are_checked(engine, weights):
    with pytest.raises(MethodParameterError, match="fusion"):
        engine.compose(REF, TEXT, "fusion", methods=["image", "text"], weights=weights)

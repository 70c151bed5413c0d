"""Two-phase multimedia query (QT-FIRS): phase 1 text top m, phase 2 image re-ranking of those m, log-rank fusion;
checked against each phase run on its own and against the rule computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from infocir.methods.base import MethodParameterError

REF_ROW, TEXT = 4, "make it red"


def by_hand(engine, m: int, w_text: float, w_image: float) -> list[str]:
    feats = np.asarray(engine.index.features, np.float64)
    t = engine.encode_text([TEXT])[0].astype(np.float64)
    t /= np.linalg.norm(t)
    s_text = feats @ t
    phase1 = np.lexsort((np.arange(len(s_text)), -s_text))[:m]
    s_img = feats[phase1] @ feats[REF_ROW]
    image_order = phase1[np.lexsort((np.arange(m), -s_img))]
    vote = lambda i: max(0.0, math.log(1 / (i + 1)) + 2.0)  # noqa: E731 - rank fusion's rule, rank i from 0
    votes = {r: w_text * vote(i) for i, r in enumerate(phase1)}
    for i, r in enumerate(image_order):
        votes[r] += w_image * vote(i)

    def z(x):
        return (x - x.mean()) / max(x.std(), 1e-12)

    blend = (w_text * z(s_text[phase1]) + w_image * z(s_img)) / (w_text + w_image)
    blend = (blend - blend.min()) / (blend.max() - blend.min())
    key = {r: votes[r] + 1e-3 * 0.999 * b for r, b in zip(phase1, blend, strict=True)}
    return [engine.index.ids[r] for r in sorted(phase1, key=lambda r: (-key[r], r))]


@pytest.mark.parametrize(("m", "w_text", "w_image"), [(6, 1.0, 1.0), (8, 2.0, 0.5), (12, 1.0, 3.0)])
def test_two_phase_follows_its_rule(tiny_engine, m, w_text, w_image):
    e = tiny_engine
    res = e.search(e.index.ids[REF_ROW], TEXT, k=m, method="two_phase", m=m, text_weight=w_text, image_weight=w_image)
    assert res.ids == by_hand(e, m, w_text, w_image)


def test_each_phase_alone(tiny_engine):
    """Weight 0 on the image: the text-only top m; weight 0 on the text: those m in the image's order; nothing
    from outside the m ranks above them."""
    e = tiny_engine
    ref = e.index.ids[REF_ROW]
    text_only = e.search(ref, TEXT, k=5, method="text").ids
    assert e.search(ref, TEXT, k=5, method="two_phase", m=5, image_weight=0.0).ids == text_only
    reranked = e.search(ref, TEXT, k=12, method="two_phase", m=5, text_weight=0.0)
    image_rank = {i: r for r, i in enumerate(e.search(ref, "", k=12, method="image").ids)}
    assert set(reranked.ids[:5]) == set(text_only)
    assert reranked.ids[:5] == sorted(text_only, key=lambda i: image_rank[i])
    assert max(reranked.scores[5:]) < min(reranked.scores[:5])


def test_settings_come_from_config_and_are_checked(tiny_engine):
    from infocir.config import apply_overrides
    from infocir.engine import RetrievalEngine

    e = tiny_engine
    small = RetrievalEngine(apply_overrides(e.config, {"two_phase.m": "3"}), e.bundle, e.scan, e.index)
    res = small.search(e.index.ids[REF_ROW], TEXT, k=12, method="two_phase")
    assert res.composition.extras["m"] == 3
    with pytest.raises(MethodParameterError, match="m=0 is outside"):
        e.search(e.index.ids[REF_ROW], TEXT, k=3, method="two_phase", m=0)

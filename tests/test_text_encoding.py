"""The text encoder stops after the end-of-text token: the same features as open_clip's full 77-position
``encode_text`` (the reference we did not write), for every prompt length and batch mix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infocir.config import AppConfig
from infocir.engine import bundle_for
from infocir.models.encoding import encode_texts
from infocir.models.textual_inversion import supports_eot_cut

TEXTS = ["make it red", "", "a photo of a large blue star with stripes and a thin outline", "$ is now green"]


@pytest.fixture(scope="module")
def demo_bundle():
    return bundle_for(AppConfig())


def full_length(bundle, texts: list[str]) -> np.ndarray:
    with torch.no_grad():
        return bundle.model.encode_text(bundle.tokens(texts)).float().numpy()


@pytest.mark.parametrize("texts", [TEXTS, TEXTS[:1], ["word " * 100]], ids=["mixed", "short", "truncated"])
def test_cut_features_equal_the_full_encoder(demo_bundle, texts):
    assert supports_eot_cut(demo_bundle.model)
    np.testing.assert_allclose(encode_texts(demo_bundle, texts), full_length(demo_bundle, texts), atol=2e-5)


def test_the_cut_runs_fewer_positions(demo_bundle, monkeypatch):
    """A short prompt reaches the transformer with its own length, not the whole context (32 here, 77 in CLIP)."""
    seen = []
    tower = demo_bundle.model
    original = tower.transformer.forward
    monkeypatch.setattr(
        tower.transformer, "forward", lambda x, *a, **k: seen.append(x.shape[1]) or original(x, *a, **k)
    )
    encode_texts(demo_bundle, ["make it red"])
    assert seen == [5]  # start, make, it, red, end


def test_other_pooling_falls_back_to_the_model_encoder(demo_bundle, monkeypatch):
    """A tower pooled another way (first/last token) is not cut: the model's own encode_text runs."""
    monkeypatch.setattr(demo_bundle.model, "text_pool_type", "last")
    assert not supports_eot_cut(demo_bundle.model)
    calls = []
    original = demo_bundle.model.encode_text
    monkeypatch.setattr(demo_bundle.model, "encode_text", lambda t: calls.append(t.shape) or original(t))
    encode_texts(demo_bundle, ["make it red"])
    assert calls and calls[0][1] == demo_bundle.model.positional_embedding.shape[0]  # the whole context

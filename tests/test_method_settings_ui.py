"""Issue 18 §5, the page's side: the settings panel A offers per method and how it reads them (pure)."""

from __future__ import annotations

import pytest

from infocir.config import AppConfig
from infocir.ui.method_settings import SettingError, parse_settings, settings_for

AVAILABLE = ["searle", "oti", "image", "text", "average", "product", "weicom", "basic", "feedback", "fusion"]


def keys(method):
    return [s.key for s in settings_for(method, AppConfig(), AVAILABLE)]


def test_each_method_offers_its_settings():
    assert keys("oti") == ["param.steps", "param.reg_weight"]
    assert keys("feedback")[:4] == ["param.base", "param.alpha", "param.beta", "param.gamma"]
    assert {"config.basic.harris_lambda", "config.basic.qe_k", "config.basic.preset"} <= set(keys("basic"))
    assert keys("fusion")[:2] == ["param.methods", "param.weights"]
    assert keys("image") == []
    base = settings_for("feedback", AppConfig(), AVAILABLE)[0]
    assert "fusion" not in base.choices and "searle" in base.choices  # only methods that compose one vector


def test_defaults_send_nothing_and_changes_are_typed():
    specs = settings_for("oti", AppConfig(), AVAILABLE)
    assert parse_settings(specs, {"param.steps": 350, "param.reg_weight": 0.5}) == ({}, {})
    assert parse_settings(specs, {"param.steps": 40.0}) == ({"steps": 40}, {})
    basic = settings_for("basic", AppConfig(), AVAILABLE)
    got = parse_settings(basic, {"config.basic.harris_lambda": 0.3, "config.basic.query_expansion": []})
    assert got == ({}, {"basic.harris_lambda": 0.3, "basic.query_expansion": False})


def test_fusion_weights_pair_with_the_members():
    specs = settings_for("fusion", AppConfig(), AVAILABLE)
    params, _ = parse_settings(specs, {"param.methods": ["image", "text"], "param.weights": "2, 0.5"})
    assert params == {"methods": ["image", "text"], "weights": [2.0, 0.5]}
    with pytest.raises(SettingError, match="one per member"):
        parse_settings(specs, {"param.methods": ["image", "text"], "param.weights": "1"})


@pytest.mark.parametrize(
    "method, values, match",
    [
        ("oti", {"param.steps": 0}, "steps must be from 1 to 10000, got 0"),
        ("oti", {"param.steps": 2.5}, "whole number"),
        ("oti", {"param.steps": None}, "give a number"),
        ("feedback", {"param.alpha": 101}, "alpha must be"),
        ("feedback", {"param.base": "fusion"}, "choose one of"),
        ("basic", {"config.basic.qe_k": 0}, "QE k"),
        ("fusion", {"param.methods": []}, "at least one"),
        ("fusion", {"param.weights": "1, x"}, "comma-separated"),
        ("fusion", {"param.weights": "1, 200, 1, 1"}, "each from 0 to 100"),
    ],
)
def test_bad_values_get_a_sentence(method, values, match):
    with pytest.raises(SettingError, match=match):
        parse_settings(settings_for(method, AppConfig(), AVAILABLE), values)

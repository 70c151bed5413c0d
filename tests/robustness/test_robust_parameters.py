"""Text and parameters: k values and the new settings are checked, with the allowed range in the message.

Category "text and parameters" of the tally: every parametrised case is one bad input.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import make_image_folder, tiny_config
from infocir.config import AppConfig, ConfigError, apply_overrides
from infocir.engine import QueryError, RetrievalEngine


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("params")
    return RetrievalEngine.from_config(
        tiny_config(make_image_folder(tmp / "data", per_class=3), tmp / "cache"), progress=False
    )


BAD_K = {
    "zero": 0,
    "minus-one": -1,
    "fraction": 1.5,
    "tiny-fraction": 0.2,
    "nan": math.nan,
    "inf": math.inf,
    "minus-inf": -math.inf,
    "true": True,
    "false": False,
    "string": "5",
    "empty-string": "",
    "list": [3],
    "numpy-zero": np.int64(0),
    "numpy-fraction": np.float64(2.5),
}


@pytest.mark.parametrize("name", list(BAD_K))
def test_bad_k_is_rejected_with_the_allowed_range(engine, name):
    with pytest.raises(QueryError) as e:
        engine.search("star/star_00.png", "", k=BAD_K[name], method="image")
    msg = str(e.value)
    assert "k must be a whole number" in msg and "at least 1" in msg


@pytest.mark.parametrize("k,n", [(None, 9), (1, 1), (3, 3), (3.0, 3), (np.int64(2), 2), (10**12, 9)])
def test_good_k_values_still_work(engine, k, n):
    """None is the default (retrieval.default_k, here more than the 9 images); k above the index size gives all."""
    assert len(engine.search("star/star_00.png", "", k=k, method="image").ids) == n


def test_cli_search_with_k_zero_exits_with_the_message(engine, capsys):
    from infocir.cli import main

    cfg = engine.config
    args = [
        "search",
        "--dataset",
        cfg.dataset.root,
        "--model",
        cfg.model.name,
        "--pretrained",
        "",
        "--method",
        "image",
        "-r",
        "star/star_00.png",
        "-k",
        "0",
        "--set",
        "model.preprocess=clip",
        "--set",
        f"index.cache_dir={cfg.index.cache_dir}",
    ]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "k must be a whole number" in err and "Traceback" not in err


BAD_SETTINGS = {
    "dataset.max_image_pixels=0": ("dataset.max_image_pixels", "0"),
    "dataset.max_image_pixels=-5": ("dataset.max_image_pixels", "-5"),
    "dataset.max_image_pixels=lots": ("dataset.max_image_pixels", "lots"),
    "dataset.max_image_pixels=1e12": ("dataset.max_image_pixels", str(10**12)),
    "ui.max_upload_pixels=0": ("ui.max_upload_pixels", "0"),
    "ui.max_upload_pixels=2.5": ("ui.max_upload_pixels", "2.5"),
    "dataset.symlinks=maybe": ("dataset.symlinks", "maybe"),
    "dataset.fingerprint=md5": ("dataset.fingerprint", "md5"),
}


@pytest.mark.parametrize("name", list(BAD_SETTINGS))
def test_new_settings_are_validated(name):
    key, value = BAD_SETTINGS[name]
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        apply_overrides(AppConfig(), {key: value})


def test_new_settings_defaults():
    cfg = AppConfig()
    assert cfg.dataset.symlinks == "skip" and cfg.dataset.fingerprint == "stat"
    assert 10**7 <= cfg.dataset.max_image_pixels <= 2 * 89_478_485
    assert 10**7 <= cfg.ui.max_upload_pixels <= 2 * 89_478_485
    cfg = apply_overrides(
        cfg,
        {
            "dataset.symlinks": "follow",
            "dataset.fingerprint": "content",
            "dataset.max_image_pixels": "1000",
            "ui.max_upload_pixels": "2000",
        },
    )
    assert (cfg.dataset.symlinks, cfg.dataset.fingerprint, cfg.dataset.max_image_pixels, cfg.ui.max_upload_pixels) == (
        "follow",
        "content",
        1000,
        2000,
    )


TEXTS = [
    "",
    " ",
    "\x00\x01\x02",
    "🙂" * 50,
    "猫を赤くして",
    "x" * 10_000,
    "\u202e reversed",
    "<script>alert(1)</script>",
    "a\nb\tc",
    "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
]


@pytest.mark.parametrize("text", TEXTS, ids=[f"text{i}" for i in range(len(TEXTS))])
def test_odd_texts_are_answered(engine, text):
    """Already fine before these changes (kept so the tally covers texts too): results, or a message."""
    from infocir.errors import is_user_error

    try:
        res = engine.search("star/star_00.png", text, k=3, method="average")
    except Exception as exc:  # noqa: BLE001 - only a user error (a message) is acceptable
        assert is_user_error(exc) and str(exc), exc
        return
    assert len(res.ids) == 3 and np.isfinite(res.scores).all()

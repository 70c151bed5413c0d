"""Queries run on ``model.query_threads`` torch threads once the index is ready (serve and search),
so that one query does not fight other processes for the cores; builds keep every core."""

import pytest
import torch

from infocir.cli import main
from infocir.config import AppConfig, ConfigError, apply_overrides
from infocir.engine import use_query_threads


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield before
    torch.set_num_threads(before)


def test_default_is_one_thread_and_zero_keeps_torchs_setting(restore_threads):
    assert AppConfig().model.query_threads == 1
    torch.set_num_threads(2)
    assert use_query_threads(AppConfig()) == 1 and torch.get_num_threads() == 1
    torch.set_num_threads(2)
    assert use_query_threads(apply_overrides(AppConfig(), {"model.query_threads": "0"})) == 2
    assert use_query_threads(apply_overrides(AppConfig(), {"model.query_threads": "3"})) == 3


def test_a_negative_thread_count_is_refused():
    with pytest.raises(ConfigError, match="model.query_threads"):
        apply_overrides(AppConfig(), {"model.query_threads": "-1"})


def test_search_answers_on_the_configured_threads(tiny_cfg, restore_threads, capsys):
    torch.set_num_threads(2)
    common = ["--dataset", tiny_cfg.dataset.root, "--model", "InfoCIR-Tiny-ViT", "--pretrained", ""]
    cache = ["--set", f"index.cache_dir={tiny_cfg.index.cache_dir}"]
    query = ["--method", "image", "-r", "star/star_01.png", "-k", "2"]
    assert main(["search", *common, *query, *cache, "--set", "model.query_threads=1"]) == 0
    assert torch.get_num_threads() == 1
    assert "star/" in capsys.readouterr().out

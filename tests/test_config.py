import dataclasses
import json

import pytest

from infocir.config import AppConfig, ConfigError, apply_overrides, env_overrides, load_config, parse_set_arguments


def test_defaults_match_the_seed_readme():
    cfg = AppConfig()
    assert cfg.ui.port == 8051
    assert cfg.ui.gallery_size == 24 and cfg.ui.gallery_row_size == 4
    assert cfg.ui.max_images_on_scatterplot == 100
    assert cfg.model.preprocess == "targetpad"
    assert cfg.enhancement.candidate_prompts == 10 and cfg.enhancement.use_context is True
    assert cfg.saliency.max_candidates is None and cfg.saliency.generate_text_attribution is True
    assert cfg.umap.pca_components == 80 and cfg.umap.n_neighbors == 25
    assert cfg.dataset.class_names_file == "class_names.csv"
    # The seed's 30,000-image cap sampled larger folders down silently; a folder is now indexed whole unless a
    # sample is asked for (issue 21: "no silent sampling").
    assert cfg.dataset.sample_size == 0


def test_precedence_file_then_env_then_cli(tmp_path):
    f = tmp_path / "cfg.toml"
    f.write_text('[ui]\nport = 9000\ngallery_size = 12\n[model]\npreprocess = "clip"\n')
    env = {"CIR_UI_PORT": "9100", "CIR_UI_GALLERY_ROW_SIZE": "6"}
    cfg = load_config(f, environ=env, cli_overrides={"ui.port": "9200"})
    assert cfg.ui.port == 9200  # CLI beats env beats file
    assert cfg.ui.gallery_row_size == 6  # env beats default
    assert cfg.ui.gallery_size == 12  # file beats default
    assert cfg.model.preprocess == "clip"
    assert load_config(f, environ=env).ui.port == 9100
    assert load_config(f, environ={}).ui.port == 9000


def test_json_file_and_config_env_variable(tmp_path):
    f = tmp_path / "cfg.json"
    f.write_text(json.dumps({"retrieval": {"default_k": 7}}))
    assert load_config(environ={"CIR_CONFIG": str(f)}).retrieval.default_k == 7


def test_seed_readme_aliases():
    cfg = load_config(environ={"CIR_PORT": "8123", "CIR_PREPROCESS_TYPE": "clip", "CIR_DATASET_ROOT_PATH": "/x"})
    assert (cfg.ui.port, cfg.model.preprocess, cfg.dataset.root) == (8123, "clip", "/x")


@pytest.mark.parametrize(
    "key,value,expected",
    [
        ("model.preprocess", "fancy", "model.preprocess: 'fancy' is not allowed; allowed values: targetpad, clip"),
        ("ui.port", "0", "ui.port: 0 is below the minimum 1"),
        ("retrieval.default_k", "101", "retrieval.default_k: 101 is above the maximum 100"),
        ("ui.port", "eighty", "ui.port: 'eighty' is not an integer"),
        ("saliency.enabled", "maybe", "saliency.enabled: 'maybe' is not true/false"),
        ("ui.nope", "1", "ui.nope: unknown field"),
        ("nosection.x", "1", "unknown section 'nosection'"),
    ],
)
def test_bad_values_name_the_field_and_allowed_values(key, value, expected):
    with pytest.raises(ConfigError) as e:
        apply_overrides(AppConfig(), {key: value})
    assert expected in str(e.value)


def test_typed_parsing_of_strings():
    cfg = apply_overrides(
        AppConfig(),
        {
            "saliency.enabled": "off",
            "saliency.max_candidates": "5",
            "umap.min_dist": "0.25",
            "model.config_dirs": "a, b",
        },
    )
    assert cfg.saliency.enabled is False and cfg.saliency.max_candidates == 5
    assert cfg.umap.min_dist == 0.25 and cfg.model.config_dirs == ("a", "b")
    assert apply_overrides(cfg, {"saliency.max_candidates": "none"}).saliency.max_candidates is None


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        AppConfig().ui.port = 1  # type: ignore[misc]


def test_unknown_environment_variable_is_reported():
    with pytest.raises(ConfigError, match="CIR_FOO_BAR"):
        env_overrides({"CIR_FOO_BAR": "1"})
    assert env_overrides({"OTHER": "1"}) == {}


def test_bad_file_and_set_syntax(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text("[ui\nport=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(f, environ={})
    with pytest.raises(ConfigError, match="expected section.field=value"):
        parse_set_arguments(["port8051"])


@pytest.mark.parametrize(
    "key,registered",
    [
        ("retrieval.method", "searle"),
        ("feedback.base_method", "average"),
        ("saliency.explainer", "grad_eclip"),
        ("enhancement.provider", "offline"),
    ],
)
def test_plugin_names_are_checked_against_the_registries(key, registered):
    from infocir.plugins import check_plugin_names

    good = apply_overrides(AppConfig(), {key: registered})
    assert check_plugin_names(good) is good  # a registered name passes, the config unchanged
    bad = apply_overrides(AppConfig(), {key: "magic"})  # the config itself holds plain strings
    with pytest.raises(ConfigError) as e:
        check_plugin_names(bad)
    message = str(e.value)
    assert message.startswith(f"{key}: 'magic' is not allowed; allowed values: ")
    assert registered in message.split("allowed values: ")[1].split(", ")  # the list names the real plugins

"""Plugin names in the configuration, checked once where the engine and the CLI start.

The configuration holds plain strings (it imports no plugin package, so config ↔ methods has no
cycle); the registries know which names exist.  A bad name is a ConfigError naming the field and
the registered names.
"""

from __future__ import annotations

from infocir.config import AppConfig, ConfigError


def check_plugin_names(cfg: AppConfig) -> AppConfig:
    """Raise ConfigError for a method, explainer or provider name that no plugin registered."""
    from infocir.enhance.registry import list_provider_names
    from infocir.explain.base import EXPLAINERS
    from infocir.explain.segmentation import SEGMENTERS
    from infocir.methods.registry import list_method_names

    methods = list_method_names()
    checks = [
        ("retrieval.method", cfg.retrieval.method, methods),
        ("feedback.base_method", cfg.feedback.base_method, methods),
        ("saliency.explainer", cfg.saliency.explainer, EXPLAINERS.names()),
        ("segmentation.explainer", cfg.segmentation.explainer, EXPLAINERS.names()),
        ("segmentation.provider", cfg.segmentation.provider, SEGMENTERS.names()),
        ("enhancement.provider", cfg.enhancement.provider, ["auto", *list_provider_names()]),
    ]
    for path, value, allowed in checks:
        if value not in allowed:
            raise ConfigError(f"{path}: {value!r} is not allowed; allowed values: {', '.join(allowed)}")
    return cfg

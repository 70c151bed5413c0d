"""Provider registry: names → classes, as for the CIR methods.  Adding a provider = one module in ``_BUILTIN``."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from infocir.enhance.base import KEPT, EnhancementError, Provider

if TYPE_CHECKING:
    from infocir.config import AppConfig

_BUILTIN = ("gemini", "openai_compat", "offline")  # also the "auto" preference order
_REGISTRY: dict[str, type[Provider]] = {}


def register(cls: type[Provider]) -> type[Provider]:
    """Class decorator: make a provider available by its ``name``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"two enhancement providers are named {cls.name!r}")
    _REGISTRY[cls.name] = cls
    return cls


def _ordered() -> list[tuple[str, type[Provider]]]:
    for mod in _BUILTIN:
        importlib.import_module(f"infocir.enhance.{mod}")
    rank = {f"infocir.enhance.{m}": i for i, m in enumerate(_BUILTIN)}
    return sorted(_REGISTRY.items(), key=lambda kv: rank.get(kv[1].__module__, len(rank)))


@dataclass(frozen=True)
class ProviderInfo:
    name: str
    label: str
    description: str
    available: bool
    reason: str


def list_provider_names() -> list[str]:
    return [name for name, _ in _ordered()]


def list_providers(cfg: "AppConfig") -> list[ProviderInfo]:
    """Every provider with its availability under ``cfg`` and the current environment."""
    out = []
    for name, cls in _ordered():
        ok, why = cls().available(cfg)
        out.append(ProviderInfo(name, cls.label, cls.description, ok, why))
    return out


def create_provider(name: str) -> Provider:
    """A provider by name; unknown names are an EnhancementError listing the known ones."""
    names = list_provider_names()
    if name not in _REGISTRY:
        raise EnhancementError(f"Unknown enhancement provider {name!r}; available: {', '.join(names)}; {KEPT}.")
    return _REGISTRY[name]()


def resolve_provider(cfg: "AppConfig", name: str | None = None) -> Provider:
    """The provider to use: ``name`` or ``cfg.enhancement.provider``; "auto" takes the first available
    of Gemini (a key and a client package), an OpenAI-compatible server (a base URL or key), offline.
    An explicitly chosen provider that cannot run is an EnhancementError saying what to set."""
    name = name or cfg.enhancement.provider
    if name != "auto":
        provider = create_provider(name)
        ok, why = provider.available(cfg)
        if not ok:
            raise EnhancementError(f"{provider.label} is unavailable: {why}; {KEPT}.")
        return provider
    for _, cls in _ordered():
        provider = cls()
        if provider.available(cfg)[0]:
            return provider
    return create_provider("offline")

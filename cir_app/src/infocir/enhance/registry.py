"""Provider registry: names → classes, as for the CIR methods.  Adding a provider = one new module in
``enhance/`` with an ``@register`` class; its ``order`` is its place in the "auto" preference."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from infocir.enhance.base import KEPT, EnhancementError, Provider
from infocir.registry import Registry

if TYPE_CHECKING:
    from infocir.config import AppConfig

# The providers' ``order`` is also the "auto" preference order.
PROVIDERS: Registry[type[Provider]] = Registry("enhancement provider", "infocir.enhance")
register = PROVIDERS.register


@dataclass(frozen=True)
class ProviderInfo:
    name: str
    label: str
    description: str
    available: bool
    reason: str


def list_provider_names() -> list[str]:
    return PROVIDERS.names()


def list_providers(cfg: AppConfig) -> list[ProviderInfo]:
    """Every provider with its availability under ``cfg`` and the current environment."""
    out = []
    for name, cls in PROVIDERS.ordered():
        ok, why = cls().available(cfg)
        out.append(ProviderInfo(name, cls.label, cls.description, ok, why))
    return out


def create_provider(name: str) -> Provider:
    """A provider by name; unknown names are an EnhancementError listing the known ones."""
    cls = PROVIDERS.get(name)
    if cls is None:
        raise EnhancementError(
            f"Unknown enhancement provider {name!r}; available: {', '.join(list_provider_names())}; {KEPT}."
        )
    return cls()


def resolve_provider(cfg: AppConfig, name: str | None = None) -> Provider:
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
    for _, cls in PROVIDERS.ordered():
        provider = cls()
        if provider.available(cfg)[0]:
            return provider
    return create_provider("offline")

"""Method registry: names → classes.  Adding a method = one new module in ``methods/`` with an
``@register`` class (the registry imports every module of the package on first lookup)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infocir.methods.base import CIRMethod, MethodContext
from infocir.registry import Registry, UnknownPluginError

METHODS: Registry[type[CIRMethod]] = Registry("CIR method", "infocir.methods")
register = METHODS.register


def list_method_names() -> list[str]:
    return METHODS.names()


@dataclass(frozen=True)
class MethodInfo:
    name: str
    label: str
    description: str
    available: bool
    reason: str
    slow: bool = False


def fallback_method_name(ctx: MethodContext) -> str:
    """The method to use when the configured one is unavailable (e.g. no φ checkpoint): the first
    available fast method that composes one vector from both the reference and the text."""
    for name, cls in METHODS.ordered():
        if (
            cls.needs_reference
            and cls.needs_text
            and cls.composes_vector()
            and not cls.slow
            and cls().availability(ctx)[0]
        ):
            return name
    raise UnknownPluginError("no available method composes a reference image and a text")


def list_methods(ctx: MethodContext | None = None) -> list[MethodInfo]:
    """Every method with its availability in ``ctx`` (all available when no context is given)."""
    out = []
    for name, cls in METHODS.ordered():
        ok, why = cls().availability(ctx) if ctx is not None else (True, "")
        out.append(MethodInfo(name, cls.label, cls.description, ok, why, cls.slow))
    return out


def create_method(name: str, **params: Any) -> CIRMethod:
    """A method by name with its declared parameters (UnknownPluginError / MethodParameterError otherwise)."""
    return METHODS.lookup(name)(**params)

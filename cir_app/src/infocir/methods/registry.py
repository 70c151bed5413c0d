"""Method registry: names → classes.  Adding a method = one module listed in ``METHODS``' built-ins."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infocir.methods.base import CIRMethod, MethodContext
from infocir.registry import Registry

METHODS: Registry[type[CIRMethod]] = Registry(
    "CIR method", "infocir.methods", ("baselines", "searle", "oti", "basic", "feedback", "fusion"))
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


def list_methods(ctx: MethodContext | None = None) -> list[MethodInfo]:
    """Every method with its availability in ``ctx`` (all available when no context is given)."""
    out = []
    for name, cls in METHODS.ordered():
        ok, why = cls().availability(ctx) if ctx is not None else (True, "")
        out.append(MethodInfo(name, cls.label, cls.description, ok, why))
    return out


def create_method(name: str, **params: Any) -> CIRMethod:
    cls = METHODS.get(name)
    if cls is None:
        raise KeyError(f"unknown CIR method {name!r}; available: {', '.join(list_method_names())}")
    return cls(**params)

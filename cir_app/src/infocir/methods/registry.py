"""Method registry: names → classes.  Adding a method = one module listed in ``_BUILTIN``."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from infocir.methods.base import CIRMethod, MethodContext

_BUILTIN = ("baselines", "searle", "oti", "basic", "feedback", "fusion")
_REGISTRY: dict[str, type[CIRMethod]] = {}


def register(cls: type[CIRMethod]) -> type[CIRMethod]:
    """Class decorator: make a method available by its ``name``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"two CIR methods are named {cls.name!r}")
    _REGISTRY[cls.name] = cls
    return cls


def _load_builtin() -> None:
    for mod in _BUILTIN:
        importlib.import_module(f"infocir.methods.{mod}")


def _ordered() -> list[tuple[str, type[CIRMethod]]]:
    """Methods in the order of ``_BUILTIN`` (then others), whatever order modules were imported in."""
    _load_builtin()
    rank = {f"infocir.methods.{m}": i for i, m in enumerate(_BUILTIN)}
    items = list(_REGISTRY.items())
    return sorted(items, key=lambda kv: rank.get(kv[1].__module__, len(rank)))


def list_method_names() -> list[str]:
    return [name for name, _ in _ordered()]


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
    for name, cls in _ordered():
        ok, why = cls().availability(ctx) if ctx is not None else (True, "")
        out.append(MethodInfo(name, cls.label, cls.description, ok, why))
    return out


def create_method(name: str, **params: Any) -> CIRMethod:
    _load_builtin()
    if name not in _REGISTRY:
        raise KeyError(f"unknown CIR method {name!r}; available: {', '.join(list_method_names())}")
    return _REGISTRY[name](**params)

"""Registries as data: names → classes, filled by a class decorator in each built-in module.

One mechanism for the CIR methods, the explainers and the enhancement providers: adding one is
one module listed in its registry's built-ins.  The built-ins are imported on first lookup (never
at import time), and listings follow the built-ins' order whatever order they were imported in.
"""
from __future__ import annotations

import importlib
from typing import Generic, TypeVar

T = TypeVar("T", bound=type)


class Registry(Generic[T]):
    """Classes with a ``name`` attribute, registered by ``@registry.register``."""

    def __init__(self, kind: str, package: str, builtin: tuple[str, ...]):
        self.kind, self.package, self.builtin = kind, package, builtin
        self._classes: dict[str, T] = {}

    def register(self, cls: T) -> T:
        """Class decorator: make ``cls`` available by its ``name``."""
        if cls.name in self._classes and self._classes[cls.name] is not cls:
            raise ValueError(f"two {self.kind}s are named {cls.name!r}")
        self._classes[cls.name] = cls
        return cls

    def ordered(self) -> list[tuple[str, T]]:
        """(name, class) in the order of the built-in modules, then any others."""
        for mod in self.builtin:
            importlib.import_module(f"{self.package}.{mod}")
        rank = {f"{self.package}.{m}": i for i, m in enumerate(self.builtin)}
        return sorted(self._classes.items(), key=lambda kv: rank.get(kv[1].__module__, len(rank)))

    def names(self) -> list[str]:
        return [name for name, _ in self.ordered()]

    def get(self, name: str) -> T | None:
        """The class named ``name``, or None (callers raise their own, user-facing error)."""
        self.ordered()
        return self._classes.get(name)

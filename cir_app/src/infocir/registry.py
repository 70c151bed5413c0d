"""Registries as data: names → classes, filled by a class decorator in each plugin module.

One mechanism for the CIR methods, the explainers and the enhancement providers.  Plugin modules
register themselves: on first lookup every module of the registry's package is imported (a
``pkgutil`` scan, as open_clip scans its config folder), so adding a method, an explainer or a
provider is one new module with an ``@register`` class — no list to edit.  Listings follow each
class's ``order`` (then its name), whatever order the modules were imported in.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from typing import ClassVar, Generic, Protocol, TypeVar

from infocir.errors import UserError


class Named(Protocol):
    """What a registry needs of a plugin class: its ``name``."""

    name: ClassVar[str]


T = TypeVar("T", bound=type[Named])


class UnknownPluginError(UserError, KeyError):
    """A method, explainer or provider name that no plugin registered; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """Classes with a ``name`` (and optional ``order``) attribute, registered by ``@registry.register``."""

    def __init__(self, kind: str, package: str):
        self.kind, self.package = kind, package
        self._classes: dict[str, T] = {}
        self._discovered = False
        self._lock = threading.Lock()

    def register(self, cls: T) -> T:
        """Class decorator: make ``cls`` available by its ``name``."""
        if cls.name in self._classes and self._classes[cls.name] is not cls:
            raise ValueError(f"two {self.kind}s are named {cls.name!r}")
        self._classes[cls.name] = cls
        return cls

    def discover(self) -> None:
        """Import every module of the package once, so their ``@register`` decorators run."""
        if self._discovered:
            return
        with self._lock:
            if self._discovered:
                return
            pkg = importlib.import_module(self.package)
            for mod in pkgutil.iter_modules(pkg.__path__):
                if not mod.name.startswith("_"):
                    importlib.import_module(f"{self.package}.{mod.name}")
            self._discovered = True

    def ordered(self) -> list[tuple[str, T]]:
        """(name, class) by the classes' ``order`` (default 100), then by name."""
        self.discover()
        return sorted(self._classes.items(), key=lambda kv: (getattr(kv[1], "order", 100), kv[0]))

    def names(self) -> list[str]:
        return [name for name, _ in self.ordered()]

    def get(self, name: str) -> T | None:
        """The class named ``name``, or None."""
        self.discover()
        return self._classes.get(name)

    def lookup(self, name: str) -> T:
        """The class named ``name``; an UnknownPluginError listing the known names otherwise."""
        cls = self.get(name)
        if cls is None:
            raise UnknownPluginError(f"unknown {self.kind} {name!r}; available: {', '.join(self.names())}")
        return cls

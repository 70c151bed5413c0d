"""The shared contract of prompt-enhancement providers and the context they work from."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from infocir.errors import UserError
from infocir.redaction import redact  # noqa: F401  (every provider's one redaction helper)

if TYPE_CHECKING:
    from infocir.config import AppConfig

KEPT = "the original query is kept"


class EnhancementError(UserError, RuntimeError):
    """Prompt enhancement failed; the message says what happened, how to fix it, and that the
    original query is kept (the panel shows it and leaves the search as it was)."""


@dataclass(frozen=True)
class VocabWord:
    """A vocabulary word with its kind ("class", "colour", "size", "style", "background",
    "material", "scene", ...) and how much better it matches the ideals than the reference."""

    word: str
    kind: str
    score: float = 0.0


@dataclass(frozen=True)
class VisualContext:
    """What a provider may know about the query and the ideals (words only, never pixels)."""

    original_text: str
    n_ideals: int
    reference_class: str | None = None
    reference_words: tuple[str, ...] = ()  # vocabulary words that best caption the reference
    ideal_classes: tuple[tuple[str, int], ...] = ()  # (class, count), most common first
    ideal_captions: tuple[str, ...] = ()  # one caption per ideal (a few at most)
    ideal_words: tuple[VocabWord, ...] = ()  # words that set the ideals apart from the reference, best first
    shared_attributes: dict[str, str] = field(default_factory=dict)  # demo world: values all ideals share
    changed_attributes: dict[str, str] = field(default_factory=dict)  # ... of those, the ones the reference lacks
    reference_attributes: dict[str, str] = field(default_factory=dict)  # demo world: the reference's values
    attributes_known: bool = False  # demo world: every ideal's attributes are known (shared/changed are exact)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for logs and the panel's "what the model was told" view)."""
        return asdict(self)


class Provider(ABC):
    """Generates candidate rewrites of a modification text.  Registered by ``name``."""

    name: ClassVar[str]
    label: ClassVar[str]
    description: ClassVar[str]
    uses_network: ClassVar[bool] = True
    order: ClassVar[int] = 100  # the "auto" preference: lower is tried first

    def available(self, cfg: AppConfig) -> tuple[bool, str]:
        """(True, "") when the provider can run now, else (False, what to set or install)."""
        return True, ""

    @abstractmethod
    def generate(self, context: VisualContext, n: int, cfg: AppConfig) -> list[str]:
        """Up to ``n`` distinct candidate texts (never the original); EnhancementError on failure."""

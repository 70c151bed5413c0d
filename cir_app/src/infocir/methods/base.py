"""The shared contract of every CIR method."""

from __future__ import annotations

from abc import ABC
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from infocir.errors import UserError
from infocir.models.encoding import l2_normalize

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from infocir.config import AppConfig
    from infocir.index.backends import SearchBackend
    from infocir.index.store import FeatureIndex
    from infocir.models.encoders import ClipBundle


def zscore(scores: np.ndarray) -> np.ndarray:
    """Scores standardised to mean 0 and standard deviation 1, as float64 (constant scores give zeros)."""
    s = np.asarray(scores, np.float64)
    return (s - s.mean()) / max(float(s.std()), 1e-12)


class MethodUnavailable(UserError, RuntimeError):
    """The method cannot run in this setting (missing checkpoint, corpus, ...); the message says why."""


class MethodParameterError(UserError, TypeError):
    """A method was given a parameter it does not declare, or a value of the wrong kind."""


@dataclass(frozen=True)
class Param:
    """A declared method parameter: its default, the kind of value, an optional range, and help."""

    default: Any
    kind: type | tuple[type, ...] = object
    min: float | None = None
    max: float | None = None
    help: str = ""

    def check(self, method: str, name: str, value: Any) -> Any:
        if value is None or value is self.default or self.kind is object:
            return value
        if self.kind in (int, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
            if self.kind is int and float(value) != int(value):
                raise MethodParameterError(f"{method}: {name} must be a whole number, got {value!r}")
            value = self.kind(value)
        elif not isinstance(value, self.kind):
            kind = getattr(self.kind, "__name__", str(self.kind))
            raise MethodParameterError(f"{method}: {name} must be {kind}, got {type(value).__name__}")
        if self.min is not None and value < self.min or self.max is not None and value > self.max:
            raise MethodParameterError(f"{method}: {name}={value!r} is outside {self.min}..{self.max}")
        return value


class MissingInput(UserError, ValueError):
    """The query lacks what the method needs (a reference image or a text)."""


@dataclass
class Query:
    """One composed query as methods see it."""

    text: str
    reference_raw: np.ndarray | None = None  # raw encode_image feature [D] (unnormalised)
    reference_row: int | None = None  # row in the index when the reference is a dataset image
    reference_image: Image.Image | None = None
    reference_key: str = ""  # stable identity of the reference (dataset id or upload hash), for caches

    @property
    def reference_unit(self) -> np.ndarray | None:
        return None if self.reference_raw is None else l2_normalize(self.reference_raw)

    def require_reference(self, raw: bool = False) -> np.ndarray:
        """The reference's unit feature [D] (``raw``: the unnormalised one) for a method that needs it;
        ``CIRMethod.check`` has already refused a query without one, so the error here is a bug's."""
        if self.reference_raw is None:
            raise MissingInput("this method needs a reference image: pick one from the dataset or upload one.")
        return self.reference_raw if raw else l2_normalize(self.reference_raw)


@dataclass
class Composition:
    """What a method produced: a score for every indexed image, and the composed vector if there is one."""

    scores: np.ndarray  # float32 [N]
    query_vector: np.ndarray | None = None  # unit [D] for vector methods; None for score-level fusion
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class MethodContext:
    """Everything a method may use; built once per engine."""

    bundle: ClipBundle
    index: FeatureIndex
    backend: SearchBackend
    encode_text: Callable[[list[str]], np.ndarray]  # raw text features [n, D], cached by the engine
    config: AppConfig
    cache: dict[Hashable, Any] = field(default_factory=dict)  # per-engine caches (φ network, OTI tokens, ...)

    def text_unit(self, text: str) -> np.ndarray:
        return l2_normalize(self.encode_text([text])[0])


class CIRMethod(ABC):
    """A composed-retrieval method.  Subclasses set the class attributes and implement
    ``compose`` (one query vector) or override ``score`` (score-level fusion)."""

    name: ClassVar[str]
    label: ClassVar[str]
    description: ClassVar[str]
    needs_reference: ClassVar[bool] = True
    needs_text: ClassVar[bool] = True
    order: ClassVar[int] = 100  # position in listings and menus
    slow: ClassVar[bool] = False  # seconds per new query (left out of "evaluate everything" runs)
    # compose_from_image is implemented: the query is a differentiable function of the reference image
    reference_differentiable: ClassVar[bool] = False
    # a SEARLE φ maps the reference to its pseudo-word (panel F's φ-norm view)
    uses_phi: ClassVar[bool] = False

    # The parameters the method accepts (name → Param); anything else is rejected with the allowed names.
    parameters: ClassVar[dict[str, Param]] = {}

    def __init__(self, **params: Any):
        unknown = sorted(set(params) - set(self.parameters))
        if unknown:
            allowed = ", ".join(sorted(self.parameters)) or "none"
            raise MethodParameterError(
                f"{self.name} has no parameter {', '.join(map(repr, unknown))}; allowed: {allowed}"
            )
        self.params = {k: p.default for k, p in self.parameters.items()}
        self.params.update({k: self.parameters[k].check(self.name, k, v) for k, v in params.items()})

    def availability(self, ctx: MethodContext) -> tuple[bool, str]:
        """(True, "") if the method can run here, else (False, reason the user can act on)."""
        return True, ""

    template_words: ClassVar[int] = 0  # words the method's prompt puts before the user's text

    def prompt(self, query: Query) -> str:
        """The text the method encodes (the modification as typed, unless the method has a template)."""
        return query.text.strip()

    def pseudo_token(self, ctx: MethodContext, query: Query):
        """The pseudo-word token [1, d_tok] that stands for the reference in ``prompt``, if any."""
        return None

    @classmethod
    def composes_vector(cls) -> bool:
        """True for methods that compose one query vector (they implement ``compose``)."""
        return cls.compose is not CIRMethod.compose

    def compose(self, ctx: MethodContext, query: Query) -> np.ndarray | None:
        """The composed query as a unit vector [D], or None for score-level methods."""
        raise NotImplementedError

    def compose_from_image(self, ctx: MethodContext, query: Query, image_emb: torch.Tensor) -> torch.Tensor:
        """The composed query [B, D] as a differentiable function of the reference image's raw
        ``encode_image`` output ``image_emb`` [B, D] (on the model's device), so an explainer can
        follow a candidate's similarity back into the reference's pixels.  Only for methods with
        ``reference_differentiable``; for the others (text only, optimised tokens, score fusion): the
        reference map then explains its similarity to the composed query instead."""
        raise NotImplementedError(f"{self.name} does not compose from the reference image differentiably")

    def score(self, ctx: MethodContext, query: Query) -> Composition:
        """Similarity of every indexed image to the composed query."""
        vec = self.compose(ctx, query)
        if vec is None:
            raise NotImplementedError(f"{self.name} must implement compose() or score()")
        vec = l2_normalize(np.asarray(vec, np.float32))
        return Composition(scores=ctx.backend.similarities(vec), query_vector=vec)

    def check(self, ctx: MethodContext, query: Query) -> None:
        """Raise MethodUnavailable / MissingInput before running, with a message for the user."""
        ok, why = self.availability(ctx)
        if not ok:
            raise MethodUnavailable(f"{self.label} is unavailable: {why}")
        if self.needs_reference and query.reference_raw is None:
            raise MissingInput(f"{self.label} needs a reference image: pick one from the dataset or upload one.")
        if self.needs_text and not query.text.strip():
            raise MissingInput(f"{self.label} needs a modification text, e.g. \"make it red\".")

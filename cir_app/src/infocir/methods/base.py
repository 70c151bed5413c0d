"""The shared contract of every CIR method."""

from __future__ import annotations

from abc import ABC
from collections.abc import Callable, Hashable, Iterable
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


class Composition:
    """What a method produced: the composed unit vector (vector methods), or a score for every indexed image
    (score-level fusion), or both.

    A vector method's scores over the whole index are computed only when asked for (``scores``): a search
    takes its top k straight from the backend (``top``), which an approximate index answers without
    scoring every image."""

    def __init__(
        self,
        scores: np.ndarray | None = None,
        query_vector: np.ndarray | None = None,
        extras: dict[str, Any] | None = None,
        backend: SearchBackend | None = None,
    ):
        if scores is None and (query_vector is None or backend is None):
            raise ValueError("a Composition needs scores, or a query vector and the backend that scores it")
        self._scores = scores
        self.query_vector = query_vector  # unit [D] for vector methods; None for score-level fusion
        self.extras: dict[str, Any] = extras or {}
        self._backend = backend

    @property
    def scores(self) -> np.ndarray:
        """float32 [N]: the (exact) score of every indexed image."""
        if self._scores is None:
            assert self._backend is not None and self.query_vector is not None
            self._scores = self._backend.similarities(self.query_vector)
        return self._scores

    def scores_at(self, rows: np.ndarray) -> np.ndarray:
        """float32 scores of some rows (exact), without scoring the whole index when it is not needed."""
        rows = np.asarray(rows, np.int64)
        if self._scores is not None or self._backend is None or self.query_vector is None:
            return np.asarray(self.scores[rows], np.float32)
        from infocir.index.backends import score_rows

        return score_rows(self._backend.features, self.query_vector, rows)

    def top(
        self,
        k: int,
        allowed: np.ndarray | None = None,
        exclude: Iterable[int] = (),
        backend: SearchBackend | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k best rows and their scores (descending; ties: lower row first), within ``allowed`` (bool [N])
        and without the rows in ``exclude``: from the backend for a vector (``backend``, e.g. a hashing index
        chosen for this query, or the method's own), from the scores otherwise."""
        backend = backend or self._backend
        if self._scores is None and backend is not None and self.query_vector is not None:
            return backend.search(self.query_vector, k, allowed, exclude)
        from infocir.index.backends import top_k

        keep = np.ones(len(self.scores), bool) if allowed is None else np.array(allowed, bool)
        keep[list(exclude)] = False
        rows = top_k(self.scores, k, None if keep.all() else keep)
        return rows, np.asarray(self.scores[rows], np.float32)


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

    def composes_from_image(self, ctx: MethodContext) -> bool:
        """Whether ``compose_from_image`` works here: ``reference_differentiable``, or for a method that moves
        another's query (relevance feedback), whether that method's does."""
        return self.reference_differentiable

    def compose_from_image(self, ctx: MethodContext, query: Query, image_emb: torch.Tensor) -> torch.Tensor:
        """The composed query [B, D] as a differentiable function of the reference image's raw
        ``encode_image`` output ``image_emb`` [B, D] (on the model's device), so an explainer can
        follow a candidate's similarity back into the reference's pixels.  Only for methods with
        ``composes_from_image``; for the others (text only, optimised tokens, score fusion): the
        reference map then explains its similarity to the composed query instead."""
        raise NotImplementedError(f"{self.name} does not compose from the reference image differentiably")

    def score(self, ctx: MethodContext, query: Query) -> Composition:
        """Similarity of every indexed image to the composed query."""
        vec = self.compose(ctx, query)
        if vec is None:
            raise NotImplementedError(f"{self.name} must implement compose() or score()")
        vec = l2_normalize(np.asarray(vec, np.float32))
        return Composition(query_vector=vec, backend=ctx.backend)

    def check(self, ctx: MethodContext, query: Query) -> None:
        """Raise MethodUnavailable / MissingInput before running, with a message for the user."""
        ok, why = self.availability(ctx)
        if not ok:
            raise MethodUnavailable(f"{self.label} is unavailable: {why}")
        if self.needs_reference and query.reference_raw is None:
            raise MissingInput(f"{self.label} needs a reference image: pick one from the dataset or upload one.")
        if self.needs_text and not query.text.strip():
            raise MissingInput(f"{self.label} needs a modification text, e.g. \"make it red\".")

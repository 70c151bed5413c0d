"""What the callbacks share: the engine and the map service (read-only after start-up)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from infocir.config import AppConfig
from infocir.engine import RetrievalEngine
from infocir.errors import is_user_error
from infocir.explain.service import ExplanationService
from infocir.jobs import JobRunner
from infocir.projection.embedding_map import MapService
from infocir.ui.figures import class_colours
from infocir.ui.query_state import results_vector
from infocir.ui.uploads import UploadStore

log = logging.getLogger(__name__)


@dataclass
class Services:
    engine: RetrievalEngine
    config: AppConfig
    maps: MapService
    # One worker: explanations and LLM calls share the CPU with the searches.
    jobs: JobRunner = field(
        default_factory=lambda: JobRunner(workers=1, describe_error=lambda exc: user_message(exc, "This step"))
    )
    # Uploaded references, by content hash: the browser keeps only the key (ui/uploads.py).
    uploads: UploadStore = field(default_factory=UploadStore)

    def __post_init__(self) -> None:
        self.colours = class_colours(self.engine.index.classes)
        self.explanations = ExplanationService(self.engine, max_side=self.config.saliency.max_side)

    def reference_from(self, results: dict):
        """The engine reference of a stored result: a dataset id, the uploaded bytes (kept on the server
        under the key the result names; ``UploadGone`` when they are gone), or None."""
        ref = results.get("reference") or {}
        if ref.get("kind") == "upload":
            return self.uploads.get(ref.get("key") or "")
        return ref.get("id")

    def placements(self, results: dict, query_vector=None) -> tuple[list | None, list | None]:
        """Map positions of the reference and of the composed query (None when not placeable).

        ``query_vector`` is the search's composed vector when the caller has it, else the one
        ``results`` carries (``query_state.with_vector``); the query is composed again only when
        neither is there.
        """
        m = self.maps.map
        if m is None or not results:
            return None, None
        if "query_xy" in results:  # placed when the search ran
            return results.get("ref_xy"), results["query_xy"]
        ref_xy = query_xy = None
        try:
            ref = self.reference_from(results)
            if isinstance(ref, str) and ref in self.engine.index.row_of:
                ref_xy = m.coords[self.engine.index.row_of[ref]].tolist()
            elif ref is not None:
                q, _ = self.engine.build_query(ref, "")
                ref_xy = m.transform(q.reference_unit[None])[0].tolist()
            if query_vector is None:
                query_vector = results_vector(results)
            if query_vector is None and "query_vector" not in results:
                query_vector = self.engine.compose(ref, results.get("text", ""), results.get("method")).query_vector
            if query_vector is not None:
                query_xy = m.transform(query_vector[None])[0].tolist()
        except Exception as exc:  # placement is decoration: never break the map for it
            if not is_user_error(exc):
                log.exception("could not place the query on the map")
        return ref_xy, query_xy


def user_message(exc: Exception, what: str) -> str:
    """A sentence for the page; internal errors are logged with their traceback, never shown."""
    if is_user_error(exc):  # a plain KeyError is a bug: logged with its traceback below, not shown
        return str(exc).strip("'\"")
    log.exception("%s failed", what)
    return f"{what} failed because of an internal error; the server log has the details."

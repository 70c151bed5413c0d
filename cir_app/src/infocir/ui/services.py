"""What the callbacks share: the engine and the map service (read-only after start-up)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import numpy as np

from infocir.cache import BoundedCache
from infocir.config import AppConfig
from infocir.data.attributes_table import AttributeTable, load_attribute_table
from infocir.engine import RetrievalEngine
from infocir.errors import UserError, is_user_error
from infocir.explain.service import ExplanationService
from infocir.index.id_search import IdSearch
from infocir.jobs import JobRunner
from infocir.projection.density import DensityGrid, density_grid, grid_bins, rows_in_region, stratified_sample
from infocir.projection.embedding_map import MapService
from infocir.ui.figures import MapGroups, attribute_groups, class_colours, class_groups
from infocir.ui.query_state import results_vector, selection_key
from infocir.ui.uploads import UploadStore

log = logging.getLogger(__name__)


def takes_relevant(method: str) -> bool:
    """Whether a registered method takes the images marked relevant (the page's ideals) as its input."""
    from infocir.methods.registry import create_method

    try:
        return "relevant" in create_method(method).parameters
    except UserError:  # an unknown name: the search itself reports it
        return False


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
        self.id_search = IdSearch(self.engine.index.ids)  # panel A's reference picker (built on first search)
        self.explanations = ExplanationService(self.engine, max_side=self.config.saliency.max_side)
        # attributes.csv beside the dataset (the map's "colour by"); a bad file gives a message, not a crash
        self.attributes: AttributeTable | None
        self.attributes, self.attributes_note = load_attribute_table(self.engine.scan.root, self.engine.index.ids)
        if self.attributes_note:
            log.warning("%s", self.attributes_note)
        self._groups: dict[str, MapGroups] = {}
        self._slots: dict[tuple[str, str], str] = {}
        self._slots_lock = threading.Lock()
        # Panel D at scale (ui.map_density_above): a density layer of every point under a sample of them
        above, n = self.config.ui.map_density_above, len(self.engine.index)
        self.dense = n > 0 and (above == 0 or n > above)
        self._sample: np.ndarray | None = None
        self._density: tuple[object, DensityGrid] | None = None
        self._regions: BoundedCache[np.ndarray] = BoundedCache(8)  # rows of recent regions: callbacks ask at once
        self._within: BoundedCache[dict] = BoundedCache(32)  # selections searched within, by selection_key
        self._map_lock = threading.Lock()

    def attribute_names(self) -> list[str]:
        return self.attributes.names() if self.attributes is not None else []

    def groups(self, attribute: str | None) -> MapGroups:
        """The map's dataset traces when coloured by ``attribute`` ("class", or a column of attributes.csv;
        an unknown name is "class"); over a density layer (``dense``) they hold only the sampled rows."""
        name = attribute if attribute in self.attribute_names() else "class"
        if name not in self._groups:
            if name == "class":
                groups = class_groups(self.engine.index.classes, self.colours)
            else:
                col = self.attributes.columns[name]
                groups = attribute_groups(name, col.kind, col.values)
            self._groups[name] = groups.restricted(self.sample()) if self.dense else groups
        return self._groups[name]

    def sample(self) -> np.ndarray:
        """The rows drawn as points over the density layer: ``ui.map_sample_points`` of them, stratified by
        class and seeded by ``umap.random_state`` (every colouring draws the same points)."""
        if self._sample is None:
            self._sample = stratified_sample(
                self.engine.index.classes, self.config.ui.map_sample_points, self.config.umap.random_state
            )
        return self._sample

    def density(self) -> DensityGrid | None:
        """The density layer of the map's points (None below ``ui.map_density_above`` or before the map)."""
        m = self.maps.map
        if not self.dense or m is None:
            return None
        with self._map_lock:
            if self._density is None or self._density[0] is not m:
                bins = grid_bins(len(m.coords), self.config.ui.map_density_bins)
                self._density = (m, density_grid(m.coords, bins))
            return self._density[1]

    def selection(self, browse: dict | None) -> np.ndarray | list | None:
        """Index rows of the page's map selection (B browses them, C counts them, D dims the others); None:
        none.  A selection holds the rows its event named, or, over a density layer, the region drawn
        (``projection.density.selection_region``): then every row inside it, computed from the map's coordinates
        (recent regions are kept: several callbacks ask at once)."""
        browse = browse or {}
        if browse.get("rows"):
            return browse["rows"]
        region, m = browse.get("region"), self.maps.map
        if not region or m is None:
            return None
        key = f"{id(m)}:{sorted(region.items())!r}"
        rows = self._regions.get(key)
        if rows is None:
            rows = rows_in_region(m.coords, region)
            self._regions.put(key, rows)
        return rows

    def browsed(self, results: dict | None, browse: dict | None) -> np.ndarray | list | None:
        """The rows B and C show instead of the results: the map selection's (``selection``), unless the results
        were searched within that very selection (panel A's "search only the selected images"): then the results."""
        within = (results or {}).get("within") or {}
        if browse and within.get("selection") == selection_key(browse):
            return None
        return self.selection(browse)

    def selection_mask(self, browse: dict | None) -> np.ndarray | None:
        """The map selection as ``RetrievalEngine.search``'s ``allowed`` (bool [N]); None without one.  The rows
        are ``selection``'s: over a density layer every image inside the region, resolved here on the server."""
        rows = self.selection(browse)
        if rows is None or not len(rows):
            return None
        # E's previews and F3's comparisons rank "like these results": within it too
        self._within.put(str(selection_key(browse)), dict(browse or {}))
        mask = np.zeros(len(self.engine.index), bool)
        mask[np.asarray(rows, np.int64)] = True
        return mask

    def within_mask(self, results: dict | None) -> np.ndarray | None:
        """The ``allowed`` mask of the selection ``results`` were searched within (their "within"), for a search
        "like these results"; None when they were not restricted.  A UserError when the server no longer knows that
        selection (restarted since): search again."""
        key = ((results or {}).get("within") or {}).get("selection")
        if not key:
            return None
        browse = self._within.get(key)
        if browse is None:
            raise UserError(
                "These results were searched within a map selection this server no longer holds; search again."
            )
        return self.selection_mask(browse)

    def attribute_value(self, attribute: str | None, row: int):
        if self.attributes is None or attribute in (None, "class"):
            return None
        return self.attributes.value(attribute, row)

    def search(
        self,
        reference_info: dict,
        text: str,
        k: int,
        method: str | None,
        exclude_reference: bool,
        relevant: list[str] | None = None,
        backend: str | None = None,
        method_params: dict | None = None,
        settings: dict | None = None,
        expansion: bool | None = None,
        allowed: np.ndarray | None = None,
    ):
        """The one search of the page: panel A's query (``reference_info`` as ``query_state.page_reference``
        records it) and F3's comparisons, which rank another text exactly as the results were ranked.

        ``relevant``: the page's ideals, given to a method that declares a ``relevant`` parameter (relevance
        feedback) and to no other: a method is asked what it takes, not recognised by name.  ``backend``: the
        search index chosen in A ("" or None: ``retrieval.backend``).  ``method_params``: further parameters of
        the method (the feedback iterations' ``base`` and ``rounds``, panel A's method settings, as the results store
        records them); ``settings``: per-query values of the methods' configuration sections (BASIC's λ, …);
        ``expansion``: collection expansion on or off (None: ``retrieval.expansion``); ``allowed``: rank only
        these rows (bool [N], panel A's "search only the selected images": ``selection_mask``)."""
        reference = self.reference_from({"reference": reference_info})
        params = {"relevant": list(relevant or [])} if takes_relevant(method or self.config.retrieval.method) else {}
        params.update(method_params or {})
        return self.engine.search(
            reference,
            text or "",
            k=int(k),
            method=method,
            exclude_reference=exclude_reference,
            backend=backend or None,
            settings=settings or None,
            expansion=expansion,
            allowed=allowed,
            **params,
        )

    def search_like(self, results: dict, text: str):
        """Another text searched as ``results`` were (same reference, k, method, exclusion, relevant marks, index, and
        the map selection they were restricted to)."""
        return self.search(
            results.get("reference") or {},
            text,
            results["k"],
            results.get("method"),
            bool(results.get("exclude_reference")),
            results.get("relevant"),
            results.get("backend"),
            results.get("method_params"),
            results.get("settings"),
            results.get("expansion"),
            self.within_mask(results),
        )

    def ranking_params(self, results: dict) -> dict:
        """The method parameters that made ``results``' ranking beyond reference, text and k (the relevant marks
        and the feedback iterations): what another ranking made "like these results" must be given too."""
        params = dict(results.get("method_params") or {})
        if results.get("relevant") and takes_relevant(results.get("method") or self.config.retrieval.method):
            params["relevant"] = list(results["relevant"])
        if results.get("settings"):  # engine.search and engine.compose take them beside the method's parameters
            params["settings"] = dict(results["settings"])
        if "expansion" in results:  # collection expansion chosen on the page (else the configured switch)
            params["expansion"] = bool(results["expansion"])
        return params

    def submit_for(
        self, session: str | None, kind: str, steps: list, replaces: str | None = None, progress: dict | None = None
    ) -> str:
        """Start a job for a page (``session``: the page's id, ``ids.SESSION``) and cancel the one the page
        showed (``replaces``).  The job is remembered in the page's slot for ``kind`` (see ``claim``);
        ``progress``: the dict its steps update (``JobRunner.submit``)."""
        self.jobs.cancel(replaces)
        job = self.jobs.submit(steps, progress=progress)
        if session:
            with self._slots_lock:
                self._slots.setdefault((session, kind), []).append(job)
                if len(self._slots) > 4096:  # forget the oldest pages
                    for key in list(self._slots)[:1024]:
                        del self._slots[key]
        return job

    def claim(self, session: str | None, kind: str, job: str | None) -> None:
        """The page polls ``job``: cancel every job the page started for ``kind`` before it.  When requests
        overlap (▶ ten times in a second) the browser keeps only the newest answer, so the jobs of the
        answers it dropped never reach ``replaces``; they would run on, queued before the one the page
        waits for.  Jobs started after ``job`` are left alone: the page may be about to show one of them."""
        if not session or not job:
            return
        with self._slots_lock:
            slot = self._slots.get((session, kind), [])
            if job not in slot:
                return
            at = slot.index(job)
            for older in slot[:at]:
                self.jobs.cancel(older)
            del slot[:at]

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

"""What the results store says about the search it holds, in one place: which reference panel A
means, the search's identity (to tell a table computed for an older search), and the composed query
vector kept beside the results (``ids.QUERY_VECTOR``: nothing composes the query again for the map
or panel F)."""

from __future__ import annotations

import base64
import hashlib
import json

import numpy as np


def page_reference(mode: str | None, reference_id: str | None, upload: dict | None) -> dict:
    """The reference panel A shows, as the results store records it: an upload (by its server key),
    a dataset id, or none."""
    if mode == "upload" and upload and upload.get("key"):
        return {"kind": "upload", "key": upload["key"], "name": upload.get("name") or "upload"}
    return {"kind": "dataset", "id": reference_id} if reference_id else {"kind": "none"}


def selection_key(browse: dict | None) -> str | None:
    """A short name of a map selection (``ids.BROWSE_STORE``: its rows, or a density-mode region and count): the
    results of a search restricted to it record this name, not the rows.  None without a selection."""
    if not browse or not (browse.get("rows") or browse.get("region")):
        return None
    body = json.dumps({"rows": browse.get("rows"), "region": browse.get("region")}, sort_keys=True)
    return hashlib.sha1(body.encode()).hexdigest()[:16]


def same_reference(a: dict | None, b: dict | None) -> bool:
    a, b = a or {"kind": "none"}, b or {"kind": "none"}
    if a.get("kind") != b.get("kind"):
        return False
    return a.get("key") == b.get("key") if a.get("kind") == "upload" else a.get("id") == b.get("id")


def base_results(results: dict | None) -> dict | None:
    """The search's own results: while E previews a candidate prompt (``results["preview_of"]``), the results of
    the query panel A holds, which the preview does not replace until Adopt."""
    return (results or {}).get("preview_of") or results


def search_key(results: dict | None) -> list | None:
    """The identity of a search (reference, text, method, k, reference excluded or not, method parameters, the map
    selection it was restricted to): two result stores with the same key rank the same images.  None without results."""
    results = base_results(results)  # a preview of E's candidate is a view of the same search
    if not results:
        return None
    ref = results.get("reference") or {}
    who = ref.get("key") if ref.get("kind") == "upload" else ref.get("id")
    return [
        ref.get("kind"),
        who,
        results.get("text", ""),
        results.get("method"),
        results.get("k"),
        bool(results.get("exclude_reference", False)),
        results.get("method_params"),  # a feedback step (its base method and rounds), panel A's method settings
        results.get("settings"),
        results.get("expansion"),
        (results.get("within") or {}).get("selection"),  # searched only within a map selection (its name)
    ]


def encode_vector(vector) -> str | None:
    """A query vector as base64 float32 (exact, about 0.7 kB for 128 dimensions); None stays None."""
    if vector is None:
        return None
    return base64.b64encode(np.ascontiguousarray(vector, dtype=np.float32).tobytes()).decode("ascii")


def decode_vector(text: str | None) -> np.ndarray | None:
    if not text:
        return None
    return np.frombuffer(base64.b64decode(text), dtype=np.float32).copy()


def results_vector(results: dict | None) -> np.ndarray | None:
    """The composed query vector of a results dict that carries one under "query_vector" (see
    ``with_vector``); None: the method fuses scores, or none kept."""
    return decode_vector((results or {}).get("query_vector"))


def with_vector(results: dict, kept: dict | None) -> dict:
    """``results`` with the vector the ``ids.QUERY_VECTOR`` store keeps for them (when it has one:
    ``{"vector": None}`` says the method composes none, a missing store says nothing)."""
    return dict(results, query_vector=kept["vector"]) if kept and "vector" in kept else results


def same_ranking_setup(a: list | None, b: list | None) -> bool:
    """Two searches (``search_key``) that differ at most in their text: rankings of other prompts made
    for one can be compared with the other's (same reference, method, k and exclusion)."""
    return a is not None and b is not None and a[:2] + a[3:] == b[:2] + b[3:]

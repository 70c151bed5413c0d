"""A query and its results outside the dashboard: rows for CSV and JSON downloads, the share link's
query string, and the ``infocir search`` command that reproduces a result list.

Pure functions: data in, strings or plain rows out (no engine, no Dash), so that the page, the tests and
scripts agree on one format."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

from infocir.config import AppConfig

RESULT_FIELDS = (
    "rank",
    "id",
    "path",
    "score",
    "class",
    "method",
    "model",
    "weights",
    "dataset_fingerprint",
    "reference",
    "text",
)
# Config sections that decide what ``engine.search`` returns (the page's ui, map, saliency and LLM
# settings do not); the method and the reference exclusion travel as flags.
SEARCH_SECTIONS = ("dataset", "model", "retrieval", "faiss", "hashing", "basic", "feedback", "two_phase", "index")
PATH_FIELDS = ("dataset.root", "index.cache_dir")  # made absolute: the command may run from another folder
MAX_K = 100  # the page's k box


# --------------------------------------------------------------------------- results
def result_rows(
    ids: Sequence[str],
    scores: Sequence[float],
    paths: Sequence[str],
    classes: Sequence[str],
    meta: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """One row per result, best first: rank (1-based), id, path, score, class, then ``meta``'s fields
    (method, model, dataset fingerprint, ...) repeated on every row, so that a CSV row stands alone."""
    if not len(ids) == len(scores) == len(paths) == len(classes):
        raise ValueError(
            f"result columns differ in length: {len(ids)} ids, {len(scores)} scores, "
            f"{len(paths)} paths, {len(classes)} classes"
        )
    extra = dict(meta or {})
    return [
        {"rank": i + 1, "id": iid, "path": path, "score": float(score), "class": cls, **extra}
        for i, (iid, score, path, cls) in enumerate(zip(ids, scores, paths, classes, strict=True))
    ]


def results_json(rows: Sequence[Mapping[str, Any]], query: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    """The JSON download: ``{"query": ..., <meta>, "results": [{rank, id, path, score, class}]}``."""
    keys = ("rank", "id", "path", "score", "class")
    doc = {"query": dict(query), **dict(meta), "results": [{k: r[k] for k in keys} for r in rows]}
    return json.dumps(doc, indent=2, ensure_ascii=False, default=_json_default)


def to_csv(rows: Iterable[Mapping[str, Any]], fields: Sequence[str] | None = None) -> str:
    """Rows as CSV text with a header; ``fields`` fixes the columns (default: the first row's keys).
    None and NaN are written as empty cells."""
    rows = list(rows)
    fields = list(fields or (rows[0].keys() if rows else ()))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _cell(r.get(k)) for k in fields})
    return buf.getvalue()


def _cell(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, (list, tuple)):
        return " ".join(map(str, v))
    return v


def _json_default(v: Any) -> Any:
    if hasattr(v, "tolist"):
        return v.tolist()
    raise TypeError(f"{type(v).__name__} is not JSON serialisable")


# --------------------------------------------------------------------------- tables of panels E and F3
def enhancement_rows(result: Mapping[str, Any], columns: Sequence[str]) -> list[dict[str, Any]]:
    """Panel E's table as rows, in the table's order (baseline first, then best first): the place by the
    ranking rule, the prompt, each metric and its change against the baseline (``d_<metric>``)."""
    rows = result["rows"]
    base = next((r for r in rows if r.get("is_baseline")), None)
    place = {i: p + 1 for p, i in enumerate(result["order"])}
    order = sorted(range(len(rows)), key=lambda i: (not rows[i].get("is_baseline"), place.get(i, len(rows) + 1)))
    out = []
    for i in order:
        r = rows[i]
        row: dict[str, Any] = {"place": place.get(i), "prompt": r["text"], "baseline": bool(r.get("is_baseline"))}
        for c in columns:
            v = r["metrics"].get(c)
            row[c] = v
            row[f"d_{c}"] = metric_delta(v, base["metrics"].get(c) if base else None)
        row["top_k"] = list(r.get("ids", []))
        out.append(row)
    return out


def metric_delta(value: Any, baseline: Any) -> float | None:
    """``value - baseline``; None when either is missing or NaN."""
    if value is None or baseline is None:
        return None
    value, baseline = float(value), float(baseline)
    if math.isnan(value) or math.isnan(baseline):
        return None
    return value - baseline


def rank_delta_rows(images: Sequence[str], prompts: Sequence[str], ranks, delta, k: int) -> list[dict[str, Any]]:
    """F3's table in long form: one row per (prompt, image) with the rank under that prompt (None when
    not in its top-k) and the change against the original (negative: moved up)."""
    out = []
    for p, prompt in enumerate(prompts):
        for j, image in enumerate(images):
            r = int(ranks[p][j])
            out.append({"prompt": prompt, "image": image, "rank": r if r <= k else None, "delta": int(delta[p][j])})
    return out


# --------------------------------------------------------------------------- the share link
@dataclass(frozen=True)
class SharedQuery:
    """What a share link carries: panel A's query and the ideals marked for it."""

    reference: str | None = None  # a dataset id (an upload cannot travel in a link)
    text: str = ""
    method: str | None = None
    k: int | None = None
    ideals: tuple[str, ...] = field(default_factory=tuple)
    exclude_reference: bool | None = None  # the "exclude the reference" switch; None: the link does not say

    def same_search(self, other: SharedQuery) -> bool:
        mine = (self.reference, self.text, self.method, self.k, self.exclude_reference)
        return mine == (other.reference, other.text, other.method, other.k, other.exclude_reference)


def query_string(q: SharedQuery) -> str:
    """``?ref=…&text=…&method=…&k=…&exclude=1&ideal=…&ideal=…`` (one ``ideal`` per id: ids may hold commas)."""
    pairs: list[tuple[str, str]] = []
    if q.reference:
        pairs.append(("ref", q.reference))
    pairs.append(("text", q.text or ""))
    if q.method:
        pairs.append(("method", q.method))
    if q.k is not None:
        pairs.append(("k", str(int(q.k))))
    if q.exclude_reference is not None:
        pairs.append(("exclude", "1" if q.exclude_reference else "0"))
    pairs += [("ideal", i) for i in q.ideals]
    return "?" + urlencode(pairs)


def parse_query_string(search: str | None) -> SharedQuery | None:
    """The query of a share link, or None when the URL carries none. A malformed k is dropped (the page
    keeps its own); unknown ids and methods are the caller's to check against the engine."""
    if not search or search in ("?",):
        return None
    qs = parse_qs(search.lstrip("?"), keep_blank_values=True)
    if not any(key in qs for key in ("ref", "text", "method", "k", "ideal", "exclude")):
        return None

    def first(key: str) -> str | None:
        values = qs.get(key)
        return values[0] if values else None

    try:
        k: int | None = int(first("k") or "")
    except ValueError:  # absent, blank or not a number
        k = None
    if k is not None and not 1 <= k <= MAX_K:
        k = None
    ideals = tuple(dict.fromkeys(i for i in qs.get("ideal", []) if i))
    exclude = {"1": True, "0": False}.get(first("exclude") or "")
    return SharedQuery(
        reference=first("ref") or None,
        text=first("text") or "",
        method=first("method") or None,
        k=k,
        ideals=ideals,
        exclude_reference=exclude,
    )


# --------------------------------------------------------------------------- the CLI command
def _format_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "none"
    if isinstance(v, (tuple, list)):
        return ",".join(map(str, v))
    return str(v)


def config_overrides(
    cfg: AppConfig,
    sections: Sequence[str] = SEARCH_SECTIONS,
    skip: Sequence[str] = ("retrieval.method", "retrieval.exclude_reference"),
) -> dict[str, str]:
    """``section.field`` → value (as ``--set`` reads it) for every field of ``sections`` that differs from
    the defaults. Paths of the dataset and the cache are made absolute.  The method and the reference
    exclusion are the search's own (--method, --exclude-reference), not the configuration's defaults."""
    default = AppConfig()
    out: dict[str, str] = {}
    for sec in sections:
        now, base = getattr(cfg, sec), getattr(default, sec)
        for f in dataclasses.fields(now):
            key = f"{sec}.{f.name}"
            value = getattr(now, f.name)
            if key in skip or value == getattr(base, f.name):
                continue
            if key in PATH_FIELDS and value:
                value = os.path.abspath(os.path.expanduser(value))
            out[key] = _format_value(value)
    return out


def cli_argv(
    reference: str | None,
    text: str,
    k: int,
    method: str | None,
    overrides: Mapping[str, str] | None = None,
    exclude_reference: bool = False,
    relevant: Sequence[str] = (),
) -> list[str]:
    """The ``infocir`` arguments (without the program name) of a search: ``infocir.cli.main(argv)``
    prints the same top-k as the page (``relevant``: the ideals relevance feedback was given)."""
    argv = ["search"]
    if reference:
        argv += ["--reference", reference]
    argv += ["--text", text or "", "-k", str(int(k))]
    if method:
        argv += ["--method", method]
    if exclude_reference:
        argv.append("--exclude-reference")
    for image_id in relevant:
        argv += ["--relevant", image_id]
    for key, value in (overrides or {}).items():
        argv += ["--set", f"{key}={value}"]
    return argv


def cli_command(
    reference: str | None,
    text: str,
    k: int,
    method: str | None,
    overrides: Mapping[str, str] | None = None,
    exclude_reference: bool = False,
    program: str = "infocir",
    relevant: Sequence[str] = (),
) -> str:
    """``cli_argv`` as one shell line, every argument quoted for POSIX shells."""
    return shlex.join([program, *cli_argv(reference, text, k, method, overrides, exclude_reference, relevant)])

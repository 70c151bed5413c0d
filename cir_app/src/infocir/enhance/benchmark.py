"""A check that the offline generator helps: demo-world queries whose text is made deliberately vague."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from infocir.data import demo_world as W

if TYPE_CHECKING:
    from infocir.engine import RetrievalEngine

VAGUE_TEXTS = ("change it", "make it different", "a different one", "something else", "modify it", "change this")
VAGUE_BY_ATTRIBUTE = {
    "shape": "change the shape",
    "colour": "change the colour",
    "size": "change the size",
    "background": "change the background",
    "style": "change the style",
}


@dataclass(frozen=True)
class VagueQuery:
    """A demo query with its informative text replaced; the ideals are the query's targets."""

    reference_id: str
    text: str
    original_text: str
    ideals: tuple[str, ...]
    attribute: str
    new_value: str


def vague_query_benchmark(root: str | os.PathLike, n: int = 30) -> list[VagueQuery]:
    """The first ``n`` demo-world queries (with targets) of the world at ``root``, with vague texts:
    two in three say nothing ("change it"), one in three names the attribute but not the value."""
    out: list[VagueQuery] = []
    for q in W.read_queries(root):
        if not q["target_ids"]:
            continue
        i = len(out)
        text = VAGUE_BY_ATTRIBUTE[q["attribute"]] if i % 3 == 2 else VAGUE_TEXTS[i % len(VAGUE_TEXTS)]
        out.append(
            VagueQuery(q["reference_id"], text, q["text"], tuple(q["target_ids"]), q["attribute"], q["new_value"])
        )
        if len(out) == n:
            break
    return out


def evaluate_offline(
    engine: RetrievalEngine,
    queries: Sequence[VagueQuery],
    k: int = 10,
    method: str | None = None,
    hide_attributes: bool = False,
) -> dict[str, float]:
    """Mean mAP@k of the vague original, of the generator's first candidate (no selection), of the
    mean candidate, and of the best-ranked candidate (the row the panel puts on top when scored
    against the ideals), plus seconds per run.  ``hide_attributes`` withholds the demo world's
    attribute table, so only class names and vocabulary words matched to image features remain."""
    import dataclasses

    from infocir.enhance.context import build_context
    from infocir.enhance.offline import generate_offline
    from infocir.enhance.scoring import score_prompts

    n = engine.config.enhancement.candidate_prompts
    original, first, mean, best, times = [], [], [], [], []
    for q in queries:
        t0 = time.perf_counter()
        c = build_context(engine, q.reference_id, q.text, q.ideals)
        if hide_attributes:
            c = dataclasses.replace(
                c, attributes_known=False, shared_attributes={}, changed_attributes={}, reference_attributes={}
            )
        res = score_prompts(engine, q.reference_id, q.text, generate_offline(c, n), q.ideals, k=k, method=method)
        times.append(time.perf_counter() - t0)
        original.append(res.baseline.metrics["map"])
        cands = [r.metrics["map"] for r in res.rows[1:]] or [res.baseline.metrics["map"]]
        first.append(cands[0])
        mean.append(float(np.mean(cands)))
        cand = res.best_candidate
        best.append(cand.metrics["map"] if cand is not None else res.baseline.metrics["map"])
    o, b = float(np.mean(original)), float(np.mean(best))
    return {
        "queries": len(queries),
        "k": k,
        "map_original": o,
        "map_first": float(np.mean(first)),
        "map_mean_candidate": float(np.mean(mean)),
        "map_best": b,
        "gain": b - o,
        "improved_fraction": float(np.mean(np.array(best) > np.array(original))),
        "seconds_per_run": float(np.mean(times)),
    }

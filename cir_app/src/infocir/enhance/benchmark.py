"""A check that the offline generator helps: demo-world queries whose text is made deliberately vague."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from infocir.data import demo_world as W

if TYPE_CHECKING:
    from infocir.engine import RetrievalEngine

VAGUE_TEXTS = ("change it", "make it different", "a different one", "something else", "modify it", "change this")
VAGUE_BY_ATTRIBUTE = {"shape": "change the shape", "colour": "change the colour", "size": "change the size",
                      "background": "change the background", "style": "change the style"}


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
    out = []
    for q in W.read_queries(root):
        if not q["target_ids"]:
            continue
        i = len(out)
        text = VAGUE_BY_ATTRIBUTE[q["attribute"]] if i % 3 == 2 else VAGUE_TEXTS[i % len(VAGUE_TEXTS)]
        out.append(VagueQuery(q["reference_id"], text, q["text"], tuple(q["target_ids"]), q["attribute"], q["new_value"]))
        if len(out) == n:
            break
    return out


def evaluate_offline(engine: "RetrievalEngine", queries: Sequence[VagueQuery], k: int = 10,
                     method: str | None = None) -> dict[str, float]:
    """Mean mAP@k of the vague original and of the best-ranked offline candidate, and seconds per run."""
    from infocir.enhance import enhance

    original, best, times = [], [], []
    for q in queries:
        t0 = time.perf_counter()
        res = enhance(engine, q.reference_id, q.text, q.ideals, k=k, method=method, provider="offline")
        times.append(time.perf_counter() - t0)
        original.append(res.baseline.metrics["map"])
        cand = res.best_candidate
        best.append(cand.metrics["map"] if cand is not None else res.baseline.metrics["map"])
    o, b = float(np.mean(original)), float(np.mean(best))
    return {"queries": len(queries), "k": k, "map_original": o, "map_best": b, "gain": b - o,
            "improved_fraction": float(np.mean(np.array(best) > np.array(original))),
            "seconds_per_run": float(np.mean(times))}

"""Benchmark query sets: a list of (reference id, modification text, target ids).

Readers return ``Benchmark`` objects whose ids are image ids of the engine's index
(paths relative to the dataset root).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from infocir.errors import UserError


class BenchmarkError(UserError, ValueError):
    """A benchmark's files are missing or malformed."""


@dataclass(frozen=True)
class CIRQuery:
    reference_id: str
    text: str
    target_ids: tuple[str, ...]
    group: str = ""  # e.g. the changed attribute, or a FashionIQ category


@dataclass
class Benchmark:
    name: str
    queries: list[CIRQuery]
    metrics: dict[str, tuple[int, ...]] = field(default_factory=lambda: {"map": (5, 10, 25, 50), "recall": (1, 5, 10, 50)})
    note: str = ""

    def columns(self) -> list[str]:
        """The headline metrics of this benchmark, in table order."""
        return [f"mAP@{k}" for k in self.metrics.get("map", ())] + [f"R@{k}" for k in self.metrics.get("recall", ())] + ["p50_ms"]


def demo_benchmark(dataset_root: str | Path) -> Benchmark:
    """The demo world's queries (``queries.json`` written by the generator)."""
    from infocir.data.demo_world import read_queries

    root = Path(dataset_root)
    if not (root / "queries.json").is_file():
        raise BenchmarkError(f"{root} has no queries.json: the demo benchmark needs the generated demo world as the dataset.")
    qs = [CIRQuery(q["reference_id"], q["text"], tuple(q["target_ids"]), q["attribute"]) for q in read_queries(root)]
    return Benchmark("demo", qs, note="demo world: each query changes one attribute; targets are all images with the new attributes")


READERS = {"demo": lambda engine, path: demo_benchmark(path or engine.scan.root)}


def load_benchmark(name: str, engine, path: str | None = None) -> Benchmark:
    """A benchmark by name; ``path`` is the folder of its files (default: the engine's dataset)."""
    if name not in READERS:
        raise BenchmarkError(f"unknown benchmark {name!r}; available: {', '.join(READERS)}")
    return READERS[name](engine, path)

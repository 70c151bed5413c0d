"""Benchmark query sets: (reference, modification text, target ids) in the engine's id space.

Readers for the public formats let a user who has the data reproduce the papers' tables:

* ``demo``     the generated demo world (``queries.json``)
* ``circo``    CIRCO ``annotations/{split}.json``; images are COCO-2017-unlabeled files
               ``{id:012d}.jpg`` anywhere in the indexed dataset. mAP@5/10/25/50.
* ``cirr``     CIRR ``captions/cap.rc2.{split}.json`` + ``image_splits/split.rc2.{split}.json``.
               R@1/5/10/50 and subset R@1/2/3 (within the query's image set, reference removed).
* ``fashioniq``FashionIQ ``captions/cap.{category}.{split}.json`` + ``image_splits/split.{category}.{split}.json``;
               the two captions are joined with "and"; each category searches its own gallery. R@10/50.
* ``domain``   ImageNet-R-style domain conversion: the index holds ``{class}/{domain}_*.jpg``;
               queries are real photos under ``<path>/query/{class}/``, one query per target domain
               ("as a cartoon", ...); targets are the class's images in that domain. mAP over the full ranking.
* ``icir``     i-CIR ``query_files.csv`` / ``database_files.csv`` rows ``image_path,text,instance``;
               each query searches the database of its instance; positives share instance and text.
               mAP over the full ranking, non-interpolated, and ``mAP_interp``: the authors' trapezoidal
               (interpolated) AP, the figure their tables report; BASIC searches the instance's database.
* ``captions`` text to image over ``captions.csv`` (``image_id,caption``): each caption a query, its image the
               one target; R@1/5/10, median and mean rank (the QT-FIRS report's table); ``evaluation.text_to_image``.

Image ids that a benchmark names but the index lacks are reported and their queries skipped.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from infocir.errors import UserError

log = logging.getLogger(__name__)


class BenchmarkError(UserError, ValueError):
    """A benchmark's files are missing or malformed."""


@dataclass(frozen=True)
class CIRQuery:
    reference_id: str  # an index id, or "" when the reference is a file outside the index
    text: str
    target_ids: tuple[str, ...]
    group: str = ""  # e.g. the changed attribute, or a FashionIQ category
    candidates: tuple[str, ...] | None = None  # restrict the ranking to these ids (a per-query gallery)
    subset: tuple[str, ...] | None = None  # CIRR: the query's image set (for subset recall)
    reference_path: str = ""  # a reference image file that is not in the index


@dataclass
class Benchmark:
    name: str
    queries: list[CIRQuery]
    # "map": cut-offs for mAP@K, "recall": for R@K, "subset_recall": CIRR's Rs@K, "full_map": mAP over all candidates,
    # "interp_map": the trapezoidal (interpolated) AP over all candidates, as i-CIR's authors compute it;
    # "rank": the median and mean rank of the best target (QT-FIRS's "Med r", "Mean r")
    metrics: dict[str, tuple[int, ...]] = field(
        default_factory=lambda: {"map": (5, 10, 25, 50), "recall": (1, 5, 10, 50)}
    )
    group_metrics: tuple[str, ...] = ("mAP@10",)
    note: str = ""
    skipped: int = 0

    def columns(self) -> list[str]:
        """The headline metrics of this benchmark, in table order."""
        cols = [f"mAP@{k}" for k in self.metrics.get("map", ())]
        cols += ["mAP"] if self.metrics.get("full_map") else []
        cols += ["mAP_interp"] if self.metrics.get("interp_map") else []
        cols += [f"R@{k}" for k in self.metrics.get("recall", ())]
        cols += [f"Rs@{k}" for k in self.metrics.get("subset_recall", ())]
        cols += ["Med r", "Mean r"] if self.metrics.get("rank") else []
        return cols + ["p50_ms"]


def _read_json(path: Path):
    if not path.is_file():
        raise BenchmarkError(f"missing benchmark file {path}")
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise BenchmarkError(f"{path} is not valid JSON: {exc}") from None


class _IdResolver:
    """Find index ids by file name (benchmarks name files relative to their own roots)."""

    def __init__(self, engine):
        self.by_name: dict[str, str] = {}
        for i in engine.index.ids:
            self.by_name.setdefault(Path(i).name, i)
        self.by_stem = {Path(n).stem: i for n, i in self.by_name.items()}
        self.missing: set[str] = set()

    def __call__(self, name: str) -> str | None:
        n = Path(name).name
        found = self.by_name.get(n) or self.by_stem.get(Path(n).stem)
        if found is None:
            self.missing.add(name)
        return found


def _finish(bench: Benchmark, resolver: _IdResolver, total: int) -> Benchmark:
    bench.skipped = total - len(bench.queries)
    if resolver.missing:
        log.warning(
            "%s: %d referenced images are not in the index (e.g. %s); %d queries skipped.",
            bench.name,
            len(resolver.missing),
            ", ".join(sorted(resolver.missing)[:3]),
            bench.skipped,
        )
    if not bench.queries:
        raise BenchmarkError(
            f"{bench.name}: none of the {total} queries could be resolved against the index. "
            "Index the benchmark's image folder as the dataset (--dataset)."
        )
    return bench


def demo_benchmark(dataset_root: str | Path) -> Benchmark:
    """The demo world's queries (``queries.json`` written by the generator)."""
    from infocir.data.demo_world import read_queries

    root = Path(dataset_root)
    if not (root / "queries.json").is_file():
        raise BenchmarkError(
            f"{root} has no queries.json: the demo benchmark needs the generated demo world as the dataset."
        )
    qs = [CIRQuery(q["reference_id"], q["text"], tuple(q["target_ids"]), q["attribute"]) for q in read_queries(root)]
    return Benchmark(
        "demo", qs, note="demo world: each query changes one attribute; targets are all images with the new attributes"
    )


def circo_benchmark(engine, path: str | Path, split: str = "val") -> Benchmark:
    rows = _read_json(Path(path) / "annotations" / f"{split}.json")
    if rows and "gt_img_ids" not in rows[0]:
        raise BenchmarkError(
            f"CIRCO {split} has no ground truth (gt_img_ids); evaluate on 'val' or use the official server."
        )
    res = _IdResolver(engine)
    qs = []
    for r in rows:
        ref = res(f"{int(r['reference_img_id']):012d}.jpg")
        targets = [t for t in (res(f"{int(g):012d}.jpg") for g in r["gt_img_ids"]) if t]
        if ref and targets:
            qs.append(CIRQuery(ref, r["relative_caption"], tuple(targets), group=r.get("shared_concept", "")))
    return _finish(Benchmark("circo", qs, {"map": (5, 10, 25, 50)}, group_metrics=()), res, len(rows))


def cirr_benchmark(engine, path: str | Path, split: str = "val") -> Benchmark:
    root = Path(path)
    rows = _read_json(root / "captions" / f"cap.rc2.{split}.json")
    if rows and "target_hard" not in rows[0]:
        raise BenchmarkError(f"CIRR {split} has no targets; evaluate on 'val' or use the official server.")
    res = _IdResolver(engine)
    qs = []
    for r in rows:
        ref, tgt = res(r["reference"]), res(r["target_hard"])
        members = [m for m in (res(n) for n in r.get("img_set", {}).get("members", [])) if m and m != ref]
        if ref and tgt:
            qs.append(CIRQuery(ref, r["caption"], (tgt,), subset=tuple(members) or None))
    bench = Benchmark("cirr", qs, {"recall": (1, 5, 10, 50), "subset_recall": (1, 2, 3)}, group_metrics=())
    return _finish(bench, res, len(rows))


FASHIONIQ_CATEGORIES = ("dress", "shirt", "toptee")


def join_fashioniq_captions(captions: list[str]) -> str:
    """The two relative captions as one query: "Is red and has long sleeves"."""
    parts = [c.strip(" .?,") for c in captions if c.strip(" .?,")]
    return " and ".join(parts[:1] + [p[:1].lower() + p[1:] for p in parts[1:]]) if parts else ""


def fashioniq_benchmark(engine, path: str | Path, split: str = "val", categories=FASHIONIQ_CATEGORIES) -> Benchmark:
    root = Path(path)
    res = _IdResolver(engine)
    qs, total = [], 0
    for cat in categories:
        rows = _read_json(root / "captions" / f"cap.{cat}.{split}.json")
        gallery = tuple(
            g for g in (res(f"{n}.png") for n in _read_json(root / "image_splits" / f"split.{cat}.{split}.json")) if g
        )
        total += len(rows)
        for r in rows:
            ref, tgt = res(f"{r['candidate']}.png"), res(f"{r['target']}.png")
            if ref and tgt:
                qs.append(CIRQuery(ref, join_fashioniq_captions(r["captions"]), (tgt,), group=cat, candidates=gallery))
    return _finish(Benchmark("fashioniq", qs, {"recall": (10, 50)}, group_metrics=("R@10", "R@50")), res, total)


DOMAINS = ("cartoon", "origami", "toy", "sculpture")


def domain_benchmark(engine, path: str | Path, domains=DOMAINS) -> Benchmark:
    root = Path(path)
    qdir = root / "query"
    if not qdir.is_dir():
        raise BenchmarkError(f"domain conversion: expected real query photos under {qdir}/<class>/")
    by_class_domain: dict[tuple[str, str], list[str]] = {}
    for i in engine.index.ids:
        parts = Path(i).parts
        if len(parts) >= 2 and "_" in parts[-1]:
            by_class_domain.setdefault((parts[-2], parts[-1].split("_")[0]), []).append(i)
    qs, total = [], 0
    for cls_dir in sorted(p for p in qdir.iterdir() if p.is_dir()):
        for img in sorted(cls_dir.iterdir()):
            for d in domains:
                total += 1
                targets = by_class_domain.get((cls_dir.name, d))
                if targets:
                    qs.append(CIRQuery("", f"as a {d}", tuple(targets), group=d, reference_path=str(img)))
    if not qs:
        raise BenchmarkError(
            f"domain conversion: no query class in {qdir} has {'/'.join(domains)} images in the index."
        )
    return Benchmark("domain", qs, {"full_map": (1,)}, group_metrics=("mAP",), skipped=total - len(qs))


def _icir_rows(path: Path) -> list[tuple[str, str, str]]:
    if not path.is_file():
        raise BenchmarkError(f"missing i-CIR file {path}")
    with open(path, newline="", encoding="utf-8") as f:
        rows = [tuple(r[:3]) for r in csv.reader(f) if len(r) >= 3]
    if rows and rows[0][0].lower() in ("image_path", "path", "image"):
        rows = rows[1:]
    return rows  # type: ignore[return-value]


def icir_benchmark(engine, path: str | Path) -> Benchmark:
    root = Path(path)
    queries = _icir_rows(root / "query_files.csv")
    database = _icir_rows(root / "database_files.csv")
    res = _IdResolver(engine)
    by_instance: dict[str, list[tuple[str, str]]] = {}
    for img, text, inst in database:
        i = res(img)
        if i:
            by_instance.setdefault(inst, []).append((i, text))
    qs = []
    for img, text, inst in queries:
        db = by_instance.get(inst, [])
        positives = tuple(i for i, t in db if t == text)
        if positives:
            qs.append(
                CIRQuery(
                    "", text, positives, group=inst, candidates=tuple(i for i, _ in db), reference_path=str(root / img)
                )
            )
    return _finish(Benchmark("icir", qs, {"full_map": (1,), "interp_map": (1,)}, group_metrics=()), res, len(queries))


READERS = {
    "demo": lambda engine, path: demo_benchmark(path or engine.scan.root),
    "circo": lambda engine, path: circo_benchmark(engine, _need(path, "circo")),
    "cirr": lambda engine, path: cirr_benchmark(engine, _need(path, "cirr")),
    "fashioniq": lambda engine, path: fashioniq_benchmark(engine, _need(path, "fashioniq")),
    "domain": lambda engine, path: domain_benchmark(engine, _need(path, "domain")),
    "icir": lambda engine, path: icir_benchmark(engine, _need(path, "icir")),
    "captions": lambda engine, path: _captions(engine, path),
}


def _captions(engine, path: str | None) -> Benchmark:
    """Text to image over ``captions.csv`` (``evaluation.text_to_image``)."""
    from infocir.evaluation.text_to_image import caption_benchmark

    return caption_benchmark(engine, path)


def _need(path: str | None, name: str) -> str:
    if not path:
        raise BenchmarkError(f"the {name} benchmark needs --benchmark-path pointing at its annotation files")
    return path


def load_benchmark(name: str, engine, path: str | None = None) -> Benchmark:
    """A benchmark by name; ``path`` is the folder of its files (default: the engine's dataset)."""
    if name not in READERS:
        raise BenchmarkError(f"unknown benchmark {name!r}; available: {', '.join(READERS)}")
    return READERS[name](engine, path)

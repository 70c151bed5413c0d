"""Text-to-image retrieval over captions, evaluated as the QT-FIRS report does (seed 003, §4.3 and Table 5).

Each caption is a text query whose single relevant item is the image it describes; the figures are R@1/5/10 and the
median and mean rank of that image.  For collection expansion the report keeps the evaluation out of sample: two of
each image's five captions expand the collection, the other three are the queries.  ``caption_benchmark`` splits
every image's captions the same way (``EXPAND_SHARE`` of them, at least one left as a query) with a seeded shuffle
per image, so the expansion on/off rows rank the same queries, and no query is its own caption in the collection.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from infocir.data.captions import Captions, read_captions
from infocir.evaluation.benchmarks import Benchmark, CIRQuery

EXPAND_SHARE = 0.4  # the report: 2 of 5 captions per image expand the collection, 3 are queries


@dataclass
class CaptionBenchmark(Benchmark):
    """A captions benchmark and the captions held out of its queries, which expansion adds to the collection."""

    collection: Captions | None = None


def _image_rng(seed: int, image_id: str) -> np.random.Generator:
    return np.random.default_rng([seed, int.from_bytes(hashlib.sha256(image_id.encode()).digest()[:8], "little")])


def split_captions(captions: Captions, share: float = EXPAND_SHARE, seed: int = 0) -> tuple[Captions, Captions]:
    """(collection side, query side): of an image's n captions, shuffled, the first round(share·n) (at most n − 1)
    go to the collection, the rest are queries.  Each image's shuffle depends on the seed and its id only."""
    side: tuple[Captions, Captions] = (
        Captions([], [], source=captions.source),
        Captions([], [], source=captions.source),
    )
    for iid, texts in captions.by_image().items():
        order = _image_rng(seed, iid).permutation(len(texts))
        n_expand = min(len(texts) - 1, round(share * len(texts)))
        for pos, t in enumerate(order):
            part = side[0] if pos < n_expand else side[1]
            part.ids.append(iid)
            part.texts.append(texts[t])
    return side


def caption_benchmark(engine, path: str | Path | None = None, share: float = EXPAND_SHARE, seed: int = 0):
    """The captions of ``path`` (a CSV, or a folder holding ``dataset.captions_file``; default the engine's dataset)
    as text-to-image queries, in a seeded random order (``evaluate --limit N`` then takes a random sample of N)."""
    p = Path(path) if path else Path(engine.scan.root)
    if p.is_dir():
        p = p / engine.config.dataset.captions_file
    collection, queries = split_captions(read_captions(p, engine.index.row_of), share, seed)
    order = np.random.default_rng([seed, 31]).permutation(len(queries))
    qs = [CIRQuery("", queries.texts[i], (queries.ids[i],)) for i in order]
    return CaptionBenchmark(
        "captions",
        qs,
        {"recall": (1, 5, 10), "rank": (1,)},
        group_metrics=(),
        note=(
            f"text to image: each caption a query, its image the one relevant item; {len(qs)} query captions, "
            f"{len(collection)} held out for collection expansion (share {share}, seed {seed})"
        ),
        collection=collection,
    )

"""What the captions benchmark's R@1 is made of on the demo world (README "Text search and collection expansion").

The demo world draws every attribute combination three times, so a caption built from the attributes describes
three images equally well.  For each query caption of ``evaluate --benchmark captions`` (the same split and order)
this prints, without and with collection expansion (the held-out captions): R@1 (the captioned image first), the
share of queries whose first result has the caption's attributes (it or one of its twins), R@1 per phrasing, and
with expansion the share of first results that a caption put there and whether that caption has the query's
phrasing.  Run on one thread (``OMP_NUM_THREADS=1``): on a busy two-core machine torch's two threads made each
text encoding ~70× slower.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/caption_twins.py [--limit N]
"""

from __future__ import annotations

import argparse

import numpy as np

from infocir.config import load_config
from infocir.data.demo_world import read_attributes
from infocir.engine import RetrievalEngine
from infocir.evaluation.benchmarks import load_benchmark
from infocir.index.backends import top_k
from infocir.index.expansion import CollectionExpansion, ExpandedComposition


def phrasing(text: str) -> str:
    """Which of ``data.captions.caption_phrasings``' three forms a demo caption has."""
    if " drawn as " in text:
        return "drawn as"
    return "background first" if " background with " in text else "attributes first"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=0, help="the first N query captions (default: all)")
    args = ap.parse_args()
    engine = RetrievalEngine.from_config(load_config(), progress=False)
    bench = load_benchmark("captions", engine, None)
    queries = bench.queries[: args.limit or None]
    attrs = read_attributes(engine.scan.root)
    held_out = CollectionExpansion.from_captions(engine, bench.collection)
    print(f"{len(queries)} query captions, {len(held_out)} held-out captions, {len(engine.index)} images")
    print("| expansion | R@1 | first result has the attributes | by a caption | by a caption of the same phrasing |")
    print("|---|---:|---:|---:|---:|")
    per_phrasing: dict[str, dict[str, list[bool]]] = {}
    for name, expansion in (("off", False), ("on", held_out)):
        exact = twin = by_caption = same_phrasing = 0
        for q in queries:
            comp = engine.compose(None, q.text, "text", expansion=expansion)
            first = int(top_k(comp.scores, 1)[0])
            target = q.target_ids[0]
            hit = engine.index.ids[first] == target
            exact += hit
            twin += attrs[engine.index.ids[first]].key() == attrs[target].key()
            per_phrasing.setdefault(phrasing(q.text), {}).setdefault(name, []).append(hit)
            if isinstance(comp, ExpandedComposition):
                caption = comp.matched_by([first])[0]
                by_caption += caption is not None
                same_phrasing += caption is not None and phrasing(caption) == phrasing(q.text)
        n = max(1, len(queries))
        print(
            f"| {name} | {100 * exact / n:.2f} | {100 * twin / n:.2f} | {100 * by_caption / n:.2f} | "
            f"{100 * same_phrasing / n:.2f} |"
        )
    print("\n| query phrasing | queries | R@1 off | R@1 on |\n|---|---:|---:|---:|")
    for p, rows in sorted(per_phrasing.items()):
        print(f"| {p} | {len(rows['off'])} | {100 * np.mean(rows['off']):.2f} | {100 * np.mean(rows['on']):.2f} |")


if __name__ == "__main__":
    main()

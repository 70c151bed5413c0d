"""Each public-format reader on a tiny fixture written in that format."""

import json

import numpy as np
import pytest

from infocir.data import demo_world as W
from infocir.engine import RetrievalEngine
from infocir.evaluation.benchmarks import (
    BenchmarkError,
    circo_benchmark,
    cirr_benchmark,
    domain_benchmark,
    fashioniq_benchmark,
    icir_benchmark,
    join_fashioniq_captions,
)
from infocir.evaluation.harness import evaluate

COLOURS = list(W.COLOURS)


def _img(path, i):
    path.parent.mkdir(parents=True, exist_ok=True)
    a = W.Attributes(W.SHAPES[i % 8], COLOURS[(i * 3) % 8], "large", "plain", "filled")
    W.render(a, np.random.default_rng(i), side=48)[0].save(path)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from conftest import tiny_config

    tmp = tmp_path_factory.mktemp("bench")
    data = tmp / "data"
    for i in range(1, 7):
        _img(data / "coco" / f"{i:012d}.jpg", i)
    for i in range(6):
        _img(data / "cirr" / "dev" / f"dev-{i}-0-img{i}.png", 10 + i)
    for i in range(6):
        _img(data / "fiq" / f"B00{i}.png", 20 + i)
    for c, cls in enumerate(("n01", "n02")):
        for d, dom in enumerate(("cartoon", "toy")):
            for j in range(2):
                _img(data / "imr" / cls / f"{dom}_{j}.jpg", 30 + 8 * c + 2 * d + j)
        _img(tmp / "imr_q" / "query" / cls / "photo.jpg", 60 + c)
    for inst in ("temple", "tower"):
        for j in range(3):
            _img(data / "icir" / "database" / inst / f"{j}.jpg", 70 + j + (5 if inst == "tower" else 0))
    _img(tmp / "icir_q" / "query" / "temple_q.jpg", 90)
    engine = RetrievalEngine.from_config(tiny_config(data, tmp / "cache"), progress=False)
    return tmp, engine


def ranking(engine, q, method: str) -> list[str]:
    """The ranking ``evaluate`` scores for query ``q``, through the public search API: the whole index
    (or the query's gallery), the reference left out."""
    from infocir.models.encoding import open_rgb

    ref = open_rgb(q.reference_path) if q.reference_path else q.reference_id
    allowed = None if q.candidates is None else np.isin(engine.index.ids, list(q.candidates))
    n = len(engine.index)
    return engine.search(ref, q.text, k=n, method=method, allowed=allowed, exclude_reference=True).ids


def ap_by_hand(ranked: list[str], targets, k: int | None = None) -> float:
    """Precision at each hit in the top k, summed, over min(|targets|, k) (all targets without k)."""
    hits, total = 0, 0.0
    for i, item in enumerate(ranked[:k] if k else ranked, start=1):
        if item in targets:
            hits += 1
            total += hits / i
    return total / (min(len(targets), k) if k else len(targets))


def test_circo(world):
    tmp, engine = world
    root = tmp / "circo"
    (root / "annotations").mkdir(parents=True)
    rows = [
        {
            "id": 0,
            "reference_img_id": 1,
            "target_img_id": 2,
            "relative_caption": "is blue",
            "shared_concept": "shape",
            "gt_img_ids": [2, 3],
        },
        {
            "id": 1,
            "reference_img_id": 4,
            "target_img_id": 99,
            "relative_caption": "x",
            "shared_concept": "",
            "gt_img_ids": [99],
        },
    ]
    (root / "annotations" / "val.json").write_text(json.dumps(rows))
    b = circo_benchmark(engine, root)
    assert len(b.queries) == 1 and b.skipped == 1  # image 99 is not in the index
    q = b.queries[0]
    assert q.reference_id == "coco/000000000001.jpg" and set(q.target_ids) == {
        "coco/000000000002.jpg",
        "coco/000000000003.jpg",
    }
    r = evaluate(engine, b, ["image"])["image"]
    ranked = ranking(engine, q, "image")
    for k in (5, 10, 25, 50):
        assert r[f"mAP@{k}"] == pytest.approx(100 * ap_by_hand(ranked, set(q.target_ids), k))
    assert b.columns() == ["mAP@5", "mAP@10", "mAP@25", "mAP@50", "p50_ms"]
    (root / "annotations" / "test.json").write_text(
        json.dumps([{"id": 0, "reference_img_id": 1, "relative_caption": "x"}])
    )
    with pytest.raises(BenchmarkError, match="no ground truth"):
        circo_benchmark(engine, root, "test")


def test_cirr_with_subset_recall(world):
    tmp, engine = world
    root = tmp / "cirr_ann"
    (root / "captions").mkdir(parents=True)
    (root / "image_splits").mkdir(parents=True)
    names = [f"dev-{i}-0-img{i}" for i in range(6)]
    (root / "image_splits" / "split.rc2.val.json").write_text(json.dumps({n: f"./dev/{n}.png" for n in names}))
    nearest = engine.search(
        "cirr/dev/dev-0-0-img0.png",
        "",
        k=2,
        method="image",
        allowed=np.array([i.startswith("cirr/") for i in engine.index.ids]),
    ).ids[1]
    target = nearest.split("/")[-1][:-4]
    rows = [
        {
            "pairid": 1,
            "reference": names[0],
            "target_hard": target,
            "target_soft": {target: 1.0},
            "caption": "make it pink",
            "img_set": {
                "id": 1,
                "members": names[:4] + ([target] if target not in names[:4] else []),
                "reference_rank": 0,
                "target_rank": 1,
            },
        }
    ]
    (root / "captions" / "cap.rc2.val.json").write_text(json.dumps(rows))
    b = cirr_benchmark(engine, root)
    q = b.queries[0]
    assert q.reference_id not in q.subset and f"cirr/dev/{target}.png" in q.subset
    r = evaluate(engine, b, ["image"])["image"]
    # the target is the reference's nearest CIRR image: image-only finds it first, in the subset too
    assert r["Rs@1"] == 100 and r["Rs@3"] == 100 and r["R@50"] == 100
    assert b.columns()[:4] == ["R@1", "R@5", "R@10", "R@50"] and "Rs@2" in b.columns()


def test_fashioniq_categories_and_galleries(world):
    tmp, engine = world
    root = tmp / "fiq_ann"
    (root / "captions").mkdir(parents=True)
    (root / "image_splits").mkdir(parents=True)
    for cat, ids in (("dress", ["B000", "B001", "B002"]), ("shirt", ["B003", "B004", "B005"]), ("toptee", ["B000"])):
        (root / "image_splits" / f"split.{cat}.val.json").write_text(json.dumps(ids))
        (root / "captions" / f"cap.{cat}.val.json").write_text(
            json.dumps([{"candidate": ids[0], "target": ids[-1], "captions": ["Is shorter.", "has no sleeves"]}])
        )
    b = fashioniq_benchmark(engine, root)
    assert [q.group for q in b.queries] == ["dress", "shirt", "toptee"]
    assert b.queries[0].text == "Is shorter and has no sleeves"
    assert set(b.queries[0].candidates) == {"fiq/B000.png", "fiq/B001.png", "fiq/B002.png"}
    r = evaluate(engine, b, ["text"])["text"]
    assert {"R@10[dress]", "R@50[shirt]", "R@10[toptee]"} <= set(r)
    assert r["R@10[dress]"] == 100  # the gallery has 2 candidates besides the reference: any target is in the top 10


def test_join_fashioniq_captions():
    assert join_fashioniq_captions(["Is red.", "Has long sleeves?"]) == "Is red and has long sleeves"
    assert join_fashioniq_captions(["", "  "]) == ""


def test_domain_conversion(world):
    tmp, engine = world
    b = domain_benchmark(engine, tmp / "imr_q", domains=("cartoon", "toy", "origami"))
    assert len(b.queries) == 4 and b.skipped == 2  # no origami images in the index
    q = b.queries[0]
    assert q.reference_path.endswith("photo.jpg") and q.text == "as a cartoon"
    assert set(q.target_ids) == {"imr/n01/cartoon_0.jpg", "imr/n01/cartoon_1.jpg"}
    r = evaluate(engine, b, ["average"])["average"]
    aps = {id(q): ap_by_hand(ranking(engine, q, "average"), set(q.target_ids)) for q in b.queries}
    assert r["mAP"] == pytest.approx(100 * np.mean(list(aps.values())))
    for domain in ("cartoon", "toy"):  # the per-domain figure is the mean over that domain's queries
        mine = [aps[id(q)] for q in b.queries if q.group == domain]
        assert len(mine) == 2 and r[f"mAP[{domain}]"] == pytest.approx(100 * np.mean(mine))


def test_icir_per_instance_databases(world):
    tmp, engine = world
    root = tmp / "icir_q"
    (root / "database_files.csv").write_text(
        "image_path,text,instance\n"
        "database/temple/0.jpg,at night,temple\ndatabase/temple/1.jpg,at night,temple\n"
        "database/temple/2.jpg,in snow,temple\n"
        "database/tower/0.jpg,at night,tower\ndatabase/tower/1.jpg,in snow,tower\n"
    )
    (root / "query_files.csv").write_text("query/temple_q.jpg,at night,temple\nquery/missing.jpg,at dawn,temple\n")
    b = icir_benchmark(engine, root)
    assert len(b.queries) == 1
    q = b.queries[0]
    assert set(q.target_ids) == {"icir/database/temple/0.jpg", "icir/database/temple/1.jpg"}
    assert set(q.candidates) == {f"icir/database/temple/{j}.jpg" for j in range(3)}
    r = evaluate(engine, b, ["image"])["image"]
    ranked = ranking(engine, q, "image")
    assert sorted(ranked) == sorted(q.candidates)  # only the instance's own database is ranked
    assert r["mAP"] == pytest.approx(100 * ap_by_hand(ranked, set(q.target_ids)))
    # 2 positives among 3 candidates: AP is 1 (both first), (1 + 2/3)/2 or (1/2 + 2/3)/2
    assert round(r["mAP"], 4) in {100.0, round(100 * (1 + 2 / 3) / 2, 4), round(100 * (1 / 2 + 2 / 3) / 2, 4)}


def test_the_benchmark_views_choices_are_the_readers():
    """ui.benchmark offers exactly the benchmarks load_benchmark can read (a new reader must be offered too)."""
    from dataclasses import fields

    from infocir.config import UIConfig
    from infocir.evaluation.benchmarks import READERS

    choices = next(f.metadata["choices"] for f in fields(UIConfig) if f.name == "benchmark")
    assert set(choices) == set(READERS)


def test_the_benchmark_view_reads_the_configured_benchmark(tiny_engine, tmp_path):
    """ui.benchmark=cirr with a folder that lacks CIRR's files: the view's loader says what is missing."""
    from infocir.config import apply_overrides
    from infocir.evaluation.benchmarks import BenchmarkError
    from infocir.projection.embedding_map import MapService
    from infocir.ui.callbacks.benchmark import BenchmarkTables
    from infocir.ui.services import Services

    cfg = apply_overrides(tiny_engine.config, {"ui.benchmark": "cirr", "ui.benchmark_path": str(tmp_path)})
    tables = BenchmarkTables(Services(tiny_engine, cfg, MapService(tiny_engine, cfg.umap, tmp_path / "map")))
    with pytest.raises(BenchmarkError, match="missing benchmark file .*cap.rc2"):  # CIRR's captions file
        tables.benchmark()

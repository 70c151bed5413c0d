"""Issue 19 item 4, collection expansion (QT-FIRS §3.7), and the report's text-to-image evaluation over captions.

The expected scores are computed here with plain numpy from the index's features and the text encoder (image score,
each caption's score, the per-image max), not through ``index.expansion``."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from conftest import make_image_folder, tiny_config
from infocir.data.captions import CaptionsError, read_captions, write_captions
from infocir.evaluation.benchmarks import load_benchmark
from infocir.evaluation.harness import evaluate, query_results
from infocir.evaluation.text_to_image import split_captions
from infocir.index.expansion import CollectionExpansion, ExpandedComposition, ExpansionUnavailable

QUERY = "a red star"
# two captions for one image (one of them the query's own words), one for each of two others
CAPTIONS = [
    ("circle/circle_01.png", QUERY),
    ("circle/circle_01.png", "a large circle on a plain background"),
    ("square/square_02.png", "a blue square"),
    ("star/star_03.png", "a green star drawn as an outline"),
]


@pytest.fixture(scope="module")
def captioned(tmp_path_factory):
    """The tiny model over twelve generated shapes with a captions.csv beside them: (engine, dataset root)."""
    from infocir.engine import RetrievalEngine

    tmp = tmp_path_factory.mktemp("expansion")
    root = make_image_folder(tmp / "data")
    with open(root / "captions.csv", "w", newline="") as f:
        csv.writer(f).writerows([("image_id", "caption"), *CAPTIONS])
    return RetrievalEngine.from_config(tiny_config(root, tmp / "cache"), progress=False), root


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def by_hand(engine, text: str, captions=CAPTIONS) -> tuple[np.ndarray, np.ndarray]:
    """(picture scores [N], expanded scores [N]) for the text-only query: max of the picture's and its captions'."""
    q = unit(engine.encode_text([text])[0])
    pictures = np.asarray(engine.index.features, np.float64) @ q
    expanded = pictures.copy()
    for iid, caption in captions:
        row = engine.index.row_of[iid]
        expanded[row] = max(expanded[row], float(unit(engine.encode_text([caption])[0]) @ q))
    return pictures, expanded


def order(scores: np.ndarray) -> list[int]:
    return list(np.lexsort((np.arange(len(scores)), -scores)))


def test_an_image_reached_by_its_picture_and_its_caption_appears_once_with_the_max(captioned):
    engine, _ = captioned
    n = len(engine.index)
    res = engine.search(None, QUERY, k=n, method="text", expansion=True)
    pictures, expanded = by_hand(engine, QUERY)
    assert len(res.ids) == n == len(set(res.ids))  # every image once: its captions are not extra results
    assert list(res.rows) == order(expanded)
    np.testing.assert_allclose(res.scores, expanded[res.rows], atol=1e-5)
    row = engine.index.row_of["circle/circle_01.png"]
    # its first caption is the query's own text: cosine 1, above its picture's score
    assert res.ids[0] == "circle/circle_01.png" and res.scores[0] == pytest.approx(1.0, abs=1e-5)
    assert pictures[row] < 0.999
    np.testing.assert_allclose(res.all_scores, expanded, atol=1e-5)
    assert isinstance(res.composition, ExpandedComposition)
    assert res.composition.extras["expansion"] == {
        "applied": True,
        "captions": 4,
        "images": 3,
        "source": str(captioned[1] / "captions.csv"),
    }
    assert res.composition.matched_by(res.rows[:1]) == [QUERY]


def test_expansion_moves_a_text_query_toward_the_captioned_image(captioned):
    engine, _ = captioned
    text = "a green star drawn as an outline"  # star_03's caption, word for word
    plain = engine.search(None, text, k=len(engine.index), method="text", expansion=False)
    expanded = engine.search(None, text, k=len(engine.index), method="text", expansion=True)
    assert plain.ids.index("star/star_03.png") > 0  # the random tiny model does not find it by its picture
    assert expanded.ids[0] == "star/star_03.png"
    assert plain.ids != expanded.ids


def test_off_by_default_gives_identical_results(captioned):
    engine, _ = captioned
    assert engine.config.retrieval.expansion is False
    for method, ref in (("text", None), ("average", "star/star_01.png"), ("product", "star/star_01.png")):
        default = engine.search(ref, QUERY, k=7, method=method)
        off = engine.search(ref, QUERY, k=7, method=method, expansion=False)
        assert default.ids == off.ids and np.array_equal(default.scores, off.scores)
        assert not isinstance(default.composition, ExpandedComposition)
        assert "expansion" not in default.composition.extras


def test_the_configured_switch_turns_it_on(captioned):
    from infocir.engine import RetrievalEngine

    engine, _ = captioned
    on = RetrievalEngine(
        engine.config.with_overrides({"retrieval.expansion": "true"}), engine.bundle, engine.scan, engine.index
    )
    res = on.search(None, QUERY, k=5, method="text")
    assert list(res.rows) == order(by_hand(engine, QUERY)[1])[:5]
    off = on.search(None, QUERY, k=5, method="text", expansion=False)  # the keyword wins over the configuration
    assert off.ids == engine.search(None, QUERY, k=5, method="text").ids


def test_top_k_with_a_selection_and_an_excluded_reference_matches_the_full_scores(captioned):
    engine, _ = captioned
    ref = "circle/circle_01.png"
    allowed = np.zeros(len(engine.index), bool)
    allowed[::2] = True
    allowed[engine.index.row_of[ref]] = True
    for k in (1, 3, 12):
        res = engine.search(ref, QUERY, k=k, method="average", expansion=True, exclude_reference=True, allowed=allowed)
        scores = res.all_scores.astype(np.float64).copy()
        scores[~allowed] = -np.inf
        scores[engine.index.row_of[ref]] = -np.inf  # its captions point to it: they leave with it
        want = [r for r in order(scores) if np.isfinite(scores[r])][:k]
        assert list(res.rows) == want


def test_a_method_that_fuses_scores_is_left_unexpanded_with_the_reason(captioned):
    engine, _ = captioned
    res = engine.search("star/star_01.png", QUERY, k=5, method="product", expansion=True)
    assert res.ids == engine.search("star/star_01.png", QUERY, k=5, method="product").ids
    assert res.composition.extras["expansion"]["applied"] is False
    assert "one query vector" in res.composition.extras["expansion"]["reason"]


def test_no_captions_file_is_a_clear_message_when_switched_on(tiny_engine):
    with pytest.raises(ExpansionUnavailable, match=r"retrieval\.expansion.*captions\.csv.*image_id,caption"):
        tiny_engine.search(None, QUERY, k=3, method="text", expansion=True)
    assert len(tiny_engine.search(None, QUERY, k=3, method="text").ids) == 3  # off: nothing is asked of the file


def test_caption_features_are_cached_beside_the_index(captioned):
    engine, _ = captioned
    engine.search(None, QUERY, k=1, method="text", expansion=True)
    found = list(engine.config.cache_dir.rglob("expansion/captions-*.npy"))
    assert len(found) == 1, "the first expanded search writes the caption features"
    meta = json.loads(found[0].with_suffix(".json").read_text())
    assert meta["captions"] == 4 and meta["features_sha256"] == engine.index.manifest.checksums["features.npy"]
    feats = np.load(found[0])
    np.testing.assert_allclose(feats[0], unit(engine.encode_text([QUERY])[0]), atol=1e-5)


# --------------------------------------------------------------------------- captions files
def test_the_reader_reports_unknown_ids_and_skips_empty_captions(tmp_path, caplog):
    p = tmp_path / "captions.csv"
    p.write_text(
        "image_id,caption,source\n"
        "a.png, a red star ,x\n"
        "a.png,a red star,y\n"  # the same (image, caption) again: kept once
        "b.png,\n"
        "zzz.png,a ghost\n"
        "b.png,a blue square\n"
    )
    c = read_captions(p, {"a.png", "b.png"})
    assert (c.ids, c.texts) == (["a.png", "b.png"], ["a red star", "a blue square"])
    assert (c.unknown_ids, c.empty, c.duplicates) == (["zzz.png"], 1, 1)
    assert "1 image ids not in the dataset left out (zzz.png)" in caplog.text and "1 empty captions" in caplog.text
    (tmp_path / "bad.csv").write_text("image,text\na.png,a red star\n")
    with pytest.raises(CaptionsError, match="image_id and caption"):
        read_captions(tmp_path / "bad.csv")
    with pytest.raises(CaptionsError, match="no captions file"):
        read_captions(tmp_path / "missing.csv")


def test_the_demo_world_captions_come_from_its_attributes(tmp_path):
    from infocir.data import demo_world as W

    (tmp_path / "attributes.csv").write_text(
        "image_id,shape,colour,size,background,style\n"
        "star/star_00000.png,star,red,small,striped,sketch\n"
        "heart/heart_00001.png,heart,blue,large,plain,outline\n"
    )
    c = read_captions(write_captions(tmp_path))
    by_image = c.by_image()
    assert [len(v) for v in by_image.values()] == [3, 3] and len(set(c.texts)) == 6
    for iid, texts in by_image.items():
        a = W.read_attributes(tmp_path)[iid]
        for t in texts:
            assert a.shape in t and a.colour in t
            assert any(w in t for w in W.SIZE_WORDS[a.size]) and any(w in t for w in W.BACKGROUND_WORDS[a.background])
    first = (tmp_path / "captions.csv").read_text()
    assert read_captions(write_captions(tmp_path)).texts == c.texts  # deterministic
    assert (tmp_path / "captions.csv").read_text() == first


def test_split_keeps_each_images_held_out_captions_apart_from_its_queries():
    from infocir.data.captions import Captions

    rows = [("a", f"a{i}") for i in range(5)] + [("b", f"b{i}") for i in range(3)] + [("c", "c0")]
    caps = Captions([r[0] for r in rows], [r[1] for r in rows])
    held, queries = split_captions(caps, seed=3)
    count = lambda c, iid: sum(i == iid for i in c.ids)  # noqa: E731
    assert [count(held, i) for i in "abc"] == [2, 1, 0]  # the report's 2 of 5; one of 3; an only caption is a query
    assert [count(queries, i) for i in "abc"] == [3, 2, 1]
    assert sorted(held.texts + queries.texts) == sorted(caps.texts)
    assert split_captions(caps, seed=3)[0].texts == held.texts
    assert {split_captions(caps, seed=s)[0].texts[0] for s in range(20)} != {held.texts[0]}  # the seed picks


# --------------------------------------------------------------------------- the report's evaluation
def test_caption_benchmark_ranks_by_hand_with_and_without_expansion(captioned):
    engine, root = captioned
    bench = load_benchmark("captions", engine, str(root))
    # circle_01 has two captions: one held out, one a query; the others' only caption is a query
    assert len(bench.queries) == 3 and len(bench.collection) == 1
    assert bench.columns() == ["R@1", "R@5", "R@10", "Med r", "Mean r", "p50_ms"]
    held_out = list(zip(bench.collection.ids, bench.collection.texts, strict=True))
    collection = CollectionExpansion.from_captions(engine, bench.collection)
    for expansion in (False, collection):
        ranks = []
        for q in bench.queries:
            pictures, expanded = by_hand(engine, q.text, held_out)
            s = expanded if expansion else pictures
            ranks.append(order(s).index(engine.index.row_of[q.target_ids[0]]) + 1)
        per_query = query_results(engine, bench, "text", expansion=expansion)
        assert [r["first_target_rank"] for r in per_query] == ranks
        r = evaluate(engine, bench, ["text"], expansion=expansion)["text"]
        assert r["Med r"] == pytest.approx(np.median(ranks)) and r["Mean r"] == pytest.approx(np.mean(ranks))
        assert r["R@5"] == pytest.approx(100 * np.mean([x <= 5 for x in ranks]))


def test_evaluate_command_compares_expansion_on_and_off(captioned, tmp_path, capsys):
    from infocir.cli import main

    engine, root = captioned
    args = ["evaluate", "--dataset", str(root), "--benchmark", "captions", "--out", str(tmp_path)]
    args += ["--set", f"index.cache_dir={engine.config.index.cache_dir}", "--set", "model.name=InfoCIR-Tiny-ViT"]
    args += ["--set", "model.pretrained=", "--set", "model.preprocess=clip", "--expansion"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "| method | R@1 | R@5 | R@10 | Med r | Mean r | p50_ms |" in out
    rows = [ln.split("|")[1].strip() for ln in out.splitlines() if ln.startswith("| text")]
    assert rows == ["text", "text +expansion"]  # captions: only the methods that need no reference
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["meta"]["expansion"] == {"captions": 1, "images": 1, "held_out": True}

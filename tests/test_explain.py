"""Explainers: shapes on the real patch grid, hook hygiene, token alignment, a synthetic image
whose answer is known, rank-Δ against hand-worked rankings, faithfulness against random."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import TINY_MODEL
from infocir.config import AppConfig
from infocir.data import demo_world as W
from infocir.engine import bundle_for
from infocir.explain.base import create_explainer, list_explainers, similarity_target
from infocir.explain.faithfulness import auc, deletion_insertion, mask_mass
from infocir.explain.image import align_to_image, explain_image, input_box
from infocir.explain.rank_delta import rank_delta_table
from infocir.explain.text_attribution import IMAGE_WORD, text_attribution, word_pieces
from infocir.jobs import JobRunner
from infocir.models.encoders import ClipBundle
from infocir.models.encoding import encode_texts


@pytest.fixture(scope="module")
def demo():
    return bundle_for(AppConfig())


def _hooks(model) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.mark.parametrize("size,grid", [(32, 4), (48, 6)])
@pytest.mark.parametrize("name", ["grad_eclip", "grad_eclip_magnitude", "gradient_input", "rollout"])
def test_saliency_lives_on_the_models_patch_grid(name, size, grid):
    import open_clip

    from infocir.models.encoders import register_model_configs

    register_model_configs()
    torch.manual_seed(0)
    model = open_clip.create_model(TINY_MODEL, pretrained=None, force_image_size=size).eval()
    pixels = torch.randn(1, 3, size, size)
    host = ClipBundle(model, None, None, TINY_MODEL, "", "", "clip", device=torch.device("cpu"), precision="fp32")
    target = similarity_target(np.random.default_rng(0).normal(size=32).astype(np.float32), host)
    g = create_explainer(name).grid(model, pixels, target)
    assert g.shape == (grid, grid)
    assert np.isfinite(g).all() and (g >= 0).all() and g.sum() > 0
    assert _hooks(model) == 0


def test_hooks_are_removed_when_the_target_raises(demo):
    def bad_target(emb):
        raise RuntimeError("boom")

    for ex in list_explainers():
        if not ex.needs_target:
            continue
        with pytest.raises(RuntimeError, match="boom"):
            ex().grid(demo.model, torch.zeros(1, 3, 64, 64), bad_target)
        assert _hooks(demo.model) == 0
    with pytest.raises(RuntimeError, match="boom"):
        text_attribution(demo, "make it red", bad_target)
    assert _hooks(demo.model) == 0


def test_token_scores_align_with_words(demo):
    prompt = "a photo of $ that turns it into an unbelievably turquoise-ish hexagon"
    pieces = word_pieces(demo.tokenizer, prompt)
    assert [w for w, _ in pieces] == prompt.split()
    assert sum(n for _, n in pieces) > len(pieces)  # some words really are several BPE pieces
    target = similarity_target(encode_texts(demo, ["a turquoise hexagon"])[0], demo)
    pseudo = torch.randn(1, demo.token_dim)
    for method in ("grad_eclip", "gradient_input", "occlusion"):
        t = text_attribution(demo, prompt, target, pseudo, n_template=5, method=method)
        assert len(t.words) == len(t.scores) == len(prompt.split())
        assert t.words[3] == IMAGE_WORD and t.words[-1] == "hexagon"
        assert t.is_template == [True] * 5 + [False] * (len(t.words) - 5)
        assert np.isfinite(t.scores).all()


def test_occlusion_scores_are_the_exact_drop(demo):
    target = similarity_target(encode_texts(demo, ["a red star"])[0], demo)
    t = text_attribution(demo, "make it a red star", target, method="occlusion")
    full, without_red = (
        float(target(torch.from_numpy(encode_texts(demo, [p])))[0]) for p in ("make it a red star", "make it a star")
    )
    assert t.scores[3] == pytest.approx(full - without_red, abs=1e-4)


def _left_half_image(shape: str, colour: str) -> Image.Image:
    """128×128, plain background; the object (rendered at 64 px) fills the middle of the left half."""
    obj, _ = W.render(W.Attributes(shape, colour, "large", "plain", "filled"), np.random.default_rng(1), side=64)
    canvas, mask = W.render(W.Attributes(shape, colour, "small", "plain", "filled"), np.random.default_rng(1), side=128)
    arr = np.asarray(canvas).copy()
    arr[mask] = arr[1, 1]  # erase the generator's own object: background only
    arr[32:96, 0:64] = np.asarray(obj)
    return Image.fromarray(arr)


def test_saliency_mass_concentrates_on_the_object_half(demo):
    left = np.zeros((128, 128), bool)
    left[:, :64] = True
    fractions, empty = [], 0
    for shape in ("heart", "star", "square", "circle"):
        for colour in ("red", "blue"):
            target = similarity_target(encode_texts(demo, [f"a {colour} shape"])[0], demo)
            s = explain_image(
                demo, _left_half_image(shape, colour), target, create_explainer("grad_eclip"), max_side=128
            )
            empty += s.empty
            # an empty map points nowhere: count it as blind to the object (0.5), not as a success
            fractions.append(0.5 if s.empty else mask_mass(s.aligned, left)[0])
    # Measured with the shipped (issue-20, stage-5) model: none empty, 0.87-1.0, median 1.0; the round-6
    # student before stage 5: none empty, 0.90-1.0, median 0.98; the round-4
    # model had one empty map (the blue heart: every patch's last-block contribution lowered the score),
    # the others 0.88-1.0; the round-3 model none (median 0.98, min 0.71).  A map blind to the object
    # gives about 0.5.
    assert empty <= 1 and np.median(fractions) > 0.8 and min(fractions) >= 0.5, (empty, fractions)


def test_an_all_zero_map_is_reported_empty_in_panel_f_captions():
    from types import SimpleNamespace

    from infocir.explain.image import ImageSaliency, is_empty
    from infocir.ui.callbacks.explanations import render_poll

    assert is_empty(np.zeros((4, 4))) and is_empty(-np.ones((2, 2))) and not is_empty(np.eye(3))
    blank = ImageSaliency("grad_eclip", np.zeros((4, 4)), np.zeros((8, 8)), 0.25, 0.01)
    lit = ImageSaliency("rollout", np.eye(4), np.eye(8), 0.25, 0.01)
    results = {"ids": ["a/x.png", "b/y.png"], "classes": ["a", "b"]}
    job = SimpleNamespace(steps=[("ref", None), ("cand", None)], errors={})
    out = render_poll(AppConfig().saliency, job, {"ref": blank, "cand": lit}, True, set(), results, 0)
    assert "empty map" in out[1] and "Grad-ECLIP" in out[1] and "empty map" not in out[3]
    out = render_poll(AppConfig().saliency, job, {"ref": lit, "cand": blank}, True, set(), results, 1)
    assert "empty map" not in out[1] and "empty map" in out[3] and "rank 2/2" in out[3]


def test_alignment_undoes_crop_and_padding():
    grid = np.ones((8, 8), np.float32)
    wide = (200, 100)
    cropped = align_to_image(grid, wide, "clip")  # centre crop: the side bands were never seen
    assert cropped[:, :45].max() == 0 and cropped[:, 55:145].min() > 0 and cropped[:, 155:].max() == 0
    # SEARLE's TargetPad at 1.25: 200×100 is padded to 200×160 (30 px bars), then the centre 160×160
    # is cropped: x 20..180 seen, the bars above and below cut off.
    padded = align_to_image(grid, wide, "targetpad")
    assert padded.shape == (100, 200) and padded[:, :20].max() == 0 and padded[:, 180:].max() == 0
    assert padded[:, 25:175].min() > 0
    box = input_box(wide, "targetpad")
    assert (box.left, box.top, box.side) == (20, -30, 160)


def test_rank_delta_against_hand_worked_rankings():
    t = rank_delta_table(["a", "b", "c"], [("other", ["c", "a", "d"])], k=3)
    assert t.images == ["a", "b", "c", "d"]
    assert t.ranks.tolist() == [[1, 2, 3, 4], [2, 4, 1, 3]]
    assert t.delta.tolist() == [[0, 0, 0, 0], [1, 2, -2, -1]]
    s = rank_delta_table(["a", "b", "c"], [("other", ["c", "a", "d"])], k=3, sort_by="other")
    assert s.images == ["c", "d", "a", "b"] and s.delta[1].tolist() == [-2, -1, 1, 2]


def test_auc_and_mask_mass_by_hand():
    assert auc(np.array([1.0, 0.0])) == pytest.approx(0.5)
    assert auc(np.array([1.0, 1.0, 0.0])) == pytest.approx(0.75)
    sal = np.zeros((4, 4))
    sal[0, 0] = 3
    sal[3, 3] = 1
    mask = np.zeros((4, 4), bool)
    mask[0, 0] = True
    assert mask_mass(sal, mask) == (pytest.approx(0.75), pytest.approx(1 / 16))


@pytest.fixture(scope="module")
def world_engine(demo_world_engine):
    return demo_world_engine


@pytest.mark.slow  # seconds of real computation; still in the default run
def test_saliency_is_more_faithful_than_random(world_engine):
    """explain-eval's protocol on a few queries: reference and top-1, target = the composed query.

    With the shipped model (issue 20, after stage 5) Grad-ECLIP beats the random map on these 6
    queries on both curves (deletion 0.089 vs 0.163, insertion 0.215 vs 0.179), but over 40 queries
    only on deletion (0.090 vs the 8-order floor 0.132; insertion 0.127 vs 0.130), so only deletion is
    asserted (the round-6 student here: 0.142 vs 0.168, 0.135 vs 0.177). Attention rollout beats it on
    both (-0.010, 0.247) here and over 40 queries."""
    from infocir.models.encoding import open_rgb

    engine, root = world_engine
    b = engine.bundle
    stats = {"grad_eclip": [], "rollout": [], "random": []}
    for i, q in enumerate(W.read_queries(root)[:6]):
        res = engine.search(q["reference_id"], q["text"], k=1, method="searle")
        target = similarity_target(res.query_vector, b)
        for image_id in (q["reference_id"], res.ids[0]):
            pixels = b.pixels([open_rgb(root / image_id)])
            for name in stats:
                ex = create_explainer(name, seed=i) if name == "random" else create_explainer(name)
                c = deletion_insertion(b, pixels, target, ex.grid(b.model, pixels, target))
                stats[name].append((c.deletion_auc, c.insertion_auc))
    ge, ro, rnd = (np.mean(stats[n], 0) for n in ("grad_eclip", "rollout", "random"))
    assert ge[0] < rnd[0], (ge, rnd)
    assert ro[0] < rnd[0] and ro[1] > rnd[1], (ro, rnd)


def test_job_runner_reports_progress_results_and_errors():
    jobs = JobRunner(workers=1)

    def fail():
        raise ValueError("bad step")

    job_id = jobs.submit([("a", lambda: 1), ("b", fail), ("c", lambda: 3)])
    for _ in range(200):
        job = jobs.get(job_id)
        if job.finished:
            break
        import time

        time.sleep(0.01)
    assert job.finished and job.done == 3
    assert job.results == {"a": 1, "c": 3} and "bad step" in job.errors["b"]
    assert jobs.get("unknown") is None


def test_explanation_service_caches_and_follows_the_method(world_engine):
    from infocir.explain.service import ExplanationService, text_prompt

    engine, root = world_engine
    q = W.read_queries(root)[0]
    res = engine.search(q["reference_id"], q["text"], k=3, method="searle")
    svc = ExplanationService(engine)
    a = svc.saliency(res.query_vector, "grad_eclip", image_id=res.ids[0])
    assert svc.saliency(res.query_vector, "grad_eclip", image_id=res.ids[0]) is a
    assert a.aligned.shape == (128, 128)
    prompt, pseudo, n = text_prompt(engine, "searle", q["reference_id"], q["text"])
    assert prompt.startswith("a photo of $ that") and pseudo is not None and n == 5
    assert text_prompt(engine, "average", q["reference_id"], q["text"])[1:] == (None, 0)
    tok = svc.tokens("searle", q["reference_id"], q["text"], res.ids[0])
    assert IMAGE_WORD in tok.words


def test_panel_f_jobs_honour_the_saliency_options(tiny_cfg):
    from infocir.config import apply_overrides
    from infocir.engine import RetrievalEngine
    from infocir.ui.callbacks.explanations import _steps
    from infocir.ui.services import Services

    engine = RetrievalEngine.from_config(tiny_cfg, progress=False)
    results = {"ids": engine.index.ids[:4], "text": "make it red", "method": "average", "k": 4}
    ref = engine.index.ids[5]

    def names(**overrides) -> list[str]:
        cfg = apply_overrides(tiny_cfg, {f"saliency.{k}": str(v) for k, v in overrides.items()})
        steps = _steps(Services(engine, cfg, maps=None), results, ref, 2, "grad_eclip", "occlusion")
        return [n for n, _ in steps if not n.startswith("prefetch")]

    assert names() == ["query", "ref", "cand", "tokens"]
    assert names(generate_reference=False) == ["query", "cand", "tokens"]
    assert names(max_candidates=2) == ["query", "ref", "tokens"]  # the third candidate is past the limit
    assert names(generate_candidates=False, generate_text_attribution=False) == ["query", "ref"]
    # the maps of the next candidates (up to the end of the list) are computed ahead, with the
    # reference's map for each of them (it follows the candidate)
    assert [n for n, _ in _steps(Services(engine, tiny_cfg, maps=None), results, ref, 1, "grad_eclip", "occlusion")][
        -4:
    ] == ["prefetch:2", "prefetch:ref2", "prefetch:3", "prefetch:ref3"]
    assert "tokens" not in [
        n
        for n, _ in _steps(
            Services(engine, tiny_cfg, maps=None), {**results, "method": "image"}, ref, 0, "grad_eclip", "occlusion"
        )
    ]


def test_uploaded_reference_is_explained_from_its_bytes(world_engine):
    import io

    from infocir.explain.service import ExplanationService

    engine, root = world_engine
    img, _ = W.render(W.Attributes("heart", "green", "large", "plain", "filled"), np.random.default_rng(7), side=96)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    res = engine.search(buf.getvalue(), "make it red", k=2, method="searle")
    s = ExplanationService(engine).saliency(res.query_vector, "grad_eclip", upload=buf.getvalue())
    assert s.aligned.shape == (96, 96) and s.aligned.max() > 0


@pytest.mark.slow  # seconds of real computation; still in the default run
def test_explain_eval_cli_prints_the_table(world_engine, tmp_path, capsys):
    import json

    from infocir.cli import main

    engine, root = world_engine
    out = tmp_path / "out"
    rc = main(
        [
            "explain-eval",
            "--dataset",
            str(root),
            "--queries",
            "2",
            "--explainer",
            "grad_eclip",
            "--explainer",
            "random",
            "--random-draws",
            "2",
            "--insertion-canvas",
            "blur",
            "--out",
            str(out),
            "--set",
            f"index.cache_dir={engine.config.index.cache_dir}",
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "grad_eclip" in text and "random" in text and "deletion AUC" in text
    res = json.loads((out / "results.json").read_text())
    assert res["image"]["grad_eclip"]["maps"] == 4 and set(res["tokens"]) == {"grad_eclip", "gradient_input"}
    assert "empty maps" in text and res["image"]["random"]["empty_maps"] == 0  # a random map is positive
    assert res["random_draws"] == 2 and "cells whose mean beats random's" in text
    assert res["insertion_canvas"] == "blur" and "insertion canvas: blur" in text
    assert "maps whose object lowers the score" in text  # Grad-ECLIP's sign, read before its ReLU


def test_explain_eval_refuses_a_folder_without_demo_queries(image_folder, tmp_path, capsys):
    from infocir.cli import main

    rc = main(
        [
            "explain-eval",
            "--dataset",
            str(image_folder),
            "--model",
            TINY_MODEL,
            "--pretrained",
            "",
            "--set",
            f"index.cache_dir={tmp_path}",
            "--set",
            "model.preprocess=clip",
        ]
    )
    assert rc == 2 and "not a demo world" in capsys.readouterr().err


def test_explain_eval_cli_refuses_zero_random_draws(capsys):
    from infocir.cli import build_parser, main
    from infocir.explain.evaluate import RANDOM_DRAWS

    assert build_parser().parse_args(["explain-eval"]).random_draws == RANDOM_DRAWS  # one default, two places

    with pytest.raises(SystemExit) as e:
        main(["explain-eval", "--random-draws", "0"])
    assert e.value.code == 2 and "random-draws" in capsys.readouterr().err


@pytest.mark.slow  # seconds of real computation; still in the default run
def test_explain_eval_random_floor_averages_draws_and_counts_paired_wins(world_engine):
    """The random floor of a map is the mean of ``random_draws`` random orders (recomputed here from
    the seeded map), and each cell's win counts are the maps whose AUC beats the same image's floor."""
    from infocir.explain.evaluate import explain_eval
    from infocir.models.encoding import open_rgb

    engine, root = world_engine
    b = engine.bundle
    queries = W.read_queries(root)[:2]
    res = explain_eval(engine, queries, W.read_masks(root), explainers=("grad_eclip", "random"), random_draws=3)
    rows = res["maps"]
    assert res["random_draws"] == 3 and len(rows) == 4 and [r["role"] for r in rows[:2]] == ["reference", "top1"]
    # by hand: map 1 (query 0's top-1) draws three random orders from the generator seeded with 1
    q = queries[0]
    out = engine.search(q["reference_id"], q["text"], k=1, method="searle")
    target = similarity_target(out.query_vector, b)
    pixels = b.pixels([open_rgb(root / rows[1]["image"])])
    ex = create_explainer("random", seed=1)
    draws = [deletion_insertion(b, pixels, target, ex.grid(b.model, pixels, target)) for _ in range(3)]
    assert rows[1]["image"] == out.ids[0]
    assert rows[1]["random"]["deletion_auc"] == pytest.approx(np.mean([c.deletion_auc for c in draws]), abs=1e-5)
    assert rows[1]["random"]["insertion_auc"] == pytest.approx(np.mean([c.insertion_auc for c in draws]), abs=1e-5)
    assert len({c.insertion_auc for c in draws}) == 3  # three different orders, not one repeated
    for attr, roles in res["by_query_type"]["grad_eclip"].items():
        for role, cell in roles.items():
            sel = [r for r in rows if r["attribute"] == attr and r["role"] == role]
            assert cell["maps"] == len(sel)
            wins_d = sum(r["grad_eclip"]["deletion_auc"] < r["random"]["deletion_auc"] for r in sel)
            wins_i = sum(r["grad_eclip"]["insertion_auc"] > r["random"]["insertion_auc"] for r in sel)
            assert (cell["deletion_beats_random"], cell["insertion_beats_random"]) == (wins_d, wins_i)
    assert "deletion_beats_random" not in res["by_query_type"]["random"][rows[0]["attribute"]]["reference"]
    # the object's signed contribution of map 1, recomputed from Grad-ECLIP before its ReLU and the mask
    masks = W.read_masks(root)
    signed = align_to_image(
        create_explainer("grad_eclip").signed_grid(b.model, pixels, target),
        open_rgb(root / rows[1]["image"]).size,
        b.preprocess_kind,
        target_ratio=b.targetpad_ratio,
    )
    m = masks[rows[1]["image"]].astype(bool)
    assert rows[1]["grad_eclip"]["object_contribution"] == pytest.approx(float(signed[m].mean()), abs=1e-6)
    assert rows[1]["grad_eclip"]["background_contribution"] == pytest.approx(float(signed[~m].mean()), abs=1e-6)
    magnitude = np.abs(signed)
    by_hand = (magnitude[m].sum() / magnitude.sum()) / m.mean()  # |s|'s share on the object over its area
    assert rows[1]["grad_eclip"]["abs_mass_ratio"] == pytest.approx(float(by_hand), rel=1e-5)
    for attr, roles in res["by_query_type"]["grad_eclip"].items():
        for role, cell in roles.items():
            sel = [r for r in rows if r["attribute"] == attr and r["role"] == role]
            assert cell["object_against"] == sum(r["grad_eclip"]["object_contribution"] < 0 for r in sel)
            assert cell["mostly_against"] == sum(r["grad_eclip"]["against_share"] > 0.5 for r in sel)
            ratios = [r["grad_eclip"]["abs_mass_ratio"] for r in sel if not np.isnan(r["grad_eclip"]["abs_mass_ratio"])]
            assert cell["abs_mass_ratio_median"] == pytest.approx(float(np.median(ratios)))
    raw = create_explainer("grad_eclip").signed_grid(b.model, pixels, target)
    neg = -raw[raw < 0].sum()
    assert rows[1]["grad_eclip"]["against_share"] == pytest.approx(neg / np.abs(raw).sum(), rel=1e-5)
    assert "object_contribution" not in rows[1]["random"] and "against_share" not in rows[1]["random"]
    with pytest.raises(ValueError, match="random_draws"):
        explain_eval(engine, queries, random_draws=0)


def test_grad_eclip_signed_map_is_the_map_before_its_relu(demo):
    """``signed_grid`` is Grad-ECLIP before the ReLU: its positive part is the published map, and over
    two blocks the map is the sum of each block's positive part (recovered as a difference of the
    one- and two-block signed maps)."""
    from infocir.explain.grad_eclip import GradECLIP

    b = demo
    image, _ = W.render(W.Attributes("star", "blue", "large", "striped", "filled"), np.random.default_rng(0))
    pixels = b.pixels([image])
    target = similarity_target(encode_texts(b, ["a small red circle"])[0], b)
    last = GradECLIP().signed_grid(b.model, pixels, target)
    np.testing.assert_allclose(np.maximum(last, 0), GradECLIP().grid(b.model, pixels, target), atol=1e-7)
    magnitude, none = create_explainer("grad_eclip_magnitude").maps(b.model, pixels, target)
    np.testing.assert_allclose(magnitude, np.abs(last), atol=1e-7)  # both signs: the object is kept either way
    assert none is None and create_explainer("grad_eclip_magnitude").grid(b.model, pixels, target).shape == last.shape
    assert last.min() < 0 < last.max()  # a mismatched text: some patches read for it, some against
    both = GradECLIP(layers=2).signed_grid(b.model, pixels, target)
    before_last = both - last
    np.testing.assert_allclose(
        GradECLIP(layers=2).grid(b.model, pixels, target),
        np.maximum(last, 0) + np.maximum(before_last, 0),
        atol=1e-6,
    )


def test_explained_image_keeps_both_sides_of_a_signed_map(demo, tmp_path):
    """``explain_image`` keeps Grad-ECLIP's map before its ReLU and, aligned like the published map, its
    negative part (what panel F shows as "lowers the score"); the share of the evidence against is
    Σ of the negative values over Σ of the absolute ones, recounted here; rollout has no sign."""
    from infocir.explain.grad_eclip import GradECLIP
    from infocir.explain.render import save_saliency

    b = demo
    image, _ = W.render(W.Attributes("star", "blue", "large", "striped", "filled"), np.random.default_rng(0))
    image = image.resize((96, 80))  # not square: the alignment undoes a centre crop
    target = similarity_target(encode_texts(b, ["a small red circle"])[0], b)
    s = explain_image(b, image, target, create_explainer("grad_eclip"), max_side=48)
    signed = GradECLIP().signed_grid(b.model, b.pixels([image]), target)
    np.testing.assert_allclose(s.signed, signed, atol=1e-6)
    np.testing.assert_allclose(s.grid, np.maximum(signed, 0), atol=1e-6)
    negative = np.where(signed < 0, -signed, 0.0)
    expected = align_to_image(negative, image.size, b.preprocess_kind, (48, 40), b.targetpad_ratio)
    assert s.against.shape == s.aligned.shape == (40, 48)
    np.testing.assert_allclose(s.against, expected, atol=1e-6)
    neg = sum(-v for v in signed.ravel() if v < 0)
    assert s.against_share == pytest.approx(neg / sum(abs(v) for v in signed.ravel()), rel=1e-5)
    assert 0 < s.against_share < 1  # a mismatched text: some patches read for it, some against
    written = save_saliency(s, image, tmp_path, "star")
    assert [p.name for p in written] == ["star.png", "star.npy", "star-signed.npy"]
    np.testing.assert_allclose(np.load(written[2]), s.signed)
    r = explain_image(b, image, target, create_explainer("rollout"), max_side=48)
    assert r.signed is None and r.against is None and r.against_share is None
    assert len(save_saliency(r, image, tmp_path, "rollout")) == 2


def test_panel_f_captions_name_the_side_of_the_evidence_shown():
    """Panel F says when most of a map's evidence lowers the score, and "lowers" sends the negative
    part's layer in its own ramp; an explainer without a sign says it shows what raises the score."""
    from types import SimpleNamespace

    from infocir.explain.image import ImageSaliency
    from infocir.explain.render import heat_uri
    from infocir.ui.callbacks.explanations import render_poll

    signed = np.array([[-3.0, 1.0], [0.0, 0.0]])  # 3 of 4 units of evidence lower the score
    against = ImageSaliency(
        "grad_eclip", np.maximum(signed, 0), np.eye(4), 0.2, 0.01, signed=signed, against=np.ones((4, 4))
    )
    mild = np.array([[-1.0, 4.0], [0.0, 0.0]])
    mostly_for = ImageSaliency("grad_eclip", np.maximum(mild, 0), np.eye(4), 0.3, 0.01, signed=mild, against=np.eye(4))
    rollout = ImageSaliency("rollout", np.eye(2), np.eye(4), 0.25, 0.01)
    results = {"ids": ["a/x.png", "b/y.png"], "classes": ["a", "b"]}
    job = SimpleNamespace(steps=[("ref", None), ("cand", None)], errors={})
    cfg = AppConfig().saliency

    out = render_poll(cfg, job, {"ref": against, "cand": mostly_for}, True, set(), results, 0)
    assert "75 % of the map's evidence lowers the score: shown is the 25 %" in out[1] and "lowers" not in out[3]
    assert out[0] == heat_uri(against, "for") and out[2] == heat_uri(mostly_for, "for")
    out = render_poll(cfg, job, {"ref": against, "cand": mostly_for}, True, set(), results, 0, "against")
    assert "showing what lowers the score: 75 %" in out[1] and "showing what lowers the score: 20 %" in out[3]
    assert out[0] == heat_uri(against, "against") != heat_uri(against, "for")
    out = render_poll(cfg, job, {"ref": against, "cand": mostly_for}, True, set(), results, 0, "both")
    assert "warm raises the score, blue lowers it: 75 %" in out[1] and "blue lowers it: 20 %" in out[3]
    assert out[0] == heat_uri(against, "both") not in (heat_uri(against, "for"), heat_uri(against, "against"))
    out = render_poll(cfg, job, {"ref": rollout, "cand": rollout}, True, set(), results, 0, "both")
    assert "Attention rollout has no signed map" in out[1] and out[0] == heat_uri(rollout, "for")
    out = render_poll(cfg, job, {"ref": rollout, "cand": rollout}, True, set(), results, 0, "against")
    assert "Attention rollout has no signed map" in out[1] and out[0] == heat_uri(rollout, "for")
    blank = ImageSaliency("grad_eclip", np.zeros((2, 2)), np.zeros((4, 4)), 0.1, 0.01, signed=-np.ones((2, 2)))
    out = render_poll(cfg, job, {"ref": blank, "cand": blank}, True, set(), results, 0)
    assert "empty map" in out[1] and "choose “lowers”" in out[1]
    tiny = np.array([[-0.001, 1.0], [0.0, 0.0]])  # 0.1 %: said, not rounded to nothing
    faint = ImageSaliency("grad_eclip", np.maximum(tiny, 0), np.eye(4), 0.3, 0.01, signed=tiny, against=np.eye(4))
    out = render_poll(cfg, job, {"ref": faint, "cand": faint}, True, set(), results, 0, "against")
    assert "showing what lowers the score: under 1 % of the map's evidence" in out[1]


def test_heat_ramps_tell_the_two_sides_apart():
    from infocir.explain.render import heat_rgba, legend_uri

    top_for = np.asarray(heat_rgba(np.ones((2, 2))))[0, 0]
    top_against = np.asarray(heat_rgba(np.ones((2, 2)), "against"))[0, 0]
    assert list(top_for) == [252, 255, 164, 255] and list(top_against) == [199, 233, 180, 255]
    low = np.asarray(heat_rgba(np.array([[0.0, 1.0]]), "against"))[0, 0]
    assert list(low) == [8, 29, 88, round(255 * 0.15)]  # the same alpha as the other ramp: low is see-through
    assert legend_uri(20, 4, "against") != legend_uri(20, 4)
    # both sides in one layer: the sign picks the ramp, the largest magnitude sets the scale for both
    both = np.asarray(heat_rgba(np.array([[2.0, -2.0, -1.0, 0.0]]), "both"))[0]
    assert list(both[0]) == [252, 255, 164, 255] and list(both[1]) == [199, 233, 180, 255]
    assert list(both[2, :3]) == [34, 94, 168] and both[2, 3] == int(255 * (0.15 + 0.85 * 0.5))  # half: mid (truncated)
    assert list(both[3]) == [20, 11, 52, round(255 * 0.15)]  # zero: the see-through bottom of the warm ramp
    with pytest.raises(ValueError, match="evidence"):
        heat_rgba(np.ones((2, 2)), "sideways")


def test_cells_beating_random_compares_cell_means():
    from infocir.explain.evaluate import cells_beating_random

    def cell(d, i):
        return {"deletion_auc": d, "insertion_auc": i}

    by_type = {
        "random": {
            "colour": {"reference": cell(0.10, 0.10), "top1": cell(0.20, 0.20)},
            "shape": {"top1": cell(0.1, 0.1)},
        },
        "grad_eclip": {
            "colour": {"reference": cell(0.05, 0.09), "top1": cell(0.25, 0.30)},
            "shape": {"top1": cell(0.1, 0.2)},
        },
    }
    assert cells_beating_random(by_type, "grad_eclip") == (1, 2, 3)  # a tie (shape deletion) is not a win


def test_patch_masks_keep_the_first_j_patches_in_order():
    from infocir.explain.faithfulness import patch_masks

    m = patch_masks(np.array([2, 0, 3, 1]), (2, 2), side=4)  # 2×2 grid of 2×2-pixel patches
    assert m.shape == (5, 1, 4, 4)
    kept = m[:, 0, ::2, ::2].reshape(5, 4).numpy()
    assert kept.tolist() == [[0, 0, 0, 0], [0, 0, 1, 0], [1, 0, 1, 0], [1, 0, 1, 1], [1, 1, 1, 1]]
    assert m[2, 0, :2, :2].sum() == 4  # a kept patch covers all its pixels


def test_rise_blur_by_hand():
    """RISE's insertion canvas: its 11-px, sigma-5 kernel at 224 px, scaled to the input; a separable
    Gaussian with reflected borders, recomputed here from the formula."""
    from infocir.explain.faithfulness import blurred, rise_kernel

    assert rise_kernel(224) == (11, 5.0)
    assert rise_kernel(64) == (3, 5.0 * 64 / 224)
    assert rise_kernel(96) == (5, 5.0 * 96 / 224)
    side = 64
    img = torch.zeros(1, 2, side, side)
    img[0, 0, 10, 20] = 1.0  # a point in channel 0; channel 1 stays empty
    out = blurred(img)
    width, sigma = rise_kernel(side)
    x = np.arange(width) - (width - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    g /= g.sum()
    expected = np.zeros((side, side))
    expected[10 - 1 : 10 + 2, 20 - 1 : 20 + 2] = np.outer(g, g)
    np.testing.assert_allclose(out[0, 0].numpy(), expected, atol=1e-6)
    assert out[0, 1].abs().max() == 0  # channels do not mix
    flat = torch.full((1, 3, side, side), 0.7)
    np.testing.assert_allclose(blurred(flat).numpy(), 0.7, atol=1e-6)  # reflected borders keep a flat image flat


def test_insertion_canvas_sets_where_the_curve_starts(demo):
    """Insertion starts from the canvas (the mean, or RISE's blurred copy) and ends at the image;
    deletion is the same for both canvases; an unknown canvas is refused."""
    from infocir.explain.faithfulness import blurred

    b = demo
    image, _ = W.render(W.Attributes("star", "blue", "large", "striped", "filled"), np.random.default_rng(0))
    pixels = b.pixels([image])
    target = similarity_target(encode_texts(b, ["a red star"])[0], b)
    saliency = np.random.default_rng(1).random((8, 8))

    def score(x):
        with torch.no_grad():
            return float(target(b.model.encode_image(x))[0])

    mean = deletion_insertion(b, pixels, target, saliency)
    blur = deletion_insertion(b, pixels, target, saliency, canvas="blur")
    np.testing.assert_allclose(blur.deletion, mean.deletion)
    assert blur.insertion[0] == pytest.approx(score(blurred(pixels)), abs=1e-5)
    assert mean.insertion[0] == pytest.approx(score(torch.zeros_like(pixels)), abs=1e-5)
    assert blur.insertion[-1] == pytest.approx(score(pixels), abs=1e-5) == mean.insertion[-1]
    assert blur.insertion[0] != pytest.approx(mean.insertion[0], abs=1e-3)
    with pytest.raises(ValueError, match="unknown insertion canvas"):
        deletion_insertion(b, pixels, target, saliency, canvas="noise")


def test_reference_map_follows_each_candidate_through_phi(world_engine):
    """The original InfoCIR's per-candidate reference saliency: the target is the candidate's
    similarity to the query composed from the reference (through φ), so its value on the
    unmodified reference is that candidate's retrieval score, and the map changes per candidate."""
    from infocir.explain.service import ExplanationService

    engine, root = world_engine
    q = W.read_queries(root)[0]
    res = engine.search(q["reference_id"], q["text"], k=3, method="searle")
    maps = ExplanationService(engine, max_side=128)
    a = maps.reference_saliency("searle", q["reference_id"], q["text"], res.ids[0], "grad_eclip", "candidate")
    b = maps.reference_saliency("searle", q["reference_id"], q["text"], res.ids[2], "grad_eclip", "candidate")
    assert a.score == pytest.approx(float(res.scores[0]), abs=0.01) and b.score == pytest.approx(
        float(res.scores[2]), abs=0.01
    )
    assert not np.allclose(a.grid, b.grid) and res.ids[0].rsplit("/", 1)[-1] in a.target
    # For "image only" the composed query is the reference itself: the same map as the reference's
    # similarity to the candidate's feature, computed by the other route.
    row = engine.index.row_of[res.ids[1]]
    via_method = maps.reference_saliency("image", q["reference_id"], q["text"], res.ids[1], "grad_eclip", "candidate")
    direct = maps.saliency(engine.index.features[row], "grad_eclip", image_id=q["reference_id"])
    np.testing.assert_allclose(via_method.grid, direct.grid, rtol=1e-4, atol=1e-6)
    # OTI's token is optimised, not a function of the image: it falls back to the composed query
    oti = maps.reference_saliency(
        "oti", q["reference_id"], q["text"], res.ids[0], "grad_eclip", "candidate", vector=res.query_vector
    )
    assert oti.target == "similarity to the composed query"


def test_phi_norm_view_and_saved_maps(world_engine, tmp_path):
    from infocir.explain.render import save_saliency
    from infocir.explain.service import ExplanationService
    from infocir.methods.searle import get_phi

    engine, root = world_engine
    ref = W.read_queries(root)[1]["reference_id"]
    maps = ExplanationService(engine, max_side=128)
    sal = maps.reference_saliency("searle", ref, "make it red", ref, "gradient_input", "phi_norm")
    b = engine.bundle
    with torch.no_grad():  # ‖φ(f(I))‖ by hand (the index holds f(I) in float16, hence the tolerance)
        want = float(get_phi(engine.context)(b.tensor(engine.index.raw_feature(engine.index.row_of[ref])[None])).norm())
    assert sal.score == pytest.approx(want, rel=0.02) and "φ" in sal.target
    written = save_saliency(sal, engine.reference_image(ref), tmp_path / "maps", f"searle-{ref}")
    png, npy = written
    assert png.suffix == ".png" and Image.open(png).size == sal.aligned.shape[::-1]
    np.testing.assert_array_equal(np.load(npy), sal.grid.astype(np.float32))
    assert "/" not in png.name  # the id's folder separator does not escape the output folder


def test_panel_f_lists_the_configured_explainer_and_its_evidence_choices():
    """The dropdown holds the panel's explainers and, where the configuration names another registered one
    (``grad_eclip_magnitude``, not in the panel's list), that one too, so the control shows what the maps
    use; the evidence choices follow whether that explainer has a signed map."""
    from infocir.config import apply_overrides
    from infocir.ui import ids
    from infocir.ui.layout import evidence_options, explanation_panel

    def values(cfg):
        return [o["value"] for o in explanation_panel(cfg)[ids.F_EXPLAINER].options]  # Dash finds it by id

    default = values(AppConfig())
    assert default[0] == "grad_eclip" and "grad_eclip_magnitude" not in default and "random" not in default
    cfg = apply_overrides(AppConfig(), {"saliency.explainer": "grad_eclip_magnitude"})
    assert values(cfg) == [*default[:1], "grad_eclip_magnitude", *default[1:]]  # in its registry order
    assert [o["value"] for o in evidence_options("grad_eclip") if not o.get("disabled")] == ["for", "against", "both"]
    assert [o["value"] for o in evidence_options("grad_eclip_magnitude") if not o.get("disabled")] == ["for"]
    assert [o["value"] for o in evidence_options("no-such") if not o.get("disabled")] == ["for"]

"""Referring segmentation (issue 19 §5): the pure steps by hand, the providers' errors, the saliency
provider's IoU on a generated demo world against the generator's masks, the service, F1's job and the CLI."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import numpy as np
import pytest

from infocir.config import AppConfig, ConfigError, apply_overrides
from infocir.errors import UserError
from infocir.explain.segmentation import (
    SEGMENTERS,
    ClipSegSegmenter,
    SaliencySegmenter,
    SegmentationUnavailable,
    clean_mask,
    create_segmenter,
    mask_iou,
    otsu_threshold,
    outline_rgba,
    threshold_map,
)

# Measured on the test fixture's world (seed 5, 1,920 images) with the shipped demo model (issue 20, stage 5),
# 40 images, seed 0: the saliency provider 0.594 single (seeds 1, 2: 0.581, 0.606), 0.203 on 2×2 grids
# (centred disc 0.463 / 0.147, rollout alone 0.666 / 0.104); cleaning adds 0.007 at seed 0 and 0.020 at seed
# 2 but costs 0.005 at seed 1.  The round-6 student before stage 5: 0.615 (0.624, 0.618), grids 0.170.  The
# real demo world: README "Referring segmentation".
MEASURED_IOU = 0.594
MARGIN = 0.07


# --------------------------------------------------------------------------- pure steps
def test_otsu_splits_a_bimodal_sample_between_its_modes():
    rng = np.random.default_rng(0)
    v = np.concatenate([rng.normal(0.2, 0.03, 500), rng.normal(0.8, 0.03, 200)])
    t = otsu_threshold(v)
    assert 0.35 < t < 0.65
    assert otsu_threshold(np.full(10, 0.3)) == pytest.approx(0.3)


def test_threshold_map_scales_by_the_maximum():
    s = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 0.0]])
    assert threshold_map(s, 0.5).tolist() == [[False, False, True], [True, True, False]]
    assert threshold_map(s, "0.75").tolist() == [[False, False, False], [True, True, False]]
    assert not threshold_map(np.zeros((3, 3)), "otsu").any()  # nothing salient: an empty mask
    two = np.zeros((8, 8))
    two[2:6, 2:6] = 1.0
    assert (threshold_map(two + 0.05, "otsu") == (two > 0)).all()
    with pytest.raises(ValueError, match="'otsu' or a number"):
        threshold_map(s, 0.0)


def test_clean_mask_keeps_the_largest_component_fills_holes_and_drops_small_blobs():
    m = np.zeros((20, 20), bool)
    m[2:12, 2:12] = True
    m[6, 6] = False  # a hole
    m[15:17, 15:17] = True  # a 4-px blob (1 % of the image)
    m[0:3, 16:20] = True  # a 12-px blob (3 %)
    one = clean_mask(m)
    big = np.zeros_like(m)
    big[2:12, 2:12] = True
    assert (one == big).all()  # the hole is filled, both blobs gone
    two = clean_mask(m, min_area=0.02, keep=3)  # the 12-px blob stays, the 4-px one is under 2 %
    assert two[0:3, 16:20].all() and not two[15:17, 15:17].any() and two[6, 6]
    assert not clean_mask(np.zeros((5, 5), bool)).any()
    tiny = np.zeros((20, 20), bool)
    tiny[3, 3] = True  # the largest component stays even under min_area
    assert clean_mask(tiny, min_area=0.5).sum() == 1


def test_mask_iou_and_outline_by_hand():
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    a[:2] = True  # 8 px
    b[1:3] = True  # 8 px, 4 shared
    assert mask_iou(a, b) == pytest.approx(4 / 12)
    assert mask_iou(np.zeros((2, 2), bool), np.zeros((2, 2), bool)) == 1.0
    m = np.zeros((10, 10), bool)
    m[2:8, 2:8] = True
    alpha = np.asarray(outline_rgba(m, width=1, tint=40))[..., 3]
    assert alpha[2, 2] == 255 and alpha[2, 5] == 255 and alpha[5, 5] == 40 and alpha[0, 0] == 0


# --------------------------------------------------------------------------- configuration and providers
def test_configuration_checks_the_segmentation_fields():
    cfg = apply_overrides(AppConfig(), {"segmentation.threshold": "0.4", "segmentation.min_area": "0.02"})
    assert cfg.segmentation.threshold == "0.4" and cfg.segmentation.provider == "saliency"
    for bad in ("0", "1.5", "half"):
        with pytest.raises(ConfigError, match="segmentation.threshold"):
            apply_overrides(AppConfig(), {"segmentation.threshold": bad})
    from infocir.plugins import check_plugin_names

    with pytest.raises(ConfigError, match="segmentation.provider.*saliency, clipseg"):
        check_plugin_names(apply_overrides(AppConfig(), {"segmentation.provider": "sam"}))
    assert SEGMENTERS.names()[:2] == ["saliency", "clipseg"]


def test_clipseg_without_a_model_path_or_package_is_a_clear_user_error(tmp_path):
    cfg = AppConfig().segmentation
    from dataclasses import replace

    with pytest.raises(SegmentationUnavailable, match="segmentation.clipseg_path"):
        create_segmenter(None, replace(cfg, provider="clipseg"))
    with pytest.raises(UserError, match="not a CLIPSeg model folder"):
        ClipSegSegmenter(tmp_path / "missing")
    (tmp_path / "config.json").write_text("{}")
    if importlib.util.find_spec("transformers") is None:
        with pytest.raises(UserError, match="needs the transformers package"):
            ClipSegSegmenter(tmp_path)


@pytest.mark.skipif(
    importlib.util.find_spec("transformers") is None,
    reason="transformers is not installed in this environment (CLIPSeg weights cannot be downloaded here either)",
)
def test_clipseg_provider_with_a_tiny_random_model(tmp_path):  # pragma: no cover - needs transformers
    """A tiny randomly initialised CLIPSeg (and a 6-token CLIP tokenizer) saved to tmp_path: the provider
    loads it from the folder alone and returns a mask of the image's size."""
    import json

    from PIL import Image

    try:  # building the fixture model; a failure here is the fixture's, not the provider's
        from transformers import (
            CLIPSegConfig,
            CLIPSegForImageSegmentation,
            CLIPSegProcessor,
            CLIPTokenizer,
            ViTImageProcessor,
        )

        vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, "a</w>": 2, "red</w>": 3, "star</w>": 4, "!": 5}
        (tmp_path / "vocab.json").write_text(json.dumps(vocab))
        (tmp_path / "merges.txt").write_text("#version: 0.2\n")
        tok = CLIPTokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"))
        small = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2}
        config = CLIPSegConfig(
            text_config={**small, "vocab_size": len(vocab), "max_position_embeddings": 16},
            vision_config={**small, "image_size": 32, "patch_size": 8},
            projection_dim=16,
            reduce_dim=8,
            extract_layers=[1, 2],
            decoder_num_attention_heads=2,
            decoder_intermediate_size=16,
        )
        folder = tmp_path / "clipseg"
        CLIPSegForImageSegmentation(config).save_pretrained(folder)
        image_processor = ViTImageProcessor(size={"height": 32, "width": 32})
        CLIPSegProcessor(image_processor=image_processor, tokenizer=tok).save_pretrained(folder)
    except Exception as exc:
        pytest.skip(f"could not build a tiny CLIPSeg offline: {exc}")
    seg = ClipSegSegmenter(folder, threshold="otsu")
    m = seg.mask(Image.new("RGB", (48, 40), (200, 30, 30)), "a red star")
    assert m.dtype == bool and m.shape == (40, 48)


# --------------------------------------------------------------------------- the demo world
@pytest.fixture(scope="module")
def world(demo_world_engine):
    return demo_world_engine


@pytest.mark.slow  # seconds of real computation; still in the default run
def test_saliency_provider_iou_on_the_demo_world(world):
    """The provider's mask against the generator's object masks on 40 seeded images of the test world: mean
    IoU at least the measured value less a margin, above a centred disc of the mean object area, cleaning
    helping; and on 2×2 grids (the referred object among three of another shape and colour) above the disc
    in a random quadrant and above rollout alone, which ignores the text."""
    from infocir.evaluation.segmentation_eval import DISC, segmentation_eval

    engine, _ = world
    res = segmentation_eval(engine, n=40, seed=0)
    rows = res["rows"]
    sal = rows["saliency provider"]
    assert sal["images"] == 40
    assert sal["iou"] >= MEASURED_IOU - MARGIN
    assert sal["iou"] > rows[DISC]["iou"] + 0.05
    assert sal["iou"] >= rows["same, no cleaning (raw threshold)"]["iou"]
    assert sal["iou_grid"] > rows[DISC]["iou_grid"]
    assert sal["iou_grid"] > rows["rollout alone (ignores the text)"]["iou_grid"]


def test_saliency_provider_mask_has_the_image_size(world):
    from PIL import Image

    engine, root = world
    image_id = engine.index.ids[0]
    image = Image.open(root / image_id).convert("RGB").resize((150, 100))
    seg = SaliencySegmenter.from_config(engine.bundle, engine.config.segmentation)
    m = seg.mask(image, "a red star")
    assert m.dtype == bool and m.shape == (100, 150) and 0 < m.mean() < 1


def test_service_segment_is_cached_at_the_display_size(world):
    from infocir.explain.service import ExplanationService

    engine, _ = world
    svc = ExplanationService(engine, max_side=64)
    image_id = engine.index.ids[3]
    a = svc.segment("a blue circle", image_id=image_id)
    assert svc.segment("a blue circle", image_id=image_id) is a
    assert a.mask.shape == (64, 64) and a.text == "a blue circle" and 0 < a.area < 1
    with pytest.raises(ValueError, match="a text is needed"):
        svc.segment("  ", image_id=image_id)


def test_f1_job_outlines_the_text_region_when_asked(world):
    from infocir.ui.callbacks.explanations import NO_HEAT, _steps, render_poll
    from infocir.ui.services import Services

    engine, root = world
    from infocir.data import demo_world as W

    q = W.read_queries(root)[0]
    res = engine.search(q["reference_id"], q["text"], k=3, method="searle")
    results = {
        "ids": res.ids,
        "classes": res.classes,
        "text": q["text"],
        "method": "searle",
        "k": 3,
        "query_vector": None,
    }
    s = Services(engine, engine.config, maps=None)
    names = [n for n, _ in _steps(s, results, q["reference_id"], 0, "grad_eclip", "occlusion", segment=True)]
    assert "seg" in names
    assert "seg" not in [n for n, _ in _steps(s, results, q["reference_id"], 0, "grad_eclip", "occlusion")]
    assert "seg" not in [
        n for n, _ in _steps(s, {**results, "text": ""}, q["reference_id"], 0, "grad_eclip", "occlusion", segment=True)
    ]
    steps = dict(_steps(s, results, q["reference_id"], 0, "grad_eclip", "occlusion", segment=True))
    done = {"query": steps["query"](), "cand": steps["cand"](), "seg": steps["seg"]()}
    job = SimpleNamespace(steps=[(n, None) for n in done], errors={})
    out = render_poll(engine.config.saliency, job, done, True, set(), results, 0)
    assert out[-1].startswith("data:image/png;base64,") and "outlined" in out[3] and q["text"] in out[3]
    assert render_poll(engine.config.saliency, job, done, True, {"seg"}, results, 0)[-1] is not NO_HEAT
    del done["seg"]
    assert render_poll(engine.config.saliency, job, done, True, set(), results, 0)[-1] == NO_HEAT


@pytest.mark.slow
def test_segment_eval_cli_prints_the_table(world, tmp_path, capsys):
    import json

    from infocir.cli import main

    engine, root = world
    out = tmp_path / "seg"
    rc = main(
        [
            "segment-eval",
            "--dataset",
            str(root),
            "--images",
            "4",
            "--out",
            str(out),
            "--set",
            f"index.cache_dir={engine.config.index.cache_dir}",
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "saliency provider" in text and "centred disc" in text and "IoU 2×2 grid" in text
    assert json.loads((out / "results.json").read_text())["images"] == 4

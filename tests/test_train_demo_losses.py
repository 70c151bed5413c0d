"""The demo-model training's attribute cross-entropy, computed by hand from its stated rule."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from infocir.data import demo_world as W
from infocir.models.attention_focus import LookTerm
from infocir.models.encoders import load_clip
from infocir.models.train_demo import ZERO_SHOT_PROMPTS, attribute_loss, zero_shot_texts


def test_zero_shot_texts_are_the_prompts_with_each_value_word():
    assert zero_shot_texts("shape") == [ZERO_SHOT_PROMPTS["shape"].format(s) for s in W.SHAPES]
    assert zero_shot_texts("shape")[3] == "a star"
    assert len(zero_shot_texts("background")) == len(W.VALUES["background"])
    assert all(t.startswith("a shape on a ") for t in zero_shot_texts("background"))


def test_attribute_loss_is_the_weighted_cross_entropy_over_each_attribute_s_prompts():
    bundle = load_clip("InfoCIR-Tiny-ViT", None, preprocess="clip", seed=3, precision="fp32")
    model = bundle.model
    g = torch.Generator().manual_seed(0)
    img = F.normalize(torch.randn(6, model.text_projection.shape[1], generator=g), dim=-1)
    rows = torch.stack([torch.randint(len(W.VALUES[a]), (6,), generator=g) for a in W.ATTRIBUTES], 1)
    weights = {"shape": 1.0, "colour": 0.5, "style": 0.25}  # size and background left out

    expected = 0.0
    scale = float(model.logit_scale.exp().clamp(max=100))
    with torch.no_grad():
        for ai, a in enumerate(W.ATTRIBUTES):
            if a not in weights:
                continue
            txt = F.normalize(model.encode_text(bundle.tokens(zero_shot_texts(a))), dim=-1)
            logits = scale * img @ txt.T
            # cross-entropy by hand: mean over images of log-sum-exp minus the true value's logit
            per_image = torch.logsumexp(logits, 1) - logits[torch.arange(6), rows[:, ai]]
            expected += weights[a] * float(per_image.mean())
        got = float(attribute_loss(bundle, img, rows, weights))
    assert abs(got - expected) < 1e-5

    # the text tower takes the gradient (the teacher learns the prompts too)
    loss = attribute_loss(bundle, img, rows, {"shape": 1.0})
    loss.backward()
    grads = [p.grad for n, p in model.named_parameters() if not n.startswith("visual.") and p.grad is not None]
    assert grads and any(float(g.abs().sum()) > 0 for g in grads)


def test_attribute_heads_are_cosine_classifiers_and_turned_keeps_each_image_in_its_row():
    import numpy as np

    from infocir.models.train_demo import AttributeHeads, turned

    heads = AttributeHeads(8, scale=10.0)
    g = torch.Generator().manual_seed(1)
    unit = F.normalize(torch.randn(5, 8, generator=g), dim=-1)
    logits = heads(unit)
    assert [lg.shape[1] for lg in logits] == [len(W.VALUES[a]) for a in W.ATTRIBUTES]
    w = heads.weights[0].detach()
    by_hand = 10.0 * torch.stack([torch.stack([u @ c / c.norm() for c in w]) for u in unit])
    assert torch.allclose(logits[0].detach(), by_hand, atol=1e-5)

    # 8 images, each a distinct asymmetric pattern: after turning, row i is still image i, turned
    images = torch.zeros(8, 3, 6, 6, dtype=torch.uint8)
    for i in range(8):
        images[i, :, 0, i % 6] = 200 + i
        images[i, :, i % 6, 5] = 100 + i
    out = turned(images.clone(), np.random.default_rng(0))
    for i in range(8):
        k = i // 2  # quarter index: rows 0-1 turned 0×, 2-3 once, ...
        candidates = [torch.rot90(images[i], k, (-2, -1)), torch.rot90(images[i].flip(-1), k, (-2, -1))]
        assert any(torch.equal(out[i], c) for c in candidates), i


def test_teacher_rounds_parse_and_unfreeze_the_image_tower_round_by_round(tmp_path):
    """``--teacher-rounds``: a frozen round leaves the image tower's weights as they were while the
    text tower learns; a later round with a scale > 0 trains it again (each round resumable on its own)."""
    import argparse
    from dataclasses import replace

    from infocir.models import train_demo as T

    assert T.parse_rounds("500:3e-4:0.1, 800:3e-4:0.3") == ((500, 3e-4, 0.1), (800, 3e-4, 0.3))
    assert T.parse_rounds("500:3e-4:1:0.6") == ((500, 3e-4, 1.0, 0.6),)
    for bad in ("500:3e-4", "0:3e-4:1", "500:0:1", "500:3e-4:-1", "a:b:c", "1:2:3:4", "1:2:3:0.5:1", "1:2:3:-0.1"):
        with pytest.raises(argparse.ArgumentTypeError):
            T.parse_rounds(bad)

    b = load_clip(T.TEACHER, None, preprocess="clip", seed=0, device="cpu", precision="fp32")
    combos = W.all_combinations()  # hard batches index the pool by attribute combination
    attrs = torch.tensor([c.indices() for c in combos])
    g = torch.Generator().manual_seed(0)
    side = b.image_size
    images = torch.randint(0, 256, (len(combos), 3, side, side), dtype=torch.uint8, generator=g)
    pool, heldout = (images, attrs, 1), (images[:16], attrs[:16])

    def snapshot(visual: bool) -> dict:
        return {n: p.detach().clone() for n, p in b.model.named_parameters() if n.startswith("visual.") == visual}

    recipe = T.Recipe(
        teacher_steps=1,
        teacher_focus_steps=1,
        teacher_batch=16,
        teacher_visual_lr_scale=0.0,
        teacher_rounds=((2, 1e-2, 0.0),),
    )
    vis0, txt0 = snapshot(True), snapshot(False)
    T._teacher_stages(b, tmp_path, recipe, pool, heldout)
    vis1, txt1 = snapshot(True), snapshot(False)
    assert all(torch.equal(vis0[n], vis1[n]) for n in vis0)
    assert any(not torch.equal(txt0[n], txt1[n]) for n in txt0)

    # the same workdir: stage 2, the focus phase and round 1 are done (their checkpoints resume at
    # the end), round 2 trains
    recipe = replace(recipe, teacher_rounds=((2, 1e-2, 0.0), (2, 1e-2, 1.0, 0.6)))  # round 2 with a shape focus
    T._teacher_stages(b, tmp_path, recipe, pool, heldout)
    vis2 = snapshot(True)
    assert any(not torch.equal(vis1[n], vis2[n]) for n in vis1)
    assert all(p.requires_grad for p in b.model.visual.parameters())
    assert {p.name for p in tmp_path.glob("teacher*.ckpt.pt")} == {
        "teacher.ckpt.pt",
        "teacher-focus.ckpt.pt",
        "teacher-round1.ckpt.pt",
        "teacher-round2.ckpt.pt",
    }


def test_student_rounds_parse_validate_and_refuse_a_stage_the_recipe_lacks(capsys):
    import argparse

    from infocir.models import train_demo as T

    assert T.parse_student_rounds("2400:5e-4:0, 3500:3e-4:4") == ((2400, 5e-4, 0), (3500, 3e-4, 4))
    for bad in ("2400:5e-4", "0:5e-4:0", "10:0:0", "10:1e-3:-1", "10:1e-3:1.5", "10:1e-3:0:1", "a:b:c"):
        with pytest.raises(argparse.ArgumentTypeError):
            T.parse_student_rounds(bad)
    with pytest.raises(ValueError, match="teacher stage from 0"):
        T.Recipe(teacher_rounds=((1, 1e-3, 1.0),), student_rounds=((5, 1e-3, 2),))
    recipe = T.Recipe(teacher_rounds=((1, 1e-3, 1.0), (1, 1e-3, 1.0)), student_rounds=((5, 1e-3, 0), (6, 2e-3, 2)))
    assert T.student_schedule(recipe) == [("student-round1", 5, 1e-3, 0, 0), ("student-round2", 6, 2e-3, 0, 2)]
    # a teacher read from a file is the last stage: every round must name it, and then loads nothing
    with pytest.raises(ValueError, match="give each teacher stage 2"):
        T.student_schedule(recipe, teacher_from_file=True)
    from_file = T.Recipe(teacher_rounds=recipe.teacher_rounds, student_rounds=((5, 1e-3, 2),))
    assert T.student_schedule(from_file, teacher_from_file=True) == [("student-round1", 5, 1e-3, 0, None)]
    assert T.student_schedule(T.Recipe()) == [("student", 6000, 5e-4, 3000, None)]

    # the command line says what is wrong before any training starts
    for argv in (
        ["--teacher-rounds", "5:1e-3:1", "--student-rounds", "5:1e-3:3"],
        ["--teacher-rounds", "5:1e-3:1", "--student-rounds", "5:1e-3:0", "--teacher-weights", "t.pt"],
    ):
        with pytest.raises(SystemExit) as e:
            T.main(argv)
        assert e.value.code == 2
        assert "teacher stage" in capsys.readouterr().err


@pytest.mark.slow  # a whole (tiny) train() run: two teacher rounds, two student rounds, then a resume
def test_student_rounds_distil_from_the_teacher_stage_each_names_and_resume(tmp_path, monkeypatch):
    """``--student-rounds``: the teacher is kept after the stages a round names (and only those), each
    round loads its stage and distils on that teacher's targets, the rounds continue one another, and
    a re-run resumes every round at its end.  With ``student_look`` each step also takes a look batch."""
    from infocir.models import train_demo as T

    combos = W.all_combinations()
    attrs = torch.tensor([c.indices() for c in combos])
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (len(combos), 3, 64, 64), dtype=torch.uint8, generator=g)
    torch.save({"images": images, "attrs": attrs}, tmp_path / "pool-train-1234-1-64.pt")
    torch.save({"images": images[:16], "attrs": attrs[:16]}, tmp_path / "pool-heldout-999-1-64.pt")
    masks = torch.zeros(64, 64, 64, dtype=torch.uint8)
    masks[:, 16:48, 16:48] = 255
    torch.save({"images": images[:64], "attrs": attrs[:64], "masks": masks}, tmp_path / "pool-focus-1234-1-64-masks.pt")
    recipe = T.Recipe(
        pool_replicates=1,
        teacher_steps=1,
        teacher_batch=16,
        teacher_focus_steps=0,
        teacher_visual_lr_scale=0.0,
        teacher_rounds=((1, 1e-2, 1.0), (1, 1e-2, 1.0)),
        student_rounds=((2, 1e-3, 0), (2, 1e-3, 2)),
        student_batch=8,
        general_steps=0,
        student_look=0.5,  # every student step also takes the look term on the masked renders
        focus_replicates=1,
        focus_renderers=("standard",),
    )
    loaded = []
    real_load = T.load_teacher
    monkeypatch.setattr(T, "load_teacher", lambda b, path: (loaded.append(path.name), real_load(b, path)))
    looked = []
    real_look = LookTerm.loss

    def recorded_look(self, idx, anchor=None):
        looked.append((self, idx))
        return real_look(self, idx, anchor)

    monkeypatch.setattr(LookTerm, "loss", recorded_look)
    out = tmp_path / "out"
    manifest = T.train(tmp_path, recipe, out, "cpu")

    stage = {k: T.teacher_stage_path(tmp_path, k) for k in (0, 1, 2)}
    assert loaded == [stage[0].name, stage[2].name]
    assert stage[0].exists() and stage[2].exists() and not stage[1].exists()
    # each kept teacher is the teacher as its phase ended (float16, as save_teacher writes it)
    for k, ckpt in ((0, "teacher.ckpt.pt"), (2, "teacher-round2.ckpt.pt")):
        kept = torch.load(stage[k])
        ended = torch.load(tmp_path / ckpt, weights_only=False)["model"]
        assert all(torch.equal(kept[n], v.half() if v.is_floating_point() else v) for n, v in ended.items()), k
    # each round's targets are its own teacher's embeddings, and the teachers differ
    t0, t2 = (torch.load(tmp_path / f"teacher_embeddings-stage{k}.pt") for k in (0, 2))
    assert t0.shape == t2.shape == (2 * len(images), 128) and not torch.allclose(t0, t2)
    steps = [torch.load(tmp_path / f"student-round{i}.ckpt.pt", weights_only=False)["step"] for i in (1, 2)]
    assert steps == [2, 2] and not (tmp_path / "student.ckpt.pt").exists()
    assert len(manifest["training_minutes"]["student_rounds"]) == 2
    assert manifest["recipe"]["student_rounds"] == ((2, 1e-3, 0), (2, 1e-3, 2))
    assert manifest["recipe"]["student_look"] == 0.5
    # one look batch per student step (each round's steps count from 0), drawn apart from stage 5's
    term = looked[0][0]
    assert term.weight == 0.5 and len(term.images) == 64
    assert [tuple(idx.tolist()) for _, idx in looked] == [tuple(term.indices(s, 6).tolist()) for s in (0, 1, 0, 1)]
    assert not torch.equal(term.indices(0, 6), term.indices(0, 5))
    # round 2 trains the same student on (its checkpoint differs from round 1's)
    r1 = torch.load(tmp_path / "student-round1.ckpt.pt", weights_only=False)["model"]
    r2 = torch.load(tmp_path / "student-round2.ckpt.pt", weights_only=False)["model"]
    moved = [n for n in r1 if n.startswith("visual.") and not torch.equal(r1[n], r2[n])]
    assert moved
    first = torch.load(out / "InfoCIR-Demo-ViT.pt")

    loaded.clear()
    looked.clear()
    T.train(tmp_path, recipe, tmp_path / "out2", "cpu")  # resumes: no step left in any phase
    again = torch.load(tmp_path / "out2" / "InfoCIR-Demo-ViT.pt")
    assert loaded == [stage[0].name, stage[2].name]
    assert not looked
    assert all(torch.equal(first[n], again[n]) for n in first)


def test_matched_views_are_resized_crops_of_the_asked_share_and_blends_of_two_images():
    """Function matching's views, checked from the pixels: on an image whose red and green channels
    hold 4 × the column and row, a bilinear resize of a crop keeps its first and last columns' values,
    so the crop's width and height can be read off the view; blends of constant images are found by
    solving for the partner image and the weight."""
    import numpy as np

    from infocir.models.train_demo import matched_views

    side = 64
    cols = torch.arange(side).float().expand(side, side) * 4
    coords = torch.stack([cols, cols.T, torch.zeros(side, side)]).expand(40, 3, side, side).contiguous()
    same = matched_views(coords, np.random.default_rng(0), 1.0, 0.0)
    assert torch.equal(same, coords)  # both off: the batch as it was
    views = matched_views(coords, np.random.default_rng(1), 0.3, 0.0)
    assert views.shape == coords.shape
    shares = []
    for v in views:
        left, right = v[0, 0, 0].item() / 4, v[0, 0, -1].item() / 4
        top, bottom = v[1, 0, 0].item() / 4, v[1, -1, 0].item() / 4
        w, h = right - left + 1, bottom - top + 1
        assert left >= 0 and right <= side - 1 and top >= 0 and bottom <= side - 1
        assert 3 / 4 - 0.05 <= w / h <= 4 / 3 + 0.05  # the aspect range, up to rounding to whole pixels
        shares.append(w * h / side**2)
        # inside the view the crop is stretched evenly: columns step by w / side source pixels
        step = (v[0, 0, 1:] - v[0, 0, :-1]) / 4
        assert torch.allclose(step[2:-2], torch.full_like(step[2:-2], w / side), atol=1e-3)
    assert min(shares) >= 0.3 - 0.03 and max(shares) <= 1
    assert np.ptp(shares) > 0.3  # the share varies across the batch

    values = torch.arange(1.0, 9.0)  # image i is constant: red i, green i²
    flat = torch.stack([values, values**2, torch.zeros(8)], 1)[:, :, None, None].expand(8, 3, 4, 4)
    blended = matched_views(flat, np.random.default_rng(2), 1.0, 0.4)[:, :2, 0, 0]
    partners = []
    for i, (red, green) in enumerate(blended.tolist()):
        found = []
        for j, v in enumerate(values.tolist()):
            if j == i:
                if abs(red - v) < 1e-4:
                    found.append((j, 1.0))
                continue
            lam = (red - v) / (values[i].item() - v)
            if -1e-6 <= lam <= 1 + 1e-6 and abs(green - (lam * values[i] ** 2 + (1 - lam) * v**2)) < 1e-3:
                found.append((j, lam))
        assert len(found) == 1, (i, found)
        partners.append(found[0][0])
    assert sorted(partners) == list(range(8))  # one random pairing of the batch


def test_function_matching_options_validate_and_need_targets_per_batch(capsys):
    from infocir.models import train_demo as T

    assert T.Recipe(student_rotate=True, student_crop_area=0.4, student_mixup=0.2).matches_views
    assert not T.Recipe().matches_views
    for bad in ({"student_crop_area": 0.0}, {"student_crop_area": 1.5}, {"student_mixup": -0.1}):
        with pytest.raises(ValueError, match="student_crop_area|student_mixup"):
            T.Recipe(student_rotate=True, **bad)
    with pytest.raises(ValueError, match="needs student_rotate"):
        T.Recipe(student_mixup=0.2)
    for argv, says in (
        (["--student-crop-area", "0.5"], "needs student_rotate"),
        (["--from-shipped", "--student-rotate", "--student-mixup", "0.2"], "which --from-shipped does not run"),
    ):
        with pytest.raises(SystemExit) as e:
            T.main(argv)
        assert e.value.code == 2
        assert says in capsys.readouterr().err

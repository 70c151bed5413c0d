"""``models.prefetch.StepBatches`` and the host halves of the teacher's and student's steps it runs ahead."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from infocir.data import demo_world as W
from infocir.models import train_demo as T
from infocir.models.prefetch import StepBatches, default_workers


def _draw(step: int) -> tuple[int, int, torch.Tensor]:
    """A step's item: the step, the process that made it, and numbers seeded by the step alone."""
    return step, os.getpid(), torch.from_numpy(np.random.default_rng([7, step]).normal(size=5))


def test_workers_give_each_step_the_item_it_gets_inline():
    ahead = StepBatches(_draw, end=12, workers=2)
    for step in [*range(0, 6), *range(3, 9), 11]:  # in order, a resume at an earlier step, a jump ahead
        got_step, pid, values = ahead(step)
        assert got_step == step and pid != os.getpid()  # made in a worker, ahead of the loop
        assert torch.equal(values, _draw(step)[2])
    assert StepBatches(_draw, end=12)(4)[1] == os.getpid()  # no workers: inline
    with pytest.raises(IndexError, match="outside"):
        ahead(12)


PARENT = os.getpid()


def _dies_in_a_worker(step: int) -> tuple[int, int, torch.Tensor]:
    if os.getpid() != PARENT:
        os._exit(1)  # a worker killed (as by a full shared-memory mount)
    return _draw(step)


def test_workers_that_die_leave_the_batches_to_the_loop(caplog):
    ahead = StepBatches(_dies_in_a_worker, end=6, workers=2, timeout=30)
    for step in range(4):
        got_step, pid, values = ahead(step)
        assert got_step == step and pid == PARENT and torch.equal(values, _draw(step)[2])
    assert ahead.workers == 0 and "batch workers failed" in caplog.text


def test_workers_only_on_a_gpu():
    assert default_workers("cpu") == 0
    assert default_workers(torch.device("cuda", 0)) == max(0, min(3, (os.cpu_count() or 1) - 1))


def _pool(n_rep: int = 2) -> tuple[torch.Tensor, torch.Tensor, int]:
    combos = W.all_combinations()
    attrs = torch.tensor([c.indices() for c in combos] * n_rep)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (len(attrs), 3, 8, 8), dtype=torch.uint8, generator=g)
    return images, attrs, n_rep


def test_a_teacher_batch_follows_the_recipes_draws_and_is_the_same_from_a_worker():
    from infocir.models.encoders import load_clip

    tokenizer = load_clip(T.TEACHER, None, preprocess="clip", device="cpu", precision="fp32").tokenizer
    pool = _pool()
    images, attrs, reps = pool
    recipe = T.Recipe(teacher_batch=32, teacher_rotate=True)
    b = T.teacher_batch(5, 3, 0.6, pool, recipe, tokenizer)

    # by hand, in the order the shipped recipe drew: hard groups, mirror, quarter turns, then captions
    r = np.random.default_rng([recipe.seed, 3, 5])
    idx = T.hard_batch(32, len(images), reps, recipe.hard_group, r, 0.6)
    expected = images[idx]
    if r.random() < 0.5:
        expected = expected.flip(-1)
    expected = torch.rot90(expected, int(r.integers(4)), (-2, -1))
    assert torch.equal(b.images, expected) and torch.equal(b.rows, attrs[idx])
    caps = [T.sample_caption(row, r, recipe)[0] for row in attrs[idx].numpy()]
    assert torch.equal(b.tokens, tokenizer(caps))  # host: compared on the host
    assert b.positives.shape == (32, 32) and bool(b.positives.diagonal().all())  # each image fits its own caption
    # hard groups share all attributes but one: captions about the shared ones fit the whole group
    assert b.positives.sum() > 32

    ahead = StepBatches(lambda st: T.teacher_batch(st, 3, 0.6, pool, recipe, tokenizer), end=8, workers=2)
    for step in (4, 5, 6):
        w = ahead(step)
        inline = T.teacher_batch(step, 3, 0.6, pool, recipe, tokenizer)
        for field in ("images", "rows", "tokens", "positives"):
            assert torch.equal(getattr(w, field), getattr(inline, field)), field


def test_student_views_mirror_turn_and_crop_by_the_step():
    images, _, _ = _pool()
    n = len(images)
    plain = T.Recipe(student_batch=16, student_rotate=True)
    idx, batch = T.student_views(3, images, plain)
    expected = images[idx % n].clone()
    expected[idx >= n] = expected[idx >= n].flip(-1)
    assert torch.equal(batch, T.quarter_turns(expected))

    matched = T.Recipe(student_batch=16, student_rotate=True, student_crop_area=0.35, student_mixup=0.4)
    idx2, views = T.student_views(3, images, matched)
    assert torch.equal(idx2, idx) and views.dtype == torch.float32 and not torch.equal(views, batch.float())
    ahead = StepBatches(lambda st: T.student_views(st, images, matched), end=6, workers=2)
    for step in (0, 1, 2):
        wi, wv = ahead(step)
        ii, iv = T.student_views(step, images, matched)
        assert torch.equal(wi, ii) and torch.equal(wv, iv)


@pytest.mark.slow  # two tiny train() runs on the CPU
def test_training_with_workers_writes_the_same_weights(tmp_path):
    """``train(host_workers=2)``: the teacher's contrastive steps and the student's function-matching steps
    take their batches from worker processes, and teacher and student come out the same as inline."""
    combos = W.all_combinations()
    attrs = torch.tensor([c.indices() for c in combos])
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (len(combos), 3, 64, 64), dtype=torch.uint8, generator=g)
    recipe = T.Recipe(
        pool_replicates=1,
        teacher_steps=3,
        teacher_batch=16,
        teacher_focus_steps=0,
        teacher_rotate=True,
        attribute_weight=1.0,
        student_steps=3,
        student_stop_at=3,
        student_batch=8,
        student_rotate=True,
        student_crop_area=0.5,
        student_mixup=0.4,
        general_steps=0,
    )
    written = {}
    for workers in (0, 2):
        work = tmp_path / f"w{workers}"
        work.mkdir()
        torch.save({"images": images, "attrs": attrs}, work / "pool-train-1234-1-64.pt")
        torch.save({"images": images[:16], "attrs": attrs[:16]}, work / "pool-heldout-999-1-64.pt")
        T.train(work, recipe, work / "out", "cpu", host_workers=workers)
        written[workers] = (torch.load(work / f"{T.TEACHER}.pt"), torch.load(work / "out" / f"{T.STUDENT}.pt"))
    for inline, ahead in zip(written[0], written[2], strict=True):
        assert inline.keys() == ahead.keys()
        assert all(torch.equal(inline[k], ahead[k]) for k in inline)
    start = torch.load(tmp_path / "w0" / "teacher.ckpt.pt", weights_only=False)["step"]
    assert start == 3

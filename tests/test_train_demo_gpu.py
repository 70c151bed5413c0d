"""``scripts/train_demo_gpu.py``: any train-demo-clip recipe, every stage scaled by one factor to fit a deadline."""

from __future__ import annotations

import importlib.util
import io
import json
import tarfile
from pathlib import Path

import pytest
import torch

from infocir.data import demo_world as W
from infocir.models import train_demo as T

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "train_demo_gpu.py"


def _script():
    spec = importlib.util.spec_from_file_location("train_demo_gpu", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FULL = T.Recipe(
    pretrain_steps=3000,
    teacher_steps=1000,
    teacher_focus_steps=0,
    teacher_rounds=((500, 3e-4, 0.1), (1000, 3e-4, 1.0, 0.6)),
    student_rounds=((2400, 5e-4, 0), (6000, 2e-4, 2)),
    general_steps=0,
    attention_focus=(800, 1e-4, 1.0),
)


def test_stages_are_listed_and_scaled_by_hand():
    """Every stage ``train`` runs, with its checkpoint name; scaling touches step counts only."""
    assert T.stage_steps(FULL) == [
        ("teacher-pretrain", 3000),
        ("teacher", 1000),
        ("teacher-round1", 500),
        ("teacher-round2", 1000),
        ("student-round1", 2400),
        ("student-round2", 6000),
        ("attention-focus", 800),
    ]
    # the student's one schedule runs to its stop step; stage 4 and the focus phase when they are on
    default = [("teacher", 1400), ("teacher-focus", 900), ("student", 3000), ("generalise", 1000)]
    assert T.stage_steps(T.Recipe()) == default
    from_file = T.Recipe(teacher_rounds=FULL.teacher_rounds, student_rounds=((2400, 5e-4, 2),), general_steps=0)
    assert T.stage_steps(from_file, teacher_from_file=True) == [("student-round1", 2400)]

    small = T.scaled(FULL, 0.0125, floor=20)  # 3000 → 37.5 → 38, 500 → 6.25 → the floor
    assert small.pretrain_steps == 38 and small.teacher_steps == 20 and small.teacher_focus_steps == 0
    assert small.teacher_rounds == ((20, 3e-4, 0.1), (20, 3e-4, 1.0, 0.6))
    assert small.student_rounds == ((30, 5e-4, 0), (75, 2e-4, 2))
    assert small.attention_focus == (20, 1e-4, 1.0) and small.general_steps == 0
    assert T.scaled(T.Recipe(), 0.5).student_steps == 3000 and T.scaled(T.Recipe(), 0.5).student_stop_at == 1500
    probe = T.with_steps(FULL, lambda _: 4)
    assert {steps for _, steps in T.stage_steps(probe)} == {4} and len(T.stage_steps(probe)) == 7
    assert (probe.student_lr, probe.teacher_batch) == (FULL.student_lr, FULL.teacher_batch)
    with pytest.raises(ValueError, match="factor must be positive"):
        T.scaled(FULL, 0)


def test_the_factor_fits_the_time_left():
    gpu = _script()
    stages = [("teacher", 1000), ("student-round1", 4000)]
    per_step = {"teacher": 0.12, "student-round1": 0.03}  # 120 + 120 s
    assert gpu.fit_factor(stages, per_step, 60.0) == pytest.approx(0.25)
    assert gpu.fit_factor(stages, per_step, 1000.0) == 1.0  # never longer than the recipe
    assert gpu.fit_factor(stages, per_step, -5.0) == 0.0


def test_step_timing_leaves_out_the_first_steps(tmp_path):
    """A probe's seconds per step skip the first ``WARM_STEPS``: on the H200 the first steps of a 30-step probe
    (CUDA start-up, cuDNN autotuning) made a stage that ran at 18 ms a step read 540 ms."""
    assert T.seconds_per_step({"elapsed": 10.0, "step": 30, "warm": (5, 8.0)}) == pytest.approx(2.0 / 25)
    assert T.seconds_per_step({"elapsed": 10.0, "step": 5, "warm": (5, 10.0)}) == pytest.approx(2.0)  # none after
    assert T.seconds_per_step({"elapsed": 10.0, "step": 4, "warm": None}) == pytest.approx(2.5)  # stopped before
    assert T.seconds_per_step({"elapsed": 9.0, "step": 30}) == pytest.approx(0.3)  # checkpoints from before

    # through the loop itself: slow first steps (as a GPU's start-up), then quick ones
    weight = torch.nn.Parameter(torch.zeros(1))
    model = torch.nn.ParameterList([weight])
    delays = [0.15] * T.WARM_STEPS + [0.0] * 20

    def step(st: int) -> torch.Tensor:
        import time

        time.sleep(delays[st])
        return (weight - 1).pow(2).sum()

    T._checkpointed_loop("timed", tmp_path, model, model.parameters(), 25, 0.1, 0.0, step, None, every=25)
    ckpt = torch.load(tmp_path / "timed.ckpt.pt", weights_only=False)
    assert ckpt["step"] == 25 and ckpt["warm"][0] == T.WARM_STEPS and ckpt["warm"][1] >= 0.15 * T.WARM_STEPS
    assert ckpt["elapsed"] / 25 >= 0.03 and T.seconds_per_step(ckpt) < 0.02


def test_the_script_refuses_what_it_cannot_run(tmp_path, capsys):
    gpu = _script()
    for argv, says in (
        (["--deadline", "100", "--reserve", "150"], "longer than --reserve"),
        (["--from-shipped"], "not a deadline run"),
        (["--teacher-rounds", "5:1e-3:1", "--student-rounds", "5:1e-3:3"], "teacher stage"),
        (["--factor", "1.5"], "--factor must be in"),
    ):
        with pytest.raises(SystemExit) as e:
            gpu.main(["--out", str(tmp_path / "out"), "--workdir", str(tmp_path / "w"), *argv])
        assert e.value.code == 2
        assert says in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    # train-demo-clip's own refusal: a teacher trained here cannot also come from the shipped run or a file
    for extra in (["--from-shipped"], ["--teacher-weights", str(tmp_path / "t.pt")]):
        with pytest.raises(SystemExit) as e:
            T.main(["--teacher-only", "--workdir", str(tmp_path / "w"), *extra])
        assert e.value.code == 2 and "--teacher-only trains the teacher" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def _seed_pools(work: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Random uint8 pools where ``train`` would render them (the test times orchestration, not learning)."""
    combos = W.all_combinations()
    attrs = torch.tensor([c.indices() for c in combos])
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (len(combos), 3, 64, 64), dtype=torch.uint8, generator=g)
    work.mkdir(parents=True)
    torch.save({"images": images, "attrs": attrs}, work / "pool-train-1234-1-64.pt")
    torch.save({"images": images[:32], "attrs": attrs[:32]}, work / "pool-heldout-999-1-64.pt")
    return images[:48], attrs[:48]


@pytest.mark.slow  # two tiny train() runs (the probe and the scaled recipe) on the CPU
def test_the_script_probes_scales_trains_evaluates_and_packs(tmp_path, monkeypatch):
    """On the CPU with a teacher from a file: the probe times each stage, the recipe runs (a deadline
    far off: unscaled), teacher and student are scored on both renderers, the student is packed."""
    gpu = _script()
    work, out = tmp_path / "work", tmp_path / "out"
    held = _seed_pools(work)
    rendered = []
    monkeypatch.setattr(gpu, "heldout_images", lambda renderer, *a: (rendered.append(renderer), held)[1])
    teacher = load_teacher_file(tmp_path / "teacher.pt")
    argv = ["--out", str(out), "--workdir", str(work), "--device", "cpu", "--replicates", "1", "--no-phi"]
    argv += ["--teacher-weights", str(teacher), "--student-rotate", "--general-steps", "0", "--student-batch", "8"]
    argv += ["--student-rounds", "6:1e-3:0", "--student-crop-area", "0.5", "--probe-steps", "2"]
    argv += ["--deadline", "100000", "--reserve", "60"]
    assert gpu.main(argv) == 0

    assert rendered == ["independent", "standard"]
    report = json.loads((out / "eval.json").read_text())
    assert report["factor"] == 1.0 and report["stages"] == {"student-round1": 6}
    assert set(report["probe_ms_per_step"]) == {"student-round1"} and report["probe_ms_per_step"]["student-round1"] > 0
    probe_ckpt = torch.load(work / "probe" / "student-round1.ckpt.pt", weights_only=False)
    assert probe_ckpt["step"] == 2 and torch.load(work / "student-round1.ckpt.pt", weights_only=False)["step"] == 6
    for who in ("teacher", "student"):
        for renderer in ("independent", "standard"):
            scores = report[who][renderer]
            assert 0 <= scores["zero_shot_shape"] <= 1
            assert set(scores["shapes"]["by_shape"]) == {"circle"}  # the 48 images given: the first combinations
    parts = sorted(out.glob("weights.tar.part-*"))
    with tarfile.open(fileobj=io.BytesIO(b"".join(p.read_bytes() for p in parts))) as tf:
        names = tf.getnames()
        student = torch.load(io.BytesIO(tf.extractfile(f"{T.STUDENT}.pt").read()))  # type: ignore[union-attr]
    assert names == [f"{T.STUDENT}.pt", f"{T.STUDENT}.manifest.json"]  # the teacher came from a file
    assert next(iter(student.values())).dtype == torch.float16
    assert "factor 1.000" in (out / "log.txt").read_text()


def load_teacher_file(path: Path) -> Path:
    """A randomly initialised teacher saved the way ``save_teacher`` writes one."""
    from infocir.models.encoders import load_clip

    T.save_teacher(load_clip(T.TEACHER, None, preprocess="clip", device="cpu", precision="fp32"), path)
    return path


def test_no_time_left_after_the_probe_stops_with_a_message(tmp_path, monkeypatch, caplog):
    gpu = _script()
    work = tmp_path / "work"
    held = _seed_pools(work)
    monkeypatch.setattr(gpu, "heldout_images", lambda *a: held)
    monkeypatch.setattr(gpu, "fit_factor", lambda *a: 0.0)  # the probe used the time up
    teacher = load_teacher_file(tmp_path / "teacher.pt")
    argv = ["--out", str(tmp_path / "out"), "--workdir", str(work), "--device", "cpu", "--replicates", "1"]
    argv += ["--teacher-weights", str(teacher), "--student-rotate", "--general-steps", "0", "--student-batch", "8"]
    argv += ["--student-rounds", "6:1e-3:0", "--probe-steps", "2", "--no-phi"]
    assert gpu.main(argv) == 2
    assert "no time is left to train after the probe" in caplog.text
    assert not (work / "student-round1.ckpt.pt").exists() and not list((tmp_path / "out").glob("weights*"))


def test_a_given_factor_skips_the_probe(tmp_path, monkeypatch):
    """``--factor``: no probe (its time goes to training), every stage scaled by the factor given."""
    gpu = _script()
    work, out = tmp_path / "work", tmp_path / "out"
    held = _seed_pools(work)
    monkeypatch.setattr(gpu, "heldout_images", lambda *a: held)
    monkeypatch.setattr(gpu, "probe_stages", lambda *a: pytest.fail("probed although a factor was given"))
    teacher = load_teacher_file(tmp_path / "teacher.pt")
    argv = ["--out", str(out), "--workdir", str(work), "--device", "cpu", "--replicates", "1", "--no-phi"]
    argv += ["--teacher-weights", str(teacher), "--student-rotate", "--general-steps", "0", "--student-batch", "8"]
    argv += ["--student-rounds", "8:1e-3:0", "--factor", "0.5", "--probe-steps", "2"]
    assert gpu.main(argv) == 0
    report = json.loads((out / "eval.json").read_text())
    assert report["factor"] == 0.5 and report["stages"] == {"student-round1": 4} and report["probe_ms_per_step"] == {}
    assert not (work / "probe").exists()
    assert torch.load(work / "student-round1.ckpt.pt", weights_only=False)["step"] == 4


@pytest.mark.slow  # a tiny teacher trained on the CPU
def test_teacher_only_trains_scores_and_packs_the_teacher_alone(tmp_path, monkeypatch):
    """``--teacher-only``: the probe times the teacher's stages alone, they run, the student's do not, the
    teacher alone is scored and packed, and the same recipe run again goes on with the student."""
    gpu = _script()
    work, out = tmp_path / "work", tmp_path / "out"
    held = _seed_pools(work)
    monkeypatch.setattr(gpu, "heldout_images", lambda *a: held)
    recipe = ["--device", "cpu", "--replicates", "1", "--no-phi", "--teacher-steps", "4", "--teacher-batch", "16"]
    recipe += ["--teacher-focus-steps", "0", "--teacher-rounds", "4:1e-3:1", "--student-rotate", "--general-steps", "0"]
    recipe += ["--student-rounds", "4:1e-3:1", "--student-batch", "8", "--probe-steps", "2"]
    argv = ["--out", str(out), "--workdir", str(work), *recipe]
    # neither the masked renders of the look term nor stage 4's varied renders: the student's alone
    first = [*argv, "--student-look", "0.5", "--general-steps", "5", "--teacher-only", "--deadline", "100000"]
    assert gpu.main(first) == 0
    report = json.loads((out / "eval.json").read_text())
    assert report["stages"] == {"teacher": 4, "teacher-round1": 4} and report["factor"] == 1.0
    assert set(report["probe_ms_per_step"]) == {"teacher", "teacher-round1"}
    assert "student" not in report and 0 <= report["teacher"]["independent"]["zero_shot_shape"] <= 1
    assert not (work / "student-round1.ckpt.pt").exists()
    assert sorted(p.name for p in work.glob("pool-*")) == ["pool-heldout-999-1-64.pt", "pool-train-1234-1-64.pt"]
    parts = sorted(out.glob("weights.tar.part-*"))
    with tarfile.open(fileobj=io.BytesIO(b"".join(p.read_bytes() for p in parts))) as tf:
        assert tf.getnames() == [f"{T.TEACHER}.pt"]
    assert T.teacher_stage_path(work, 1).exists()  # the stage the student round names is kept

    # the same recipe again, without --teacher-only: the teacher's stages are done, the student trains
    with pytest.raises(SystemExit) as e:
        gpu.main([*argv, "--teacher-weights", str(work / f"{T.TEACHER}.pt"), "--teacher-only"])
    assert e.value.code == 2
    assert gpu.main([*argv, "--factor", "0.5"]) == 0
    assert torch.load(work / "student-round1.ckpt.pt", weights_only=False)["step"] == 2
    assert torch.load(work / "teacher.ckpt.pt", weights_only=False)["step"] == 4  # not trained again

"""Issue 21: ``build-index --distributed ray`` builds, on Ray Data with a pool of model actors, the index the
single-process build writes (same rows, order, paths, failures and features; the same manifest but for how it was
made), resumes an unfinished build, and reports a missing Ray or a worker with other weights in one line.

The Ray tests share one local Ray of 2 CPUs (started by ``ray_session`` as the CLI starts it: ~5-10 s on 2 cores);
each build starts its own pool of actors (~5 s: each imports torch and loads the model)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest

import infocir.index.store as store
from conftest import make_image_folder, tiny_config
from infocir.cli import main
from infocir.data.scan import scan_dataset
from infocir.engine import bundle_for
from infocir.index.distributed import ActorPlan, RayBuildError, RayIndexBuilder, plan_actors
from infocir.index.store import build_index, load_index, load_or_build
from infocir.models.encoders import ModelLoadError

CHUNK, BATCH = 4, 2  # 15 images: 4 chunks of 2 batches, so both actors get chunks and a failure sits mid-batch


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray with 2 CPUs for the module, started and stopped by the build's own ``ray_session``."""
    ray = pytest.importorskip("ray")  # the test extra installs it; without the distributed extra nothing can run
    from infocir.index.distributed import ray_session

    assert not ray.is_initialized()
    with ray_session(None, num_cpus=2):
        assert ray.cluster_resources().get("CPU") == 2
        yield ray
    assert not ray.is_initialized()  # what ray_session started it shuts down


@pytest.fixture
def world(tmp_path: Path):
    """15 demo shapes (one of them truncated: undecodable) with the tiny model: (config, bundle, scan, bad id)."""
    data = make_image_folder(tmp_path / "data", per_class=5)
    bad = data / "square" / "square_01.png"
    with open(bad, "r+b") as f:
        f.truncate(60)  # the header still parses, the pixel data does not
    cfg = tiny_config(data, tmp_path / "cache", **{"index.chunk_size": CHUNK, "index.batch_size": BATCH})
    return cfg, bundle_for(cfg), scan_dataset(data), "square/square_01.png"


def _same_index(local_dir: Path, ray_dir: Path, bad: str) -> None:
    a, b = load_index(local_dir), load_index(ray_dir)
    assert b.ids == a.ids and b.paths == a.paths and b.classes == a.classes
    assert bad not in b.ids and len(b) == 14
    assert isinstance(b.features, np.memmap) and b.features.dtype == np.float16  # the same memory-mapped format
    # The actors run torch on 1 thread, this process on all cores: the float32 sums may be ordered differently, so
    # a float16 value could round one step apart (≤ 4.9e-4 below 1).  In practice the files are byte-identical.
    np.testing.assert_allclose(
        np.asarray(b.features, np.float32), np.asarray(a.features, np.float32), rtol=0, atol=1e-3
    )
    np.testing.assert_allclose(b.norms, a.norms, rtol=1e-5)
    ma, mb = asdict(a.manifest), asdict(b.manifest)
    assert mb["failed"] == ma["failed"] and [f[0] for f in mb["failed"]] == [bad]
    assert mb["checksums"]["metadata.csv"] == ma["checksums"]["metadata.csv"]
    differ = {"created", "source", "checksums"}  # when and how it was made; features' bytes: see above
    assert {k: v for k, v in mb.items() if k not in differ} == {k: v for k, v in ma.items() if k not in differ}


def test_ray_build_with_two_actors_equals_the_single_process_build(ray_local, world, tmp_path):
    cfg, bundle, scan, bad = world
    build_index(bundle, scan, tmp_path / "local", batch_size=BATCH, chunk_size=CHUNK, progress=False, num_workers=0)
    builder = RayIndexBuilder(cfg.model, workers=2)
    m = builder.build(bundle, scan, tmp_path / "ray", batch_size=BATCH, chunk_size=CHUNK, progress=False)
    _same_index(tmp_path / "local", tmp_path / "ray", bad)
    # the work ran in two actor processes, neither of them this one
    pids = {pid for _, pid in builder.actors}
    assert len(pids) == 2 and os.getpid() not in pids
    assert m.source == {
        "encoder": "ray",
        "chunks": 4,
        "chunks_resumed": 0,
        "ray": ray_local.__version__,
        "address": "local",
        "nodes": 1,
        "actors": 2,
        "device": "cpu",
    }
    assert json.loads((tmp_path / "ray" / "manifest.json").read_text())["source"]["encoder"] == "ray"
    assert not (tmp_path / "ray" / ".partial").exists()

    def no_rebuild(*a, **k):
        raise AssertionError("the Ray-built index has the single-process key: it is reused, not rebuilt")

    assert (
        load_or_build(bundle, scan, tmp_path / "ray", progress=False, builder=no_rebuild).ids
        == load_index(tmp_path / "local").ids
    )


def test_ray_build_resumes_an_interrupted_single_process_build(ray_local, world, tmp_path, monkeypatch):
    cfg, bundle, scan, bad = world
    real, calls = store.encode_pixels, []

    def interrupted(b, pixels):
        calls.append(1)
        if len(calls) == 5:  # Ctrl-C in the third chunk: chunks 0 and 1 are saved
            raise KeyboardInterrupt
        return real(b, pixels)

    monkeypatch.setattr(store, "encode_pixels", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_index(bundle, scan, tmp_path / "ray", batch_size=BATCH, chunk_size=CHUNK, progress=False, num_workers=0)
    monkeypatch.setattr(store, "encode_pixels", real)
    assert sorted(p.name for p in (tmp_path / "ray" / ".partial").glob("chunk_*")) == [
        "chunk_00000.npz",
        "chunk_00001.npz",
    ]
    m = RayIndexBuilder(cfg.model, workers=2).build(
        bundle, scan, tmp_path / "ray", batch_size=BATCH, chunk_size=CHUNK, progress=False
    )
    assert m.source["chunks_resumed"] == 2 and m.source["chunks"] == 4
    build_index(bundle, scan, tmp_path / "local", batch_size=BATCH, chunk_size=CHUNK, progress=False, num_workers=0)
    _same_index(tmp_path / "local", tmp_path / "ray", bad)


def _cli_args(cfg, *extra: str) -> list[str]:
    return [
        "build-index",
        "--dataset",
        cfg.dataset.root,
        "--model",
        "InfoCIR-Tiny-ViT",
        "--pretrained",
        "",
        "--set",
        "model.preprocess=clip",
        "--set",
        f"index.cache_dir={cfg.index.cache_dir}",
        "--set",
        f"index.chunk_size={CHUNK}",
        "--set",
        f"index.batch_size={BATCH}",
        *extra,
    ]


def test_cli_builds_with_ray(ray_local, world, capsys):
    cfg, bundle, scan, bad = world
    assert main(_cli_args(cfg, "--distributed", "ray", "--ray-workers", "2")) == 0
    out = capsys.readouterr().out
    assert "Index ready: 14 images" in out and bad in out  # the one report, with the undecodable file
    out_dir = store.index_dir_for(cfg.cache_dir, scan.root, bundle.name)
    assert load_index(out_dir).manifest.source["actors"] == 2


def test_cli_without_ray_says_how_to_install_it(world, monkeypatch, capsys):
    cfg = world[0]
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # `import ray` fails as if it were not installed
    assert main(_cli_args(cfg, "--distributed", "ray")) == 1
    err = capsys.readouterr().err
    assert "pip install 'infocir[distributed]'" in err and "Traceback" not in err


def test_cli_ray_options_need_distributed_ray(world, capsys):
    assert main(_cli_args(world[0], "--address", "auto")) == 2
    assert "--distributed ray" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(_cli_args(world[0], "--distributed", "ray", "--ray-workers", "0"))


def test_cli_says_when_no_cluster_answers_at_the_address(world, capsys):
    pytest.importorskip("ray")
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(_cli_args(world[0], "--distributed", "ray", "--address", f"127.0.0.1:{port}")) == 1
    err = capsys.readouterr().err
    assert f"Could not reach the Ray cluster at '127.0.0.1:{port}'" in err and "ray start --head" in err
    assert "Traceback" not in err


def test_actor_pool_follows_the_cluster_resources():
    two_cpus = [{"CPU": 2.0, "memory": 1e9}]
    assert plan_actors(two_cpus, "auto", None) == ActorPlan(2, "cpu", 1, 0, 1, 0)
    assert plan_actors(two_cpus, "auto", 1) == ActorPlan(1, "cpu", 2, 0, 2, 0)  # one actor: both cores' threads
    uneven = [{"CPU": 16.0}, {"CPU": 4.0}]
    assert plan_actors(uneven, "auto", 2).num_cpus == 8  # 10 each would not fit on the 4-CPU node: 8 + 8 on one
    assert plan_actors(uneven, "auto", 5).num_cpus == 4  # 4 on the 16-CPU node, 1 on the other
    gpus = [{"CPU": 16.0, "GPU": 2.0}, {"CPU": 8.0, "GPU": 1.0}]
    assert plan_actors(gpus, "auto", None) == ActorPlan(3, "cuda", 8, 1, 1, 7)  # one per GPU, CPUs per GPU
    assert plan_actors(gpus, "cpu", None).device == "cpu"  # model.device=cpu keeps the GPUs out
    assert plan_actors(gpus, "auto", 2, num_workers=2).decode_workers == 2  # index.num_workers, when set
    with pytest.raises(RayBuildError, match="reports none"):
        plan_actors(two_cpus, "cuda", None)
    with pytest.raises(RayBuildError, match="3 actors"):
        plan_actors(two_cpus, "auto", 3)
    with pytest.raises(RayBuildError, match="GPU"):
        plan_actors(gpus, "auto", 4)


def test_a_worker_with_other_weights_is_refused_in_one_line(ray_local, world, tmp_path):
    """(Last of the module: the refused pool's actors are released by garbage collection, after the build's
    error has gone, and hold the 2 CPUs until then.)"""
    cfg, bundle, scan, _ = world
    other = replace(cfg.model, seed=7)  # other random weights than the driver's bundle
    with pytest.raises(ModelLoadError, match="is not the driver's"):
        RayIndexBuilder(other, workers=1).build(bundle, scan, tmp_path / "idx", chunk_size=CHUNK, progress=False)
    assert not (tmp_path / "idx" / "manifest.json").exists()

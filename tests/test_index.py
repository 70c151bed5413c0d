import json
import os

import numpy as np
import pytest

import infocir.index.store as store
from conftest import tiny_config
from infocir.data.scan import scan_dataset
from infocir.engine import bundle_for
from infocir.index.manifest import CacheCorruptError
from infocir.index.store import build_index, load_index, load_or_build


@pytest.fixture
def setup(tiny_cfg, tmp_path):
    bundle = bundle_for(tiny_cfg)
    scan = scan_dataset(tiny_cfg.dataset.root)
    return bundle, scan, tmp_path / "idx"


def test_build_writes_separate_files_and_a_manifest(setup):
    bundle, scan, out = setup
    m = build_index(bundle, scan, out, dtype="float16", batch_size=4, chunk_size=4, progress=False)
    assert {p.name for p in out.iterdir()} == {"features.npy", "norms.npy", "metadata.csv", "manifest.json"}
    assert m.count == 12 and m.dim == bundle.embed_dim
    d = json.loads((out / "manifest.json").read_text())
    assert d["key"]["model_name"] == bundle.name and d["key"]["preprocess"] == "clip"
    assert d["key"]["weights_hash"] == bundle.weights_hash and d["key"]["format_version"] == 1
    feats = np.load(out / "features.npy")
    assert feats.dtype == np.float16
    np.testing.assert_allclose(np.linalg.norm(feats.astype(np.float32), axis=1), 1.0, atol=2e-3)
    idx = load_index(out)
    assert idx.ids == [r.id for r in scan.records] and idx.classes[0] == "Circle"


def test_reload_reuses_and_mismatch_rebuilds(setup, monkeypatch, caplog, tiny_cfg, tmp_path):
    bundle, scan, out = setup
    load_or_build(bundle, scan, out, progress=False)
    calls = []
    real = store.build_index
    monkeypatch.setattr(store, "build_index", lambda *a, **k: calls.append(1) or real(*a, **k))
    load_or_build(bundle, scan, out, progress=False)
    assert calls == []  # same key: reused
    other = bundle_for(tiny_config(tiny_cfg.dataset.root, tmp_path / "c2", **{"model.seed": 7}))
    assert other.weights_hash != bundle.weights_hash
    with caplog.at_level("WARNING"):
        idx = load_or_build(other, scan, out, progress=False)
    assert calls == [1] and "weights_hash" in caplog.text
    assert idx.manifest.key.weights_hash == other.weights_hash
    # A changed folder (new image) changes the fingerprint and rebuilds too.
    src = next((tiny_cfg_root := scan.root).glob("star/*.png"))
    (tiny_cfg_root / "star" / "star_new.png").write_bytes(src.read_bytes())
    idx = load_or_build(other, scan_dataset(scan.root), out, progress=False)
    assert calls == [1, 1] and len(idx) == 13


def test_corrupt_file_gives_a_clear_error(setup):
    bundle, scan, out = setup
    load_or_build(bundle, scan, out, progress=False)
    (out / "features.npy").write_bytes(b"garbage")
    with pytest.raises(CacheCorruptError) as e:
        load_or_build(bundle, scan, out, progress=False)
    assert "features.npy" in str(e.value) and "build-index --rebuild" in str(e.value)
    # --rebuild repairs it
    assert len(load_or_build(bundle, scan, out, rebuild=True, progress=False)) == 12
    (out / "manifest.json").write_text("{not json")
    with pytest.raises(CacheCorruptError, match="manifest"):
        load_index(out)


def test_interrupted_build_resumes(setup, monkeypatch):
    bundle, scan, out = setup
    real = store.encode_pixels
    calls = []

    def flaky(b, pixels):
        calls.append(len(pixels))
        if len(calls) == 2:
            raise KeyboardInterrupt  # the user pressed Ctrl-C during the second chunk
        return real(b, pixels)

    monkeypatch.setattr(store, "encode_pixels", flaky)
    with pytest.raises(KeyboardInterrupt):
        build_index(bundle, scan, out, batch_size=4, chunk_size=4, progress=False)
    assert not (out / "manifest.json").exists()
    assert sorted(p.name for p in (out / ".partial").glob("chunk_*")) == ["chunk_00000.npz"]
    calls.clear()
    monkeypatch.setattr(store, "encode_pixels", lambda b, pixels: calls.append(len(pixels)) or real(b, pixels))
    build_index(bundle, scan, out, batch_size=4, chunk_size=4, progress=False)
    assert calls == [4, 4]  # 12 images in chunks of 4: the first chunk was not encoded again
    full = load_index(out)
    ref = build_index(bundle, scan, out.parent / "fresh", batch_size=4, chunk_size=4, progress=False)
    np.testing.assert_allclose(full.features, load_index(out.parent / "fresh").features, atol=1e-3)
    assert ref.count == full.manifest.count


def test_undecodable_image_is_left_out_of_the_index(setup):
    bundle, scan, out = setup
    bad = scan.records[0]
    open(bad.path, "r+b").truncate(60)  # header still parses, pixel data does not
    m = build_index(bundle, scan, out, batch_size=4, chunk_size=4, progress=False)
    idx = load_index(out)
    assert m.count == 11 and bad.id not in idx.ids and m.skipped == 1


def test_decoding_workers_build_the_same_index(setup, monkeypatch, tmp_path):
    """Issue 13: decoding in DataLoader worker processes (index.num_workers > 0) gives the index that
    decoding in the main process gives: same rows in the same order, same features, same failures."""
    bundle, scan, out = setup
    bad = scan.records[5]
    open(bad.path, "r+b").truncate(60)  # a failure decoded in a worker is reported, not raised
    decoders = tmp_path / "decoders"
    decoders.mkdir()
    real_getitem = store.DecodedImages.__getitem__

    def noting_pid(self, i):  # each decode leaves its process id behind (workers are other processes)
        (decoders / str(os.getpid())).touch()
        return real_getitem(self, i)

    monkeypatch.setattr(store.DecodedImages, "__getitem__", noting_pid)
    built, pids = {}, {}
    for workers in (0, 2):
        m = build_index(
            bundle, scan, out / str(workers), batch_size=2, chunk_size=4, progress=False, num_workers=workers
        )
        built[workers] = (m, load_index(out / str(workers)))
        pids[workers] = {p.name for p in decoders.iterdir()}
        for p in decoders.iterdir():
            p.unlink()
    assert pids[0] == {str(os.getpid())}
    assert len(pids[2]) == 2 and str(os.getpid()) not in pids[2]  # two worker processes did the decoding
    (m0, idx0), (m2, idx2) = built[0], built[2]
    assert idx2.ids == idx0.ids == [r.id for r in scan.records if r.id != bad.id]
    np.testing.assert_allclose(
        np.asarray(idx2.features, np.float32), np.asarray(idx0.features, np.float32), rtol=0, atol=1e-3
    )
    assert m2.count == m0.count == 11 and m2.skipped == m0.skipped == 1
    assert [f[0] for f in m2.failed] == [f[0] for f in m0.failed] == [bad.id]


@pytest.mark.parametrize(
    ("cores", "device", "expected"),
    [
        (2, "cpu", 0),  # 2 cores: decoding in the main process measured fastest (README)
        (16, "cpu", 4),  # more cores: half of them, at most 4, beside the encoder
        (2, "cuda", 1),  # with a GPU the cores only decode: all but one, at least one ...
        (16, "cuda", 15),  # ... at most 16
        (None, "cpu", 0),  # os.cpu_count() may answer None
    ],
)
def test_auto_num_workers_by_cores_and_device(monkeypatch, cores, device, expected):
    monkeypatch.setattr(store.os, "cpu_count", lambda: cores)
    assert store.auto_num_workers(device) == expected

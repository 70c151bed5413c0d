"""Caches: damaged manifests, half-written build chunks, concurrent builds, tampered features, short maps.

Category "caches" of the tally: every parametrised case is one bad input.
"""

from __future__ import annotations

import io
import json
import threading

import numpy as np
import pytest

import infocir.index.store as store
from infocir.data.scan import scan_dataset
from infocir.engine import bundle_for
from infocir.index.manifest import CacheCorruptError, IndexManifest
from infocir.index.store import build_index, load_index, load_or_build


@pytest.fixture
def setup(tiny_cfg, tmp_path):
    return bundle_for(tiny_cfg), scan_dataset(tiny_cfg.dataset.root), tmp_path / "idx"


# ----------------------------------------------------------------------------- 4. manifest JSON of the wrong type
def _valid_manifest() -> dict:
    return {
        "key": {
            "model_name": "m",
            "weights_hash": "w",
            "preprocess": "clip",
            "dataset_fingerprint": "f",
            "dtype": "float16",
            "format_version": 1,
        },
        "dataset_root": "/d",
        "count": 3,
        "dim": 4,
        "skipped": 0,
        "created": "now",
    }


def _with(**changes) -> dict:
    d = _valid_manifest()
    for k, v in changes.items():
        if k.startswith("key_"):
            d["key"][k[4:]] = v
        elif v is ...:
            del d[k]
        else:
            d[k] = v
    return d


BAD_MANIFESTS = {
    "null": None,
    "number": 42,
    "string": "manifest",
    "list": [1, 2],
    "true": True,
    "empty-object": {},
    "key-null": _with(key=None),
    "key-number": _with(key=7),
    "key-list": _with(key=["m"]),
    "count-string": _with(count="3"),
    "count-negative": _with(count=-1),
    "count-float": _with(count=2.5),
    "count-bool": _with(count=True),
    "dim-null": _with(dim=None),
    "root-number": _with(dataset_root=5),
    "source-list": _with(source=[1]),
    "missing-count": _with(count=...),
    "unknown-field": _with(colour="red"),
    "model-name-number": _with(key_model_name=3),
    "format-version-string": _with(key_format_version="1"),
}


@pytest.mark.parametrize("name", list(BAD_MANIFESTS))
def test_manifest_of_the_wrong_type_is_a_corrupt_cache(tmp_path, name):
    p = tmp_path / "manifest.json"
    p.write_text(json.dumps(BAD_MANIFESTS[name]))
    with pytest.raises(CacheCorruptError, match="build-index --rebuild"):
        IndexManifest.read(p)


def test_valid_manifest_still_reads(tmp_path):
    p = tmp_path / "manifest.json"
    p.write_text(json.dumps(_valid_manifest()))
    assert IndexManifest.read(p).count == 3


@pytest.mark.parametrize("content", ["null", "42", '"text"'])
def test_load_or_build_names_the_corrupt_manifest_and_rebuild_repairs_it(setup, content):
    bundle, scan, out = setup
    load_or_build(bundle, scan, out, progress=False)
    (out / "manifest.json").write_text(content)
    with pytest.raises(CacheCorruptError, match="manifest"):
        load_or_build(bundle, scan, out, progress=False)
    assert len(load_or_build(bundle, scan, out, rebuild=True, progress=False)) == 12


# ----------------------------------------------------------------------------- 5. damaged .partial chunks
def _interrupt_after_first_chunk(bundle, scan, out, monkeypatch):
    real = store.encode_pixels
    calls = []

    def flaky(b, pixels):
        calls.append(len(pixels))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(b, pixels)

    monkeypatch.setattr(store, "encode_pixels", flaky)
    with pytest.raises(KeyboardInterrupt):
        build_index(bundle, scan, out, batch_size=4, chunk_size=4, progress=False)
    monkeypatch.setattr(store, "encode_pixels", real)
    chunk = out / ".partial" / "chunk_00000.npz"
    assert chunk.exists()
    return chunk


def _truncate(p):
    p.write_bytes(p.read_bytes()[:100])


def _garbage(p):
    p.write_bytes(b"not a zip at all")


def _empty(p):
    p.write_bytes(b"")


def _wrong_arrays(p):
    buf = io.BytesIO()
    np.savez(buf, other=np.zeros(3))
    p.write_bytes(buf.getvalue())


def _rows_of_another_chunk(p):
    with np.load(p) as z:
        feats, failed = z["feats"], z["failed"]
    buf = io.BytesIO()
    np.savez(buf, feats=feats, keep=np.arange(100, 100 + len(feats)), failed=failed)
    p.write_bytes(buf.getvalue())


def _wrong_dim(p):
    with np.load(p) as z:
        keep, failed = z["keep"], z["failed"]
    buf = io.BytesIO()
    np.savez(buf, feats=np.zeros((len(keep), 3), np.float32), keep=keep, failed=failed)
    p.write_bytes(buf.getvalue())


DAMAGE = {
    "truncated": _truncate,
    "garbage": _garbage,
    "empty": _empty,
    "wrong-arrays": _wrong_arrays,
    "rows-out-of-range": _rows_of_another_chunk,
    "wrong-dim": _wrong_dim,
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_chunk_is_discarded_on_resume(setup, monkeypatch, damage):
    bundle, scan, out = setup
    DAMAGE[damage](_interrupt_after_first_chunk(bundle, scan, out, monkeypatch))
    build_index(bundle, scan, out, batch_size=4, chunk_size=4, progress=False)
    fresh = out.parent / "fresh"
    build_index(bundle, scan, fresh, batch_size=4, chunk_size=4, progress=False)
    np.testing.assert_allclose(load_index(out).features, load_index(fresh).features, atol=1e-3)


def test_rebuild_clears_the_partial_build(setup, monkeypatch):
    bundle, scan, out = setup
    _truncate(_interrupt_after_first_chunk(bundle, scan, out, monkeypatch))
    calls = []
    real = store.encode_pixels
    monkeypatch.setattr(store, "encode_pixels", lambda b, px: calls.append(len(px)) or real(b, px))
    assert len(load_or_build(bundle, scan, out, rebuild=True, progress=False, batch_size=4, chunk_size=4)) == 12
    assert calls == [4, 4, 4]  # --rebuild encodes everything again, the half-written chunk included
    assert not (out / ".partial").exists()


# ----------------------------------------------------------------------------- 6. two builds at once
def test_second_build_while_one_runs_gets_a_clear_message(setup):
    bundle, scan, out = setup
    with store.BuildLock(out):
        with pytest.raises(store.BuildLockedError, match="another build") as e:
            build_index(bundle, scan, out, batch_size=4, chunk_size=4, progress=False)
    assert str(out) in str(e.value)
    build_index(bundle, scan, out, batch_size=4, chunk_size=4, progress=False)  # released: builds
    assert not (out / ".build.lock").exists()


def test_concurrent_builds_one_builds_the_other_is_told(setup, monkeypatch):
    bundle, scan, out = setup
    real = store.encode_pixels
    started = threading.Event()

    def slow(b, px):
        started.set()
        threading.Event().wait(0.3)
        return real(b, px)

    monkeypatch.setattr(store, "encode_pixels", slow)
    errors: list[BaseException] = []

    def run():
        try:
            build_index(bundle, scan, out, batch_size=4, chunk_size=4, progress=False)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    first = threading.Thread(target=run)
    first.start()
    assert started.wait(30)
    second = threading.Thread(target=run)
    second.start()
    first.join(60)
    second.join(60)
    assert len(errors) == 1 and isinstance(errors[0], store.BuildLockedError), errors
    assert len(load_index(out)) == 12


@pytest.mark.parametrize("content", ["pid 999999999 on this-host since 2020-01-01", "", "\x00\xff garbage"])
def test_stale_lock_from_a_dead_build_is_recovered(setup, caplog, content):
    bundle, scan, out = setup
    out.mkdir(parents=True)
    (out / ".build.lock").write_bytes(content.encode("latin-1"))  # the same bytes whatever the locale
    with caplog.at_level("WARNING"):
        build_index(bundle, scan, out, batch_size=4, chunk_size=4, progress=False)
    assert len(load_index(out)) == 12 and "stale" in caplog.text


# ----------------------------------------------------------------------------- 11. features.npy checksum
def _tamper(out, name, fn):
    arr = np.load(out / name)
    buf = io.BytesIO()
    np.save(buf, fn(arr))
    (out / name).write_bytes(buf.getvalue())


def _nan(a):
    a = a.copy()
    a[3, 0] = np.nan
    return a


def _one_row(a):
    a = a.copy()
    a[5] = a[6]
    return a


TAMPER = {
    "features-nan": ("features.npy", _nan),
    "features-reversed": ("features.npy", lambda a: a[::-1]),
    "features-shuffled": ("features.npy", lambda a: a[np.random.default_rng(0).permutation(len(a))]),
    "features-one-row-copied": ("features.npy", _one_row),
    "features-float32": ("features.npy", lambda a: a.astype(np.float32)),
    "norms-reversed": ("norms.npy", lambda a: a[::-1]),
}


@pytest.mark.parametrize("name", list(TAMPER))
def test_tampered_features_do_not_load_silently(setup, name):
    bundle, scan, out = setup
    load_or_build(bundle, scan, out, progress=False)
    file, fn = TAMPER[name]
    _tamper(out, file, fn)
    with pytest.raises(CacheCorruptError, match=file.replace(".", r"\.")) as e:
        load_index(out)
    assert "build-index --rebuild" in str(e.value)
    assert len(load_or_build(bundle, scan, out, rebuild=True, progress=False)) == 12


def test_metadata_rows_swapped_do_not_load_silently(setup):
    bundle, scan, out = setup
    load_or_build(bundle, scan, out, progress=False)
    lines = (out / "metadata.csv").read_text().splitlines(keepends=True)
    lines[1], lines[2] = lines[2], lines[1]
    (out / "metadata.csv").write_text("".join(lines))
    with pytest.raises(CacheCorruptError, match="metadata.csv"):
        load_index(out)


def test_manifest_records_the_checksums(setup):
    bundle, scan, out = setup
    m = build_index(bundle, scan, out, batch_size=4, chunk_size=4, progress=False)
    assert set(m.checksums) == {"features.npy", "norms.npy", "metadata.csv"}
    assert all(len(v) == 64 for v in m.checksums.values())


# ----------------------------------------------------------------------------- 7. map cache against the index
def _map_service(tmp_path):
    import infocir.projection.embedding_map as EM
    from infocir.config import UMAPConfig
    from infocir.index.manifest import IndexKey

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)

    class _Index:
        features = x
        manifest = IndexManifest(IndexKey("m", "w", "clip", "fp", "float32"), "/d", len(x), x.shape[1], 0, "")

        def __len__(self):
            return len(x)

    class _Engine:
        index = _Index()

    cfg = UMAPConfig(n_epochs=20, n_neighbors=5, pca_components=0, alternative_projection="ica")
    out = EM.map_dir(tmp_path, cfg)
    return EM, (lambda: EM.MapService(_Engine(), cfg, out)), out, len(x)


def _short(c):
    return c[:-5]


def _nan_coords(c):
    c = c.copy()
    c[0, 1] = np.nan
    return c


MAP_DAMAGE = {
    "fewer-rows": _short,
    "more-rows": lambda c: np.concatenate([c, c[:3]]),
    "nan": _nan_coords,
    "three-columns": lambda c: np.concatenate([c, c[:, :1]], axis=1),
    "flat": lambda c: c.ravel(),
}


@pytest.mark.parametrize("damage", list(MAP_DAMAGE))
def test_map_cache_that_does_not_match_the_index_is_refitted(tmp_path, caplog, damage):
    EM, service, out, n = _map_service(tmp_path)
    m1 = service().wait(120)
    assert m1 is not None and m1.coords.shape == (n, 2)
    np.save(out / "coords.npy", MAP_DAMAGE[damage](m1.coords))
    with caplog.at_level("WARNING"):
        s = service()
        m2 = s.wait(120)
    assert s.status() == ("ready", "") and m2.coords.shape == (n, 2) and np.isfinite(m2.coords).all()
    assert "refit" in caplog.text.lower()
    np.testing.assert_array_equal(np.load(out / "coords.npy"), m2.coords)  # the repaired map was saved

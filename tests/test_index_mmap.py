"""The index is memory-mapped (issue 21): ``features`` is a read-only np.memmap of ``features.npy`` in its
stored dtype, searches rank as the float32 features say, every method runs on it, and a features file
with NaN in it is refused even when its checksum was updated to match."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import infocir.index.store as store
from conftest import tiny_config
from infocir.engine import RetrievalEngine
from infocir.index.manifest import CacheCorruptError, IndexManifest, atomic_write_text
from infocir.index.store import (
    FeatureIndex,
    all_finite,
    feature_blocks,
    feature_mean,
    file_checksums,
    index_dir_for,
    load_index,
)
from infocir.models.encoding import l2_normalize

EXTRA = {  # parameters that keep the slow methods short, and what feedback needs
    "oti": {"steps": 3},
    "feedback": {"relevant": ["circle/circle_01.png"], "nonrelevant": ["square/square_00.png"]},
}


def _index_dir(engine: RetrievalEngine) -> Path:
    return index_dir_for(engine.config.cache_dir, engine.scan.root, engine.bundle.name)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def f32_engine(tmp_path_factory):
    """The tiny engine with the index stored as float32 (index.dtype = float32)."""
    from conftest import make_image_folder

    tmp = tmp_path_factory.mktemp("tiny32")
    cfg = tiny_config(make_image_folder(tmp / "data"), tmp / "cache", **{"index.dtype": "float32"})
    return RetrievalEngine.from_config(cfg, progress=False)


@pytest.mark.parametrize("which", ["tiny_engine", "f32_engine"])
def test_features_are_a_read_only_memmap_of_the_stored_dtype(which, request):
    engine = request.getfixturevalue(which)
    idx, path = engine.index, _index_dir(engine) / "features.npy"
    on_disk = np.load(path)
    assert isinstance(idx.features, np.memmap) and Path(idx.features.filename) == path
    assert idx.features.dtype == on_disk.dtype == np.dtype(engine.config.index.dtype)
    assert not idx.features.flags.writeable
    np.testing.assert_array_equal(idx.features, on_disk)
    with pytest.raises(ValueError, match="read-only"):
        idx.features[0, 0] = 0
    # The float32 views the methods take are copies of the rows asked for, with the stored values.
    r = idx.row(3)
    assert r.dtype == np.float32 and r.flags.writeable and not np.shares_memory(r, idx.features)
    np.testing.assert_array_equal(r, on_disk[3].astype(np.float32))
    rows = idx.rows([5, 0, 5])
    assert rows.dtype == np.float32 and rows.shape == (3, idx.dim)
    np.testing.assert_array_equal(rows, on_disk[[5, 0, 5]].astype(np.float32))
    assert idx.rows([]).shape == (0, idx.dim)
    raw = idx.raw_feature(2)
    assert raw.dtype == np.float32
    np.testing.assert_allclose(raw, on_disk[2].astype(np.float32) * idx.norms[2], rtol=1e-6)
    np.testing.assert_allclose(idx.mean(), on_disk.astype(np.float64).mean(0), atol=1e-12)
    np.testing.assert_allclose(idx.mean([1, 4, 7]), on_disk[[1, 4, 7]].astype(np.float64).mean(0), atol=1e-12)


def test_blockwise_helpers_agree_with_whole_matrix_numpy():
    x = np.random.default_rng(0).standard_normal((23, 5)).astype(np.float16)
    assert [len(b) for b in feature_blocks(x, block=10)] == [10, 10, 3]
    sel = [22, 3, 3, 9, 15]
    np.testing.assert_array_equal(np.concatenate(list(feature_blocks(x, sel, block=2))), x[sel])
    np.testing.assert_allclose(feature_mean(x, block=4), x.astype(np.float64).mean(0), atol=1e-12)
    np.testing.assert_allclose(feature_mean(x, sel, block=4), x[sel].astype(np.float64).mean(0), atol=1e-12)
    assert all_finite(x, block=4)
    x[21, 2] = np.inf
    assert not all_finite(x, block=4)


def _expected_top(features32: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    s = features32.astype(np.float64) @ query.astype(np.float64)
    order = np.lexsort((np.arange(len(s)), -s))  # descending score, ties by row (as top_k)
    return [int(r) for r in order[:k]]


def test_searches_rank_as_the_float32_features_say(tiny_engine):
    e = tiny_engine
    f32 = np.load(_index_dir(e) / "features.npy").astype(np.float32)
    norms = np.load(_index_dir(e) / "norms.npy")
    for ref in ("star/star_00.png", "circle/circle_02.png", "square/square_03.png"):
        row = e.index.row_of[ref]
        img = l2_normalize(f32[row] * norms[row])
        for text in ("make it red", "a blue square"):
            txt = l2_normalize(e.encode_text([text])[0].astype(np.float32))
            queries = {"image": img, "text": txt, "average": l2_normalize(img + txt)}
            for method, q in queries.items():
                res = e.search(ref, text, k=6, method=method)
                assert list(res.rows) == _expected_top(f32, q, 6), (ref, text, method)
                np.testing.assert_allclose(res.scores, (f32 @ q)[res.rows], atol=1e-5)


def test_every_method_runs_on_the_memmapped_index(tiny_engine):
    e = tiny_engine
    path = _index_dir(e) / "features.npy"
    before = _sha(path)
    ran = []
    for info in e.methods():
        if not info.available:
            continue
        res = e.search("star/star_00.png", "make it red", k=4, method=info.name, **EXTRA.get(info.name, {}))
        assert len(res.ids) == 4 and np.isfinite(res.scores).all(), info.name
        ran.append(info.name)
    assert {"image", "text", "average", "basic", "feedback"} <= set(ran), ran
    # BASIC over one gallery (centred on that gallery's mean, computed blockwise from the memmap)
    res = e.search("star/star_00.png", "make it red", k=3, method="basic", gallery=list(range(8)))
    assert len(res.ids) == 3 and np.isfinite(res.scores).all()
    assert isinstance(e.index.features, np.memmap) and _sha(path) == before  # nothing wrote into it


def test_basic_centres_on_the_blockwise_database_mean(tiny_engine):
    """BASIC's database mean is the float64 mean of the stored rows, the same as from a float32 copy."""
    e = tiny_engine
    res = e.compose("star/star_00.png", "make it red", method="basic")
    state = next(v for k, v in e.context.cache.items() if isinstance(k, tuple) and k[0] == "basic")
    f64 = np.load(_index_dir(e) / "features.npy").astype(np.float64)
    if e.config.basic.center and not e.config.basic.mean_file:
        np.testing.assert_allclose(state["db_mean"], f64.mean(0), atol=1e-12)
    assert np.isfinite(res.scores).all()


def _rewrite_features(out: Path, features: np.ndarray) -> None:
    """Replace features.npy and update the manifest's checksum, so only the NaN check can refuse it."""
    store._save_npy(out / "features.npy", features)
    manifest = IndexManifest.read(out / "manifest.json")
    atomic_write_text(out / "manifest.json", replace(manifest, checksums=file_checksums(out)).to_json())


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_features_are_refused_even_with_a_matching_checksum(tiny_cfg, bad, monkeypatch):
    engine = RetrievalEngine.from_config(tiny_cfg, progress=False)
    out = _index_dir(engine)
    feats = np.load(out / "features.npy")
    feats[10, 3] = bad  # in the third block of 5 rows
    _rewrite_features(out, feats)
    monkeypatch.setattr(store, "BLOCK_ROWS", 5)  # several blocks even at 12 rows
    with pytest.raises(CacheCorruptError, match=r"features\.npy holds NaN or infinite values"):
        load_index(out)
    feats[10, 3] = 0.0
    _rewrite_features(out, feats)
    assert isinstance(load_index(out).features, np.memmap)


def test_a_features_file_of_another_dtype_is_refused(tiny_cfg):
    engine = RetrievalEngine.from_config(tiny_cfg, progress=False)
    out = _index_dir(engine)
    _rewrite_features(out, np.load(out / "features.npy").astype(np.float64))
    with pytest.raises(CacheCorruptError, match="float64 values, expected float16 or float32"):
        load_index(out)


def test_an_in_memory_index_still_works(tiny_engine):
    """FeatureIndex also takes a plain float32 array (benchmarks and tests build one by hand)."""
    src = tiny_engine.index
    idx = FeatureIndex(np.asarray(src.features, np.float32), src.norms, src.ids, src.classes, src.paths, src.manifest)
    np.testing.assert_array_equal(idx.row(1), src.row(1))
    np.testing.assert_allclose(idx.mean(), src.mean(), atol=1e-12)

"""benchmarks/large_world.py, the browser scale benchmark's collection: the index it writes is the store's own
format, and the engine and the map service load it (and its map) as a finished build, never rebuilding."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY_MODEL
from infocir.data.scan import ImageRecord, ScanResult
from infocir.engine import RetrievalEngine
from infocir.index.manifest import IndexManifest
from infocir.index.store import index_dir_for, write_index_files
from infocir.projection.embedding_map import MapService, load_map, map_dir

N = 2000
OVERRIDES = {
    "model.name": TINY_MODEL,
    "model.pretrained": "",
    "model.preprocess": "clip",
    "umap.alternative_projection": "ica",  # no numba compile in a unit test
    "umap.pca_components": "0",
}


@pytest.fixture(scope="module")
def lw():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "large_world.py"
    spec = importlib.util.spec_from_file_location("large_world", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["large_world"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("large_world", None)


def test_the_large_world_is_served_as_a_finished_index(lw, tiny_engine, tmp_path):
    base = tiny_engine.index
    world = lw.write_world(tiny_engine, N, tmp_path / "w", OVERRIDES)
    cfg = world.config()

    # byte for byte what the store's writer writes for the same rows
    scan = lw.scan_for(cfg)
    manifest = IndexManifest.read(world.index_dir / "manifest.json")
    b = len(base)
    rel = [Path(p).relative_to(tiny_engine.scan.root).as_posix() for p in base.paths]
    records = [
        ImageRecord(lw.copy_id(base.ids[i % b], i // b), str(scan.root / rel[i % b]), base.classes[i % b])
        for i in range(N)
    ]
    raw = np.concatenate(list(lw.raw_blocks(base.features, base.norms, N, 0.03, 0)))
    ref = tmp_path / "ref"
    ref.mkdir()
    want = write_index_files(ref, manifest.key, ScanResult(scan.root, records), raw, np.arange(N))
    for name in ("features.npy", "norms.npy", "metadata.csv"):
        assert (world.index_dir / name).read_bytes() == (ref / name).read_bytes(), name
    assert manifest.checksums == want.checksums and (manifest.count, manifest.dim) == (want.count, want.dim)
    assert manifest.source["base_rows"] == b and manifest.dataset_root == str(scan.root)

    # the engine loads it as a finished build for the copied folder (a rebuild would index the 12 base images)
    engine = RetrievalEngine.from_config(cfg, progress=False)
    index = engine.index
    assert len(index) == N and len(set(index.ids)) == N
    assert index.ids[:b] == base.ids and index.ids[b] == lw.copy_id(base.ids[0], 1) and "~1." in index.ids[b]
    assert all(Path(p).is_file() for p in index.paths[:: N // 50])
    assert index.classes[b + 3] == base.classes[3]
    np.testing.assert_array_equal(index.rows(range(b)), base.rows(range(b)))  # copy 0: the images' own features
    cos = np.sum(index.rows(range(b, 2 * b)) * base.rows(range(b)), axis=1)
    assert 0.7 < cos.min() and cos.max() < 1.0  # the copies: near their image, not equal to it
    res = engine.search(base.ids[0], "red", k=5, method="average")
    assert len(res.ids) == 5

    # the map service finds the precomputed map where the app looks (create_app's folder) and loads it
    out = map_dir(index_dir_for(cfg.cache_dir, engine.scan.root, engine.bundle.name), cfg.umap)
    assert out == world.map_dir
    maps = MapService(engine, cfg.umap, out)
    assert load_map(out, maps.key, N) is not None  # loaded, not refitted
    m = maps.wait(60)
    assert m is not None and m.coords.shape == (N, 2) and maps.status()[0] == "ready"
    np.testing.assert_allclose(m.coords[b + 5], m.coords[5], atol=1.0)  # a copy lies near its image

    assert lw.is_current(world, 0.03, 0.01, 0)
    assert not lw.is_current(world, 0.05, 0.01, 0)
    assert world.serve_args()[:2] == ["--dataset", str(world.dataset)]

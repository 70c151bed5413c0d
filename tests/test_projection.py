import numpy as np
import pytest

import infocir.projection.embedding_map as EM
from infocir.config import UMAPConfig
from infocir.projection.embedding_map import MapService, fit_map, map_dir, style_direction

FAST = UMAPConfig(n_epochs=30, n_neighbors=8, pca_components=5)


def clusters(n=40, d=16, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, d)) * 3
    x = np.concatenate([c + rng.normal(scale=0.3, size=(n, d)) for c in centres]).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True), np.repeat(np.arange(3), n)


@pytest.mark.parametrize("projection", ["none", "ica"])
def test_fit_separates_clusters_and_transform_places_new_points(projection):
    x, y = clusters()
    m = fit_map(x[::2], UMAPConfig(n_epochs=30, n_neighbors=8, pca_components=5, alternative_projection=projection))
    assert m.coords.shape == (60, 2) and np.isfinite(m.coords).all()
    centroids = np.stack([m.coords[y[::2] == c].mean(0) for c in range(3)])
    placed = m.transform(x[1::2])  # held-out points of known clusters
    nearest = np.argmin(((placed[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)
    assert (nearest == y[1::2]).mean() > 0.9


def test_style_direction_is_removed():
    enc = lambda texts: np.array([[1.0, 0, 0] if "style" in t else [0, 1.0, 0] for t in texts], np.float32)  # noqa: E731
    s = style_direction(enc, ["a subject"], ["a style"])
    np.testing.assert_allclose(s, np.array([1, -1, 0]) / np.sqrt(2), atol=1e-6)
    x = np.random.default_rng(0).normal(size=(30, 3)).astype(np.float32)
    m = fit_map(
        x / np.linalg.norm(x, axis=1, keepdims=True),
        UMAPConfig(n_epochs=20, n_neighbors=5, pca_components=0, alternative_projection="ica"),
        s,
    )
    prepared = m._prepare(x)
    np.testing.assert_allclose(prepared @ s, 0, atol=1e-5)


class _Index:
    def __init__(self, x):
        from infocir.index.manifest import IndexKey, IndexManifest

        self.features = x
        self.manifest = IndexManifest(IndexKey("m", "w", "clip", "fp", "float32"), "/d", len(x), x.shape[1], 0, "")

    def __len__(self):
        return len(self.features)


class _Engine:
    """The parts of an engine that MapService uses."""

    def __init__(self, x):
        self.index = _Index(x)


def test_service_fits_in_background_caches_and_reloads(tmp_path, monkeypatch):
    x, _ = clusters()
    eng = _Engine(x)
    out = map_dir(tmp_path, FAST)
    s1 = MapService(eng, FAST, out)
    assert s1.status()[0] in ("fitting", "ready")
    m1 = s1.wait(120)
    assert m1 is not None and s1.status() == ("ready", "") and (out / "manifest.json").exists()
    monkeypatch.setattr(EM, "fit_map", lambda *a, **k: (_ for _ in ()).throw(AssertionError("refit")))
    m2 = MapService(eng, FAST, out).wait(60)  # loaded from the cache, not refitted
    np.testing.assert_array_equal(m1.coords, m2.coords)
    (out / "reducer.pkl").write_bytes(b"junk")
    s3 = MapService(eng, FAST, out)
    s3.wait(60)  # corrupt cache: a refit is attempted (and here it fails loudly, as patched)
    state, msg = s3.status()
    assert state == "error" and "could not be computed" in msg
    assert map_dir(tmp_path, UMAPConfig(n_neighbors=9)) != out  # other settings, other cache


# --------------------------------------------------------------------------- fit on a sample (issue 21)
SAMPLED = UMAPConfig(n_epochs=30, n_neighbors=8, pca_components=5, fit_sample=60)


def test_fit_on_a_sample_places_the_rest_in_the_same_space():
    """Above fit_sample, the reducer is fitted on a seeded sample and every other row is placed by its
    transform, chunk by chunk: a transformed point lands among the fitted points of its own cluster."""
    x, y = clusters(n=80)  # 240 rows, 3 clusters
    steps = []
    m = EM.fit_map(x.astype(np.float16), SAMPLED, progress=steps.append, chunk=50)
    assert m.coords.shape == (240, 2) and m.coords.dtype == np.float32 and np.isfinite(m.coords).all()
    sample = EM.fit_rows(240, SAMPLED)
    assert sample is not None and len(sample) == 60 and len(set(sample.tolist())) == 60
    np.testing.assert_array_equal(sample, EM.fit_rows(240, SAMPLED))  # deterministic (random_state)
    assert EM.fit_rows(240, UMAPConfig(fit_sample=0)) is None and EM.fit_rows(60, SAMPLED) is None
    placed = np.setdiff1d(np.arange(240), sample)
    centroids = np.stack([m.coords[sample][y[sample] == c].mean(0) for c in range(3)])
    nearest = np.argmin(((m.coords[placed][:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)
    assert (nearest == y[placed]).mean() > 0.9
    # progress: the sample's fit, then each chunk of the 180 placed rows (50 at a time)
    assert steps[0] == "fitting a sample of 60 of 240 images"
    assert steps[1:] == [f"placing rows {i}/240" for i in (60, 110, 160, 210)]


def test_sample_setting_is_part_of_the_cache_key(tmp_path):
    x, _ = clusters()
    idx = _Index(x)
    every, sampled = UMAPConfig(fit_sample=0), UMAPConfig(fit_sample=50)
    assert EM.map_key(idx.manifest, every) != EM.map_key(idx.manifest, sampled)
    assert map_dir(tmp_path, every) != map_dir(tmp_path, sampled)
    out = tmp_path / "map"
    EM.save_map(
        fit_map(x, UMAPConfig(fit_sample=0, alternative_projection="ica")), out, EM.map_key(idx.manifest, every)
    )
    assert EM.load_map(out, EM.map_key(idx.manifest, sampled)) is None  # another setting: refitted, not reused


def test_service_reports_progress_while_it_builds(monkeypatch, tmp_path):
    x, _ = clusters()
    eng = _Engine(x)
    gate = __import__("threading").Event()
    real = EM.fit_map

    def slow_fit(features, cfg, style=None, progress=None, **kw):
        progress("fitting a sample of 50 of 120 images")
        gate.wait(30)
        return real(features, cfg, style, progress=progress, **kw)

    monkeypatch.setattr(EM, "fit_map", slow_fit)
    cfg = UMAPConfig(n_epochs=20, n_neighbors=5, pca_components=0, alternative_projection="ica", fit_sample=50)
    s = MapService(eng, cfg, map_dir(tmp_path, cfg))
    s.start()
    assert wait_for(lambda: "fitting a sample of 50 of 120 images" in s.status()[1])
    state, message = s.status()
    assert state == "fitting" and "The map of 120 images is being built" in message
    gate.set()
    assert s.wait(60) is not None and s.status() == ("ready", "")


def wait_for(fn, timeout=10.0):
    import time

    end = time.time() + timeout
    while time.time() < end:
        if fn():
            return True
        time.sleep(0.02)
    return False

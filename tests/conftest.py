"""Shared fixtures: a tiny open_clip-architecture model (random weights), a generated image folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

try:
    import infocir  # noqa: F401
except ModuleNotFoundError as exc:  # the package is imported as installed, not from a path edit
    if exc.name != "infocir":
        raise
    raise pytest.UsageError(
        "the infocir package is not installed: run `pip install -e '.[test]'` "
        "(or `bash scripts/test.sh`, which sets up .venv)"
    ) from None

from infocir.config import AppConfig, apply_overrides  # noqa: E402
from infocir.data import demo_world as W  # noqa: E402
from infocir.ui.chrome import chrome_options  # noqa: E402

TINY_MODEL = "InfoCIR-Tiny-ViT"


def make_image_folder(root: Path, per_class: int = 4, shapes=("circle", "star", "square"), csv: bool = True) -> Path:
    """Class sub-folders of rendered demo shapes (+ class_names.csv)."""
    root.mkdir(parents=True, exist_ok=True)
    colours = list(W.COLOURS)
    for si, shape in enumerate(shapes):
        (root / shape).mkdir(exist_ok=True)
        for i in range(per_class):
            attrs = W.Attributes(shape, colours[(i + si) % len(colours)], "large", "plain", "filled")
            img, _ = W.render(attrs, np.random.default_rng([si, i]), side=64)
            img.save(root / shape / f"{shape}_{i:02d}.png")
    if csv:
        (root / "class_names.csv").write_text("dir_name,class_name\n" + "".join(f"{s},{s.title()}\n" for s in shapes))
    return root


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    return make_image_folder(tmp_path / "data")


def tiny_config(dataset: Path, cache: Path, **extra) -> AppConfig:
    overrides = {
        "dataset.root": str(dataset),
        "model.name": TINY_MODEL,
        "model.pretrained": "",
        "model.preprocess": "clip",
        "index.cache_dir": str(cache),
        "index.chunk_size": 4,
        "index.batch_size": 4,
        **extra,
    }
    return apply_overrides(AppConfig(), overrides)


@pytest.fixture
def tiny_cfg(image_folder: Path, tmp_path: Path) -> AppConfig:
    return tiny_config(image_folder, tmp_path / "cache")


def pytest_setup_options():
    """Chrome options for dash[testing]'s browser fixtures: Debian chromium, headless, no network chatter."""
    return chrome_options(1440, 900)


@pytest.fixture(scope="session")
def demo_world_engine(tmp_path_factory):
    """One small demo world (1,920 images, 150 queries) with the committed demo model, shared by every
    test that needs real retrieval (generated and encoded once per run): (engine, dataset root)."""
    from infocir.engine import RetrievalEngine

    tmp = tmp_path_factory.mktemp("demo-world")
    root = W.generate_dataset(tmp / "world", W.DemoWorldSpec(seed=5, replicates=1, n_queries=150))
    cfg = apply_overrides(AppConfig(), {"dataset.root": str(root), "index.cache_dir": str(tmp / "cache")})
    return RetrievalEngine.from_config(cfg, progress=False), root


# --------------------------------------------------------------------------- the browser tests' world
BROWSER_SHAPES = ("circle", "star", "square", "heart")


@pytest.fixture(scope="module")
def engine_cfg(tmp_path_factory):
    """The browser tests' world (tests/test_browser*.py): four classes of six generated shapes, the tiny
    model, and an attributes.csv beside it (colour, size) for the map's "colour by"; one per test module."""
    from infocir.engine import RetrievalEngine

    tmp = tmp_path_factory.mktemp("ui")
    data = make_image_folder(tmp / "data", per_class=6, shapes=BROWSER_SHAPES)
    colours = list(W.COLOURS)
    rows = [
        f"{s}/{s}_{i:02d}.png,{colours[(i + si) % len(colours)]},{'small' if i % 2 else 'large'}\n"
        for si, s in enumerate(BROWSER_SHAPES)
        for i in range(6)
    ]
    (data / "attributes.csv").write_text("image_id,colour,size\n" + "".join(rows))
    cfg = tiny_config(
        data, tmp / "cache", **{"umap.n_epochs": "20", "umap.n_neighbors": "5", "umap.pca_components": "0"}
    )
    return RetrievalEngine.from_config(cfg, progress=False), cfg


@pytest.fixture(scope="module")
def shared_maps(engine_cfg):
    """One map for a module's apps: fitted once in the background (UMAP's first run is slow on a busy
    machine), not once per test."""
    from infocir.index.store import index_dir_for
    from infocir.projection.embedding_map import MapService, map_dir

    engine, cfg = engine_cfg
    maps = MapService(
        engine, cfg.umap, map_dir(index_dir_for(cfg.cache_dir, engine.scan.root, engine.bundle.name), cfg.umap)
    )
    maps.start()
    return maps


@pytest.fixture
def app(engine_cfg, shared_maps):
    """A dashboard bound to the module's engine and map."""
    from infocir.ui.app import create_app

    engine, cfg = engine_cfg
    return create_app(engine, cfg, maps=shared_maps)

"""Shared fixtures: a tiny open_clip-architecture model (random weights), a generated image folder."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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

TINY_MODEL = "InfoCIR-Tiny-ViT"


@pytest.fixture(autouse=True)
def _torch_threads_restored():
    """``serve``/``search`` set torch's and BLAS's thread counts for queries (model.query_threads); a test that
    runs them must not leave the rest of the suite on one thread."""
    import torch
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas() -> int:
        return max((i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"), default=0)

    before, before_blas = torch.get_num_threads(), blas()
    yield
    if torch.get_num_threads() != before:
        torch.set_num_threads(before)
    if before_blas and blas() != before_blas:
        threadpool_limits(limits=before_blas, user_api="blas")


@pytest.fixture(scope="session")
def ap_at_k_by_hand():
    """CIRCO's AP@k written out in the tests, independent of ``infocir.metrics``: mean over the top k of the
    precision at each hit, divided by min(|targets|, k).  Called as ``ap_at_k_by_hand(ranked, targets, k)``."""

    def ap(ranked: list[str], targets: set[str], k: int) -> float:
        hits, total = 0, 0.0
        for i, item in enumerate(ranked[:k], start=1):
            if item in targets:
                hits += 1
                total += hits / i
        return total / min(len(targets), k)

    return ap


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


@pytest.fixture(scope="session")
def tiny_engine(tmp_path_factory):
    """The tiny model over three classes of four generated shapes, built once per run for the tests that
    only read from it (searches, compositions, evaluations)."""
    from infocir.engine import RetrievalEngine

    tmp = tmp_path_factory.mktemp("tiny")
    return RetrievalEngine.from_config(tiny_config(make_image_folder(tmp / "data"), tmp / "cache"), progress=False)


@pytest.fixture(scope="module")
def _module_page():
    """One headless Chromium and one app server per browser test module (``infocir.ui.browser.DashPage``)."""
    from infocir.ui.browser import DashPage

    page = DashPage(1440, 900)
    yield page
    page.close()


@pytest.fixture
def dash_page(_module_page):
    """The module's browser and server, reset for this test: one empty tab, no storage, no app until
    ``dash_page.start_server(app)``."""
    _module_page.reset()
    return _module_page


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


# --------------------------------------------------------------------------- a stub HTTP API (providers)
@dataclass
class StubReply:
    """One answer of the stub server: status, body, extra headers, and a delay before it is sent."""

    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


def chat_reply(content: str) -> StubReply:
    """An OpenAI-compatible chat-completions answer whose message is ``content``."""
    return StubReply(200, json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode())


class _StubHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output clean
        pass

    def _answer(self):
        srv = self.server
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        request = {"method": self.command, "path": self.path, "auth": self.headers.get("Authorization"), "body": body}
        srv.requests.append(request)
        reply = srv.modes[srv.mode](request)
        time.sleep(reply.delay_s)
        self.send_response(reply.status)
        headers = {"Content-Type": "application/json", "Content-Length": str(len(reply.body)), **reply.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    do_GET = do_POST = _answer


class StubServer(ThreadingHTTPServer):
    """A provider's HTTP API stood in for on 127.0.0.1: ``modes`` maps a name to a function from the
    request (method, path, auth, parsed body) to a StubReply; ``mode`` picks the one in force;
    ``requests`` records every request."""

    daemon_threads = True
    block_on_close = False  # a slow answer must not hold up teardown
    Reply = StubReply  # (for tests: stub_server.Reply(401, b"..."), stub_server.chat("1. make it red"))
    chat = staticmethod(chat_reply)

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _StubHandler)
        self.reset()

    def reset(self) -> None:
        self.modes = {"good": lambda request: chat_reply("1. make it red\n2. a red one\n3. turn it red")}
        self.mode = "good"
        self.requests: list[dict] = []

    def url(self, userinfo: str = "") -> str:
        """The OpenAI-compatible base URL (``userinfo`` e.g. ``"user:pass@"``)."""
        return f"http://{userinfo}127.0.0.1:{self.server_address[1]}/v1"


@pytest.fixture(scope="session")
def _stub_server_running():
    srv = StubServer()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def stub_server(_stub_server_running) -> StubServer:
    """The session's stub server, reset for this test (mode "good": a three-line chat answer)."""
    _stub_server_running.reset()
    return _stub_server_running

"""App factory and ``serve``: the engine is built first, then the Dash app wires panels to it."""
from __future__ import annotations

import logging

from dash import Dash

from infocir.config import AppConfig
from infocir.engine import RetrievalEngine
from infocir.ui.callbacks import query
from infocir.ui.layout import build_layout
from infocir.ui.media import register_media_route

log = logging.getLogger(__name__)


def create_app(engine: RetrievalEngine, cfg: AppConfig) -> Dash:
    """A Dash app bound to ``engine``. No per-user state lives on the server: it is in dcc.Store."""
    app = Dash(__name__, title="InfoCIR", suppress_callback_exceptions=False)
    register_media_route(app.server, engine, cfg.cache_dir / "thumbs")
    app.layout = build_layout(engine, cfg)
    for module in (query,):
        module.register(app, engine, cfg)
    return app


def serve(cfg: AppConfig) -> int:
    engine = RetrievalEngine.from_config(cfg)
    app = create_app(engine, cfg)
    url = f"http://{'localhost' if cfg.ui.host in ('127.0.0.1', '0.0.0.0') else cfg.ui.host}:{cfg.ui.port}"
    log.info("InfoCIR is ready at %s", url)
    print(f"\n  InfoCIR dashboard: {url}\n", flush=True)
    app.run(host=cfg.ui.host, port=cfg.ui.port, debug=cfg.ui.debug, threaded=True)
    return 0

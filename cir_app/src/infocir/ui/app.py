"""App factory and ``serve``: the engine is built first, then the Dash app wires panels to it."""
from __future__ import annotations

import logging

from dash import Dash

from infocir.config import AppConfig
from infocir.engine import RetrievalEngine
from infocir.index.store import index_dir_for
from infocir.projection.embedding_map import MapService, map_dir
from infocir.ui.callbacks import distribution, embedding, enhancement, explanations, gallery, query
from infocir.ui.layout import build_layout
from infocir.ui.media import register_media_route
from infocir.ui.services import Services

log = logging.getLogger(__name__)
PANELS = (query, gallery, distribution, embedding, enhancement, explanations)


def create_app(engine: RetrievalEngine, cfg: AppConfig, maps: MapService | None = None) -> Dash:
    """A Dash app bound to ``engine``. Per-user state lives in the browser (dcc.Store), not here."""
    if maps is None:
        out = map_dir(index_dir_for(cfg.cache_dir, engine.scan.root, engine.bundle.name), cfg.umap)
        maps = MapService(engine, cfg.umap, out)
    maps.start()  # loads the cached map or fits it in the background; the page shows progress
    services = Services(engine, cfg, maps)
    app = Dash(__name__, title="InfoCIR", update_title=None)
    register_media_route(app.server, engine, cfg.cache_dir / "thumbs")
    app.layout = build_layout(engine, cfg)
    for module in PANELS:
        module.register(app, services)
    return app


def serve(cfg: AppConfig) -> int:
    engine = RetrievalEngine.from_config(cfg)
    app = create_app(engine, cfg)
    url = f"http://{'localhost' if cfg.ui.host in ('127.0.0.1', '0.0.0.0') else cfg.ui.host}:{cfg.ui.port}"
    log.info("InfoCIR is ready at %s", url)
    print(f"\n  InfoCIR dashboard: {url}\n", flush=True)
    app.run(host=cfg.ui.host, port=cfg.ui.port, debug=cfg.ui.debug, threaded=True)
    return 0

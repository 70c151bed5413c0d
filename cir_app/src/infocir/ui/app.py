"""App factory and ``serve``: the engine is built first, then the Dash app wires panels to it.

``serve`` checks the exposure rules before anything loads (``infocir.ui.server.plan_server``), then
serves with waitress by default (``ui.server``), behind the access token when ``ui.token`` is set.
"""

from __future__ import annotations

import logging

from dash import Dash

from infocir.config import AppConfig
from infocir.engine import RetrievalEngine, use_query_threads
from infocir.index.store import index_dir_for
from infocir.projection.embedding_map import MapService, map_dir
from infocir.ui.callbacks import (
    benchmark,
    compare,
    distribution,
    embedding,
    enhancement,
    explanations,
    feedback,
    gallery,
    query,
    share,
)
from infocir.ui.layout import build_layout
from infocir.ui.media import register_media_route
from infocir.ui.server import banner, check_bindable, exposure_warning, install_token, make_runner, plan_server
from infocir.ui.services import Services

log = logging.getLogger(__name__)
PANELS = (query, gallery, feedback, distribution, embedding, enhancement, explanations, share, benchmark, compare)


def create_app(engine: RetrievalEngine, cfg: AppConfig, maps: MapService | None = None) -> Dash:
    """A Dash app bound to ``engine``. Per-user state lives in the browser (dcc.Store), not here.
    With ``ui.token`` set, every request to it needs the token (``infocir.ui.server.TokenGate``)."""
    if maps is None:
        out = map_dir(index_dir_for(cfg.cache_dir, engine.scan.root, engine.bundle.name), cfg.umap)
        maps = MapService(engine, cfg.umap, out)
    # plotly imports pandas lazily, on the first figure: before the map thread and the request threads race
    # for it (the load test caught a 500, "partially initialized module 'pandas'", on a fresh start).
    import pandas  # noqa: F401

    maps.start()  # loads the cached map or fits it in the background; the page shows progress
    services = Services(engine, cfg, maps)
    app = Dash(__name__, title="InfoCIR", update_title=None)
    register_media_route(app.server, engine, cfg.cache_dir / "thumbs")
    app.layout = build_layout(engine, cfg, services.attribute_names(), services.attributes_note)
    for module in PANELS:
        module.register(app, services)
    install_token(app, cfg.ui.token)
    return app


def serve(cfg: AppConfig) -> int:
    plan = plan_server(cfg)  # refuses debug on a public host (exit 2) before the engine loads
    check_bindable(plan.host, plan.port)
    for note in plan.notes:
        log.log(logging.WARNING if plan.exposed else logging.INFO, note)
    engine = RetrievalEngine.from_config(cfg)
    use_query_threads(cfg)  # after the build: batch encoding keeps every core
    app = create_app(engine, cfg)
    run, host, port, _ = make_runner(app, plan)
    warning = exposure_warning(plan, host, port)
    if warning:
        log.warning(warning)
    log.info("InfoCIR is ready on %s:%d (%s)", host, port, plan.server)
    print(banner(plan, host, port), flush=True)
    run()
    return 0

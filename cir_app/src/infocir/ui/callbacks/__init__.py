"""One callbacks module per panel; each exposes ``register(app, engine, cfg)``."""

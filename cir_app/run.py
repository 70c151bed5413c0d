"""Entry point: ``python cir_app/run.py [COMMAND] [options]`` (see --help); the same as the ``infocir`` command.

The ``infocir`` package is imported as installed (``pip install -e .``, or ``bash scripts/serve.sh``)."""

from __future__ import annotations

import sys

try:
    from infocir.cli import main
except ModuleNotFoundError as exc:
    if exc.name != "infocir":
        raise
    sys.exit(
        "run.py: the infocir package is not installed in this Python; run `pip install -e .` "
        "in the repository root (or `bash scripts/serve.sh`, which sets up .venv)."
    )

if __name__ == "__main__":
    raise SystemExit(main())

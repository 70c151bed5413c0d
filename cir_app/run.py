"""Entry point: ``python cir_app/run.py [COMMAND] [options]`` (see --help)."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from infocir.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())

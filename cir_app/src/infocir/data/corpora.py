"""Text corpora shipped with the project (or given by path): one text per row."""
from __future__ import annotations

import csv
from pathlib import Path

from infocir.errors import UserError

CORPUS_DIR = Path(__file__).parent / "corpora"


class CorpusError(UserError, ValueError):
    """A BASIC corpus file is missing or empty."""


def corpus_path(name_or_path: str) -> Path:
    """A shipped corpus name (``demo_subjects``) or a CSV/text file path."""
    shipped = CORPUS_DIR / f"{name_or_path}.csv"
    return shipped if shipped.is_file() else Path(name_or_path).expanduser()


def read_corpus(name_or_path: str) -> list[str]:
    """One text per row (first CSV column); a header row named text/caption/prompt is skipped."""
    p = corpus_path(name_or_path)
    if not p.is_file():
        raise CorpusError(f"BASIC corpus {name_or_path!r} not found (looked for {p}). "
                          f"Shipped corpora: {', '.join(q.stem for q in CORPUS_DIR.glob('*.csv'))}; or give a CSV path.")
    with open(p, newline="", encoding="utf-8") as f:
        rows = [r[0].strip() for r in csv.reader(f) if r and r[0].strip()]
    if rows and rows[0].lower() in ("text", "caption", "prompt", "description"):
        rows = rows[1:]
    if not rows:
        raise CorpusError(f"BASIC corpus {p} is empty.")
    return rows

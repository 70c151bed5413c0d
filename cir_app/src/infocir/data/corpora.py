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


# Corpora the BASIC authors name that are not shipped here, and where to find them.
NOT_SHIPPED = {
    "generic_styles": "the BASIC authors' hand-written styles corpus: corpora/generic_styles.csv in the "
    "public repository billpsomas/icir (not shipped here; give the path to a copy)",
}


def imagenet_lemma_corpus() -> list[str]:
    """The BASIC authors' ``generic_subjects`` texts, rebuilt from public facts: every WordNet lemma of
    the 1,000 ImageNet-1k classes (timm's ``imagenet_synsets.txt`` and ``imagenet_synset_to_lemma.txt``,
    timm being a dependency of open_clip), first letter upper-cased and the rest lower-cased,
    de-duplicated and sorted.  The shipped ``generic_subjects.csv`` is this list under the authors'
    header row ``object_name``: 1,841 texts, the same as their file by total and cumulative
    length and by spot-checked entries (theirs has CRLF line endings)."""
    from importlib import resources

    info = resources.files("timm") / "data" / "_info"
    wnids = (info / "imagenet_synsets.txt").read_text(encoding="utf-8").split()
    lemmas = {}
    for line in (info / "imagenet_synset_to_lemma.txt").read_text(encoding="utf-8").splitlines():
        wnid, _, names = line.partition("\t")
        lemmas[wnid.strip()] = names
    return sorted({name.strip().capitalize() for w in wnids for name in lemmas[w].split(",") if name.strip()})


def write_imagenet_lemma_corpus(path: str | Path = CORPUS_DIR / "generic_subjects.csv") -> Path:
    """Write ``generic_subjects.csv`` (header ``object_name``, one text per line)."""
    p = Path(path)
    p.write_text("object_name\n" + "\n".join(imagenet_lemma_corpus()) + "\n", encoding="utf-8")
    return p


def read_corpus(name_or_path: str) -> list[str]:
    """One text per row (first CSV column); a header row named text/caption/prompt/description is
    skipped.  Any other first row is a text, as the BASIC authors' reader keeps their header
    ``object_name`` as one."""
    p = corpus_path(name_or_path)
    if not p.is_file() and name_or_path in NOT_SHIPPED:
        raise CorpusError(f"BASIC corpus {name_or_path!r} is {NOT_SHIPPED[name_or_path]}.")
    if not p.is_file():
        raise CorpusError(
            f"BASIC corpus {name_or_path!r} not found (looked for {p}). "
            f"Shipped corpora: {', '.join(q.stem for q in CORPUS_DIR.glob('*.csv'))}; or give a CSV path."
        )
    with open(p, newline="", encoding="utf-8") as f:
        rows = [r[0].strip() for r in csv.reader(f) if r and r[0].strip()]
    if rows and rows[0].lower() in ("text", "caption", "prompt", "description"):
        rows = rows[1:]
    if not rows:
        raise CorpusError(f"BASIC corpus {p} is empty.")
    return rows

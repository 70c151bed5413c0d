"""Image captions beside a dataset: ``captions.csv`` with columns ``image_id,caption`` (several rows per image).

They are the text side of the QT-FIRS report's evaluation (each caption a text query whose one relevant image is
the captioned one) and the extra items of collection expansion (``index.expansion``).

* ``read_captions(path, known_ids)`` reads and checks a file: a missing column is an error; empty captions and
  repeated (image, caption) rows are skipped, ids the dataset lacks are set aside and counted, each with a log line.
* ``write_captions(root)`` writes the demo world's captions from its ``attributes.csv``: three phrasings per image
  (``caption_phrasings``), synonyms drawn per image from a seed, so the file is the same on every machine.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from infocir.errors import UserError

log = logging.getLogger(__name__)

CAPTIONS_FILE = "captions.csv"


class CaptionsError(UserError, ValueError):
    """A captions file is missing or cannot be read as ``image_id,caption`` rows."""


@dataclass
class Captions:
    """Caption rows in file order: ``ids[i]`` is the image that ``texts[i]`` describes."""

    ids: list[str]
    texts: list[str]
    unknown_ids: list[str] = field(default_factory=list)  # ids the dataset lacks (their rows are left out)
    empty: int = 0  # rows with an empty caption (left out)
    duplicates: int = 0  # repeated (image, caption) rows (kept once)
    source: str = ""

    def __len__(self) -> int:
        return len(self.texts)

    def by_image(self) -> dict[str, list[str]]:
        """Image id → its captions, in file order."""
        out: dict[str, list[str]] = {}
        for i, t in zip(self.ids, self.texts, strict=True):
            out.setdefault(i, []).append(t)
        return out

    def digest(self) -> str:
        """SHA-256 of the (id, caption) rows: what a cache of their features is tied to."""
        h = hashlib.sha256()
        for i, t in zip(self.ids, self.texts, strict=True):
            h.update(f"{i}\0{t}\n".encode())
        return h.hexdigest()

    def report(self) -> str:
        """One line: how many captions of how many images, and what was left out."""
        parts = [f"{len(self)} captions of {len(set(self.ids))} images"]
        if self.unknown_ids:
            shown = ", ".join(self.unknown_ids[:3]) + (" …" if len(self.unknown_ids) > 3 else "")
            parts.append(f"{len(self.unknown_ids)} image ids not in the dataset left out ({shown})")
        if self.empty:
            parts.append(f"{self.empty} empty captions skipped")
        if self.duplicates:
            parts.append(f"{self.duplicates} repeated rows kept once")
        return (self.source + ": " if self.source else "") + "; ".join(parts)


def read_captions(path: str | os.PathLike, known_ids: Collection[str] | None = None) -> Captions:
    """The rows of a ``image_id,caption`` CSV (header required; other columns are ignored).

    ``known_ids``: the dataset's ids; rows naming another id are left out and listed in ``unknown_ids`` (a
    warning says how many).  Captions are stripped of surrounding white space; empty ones are skipped."""
    path = Path(path)
    if not path.is_file():
        raise CaptionsError(
            f"no captions file {path}: write one with the columns image_id,caption (one row per caption, several "
            "per image allowed); for the demo world `infocir write-captions` writes it from attributes.csv"
        )
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in reader.fieldnames or []]
            if "image_id" not in header or "caption" not in header:
                raise CaptionsError(f"{path}: the header must name the columns image_id and caption (found {header})")
            reader.fieldnames = header
            rows = [(str(r.get("image_id") or "").strip(), str(r.get("caption") or "").strip()) for r in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CaptionsError(f"{path} cannot be read as CSV: {exc}") from None
    out = Captions([], [], source=str(path))
    known = None if known_ids is None else set(known_ids)
    seen: set[tuple[str, str]] = set()
    unknown: dict[str, None] = {}
    for iid, text in rows:
        if not text:
            out.empty += 1
            continue
        if known is not None and iid not in known:
            unknown[iid] = None
            continue
        if (iid, text) in seen:
            out.duplicates += 1
            continue
        seen.add((iid, text))
        out.ids.append(iid)
        out.texts.append(text)
    out.unknown_ids = list(unknown)
    (log.warning if out.unknown_ids or out.empty else log.info)(out.report())
    return out


# --------------------------------------------------------------------------- the demo world's captions
_STYLE_NOUNS = {
    "filled": ("a solid shape", "a filled shape"),
    "outline": ("an outline", "an outline drawing"),
    "sketch": ("a sketch", "a hatched sketch", "a pencil sketch"),
}


def caption_phrasings(attrs, rng: np.random.Generator) -> list[str]:
    """Three captions of one demo-world image, each naming all five attributes in another phrasing:
    "a small red filled star on a striped background", "a small red star drawn as a sketch on a striped
    background", "a striped background with a tiny sketched red star"; synonyms drawn from ``rng``."""
    from infocir.data.demo_world import BACKGROUND_WORDS, SIZE_WORDS, STYLE_WORDS, describe

    def pick(words: tuple[str, ...]) -> str:
        return words[int(rng.integers(len(words)))]

    size, bg = pick(SIZE_WORDS[attrs.size]), pick(BACKGROUND_WORDS[attrs.background])
    return [
        describe(attrs, rng),
        f"a {size} {attrs.colour} {attrs.shape} drawn as {pick(_STYLE_NOUNS[attrs.style])} on a {bg} background",
        f"a {pick(BACKGROUND_WORDS[attrs.background])} background with a {pick(SIZE_WORDS[attrs.size])} "
        f"{pick(STYLE_WORDS[attrs.style])} {attrs.colour} {attrs.shape}",
    ]


def write_captions(root: str | os.PathLike, seed: int = 0) -> Path:
    """Write ``<root>/captions.csv`` from the world's ``attributes.csv`` (``caption_phrasings`` for every image; the
    image's generator is seeded by ``seed`` and the image id, so one image's captions do not depend on the others).
    Written to a temporary file and renamed, so a reader never sees half a file."""
    from infocir.data.demo_world import read_attributes

    root = Path(root)
    rows = []
    for iid, attrs in read_attributes(root).items():
        rng = np.random.default_rng([seed, int.from_bytes(hashlib.sha256(iid.encode()).digest()[:8], "little")])
        rows += [(iid, text) for text in caption_phrasings(attrs, rng)]
    out = root / CAPTIONS_FILE
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["image_id", "caption"])
        w.writerows(rows)
    os.replace(tmp, out)
    log.info("Wrote %d captions of %d images to %s", len(rows), len(rows) // 3, out)
    return out

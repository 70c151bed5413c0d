"""Per-image attributes beside a dataset: ``attributes.csv`` in the dataset folder.

The file has a header row with an ``image_id`` column (the dataset's image ids: the path relative to
the dataset root, POSIX slashes, e.g. ``star/star_00012.png``) and any other columns, one row per
image.  The demo world writes one (shape, colour, size, background, style); a user dataset may add its
own.  The dashboard colours the map by any of its columns (panel D).

A column whose every value is a number and which has more than ``NUMERIC_MIN_DISTINCT`` distinct
values is numeric (a continuous colour scale); every other column is categorical.  Images the file
does not name have no value (shown as "(missing)").  A file that cannot be used raises
``AttributeTableError`` with a message saying what to fix; ``load_attribute_table`` turns that into a
message and no table, so that the rest of the app keeps working.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from infocir.errors import UserError

ATTRIBUTES_FILE = "attributes.csv"
ID_COLUMN = "image_id"
NUMERIC_MIN_DISTINCT = 12
MAX_BYTES = 200 * 1024 * 1024  # a table beside a dataset, not a dataset: refuse anything absurd
MISSING = "(missing)"


class AttributeTableError(UserError):
    """``attributes.csv`` exists but cannot be used (the message names the file and the fix)."""


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "categorical" | "numeric"
    values: tuple  # one per dataset row, in index order: str (categorical) / float (numeric); None = missing

    def categories(self) -> list[str]:
        """The distinct values of a categorical column, sorted (natural order for numbers-as-text)."""
        return sorted({v for v in self.values if v is not None}, key=_natural)


@dataclass(frozen=True)
class AttributeTable:
    path: Path
    columns: dict[str, Column] = field(default_factory=dict)
    matched: int = 0  # dataset images the file names
    unknown_ids: int = 0  # rows whose image_id is not in the dataset (ignored)

    def names(self) -> list[str]:
        return list(self.columns)

    def value(self, column: str, row: int):
        col = self.columns.get(column)
        return None if col is None else col.values[row]

    def summary(self) -> str:
        extra = f"; {self.unknown_ids} rows name images that are not in the dataset" if self.unknown_ids else ""
        return f"{self.path.name}: {len(self.columns)} attribute(s) for {self.matched} images{extra}"


def _natural(value: str):
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def _as_number(text: str) -> float | None:
    try:
        x = float(text)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def _column(name: str, raw: list[str | None]) -> Column:
    present = [v for v in raw if v is not None]
    numbers = [_as_number(v) for v in present]
    if present and all(x is not None for x in numbers) and len(set(numbers)) > NUMERIC_MIN_DISTINCT:
        return Column(name, "numeric", tuple(None if v is None else _as_number(v) for v in raw))
    return Column(name, "categorical", tuple(raw))


def _check_header(header: list[str], where: str) -> list[str]:
    if ID_COLUMN not in header:
        raise AttributeTableError(
            f"{where} has no {ID_COLUMN!r} column (its header is {', '.join(header) or 'empty'}): the first row "
            f"must name the columns, one of them {ID_COLUMN!r} holding the dataset's image ids."
        )
    if any(not h for h in header):
        raise AttributeTableError(f"{where}: column {header.index('') + 1} of the header has no name.")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise AttributeTableError(f"{where}: the header names {', '.join(map(repr, dupes))} more than once.")
    if len(header) == 1:
        raise AttributeTableError(f"{where} has only the {ID_COLUMN!r} column: add at least one attribute column.")
    return header


def parse_attribute_table(text: str, ids: Sequence[str], path: Path | str = ATTRIBUTES_FILE) -> AttributeTable:
    """The table of ``text`` (CSV) aligned to ``ids`` (the dataset's ids, in index order)."""
    path = Path(path)
    where = f"{path}"
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise AttributeTableError(f"{where} is empty: it needs a header row with an {ID_COLUMN!r} column.") from None
    except csv.Error as exc:
        raise AttributeTableError(f"{where} is not a readable CSV file ({exc}).") from None
    header = _check_header([h.strip().lstrip("\ufeff") for h in header], where)
    id_at = header.index(ID_COLUMN)
    names = [h for h in header if h != ID_COLUMN]
    row_of = {iid: i for i, iid in enumerate(ids)}
    raw: dict[str, list[str | None]] = {n: [None] * len(ids) for n in names}
    seen: set[int] = set()
    unknown = 0
    try:
        for line, rec in enumerate(reader, start=2):
            if not rec or all(not c.strip() for c in rec):
                continue
            if len(rec) != len(header):
                raise AttributeTableError(
                    f"{where}, line {line}: {len(rec)} fields where the header has {len(header)} "
                    "(a value with a comma must be quoted)."
                )
            row = row_of.get(rec[id_at].strip())
            if row is None:
                unknown += 1
                continue
            if row in seen:
                raise AttributeTableError(f"{where}, line {line}: image {rec[id_at].strip()!r} is listed twice.")
            seen.add(row)
            for h, v in zip(header, rec, strict=True):
                if h != ID_COLUMN:
                    raw[h][row] = v.strip() or None
    except csv.Error as exc:
        raise AttributeTableError(f"{where} is not a readable CSV file ({exc}).") from None
    if not seen:
        example = ids[0] if len(ids) else "class/image.png"
        raise AttributeTableError(
            f"{where}: none of its {unknown} image ids is an image of this dataset; ids are paths relative to "
            f"the dataset folder, e.g. {example!r}."
        )
    columns = {n: _column(n, raw[n]) for n in names}
    return AttributeTable(path, columns, matched=len(seen), unknown_ids=unknown)


def read_attribute_table(path: Path | str, ids: Sequence[str]) -> AttributeTable:
    """``parse_attribute_table`` of a file (UTF-8, a BOM allowed)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise AttributeTableError(f"{path} is larger than {MAX_BYTES // 2**20} MB; it is not read.")
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise AttributeTableError(f"{path} is not UTF-8 text; save it as a UTF-8 CSV file.") from None
    except OSError as exc:
        raise AttributeTableError(f"{path} cannot be read ({exc.strerror or exc}).") from None
    return parse_attribute_table(text, ids, path)


def load_attribute_table(root: Path | str, ids: Sequence[str]) -> tuple[AttributeTable | None, str]:
    """The table of ``<root>/attributes.csv`` and a message: (None, "") without the file, (None, why)
    when it cannot be used, (table, "") otherwise."""
    path = Path(root) / ATTRIBUTES_FILE
    if not path.is_file():
        return None, ""
    try:
        return read_attribute_table(path, ids), ""
    except AttributeTableError as exc:
        return None, f"{exc} The map is coloured by class only."

"""Issue 16's tally: per category of hostile input, how many were tried and how many were handled.

    .venv/bin/python benchmarks/robustness_counts.py [-- extra pytest arguments]

Runs ``pytest tests/robustness`` in this process with a small plugin that records every test case
(parametrised cases one by one) and counts the calls of each hypothesis test's inner function, i.e. the
examples hypothesis generated (including replays from its example database and, for a failing property,
the shrinking calls).  It then prints one row per category:

- *cases*: test cases run (not skipped); *property*: how many of them are hypothesis tests;
- *examples*: inputs hypothesis generated for those (calls rejected by ``assume`` are not counted);
- *passed* / *failed* / *skipped*: test cases;
- *tried* = cases that are not property tests + examples; *handled* = the passed ones of those cases +
  examples that did not raise.  "Handled" means the test's assertion held: a clear message, a 4xx instead
  of a 500, nothing leaked, the damage detected.  A few cases are controls with good inputs (a valid k,
  debug on loopback) counted like the rest.

Categories by file (test_exposure.py is split at its section comments: "keys" before the first
"exposure" section, "exposure" from there).  Exits with pytest's status.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import os
import platform
import re
import sys
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "tests" / "robustness"
CATEGORIES = {  # file → category, in the order
    "test_robust_uploads.py": "uploads",
    "test_robust_dataset_files.py": "dataset files",
    "test_robust_caches.py": "caches",
    "test_robust_parameters.py": "text and parameters",
    "test_robust_media.py": "media route",
    "test_exposure.py": "keys",  # ... and "exposure" after its first exposure section, see category()
}
ORDER = ["uploads", "dataset files", "caches", "text and parameters", "media route", "keys", "exposure"]
EXPOSURE_SECTION = re.compile(r"^# -+ exposure", re.M)


def category(path: Path, line: int) -> str:
    """The category of a test defined at ``line`` (1-based, its first decorator) of ``path``."""
    if path.name != "test_exposure.py":
        return CATEGORIES.get(path.name, f"other ({path.name})")
    source = path.read_text()
    m = EXPOSURE_SECTION.search(source)
    if m is None:
        return "keys and exposure"
    return "keys" if line < source.count("\n", 0, m.start()) + 1 else "exposure"


class Tally:
    """pytest plugin: one record per test case, hypothesis examples counted through ``inner_test``."""

    def __init__(self) -> None:
        self.cases: dict[str, dict] = {}
        self.current: dict | None = None

    def pytest_collection_modifyitems(self, items) -> None:
        for item in items:
            fn = getattr(item, "function", None)
            line = inspect.getsourcelines(fn)[1] if fn is not None else 0
            handle = getattr(fn, "hypothesis", None)
            self.cases[item.nodeid] = {
                "category": category(Path(str(item.fspath)), line),
                "property": handle is not None,
                "outcome": None,  # None: deselected, never ran
                "examples": 0,
                "raised": 0,
            }
            if handle is not None and not getattr(handle.inner_test, "_tally", False):
                handle.inner_test = self._counted(handle.inner_test)

    def _counted(self, inner):
        from hypothesis.errors import UnsatisfiedAssumption

        @functools.wraps(inner)
        def counted(*args, **kwargs):
            rec = self.current
            try:
                out = inner(*args, **kwargs)
            except UnsatisfiedAssumption:
                raise  # not an input that was tried
            except BaseException:
                if rec is not None:
                    rec["examples"] += 1
                    rec["raised"] += 1
                raise
            if rec is not None:
                rec["examples"] += 1
            return out

        counted._tally = True
        return counted

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        self.current = self.cases.get(item.nodeid)
        yield
        self.current = None

    def pytest_runtest_logreport(self, report) -> None:
        rec = self.cases.get(report.nodeid)
        if rec is None:
            return
        if report.failed:
            rec["outcome"] = "failed"
        elif report.skipped and rec["outcome"] != "failed":
            rec["outcome"] = "skipped"
        elif rec["outcome"] is None:
            rec["outcome"] = "passed"

    def rows(self) -> list[dict]:
        out: dict[str, dict] = defaultdict(lambda: defaultdict(int))
        for rec in self.cases.values():
            if rec["outcome"] is None:
                continue
            row = out[rec["category"]]
            row[rec["outcome"]] += 1
            if rec["outcome"] == "skipped":
                continue
            row["cases"] += 1
            if rec["property"]:
                row["property"] += 1
                row["examples"] += rec["examples"]
                row["tried"] += rec["examples"]
                row["handled"] += rec["examples"] - rec["raised"]
            else:
                row["tried"] += 1
                row["handled"] += rec["outcome"] == "passed"
        names = [c for c in ORDER if c in out] + sorted(set(out) - set(ORDER))
        return [{"category": c, **out[c]} for c in names]


COLUMNS = ["cases", "property", "examples", "passed", "failed", "skipped", "tried", "handled"]


def table(rows: list[dict]) -> str:
    total = {c: sum(r.get(c, 0) for r in rows) for c in COLUMNS}
    lines = [
        "| category | " + " | ".join(COLUMNS) + " |",
        "|---|" + "---:|" * len(COLUMNS),
    ]
    for r in [*rows, {"category": "**all**", **total}]:
        lines.append(f"| {r['category']} | " + " | ".join(f"{r.get(c, 0):,}" for c in COLUMNS) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pytest_args", nargs="*", help="extra arguments for pytest (after --)")
    args = ap.parse_args(argv)
    tally = Tally()
    t0 = time.time()
    status = pytest.main([str(SUITE), "-q", *args.pytest_args], plugins=[tally])
    seconds = time.time() - t0
    print()
    ran = sum(r["outcome"] is not None for r in tally.cases.values())
    print(
        f"Robustness tally, {date.today().isoformat()}, {os.cpu_count()} cores ({platform.machine()}), "
        f"Python {platform.python_version()}: {ran} test cases in {SUITE.relative_to(ROOT)}, {seconds:.0f} s"
    )
    print()
    print(table(tally.rows()))
    return int(status)


if __name__ == "__main__":
    sys.exit(main())

"""The benchmark suite's runner (``python -m benchmarks`` / ``infocir bench``): what it runs and reports."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from infocir import cli

ROOT = Path(__file__).resolve().parents[1]


def _suite():
    spec = importlib.util.spec_from_file_location("bench_suite", ROOT / "benchmarks" / "__main__.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_suite"] = mod  # dataclasses look their module up while the class is made
    spec.loader.exec_module(mod)
    return mod


def test_every_suite_entry_names_a_script_that_exists():
    suite = _suite()
    keys = [b.key for b in suite.SUITE]
    assert len(keys) == len(set(keys))
    for bench in suite.SUITE:
        assert (ROOT / "benchmarks" / bench.script).is_file(), bench.script
        assert bench.small != bench.full, f"{bench.key}: the full run should use other sizes than the small one"


def test_a_script_s_table_goes_into_the_report_and_a_failure_is_reported(tmp_path):
    suite = _suite()
    ok = tmp_path / "ok.py"
    ok.write_text("import sys\nprint('| n | ms |')\nprint('|---|---|')\nprint('| ' + sys.argv[1] + ' | 1.5 |')\n")
    bad = tmp_path / "bad.py"
    bad.write_text("import sys\nprint('about to fail', file=sys.stderr)\nsys.exit(3)\n")
    good = "\n".join(suite.run(suite.Bench("ok", "A table", str(ok), ("7",), ("9",)), full=False, timeout=60))
    assert "| 7 | 1.5 |" in good and "## A table" in good and "load average before" in good
    full = "\n".join(suite.run(suite.Bench("ok", "A table", str(ok), ("7",), ("9",)), full=True, timeout=60))
    assert "| 9 | 1.5 |" in full
    failed = "\n".join(suite.run(suite.Bench("bad", "Fails", str(bad), (), ("x",)), full=False, timeout=60))
    assert "**Failed** (exit 3)" in failed and "about to fail" in failed
    missing = suite.run(suite.Bench("x", "Needs", str(ok), ("1",), ("2",), needs="no-such-program-here"), False, 60)
    assert any("Not run" in line for line in missing)


def test_the_report_describes_the_machine(tmp_path):
    suite = _suite()
    out = tmp_path / "r.md"
    # no benchmark chosen that takes long: the header alone (an --only that matches nothing is refused below)
    suite.SUITE = ()
    assert suite.main(["--out", str(out)]) == 0
    text = out.read_text()
    assert "cores; memory" in text and "Python 3." in text and "commit " in text


def test_an_unknown_benchmark_name_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        _suite().main(["--only", "search,nosuch"])
    assert exc.value.code == 2
    assert "nosuch" in capsys.readouterr().err
    assert cli.main(["bench", "--only", "nosuch"]) == 2

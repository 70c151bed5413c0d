"""Static checks as tests: ruff (lint rules and formatting) and mypy, each with the configuration in
pyproject.toml, exactly as the pre-commit hooks run them."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PATHS = ["cir_app", "tests", "benchmarks", "scripts"]


def _tool(name: str) -> str:
    """The tool installed beside this interpreter (the venv's), else the one on PATH."""
    exe = Path(sys.executable).parent / name
    found = str(exe) if exe.exists() else shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed (requirements-dev.txt installs it)")
    return found


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), cwd=ROOT, capture_output=True, text=True)


def test_ruff_check_finds_nothing():
    """Every rule selected in [tool.ruff.lint] (E, F, I, B, UP, C90 with its complexity limit)."""
    out = _run(_tool("ruff"), "check", "--output-format", "concise", *PATHS)
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_format_leaves_every_file_unchanged():
    out = _run(_tool("ruff"), "format", "--check", *PATHS)
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_finds_no_errors_in_the_engine():
    """[tool.mypy] names the files (infocir without its Dash dashboard, infocir.ui)."""
    out = _run(sys.executable, "-m", "mypy")
    if out.returncode != 0 and "No module named mypy" in out.stderr:
        pytest.skip("mypy is not installed (requirements-dev.txt installs it)")
    errors = [ln for ln in out.stdout.splitlines() if re.search(r": error: ", ln)]
    assert out.returncode == 0 and not errors, out.stdout + out.stderr
    checked = re.search(r"Success: no issues found in (\d+) source files", out.stdout)
    assert checked, out.stdout
    engine = [p for p in (ROOT / "cir_app" / "src" / "infocir").rglob("*.py") if "ui" not in p.parts]
    assert int(checked.group(1)) == len(engine)  # every engine module, and none of the dashboard's

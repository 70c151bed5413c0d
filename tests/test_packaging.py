"""The package as pip installs it: pyproject.toml in step with the requirements files, every data file
shipped, the ``infocir`` command the same as ``python cir_app/run.py``."""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cir_app" / "src" / "infocir"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _requirements(name: str) -> list[str]:
    lines = (ROOT / name).read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def test_dependencies_are_the_pinned_requirements():
    project = PYPROJECT["project"]
    assert project["dependencies"] == _requirements("requirements.txt")
    assert project["optional-dependencies"]["test"] == _requirements("requirements-dev.txt")
    assert "torch==2.14.1" in project["dependencies"] and "torchvision==0.29.1" in project["dependencies"]


def test_every_data_file_in_the_package_is_package_data():
    globs = PYPROJECT["tool"]["setuptools"]["package-data"]
    missing = []
    for path in PACKAGE.rglob("*"):
        if not path.is_file() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
            continue
        rel = path.relative_to(PACKAGE.parent)  # infocir/models/assets/x.pt
        owners = [(pkg, pats) for pkg, pats in globs.items() if rel.as_posix().startswith(pkg.replace(".", "/") + "/")]
        if not any(
            fnmatch.fnmatch(rel.relative_to(*pkg.split(".")).as_posix(), p) for pkg, pats in owners for p in pats
        ):
            missing.append(rel.as_posix())
    assert not missing, f"not shipped by pyproject.toml's package-data: {missing}"


def test_console_script_is_the_cli_main():
    assert PYPROJECT["project"]["scripts"] == {"infocir": "infocir.cli:main"}
    scripts = {
        ep.name: ep.value
        for ep in metadata.entry_points(group="console_scripts")
        if ep.dist and ep.dist.metadata["Name"] == "infocir"
    }
    if not scripts:
        pytest.skip("infocir is importable but not installed as a distribution")
    assert scripts == {"infocir": "infocir.cli:main"}


def test_installed_package_imports_from_anywhere(tmp_path):
    """No path edits: the package is found from any working directory, with its data files beside it."""
    code = (
        "import infocir, infocir.models.encoders as e, infocir.data.corpora as c;"
        "assert (e.CONFIG_DIR / 'InfoCIR-Demo-ViT.json').is_file() and (e.ASSET_DIR / 'InfoCIR-Demo-ViT.pt').is_file();"
        "assert any(c.CORPUS_DIR.glob('*.csv')); print(infocir.__file__)"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()).resolve() == (PACKAGE / "__init__.py").resolve()


def test_infocir_command_matches_run_py():
    exe = Path(sys.executable).parent / "infocir"
    if not exe.exists():
        exe = Path(shutil.which("infocir") or exe)
    if not exe.exists():
        pytest.skip("the infocir console script is not installed (pip install -e .)")
    run = subprocess.run([sys.executable, "cir_app/run.py", "--help"], cwd=ROOT, capture_output=True, text=True)
    cmd = subprocess.run([str(exe), "--help"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == cmd.returncode == 0, cmd.stderr
    assert cmd.stdout == run.stdout

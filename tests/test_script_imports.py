"""Scripts and benchmarks name engine functions that still exist.

Nothing else imports ``scripts/`` or ``benchmarks/`` and most of their imports sit inside functions,
so a renamed or removed engine function breaks them silently (``train_demo_gpu.py`` imported
``demo_eval.evaluate_images`` for a session after it was removed).  This reads every ``from infocir…
import name`` and every ``alias.name`` on an imported engine module, wherever it is in the file, and
looks each name up in the engine.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted([*ROOT.glob("scripts/*.py"), *ROOT.glob("benchmarks/*.py"), ROOT / "cir_app" / "run.py"])


def engine_names(tree: ast.AST) -> list[tuple[int, str, str]]:
    """(line, module, name) for each engine name the file uses through an import."""
    used: list[tuple[int, str, str]] = []
    aliases: dict[str, str] = {}  # a local name bound to an engine module
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "infocir":
            for a in node.names:
                used.append((node.lineno, node.module, a.name))
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "infocir" and a.asname:
                    aliases[a.asname] = a.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            used.append((node.lineno, aliases[node.value.id], node.attr))
    return used


def resolve(dotted: str) -> object:
    """The module, or the object in a module, that ``dotted`` names; AttributeError or
    ModuleNotFoundError when the engine has no such thing."""
    try:
        return importlib.import_module(dotted)
    except ModuleNotFoundError as e:
        module, _, name = dotted.rpartition(".")
        if not module or not f"{dotted}.".startswith(f"{e.name}."):  # a dependency of a module that exists
            raise
        return getattr(resolve(module), name)


def missing_in(path: Path, root: Path = ROOT) -> list[str]:
    """``path:line module.name`` (the path relative to ``root``) for each engine name that does not resolve."""
    missing = []
    for line, owner, name in engine_names(ast.parse(path.read_text(), str(path))):
        try:
            resolve(f"{owner}.{name}")
        except ModuleNotFoundError as e:
            if (e.name or "").split(".")[0] == "infocir":
                missing.append(f"{path.relative_to(root)}:{line} {owner}.{name}")
            # else an optional dependency that is not installed here: the name cannot be checked
        except AttributeError:
            missing.append(f"{path.relative_to(root)}:{line} {owner}.{name}")
    return missing


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_engine_name_a_script_uses_exists(path):
    assert missing_in(path) == []


def test_the_check_finds_a_removed_function(tmp_path):
    """A name the engine lacks is reported, in a function-level import and through a module alias."""
    script = tmp_path / "old_script.py"
    script.write_text(
        "from infocir.models import train_demo as T\n"
        "def main():\n"
        "    from infocir.models.demo_eval import evaluate_images, heldout_images\n"
        "    return T.scaled, T.no_such_function, evaluate_images, heldout_images\n"
    )
    assert sorted(missing_in(script, tmp_path)) == [
        "old_script.py:3 infocir.models.demo_eval.evaluate_images",
        "old_script.py:4 infocir.models.train_demo.no_such_function",
    ]

import subprocess
import sys
from pathlib import Path

from infocir.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run(*args, env=None):
    import os

    e = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "cir_app/run.py", *args], cwd=ROOT, capture_output=True, text=True, env=e, timeout=300
    )


def test_help_lists_subcommands():
    out = run("--help")
    assert out.returncode == 0
    for cmd in ("serve", "build-index", "search"):
        assert cmd in out.stdout
    out = run("search", "--help")
    assert out.returncode == 0 and "--reference" in out.stdout and "-k" in out.stdout and "--method" in out.stdout


def test_bad_config_value_exits_2_with_message(capsys):
    assert main(["search", "--set", "model.preprocess=fancy"]) == 2
    err = capsys.readouterr().err
    assert "model.preprocess" in err and "targetpad, clip" in err and "Traceback" not in err


def test_search_prints_a_ranked_table(tiny_cfg, capsys):
    args = [
        "search",
        "--dataset",
        tiny_cfg.dataset.root,
        "--model",
        "InfoCIR-Tiny-ViT",
        "--pretrained",
        "",
        "--method",
        "image",
        "-r",
        "star/star_01.png",
        "-k",
        "3",
        "--set",
        f"index.cache_dir={tiny_cfg.index.cache_dir}",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.strip()[:1].isdigit()]
    assert len(lines) == 3 and lines[0].split()[-1] == "star/star_01.png"


def test_user_errors_exit_1_without_traceback(tmp_path, capsys):
    assert main(["build-index", "--dataset", str(tmp_path / "missing"), "--set", f"index.cache_dir={tmp_path}"]) == 1
    err = capsys.readouterr().err
    assert "Dataset folder not found" in err and "Traceback" not in err
    assert (
        main(
            [
                "search",
                "--model",
                "No-Such-Model",
                "--pretrained",
                "",
                "--set",
                f"index.cache_dir={tmp_path}",
                "--dataset",
                str(tmp_path),
            ]
        )
        == 1
    )

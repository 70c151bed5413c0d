#!/usr/bin/env bash
# Quick start, command 2: install the package with its test extra and run the whole test suite
# (pytest.ini's testpaths); arguments go to pytest, e.g. `bash scripts/test.sh tests/test_cli.py -x`.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
install_package test requirements.txt requirements-dev.txt
# Browser tests drive Debian's Chromium through its matching chromedriver.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        echo "==> installing chromium and chromium-driver (Debian packages)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
    else
        echo "==> chromium/chromium-driver missing and not root: run 'sudo apt-get install chromium chromium-driver'" >&2
    fi
fi
export HF_HUB_OFFLINE=1
exec .venv/bin/python -m pytest -q -p no:cacheprovider -W ignore::DeprecationWarning "$@"

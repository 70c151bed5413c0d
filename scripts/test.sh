#!/usr/bin/env bash
# Quick start, command 2: install what the tests need and run the whole test suite.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
install_requirements requirements.txt requirements-dev.txt
export HF_HUB_OFFLINE=1
exec .venv/bin/python -m pytest -q -p no:cacheprovider tests "$@"

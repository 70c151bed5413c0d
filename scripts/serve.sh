#!/usr/bin/env bash
# Quick start, command 1: set up everything and serve the dashboard on http://localhost:8051.
# On first start the app generates the demo world and builds its feature index (about a minute).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
install_package "" requirements.txt
exec .venv/bin/python cir_app/run.py serve "$@"

# Sourced by serve.sh and test.sh: create .venv and install the pinned requirements once
# (re-installs only when a requirements file changes).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "==> creating virtual environment in .venv"
    "$PY" -m venv .venv
fi
install_requirements() {
    local stamp=".venv/.installed-$(cat "$@" | sha256sum | cut -c1-16)"
    if [ ! -f "$stamp" ]; then
        echo "==> installing $* (first run takes a few minutes)"
        .venv/bin/python -m pip install --disable-pip-version-check -q $(printf -- '-r %s ' "$@")
        touch "$stamp"
    fi
}

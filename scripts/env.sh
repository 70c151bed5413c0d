# Sourced by serve.sh and test.sh: create .venv and install the pinned requirements and the infocir
# package itself (editable, so the source tree is what runs) once; re-installs only when pyproject.toml
# or a requirements file changes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "==> creating virtual environment in .venv"
    "$PY" -m venv .venv
fi
# install_package EXTRAS REQUIREMENTS...: the pinned requirements files, then `pip install -e .[EXTRAS]`
# (its dependencies are the same pins, so the second step only adds the package and its `infocir` command).
install_package() {
    local extras="$1"; shift
    local stamp=".venv/.installed-$(cat pyproject.toml "$@" | sha256sum | cut -c1-16)"
    if [ ! -f "$stamp" ] || ! .venv/bin/python -c "import infocir" >/dev/null 2>&1; then
        echo "==> installing $* and the infocir package (first run takes a few minutes)"
        .venv/bin/python -m pip install --disable-pip-version-check -q $(printf -- '-r %s ' "$@")
        .venv/bin/python -m pip install --disable-pip-version-check -q -e ".${extras:+[$extras]}"
        touch "$stamp"
    fi
}

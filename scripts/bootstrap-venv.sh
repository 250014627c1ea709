#!/usr/bin/env bash
# Creates (or refreshes) the project's virtualenv in .venv with the package and its test
# extras installed in editable mode. Idempotent: a second run only re-installs when
# pyproject.toml changed since the last install. pip's output goes to .venv/install.log and
# is shown only when the install fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
if [ ! -x .venv/bin/python ]; then
    echo "bootstrap: creating .venv with $PY" >&2
    "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)
if [ ! -f "$stamp" ]; then
    echo "bootstrap: installing octavia-loxilb and its test dependencies into .venv" >&2
    if ! { .venv/bin/pip install --upgrade pip && .venv/bin/pip install -e ".[test]"; } \
            > .venv/install.log 2>&1; then
        tail -n 40 .venv/install.log >&2
        echo "bootstrap: pip install failed; the full log is .venv/install.log" >&2
        exit 1
    fi
    rm -f .venv/.installed-*
    touch "$stamp"
fi

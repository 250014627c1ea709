#!/usr/bin/env bash
# Creates (or refreshes) the project's virtualenv in .venv with the package and its test
# extras installed in editable mode. Idempotent: a second run only re-installs when
# pyproject.toml changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)
if [ ! -f "$stamp" ]; then
    .venv/bin/pip install -q --upgrade pip >/dev/null
    .venv/bin/pip install -q -e ".[test]"
    rm -f .venv/.installed-*
    touch "$stamp"
fi

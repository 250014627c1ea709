#!/usr/bin/env bash
# The whole test suite from a fresh clone: virtualenv, services, lint, types, tests.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/unit -x).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap-venv.sh
scripts/ensure-services.sh
echo "== ruff"
.venv/bin/ruff check octavia_loxilb tests rig bench scripts
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"

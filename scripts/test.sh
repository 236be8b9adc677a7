#!/usr/bin/env bash
# Set up (or reuse) .venv with the test extras, check lint and formatting with ruff, then run the
# whole test suite, slow tests included. Extra arguments go to pytest, e.g.
# `bash scripts/test.sh -k bfcl -x`. The fast loop for the pure layers is in docs/development.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh" test
cd "$ROOT"
PY="${TL_VENV:-$ROOT/.venv}/bin/python"
echo "[test] ruff check . && ruff format --check ."
"$PY" -m ruff check .
"$PY" -m ruff format --check .
exec "$PY" -m pytest "$@"

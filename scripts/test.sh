#!/usr/bin/env bash
# Set up (or reuse) .venv with the test extras and run the whole test suite, slow tests included.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k bfcl -x`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh" test
cd "$ROOT"
exec "${TL_VENV:-$ROOT/.venv}/bin/python" -m pytest "$@"

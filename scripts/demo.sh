#!/usr/bin/env bash
# Set up (or reuse) .venv and run the CPU demo: score the shipped sample of tool-call responses
# with the tl_tool reward and print per-response results, TS/PI/CF and category counts.
# Hydra overrides go through, e.g. `bash scripts/demo.sh reward_kwargs.wrong_tool=-1.0`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh"
cd "$ROOT"
exec "${TL_VENV:-$ROOT/.venv}/bin/python" -m tl_plugin.demo "$@"

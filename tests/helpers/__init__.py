"""Helpers the tests share, imported as ``tests.helpers.<module>`` (pytest puts the repository root
first on ``sys.path`` because ``tests/`` is a package; verl's wheel also installs a top-level
``tests`` package, which ours shadows).

- :mod:`.bfcl_samples`: BFCL questions with gold answers and deterministic mutations of them;
- :mod:`.verl_config`: verl's own PPO config composed with Hydra, as ``main_ppo`` composes it;
- :mod:`.verl_rollout`: verl's agent loop and reward loop on CPU with the ``tl_hf`` rollout;
- :mod:`.feedback_tools`: plain functions used as executable tools in multi-turn tests;
- :mod:`.evolve_backends`: scripted generation backends for ``tl-evolve`` tests.
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = ROOT / "tests" / "data"


def examples(n: int) -> int:
    """Hypothesis example count: ``n`` in CI, a fifth of it in the fast loop (``TL_FAST_LOOP=1``)."""
    return max(10, n // 5) if os.environ.get("TL_FAST_LOOP") == "1" else n


def tiny_model_folder(tmp_path_factory, **config) -> Path:
    """A tiny random Qwen2 model saved with its BPE tokenizer in a fresh folder; ``config``
    overrides :data:`tl_plugin.testing.TINY_QWEN` (sizes, ``initializer_range``, ...)."""
    from tl_plugin.cli.smoke import build_tiny_model
    from tl_plugin.testing import TINY_QWEN

    path = tmp_path_factory.mktemp("tiny-model")
    build_tiny_model(path, {**TINY_QWEN, **config}, seed=0)
    return path

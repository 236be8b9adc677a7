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

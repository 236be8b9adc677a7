"""Every launch script in example_configs/ composes against verl's real config (so none can rot).

Each script is run for real with DRY_RUN=1, which makes Hydra print the composed config
(`--cfg job`) instead of starting Ray and GPUs; unknown or misspelled overrides fail composition.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = sorted((Path(__file__).parent.parent / "example_configs").glob("*.sh"))


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_example_script_composes_with_verl(script):
    env = {**os.environ, "DRY_RUN": "1", "PYTHON": sys.executable}
    out = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    # the plugin's part is in the composed config: the reward, the SFT dataset, or tl-evolve's preset
    assert any(mark in out.stdout for mark in ("tl_tool", "TLSFTDataset", "- tooldev")), out.stdout[-3000:]


def test_there_are_example_scripts():
    assert SCRIPTS, "example_configs/ holds no launch script"

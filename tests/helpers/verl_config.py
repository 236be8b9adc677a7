"""verl's own ``ppo_trainer`` config, composed by Hydra as ``main_ppo`` composes it (plugin configs
found through the search-path plugin), for tests that build verl workers from it."""

from __future__ import annotations

from pathlib import Path

import verl
from hydra import compose, initialize_config_dir

VERL_CONFIG_DIR = Path(verl.__file__).parent / "trainer" / "config"


def compose_ppo(overrides):
    with initialize_config_dir(config_dir=str(VERL_CONFIG_DIR), version_base=None):
        return compose(config_name="ppo_trainer", overrides=overrides)

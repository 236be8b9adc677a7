"""Helpers shared by the plugin's Hydra CLIs (``tl-prepare``, ``tl-eval``).

>>> as_list("a"), as_list(None), as_list(["a", 1])
(['a'], [], ['a', '1'])
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, ListConfig

__all__ = ["CONFIG_DIR", "as_list", "compose_config"]

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


def as_list(value) -> list[str]:
    """A config value that may be one item, a list, or null, as a list of strings."""
    if value is None:
        return []
    if isinstance(value, (list, tuple, ListConfig)):
        return [str(v) for v in value]
    return [str(value)]


def compose_config(config_name: str, overrides=()) -> DictConfig:
    """``tl_plugin/configs/<config_name>.yaml`` with Hydra overrides, for calls from Python."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    # inside a @hydra.main app (the demo calls tl-prepare's, tl-eval's and tl-evolve's configs) the
    # global Hydra is already set up; its own config is composed by then, so it can be let go
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        return compose(config_name=config_name, overrides=list(overrides))

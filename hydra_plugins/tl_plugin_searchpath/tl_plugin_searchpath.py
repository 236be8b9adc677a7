"""Hydra search-path plugin: puts tl-plugin's configs beside verl's own.

Hydra discovers search-path plugins only inside the ``hydra_plugins`` namespace package (which
therefore has no ``__init__.py``). Appending ``pkg://tl_plugin.configs`` makes ``reward=tl_tool``
and the ``+tl=...`` presets resolvable from any verl entry point (``main_ppo``, ``sft_trainer``).
"""

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class TLPluginSearchPathPlugin(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        search_path.append(provider="tl-plugin", path="pkg://tl_plugin.configs")

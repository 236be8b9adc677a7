"""Hydra configs shipped with tl-plugin (found through ``pkg://tl_plugin.configs``)."""

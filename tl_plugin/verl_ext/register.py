"""Registers tl-plugin's pieces with verl; loaded by ``import verl`` (entry point ``verl.plugins``).

verl imports this module for every process that imports verl (the trainer, Ray reward-loop,
agent-loop and rollout workers) and calls nothing in it, so registration happens at import time.
"""

import os

if os.environ.get("TL_PLUGIN_CPU") == "1":  # CPU runs (tests, smoke): see tl_plugin/verl_ext/cpu.py
    # first: the platform and process-group patches must precede verl's worker modules
    from tl_plugin.verl_ext import cpu

    cpu.enable()

from tl_plugin.verl_ext import (
    agent_loop,  # noqa: E402,F401  registers agent loops "tl_tool_agent", "tl_multiturn_agent"
    reward_manager,  # noqa: E402,F401  registers reward manager "tl_tool"
)
from tl_plugin.verl_ext import patches as verl_patches  # noqa: E402
from tl_plugin.verl_ext.rollout import backend  # noqa: E402

backend.register()  # rollout "tl_hf"
verl_patches.install_reward_metrics()  # reward extra info in every training step's metrics

"""Registers tl-plugin's pieces with verl; loaded by ``import verl`` (entry point ``verl.plugins``).

verl imports this module for every process that imports verl (the trainer, Ray reward-loop and
agent-loop workers) and calls nothing in it, so registration happens at import time.
"""

from tl_plugin import reward_manager  # noqa: F401  registers reward manager "tl_tool"
from tl_plugin import agent_loop  # noqa: F401,E402  registers agent loop "tl_tool_agent"

import os  # noqa: E402

if os.environ.get("TL_PLUGIN_CPU") == "1":  # CPU runs (tests, smoke): see tl_plugin/cpu.py
    from tl_plugin import cpu

    cpu.enable()

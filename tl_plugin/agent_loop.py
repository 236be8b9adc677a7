"""Agent loop ``tl_tool_agent``: verl's single-turn rollout with each row's own tools in the prompt.

verl's stock ``single_turn_agent`` builds the prompt from ``raw_prompt`` without tools, and
``tool_agent`` takes one tool list from a config file, but every BFCL / ToolACE sample has its
own candidate tools. This loop reads them from the row (``extra_info.tools``, the JSON string the
reward also reads) and hands them to the model's chat template through verl's own
``ct_build_initial_tokens(messages, tools=...)``; everything else is ``SingleTurnAgentLoop``.

Rows store call arguments as JSON strings (parquet would merge differently-shaped dicts); the
loop decodes them and drops the ``None`` fields parquet adds, so chat templates that render
``arguments | tojson`` see a dict. Select it per row (``agent_name: tl_tool_agent``, which
``tl-prepare`` writes) or for all rows with
``actor_rollout_ref.rollout.agent.default_agent_loop=tl_tool_agent`` (``+tl=grpo`` does).
"""

from __future__ import annotations

from typing import Any

from verl.experimental.agent_loop.agent_loop import register
from verl.experimental.agent_loop.single_turn_agent_loop import SingleTurnAgentLoop

from tl_plugin.row_format import chat_template_messages, row_tools

__all__ = ["TLToolAgentLoop"]


@register("tl_tool_agent")
class TLToolAgentLoop(SingleTurnAgentLoop):
    """``single_turn_agent`` that renders the row's ``extra_info.tools`` with the chat template."""

    async def run(self, sampling_params: dict[str, Any], **kwargs):
        # One instance per trajectory (verl instantiates the loop per sample), so this is per row.
        self._row_tools = row_tools(kwargs.get("extra_info"))
        kwargs["raw_prompt"] = chat_template_messages(kwargs["raw_prompt"])
        return await super().run(sampling_params, **kwargs)

    async def ct_build_initial_tokens(self, messages, tools=None, **kwargs):
        if tools is None:
            tools = getattr(self, "_row_tools", None)
        return await super().ct_build_initial_tokens(messages, tools=tools, **kwargs)

"""Agent loops: ``tl_tool_agent`` (single turn, each row's own tools in the prompt) and
``tl_multiturn_agent`` (verl's ``tool_agent`` with executed tools, recording their feedback).

``tl_tool_agent``: verl's single-turn rollout with each row's own tools in the prompt.

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

``tl_multiturn_agent``: verl's ``ToolAgentLoop`` unchanged (tools from
``multi_turn.tool_config_path`` / ``function_tool_path``, ``extra_info.tool_selection`` per row,
the ``multi_turn.format`` parser, its turn and length limits), plus a record that the ``tl_tool``
reward's feedback mode reads: each executed call's name, arguments, turn and the MAE category of
the tool's response (``data_transforms.tool_feedback.classify_feedback``), whether the rollout ended
with a final answer within the limits, and how many parsed calls were not run (beyond
``max_parallel_calls``). It reaches ``extra_info["tl_feedback"]`` through the loop's extra fields,
which verl hands to the reward loop (``+tl=multiturn`` selects this loop).
"""

from __future__ import annotations

from typing import Any

from verl.experimental.agent_loop.agent_loop import register
from verl.experimental.agent_loop.single_turn_agent_loop import SingleTurnAgentLoop
from verl.experimental.agent_loop.tool_agent_loop import AgentState, ToolAgentLoop

from data_transforms.tool_feedback import classify_feedback
from reward_fns.tl_tool import FEEDBACK_FIELD
from tl_plugin.verl_ext.row_format import chat_template_messages, row_tools

__all__ = ["TLToolAgentLoop", "TLMultiTurnAgentLoop"]


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


@register("tl_multiturn_agent")
class TLMultiTurnAgentLoop(ToolAgentLoop):
    """verl's ``tool_agent`` that records every tool call's feedback category for the reward."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.tools:
            raise ValueError(
                "tl_multiturn_agent has no tools to run: declare them in "
                "actor_rollout_ref.rollout.multi_turn.tool_config_path (see tl_plugin.verl_ext.tools.PythonFunctionTool) "
                "or multi_turn.function_tool_path"
            )

    async def run(self, sampling_params: dict[str, Any], **kwargs):
        # One instance per trajectory (verl instantiates the loop per sample), so this is per row.
        self._feedback = {"calls": [], "final_answer": False, "unexecuted_calls": 0}
        kwargs["raw_prompt"] = chat_template_messages(kwargs["raw_prompt"])
        output = await super().run(sampling_params, **kwargs)
        output.extra_fields[FEEDBACK_FIELD] = self._feedback
        return output

    async def _handle_generating_state(self, agent_data, sampling_params, ignore_termination: bool = False):
        n_messages = len(agent_data.messages)
        state = await super()._handle_generating_state(agent_data, sampling_params, ignore_termination)
        # verl appends the assistant message only if no turn or length limit stopped the rollout
        # first; ending there without calls is a final answer within the limits
        if state == AgentState.TERMINATED and len(agent_data.messages) > n_messages:
            self._feedback["final_answer"] = True
        return state

    async def _handle_processing_tools_state(self, agent_data):
        # verl runs the first max_parallel_calls calls and drops the rest without a word
        self._feedback["unexecuted_calls"] += max(0, len(agent_data.tool_calls) - self.max_parallel_calls)
        return await super()._handle_processing_tools_state(agent_data)

    async def _call_tool(self, tool_call, tools_kwargs, agent_data):
        record = {"name": tool_call.name, "arguments": tool_call.arguments, "turn": agent_data.assistant_turns}
        self._feedback["calls"].append(record)  # before the await, so records keep the calls' order
        response, reward, metrics = await super()._call_tool(tool_call, tools_kwargs, agent_data)
        # the text the model will see (verl truncates long responses in the middle, keeping both ends)
        record["category"] = classify_feedback(response.text)
        return response, reward, metrics

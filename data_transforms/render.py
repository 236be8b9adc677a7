"""Records to the chat messages and tool lists that parquet rows store.

Parquet merges nested dicts of different shapes into one struct type, so tool schemas and call
arguments would gain ``None`` fields from other rows (docs/design.md#data-contract). Rows therefore store:

- tools as a JSON string of OpenAI ``{"type": "function", "function": {...}}`` entries (the form
  Hugging Face chat templates take);
- assistant calls as ``tool_calls: [{"type": "function", "function": {"name", "arguments": <JSON
  string>}}]``; the plugin's agent loop and SFT dataset decode ``arguments`` back into a dict
  before the chat template sees them.

``tools_in_prompt="system_text"`` instead writes the tools as plain text into the system message
and the calls as ``<tool_call>`` text into the assistant content, for chat templates without
tool support; verl's stock ``single_turn_agent`` can then roll the rows out.

>>> chat_message({"role": "assistant", "content": "", "tool_calls": [{"name": "f", "arguments": {"x": 1}}]})
{'role': 'assistant', 'content': '', 'tool_calls': [{'type': 'function', 'function': {'name': 'f', 'arguments': '{"x": 1}'}}]}
>>> chat_message({"role": "assistant", "content": "", "tool_calls": [{"name": "f", "arguments": {}}]}, "system_text")
{'role': 'assistant', 'content': '<tool_call>\\n{"name": "f", "arguments": {}}\\n</tool_call>', 'tool_calls': None}
"""

from __future__ import annotations

import json

__all__ = [
    "DEFAULT_SYSTEM_TEXT",
    "TOOLS_IN_PROMPT",
    "chat_message",
    "chat_messages",
    "hermes_text",
    "openai_tools",
    "tools_json",
    "with_system_text",
]

TOOLS_IN_PROMPT = ("native", "system_text")

# Plain-text tool block for ``tools_in_prompt=system_text``; ``{tools}`` is one JSON schema per line.
DEFAULT_SYSTEM_TEXT = (
    "You can call the functions described below, one JSON schema per line, between <tools> and "
    "</tools>.\n<tools>\n{tools}\n</tools>\n\n"
    "To call functions, answer with one block per call:\n"
    '<tool_call>\n{{"name": "<function name>", "arguments": {{<arguments as a JSON object>}}}}\n</tool_call>\n'
    "If no function fits the request, answer in plain text."
)


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def openai_tools(tools: list) -> list:
    return [{"type": "function", "function": tool} for tool in tools]


def tools_json(tools: list) -> str:
    return _dumps(openai_tools(tools))


def hermes_text(calls: list) -> str:
    """Calls as ``<tool_call>`` blocks, the format the reward's hermes parser reads."""
    return "\n".join(
        f"<tool_call>\n{_dumps({'name': c['name'], 'arguments': c['arguments']})}\n</tool_call>" for c in calls
    )


def chat_message(msg: dict, tools_in_prompt: str = "native") -> dict:
    """One record message in the row form (same keys for every message, see module doc)."""
    content, tool_calls = msg["content"], None
    calls = msg.get("tool_calls") or []
    if calls and tools_in_prompt == "system_text":
        content = "\n".join(part for part in (content, hermes_text(calls)) if part)
    elif calls:
        tool_calls = [
            {"type": "function", "function": {"name": c["name"], "arguments": _dumps(c["arguments"])}} for c in calls
        ]
    return {"role": msg["role"], "content": content, "tool_calls": tool_calls}


def with_system_text(messages: list, tools: list, template: str = DEFAULT_SYSTEM_TEXT) -> list:
    """``messages`` with the tools written as text into the system message (added if absent)."""
    block = template.format(tools="\n".join(_dumps(t) for t in openai_tools(tools)))
    if messages and messages[0]["role"] == "system":
        first = dict(messages[0])
        first["content"] = f"{first['content']}\n\n{block}" if first["content"] else block
        return [first, *messages[1:]]
    return [{"role": "system", "content": block, "tool_calls": None}, *messages]


def chat_messages(messages: list, tools: list, tools_in_prompt: str = "native", template: str = DEFAULT_SYSTEM_TEXT):
    """Record messages in row form; with ``system_text`` the tools go into the system message."""
    if tools_in_prompt not in TOOLS_IN_PROMPT:
        raise ValueError(f"tools_in_prompt must be one of {TOOLS_IN_PROMPT}, got {tools_in_prompt!r}")
    out = [chat_message(m, tools_in_prompt) for m in messages]
    if tools_in_prompt == "system_text":
        out = with_system_text(out, tools, template)
    return out

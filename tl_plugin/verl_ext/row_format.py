"""Decoding the row fields that tl-prepare stores as JSON strings, for chat templates.

Parquet merges differently-shaped dicts into one struct, so rows store tool lists and call
arguments as JSON strings and parquet adds ``None`` for absent message fields. Chat templates
want dicts (Qwen2.5 renders ``arguments | tojson``) and no ``None`` noise; these helpers undo both.
Used by the ``tl_tool_agent`` agent loop and the ``TLSFTDataset`` SFT dataset.
"""

from __future__ import annotations

import json

from data_transforms.records import canonical_tools
from data_transforms.render import openai_tools

__all__ = ["chat_template_messages", "decode_tools", "row_tools"]


def _plain(value):
    if hasattr(value, "tolist"):  # numpy arrays from parquet list columns
        value = value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def chat_template_messages(raw_prompt) -> list:
    """Row messages as chat templates expect them: no ``None`` fields, call arguments as dicts."""
    messages = _plain(list(raw_prompt))
    for msg in messages:
        for call in msg.get("tool_calls") or []:
            fn = call.get("function", call)
            if isinstance(fn.get("arguments"), str):
                try:
                    fn["arguments"] = json.loads(fn["arguments"])
                except ValueError:
                    pass  # leave it as text: the template renders what the data holds
    return messages


def row_tools(extra_info) -> list | None:
    """The row's tools in OpenAI form, from ``extra_info.tools`` (JSON string or list); else None."""
    extra_info = extra_info or {}
    raw = extra_info.get("tools") if isinstance(extra_info, dict) else None
    row = f"index {extra_info.get('index')} (id {extra_info.get('id')})" if isinstance(extra_info, dict) else "?"
    return decode_tools(raw, row, "extra_info.tools")


def decode_tools(raw, row: str, field_name: str = "tools") -> list | None:
    """A tool list (JSON string or list, plain or OpenAI form) in OpenAI form; None when empty."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        raw = _plain(raw)  # decoded parquet structs: drop the None fields merging added
    return openai_tools(canonical_tools(raw, row, field_name)) or None

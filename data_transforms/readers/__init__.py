"""Readers: one source row (a dict) to one :class:`~data_transforms.records.Record`.

Every reader is ``read_xxx(row, row_name) -> Record``; ``row_name`` (from
:func:`data_transforms.io.iter_rows`, e.g. ``toolace.json[3]``) names the row in errors and is the
record id when the row has no id field of its own. Bad input raises
:class:`~data_transforms.records.RecordError` naming the row and the field path.

=============== ============================================= ====================================
source          reader                                        format
=============== ============================================= ====================================
``openai``      :func:`~.openai_chat.read_openai`             OpenAI chat ``messages`` + ``tools``
``sharegpt``    :func:`~.sharegpt.read_sharegpt`              ShareGPT, ToolACE or ReAct detected
``toolace``     :func:`~.sharegpt.read_toolace`               Team-ACE/ToolACE (Python call lists)
``react``       :func:`~.sharegpt.read_react`                 RoTBench / ToolEyes / ToolLLaMA
``tl_training`` :func:`~.tl_training.read_tl_training`        TL-Training ``raw_data.json``
``toolrl``      :func:`~.toolrl.read_toolrl`                  ToolRL / Tool-N1 verl rows (tools in
                                                              the system prompt, text ground truth)
=============== ============================================= ====================================

``read_sharegpt`` reads a row as ReAct if some assistant turn has a line starting with
``Action:``, else as ToolACE (see :mod:`data_transforms.readers.sharegpt`).
"""

from __future__ import annotations

from data_transforms.readers.openai_chat import read_openai
from data_transforms.readers.sharegpt import read_react, read_sharegpt, read_toolace, sharegpt_style
from data_transforms.readers.tl_training import read_tl_training
from data_transforms.readers.toolrl import read_toolrl

__all__ = [
    "READERS",
    "read_openai",
    "read_react",
    "read_sharegpt",
    "read_tl_training",
    "read_toolace",
    "read_toolrl",
    "sharegpt_style",
]

READERS = {
    "openai": read_openai,
    "sharegpt": read_sharegpt,
    "toolace": read_toolace,
    "react": read_react,
    "tl_training": read_tl_training,
    "toolrl": read_toolrl,
}

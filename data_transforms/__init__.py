"""Pure data conversion for tool-use training (no verl import).

- ``records``: the one internal record (messages, tools, gold) every reader produces;
- ``readers/``: OpenAI chat, ShareGPT (ToolACE; RoTBench/ToolEyes ReAct), TL-Training's raw format;
  ``bfcl``: BFCL questions and possible answers from the installed ``bfcl-eval`` wheel;
- ``feedback``: MAE's classification of tool responses; ``masking``: which steps it takes out;
- ``gold``: reference answers and unsatisfiable gold; ``render``: rows' message and tool form;
- ``writers``: RL and SFT rows and atomic parquet writes; ``split``: splits disjoint by tool name;
  ``tally``: counts of everything read, written, masked and dropped.

``tl_plugin.cli.prepare`` (the ``tl-prepare`` CLI) puts them together.
"""

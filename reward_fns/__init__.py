"""Pure-Python reward functions for tool use (no verl import), shaped like verl's ``reward_score``.

``reward_fns.tl_tool.compute_score`` is TL-Training's IRM reward. Modules, one idea each:
``parsing`` (raw text -> calls), ``values`` (BFCL value acceptance), ``schemas`` (decoding gold
calls and tool schemas), ``matching`` (optimal call assignment), ``scoring`` (error categories),
``feedback`` (multi-turn trajectories scored from the tools' feedback).
"""

from .parsing import ParseResult, parse_tool_calls
from .tl_tool import compute_score

__all__ = ["ParseResult", "compute_score", "parse_tool_calls"]

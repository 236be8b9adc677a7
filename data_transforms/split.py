"""Train/test splits, optionally disjoint by tool name.

With ``by="tools"`` (default) two records that share any tool name land on the same side, so no
tool of the test split is ever seen in training: records are nodes, tool names link them, and
whole connected components (``scipy.sparse.csgraph.connected_components``) are assigned to the
test side in a seeded random order until it holds ``test_fraction`` of the records. With
``by="called"`` only the tools a record calls count (distractor tools may then be shared).
``by="record"`` splits records at random. The achieved fraction is reported: a split by tools can
only move whole components.

>>> recs = [["a"], ["a", "b"], ["c"], ["d"], ["d"]]  # components {0, 1}, {2}, {3, 4}
>>> sorted(split_indices(recs, 0.4, seed=0))
[3, 4]
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = ["SPLIT_BY", "record_tool_names", "split_indices"]

SPLIT_BY = ("tools", "called", "record")


def record_tool_names(rec, by: str) -> list:
    if by == "tools":
        return [t["name"] for t in rec.tools]
    if by == "called":
        names = [c["name"] for m in rec.messages for c in m.get("tool_calls") or []]
        return names + [c["name"] for c in rec.gold or []]
    if by == "record":
        return []
    raise ValueError(f"split.by must be one of {SPLIT_BY}, got {by!r}")


def split_indices(names_per_record: list, test_fraction: float, seed: int = 0) -> set:
    """Indices of the records that go to the test split (see module doc)."""
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"split.test_fraction must be in [0, 1), got {test_fraction}")
    n = len(names_per_record)
    if n == 0 or test_fraction == 0.0:
        return set()
    # Bipartite graph: record i -- tool node n + j. Components group records sharing tools.
    tool_ids = {}
    rows, cols = [], []
    for i, names in enumerate(names_per_record):
        for name in set(names):
            j = tool_ids.setdefault(name, len(tool_ids))
            rows.append(i)
            cols.append(n + j)
    size = n + len(tool_ids)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(size, size))
    _, labels = connected_components(graph, directed=False)
    components = {}
    for i in range(n):
        components.setdefault(labels[i], []).append(i)
    order = list(components.values())
    np.random.default_rng(seed).shuffle(order)
    target = test_fraction * n
    test = set()
    for members in order:
        if len(test) >= target:
            break
        # Skip a component that would overshoot by more than it helps.
        if abs(len(test) + len(members) - target) > abs(len(test) - target):
            continue
        test.update(members)
    if not test:  # every component overshoots that much: take the one closest to the target
        test.update(min(order, key=lambda members: abs(len(members) - target)))
    return test

"""One-to-one matching of predicted calls to gold calls that maximises the summed pair reward.

BFCL matches parallel calls greedily in gold order; greedy can miss a perfect matching that
exists, so we solve the assignment exactly. ``scipy.optimize.linear_sum_assignment`` handles
rectangular matrices in O(n^2 m); the 1 x m and n x 1 shapes, by far the most common, skip it.

>>> best_matching([[1.0, -1.5], [-1.5, -0.25]])
[(0, 0), (1, 1)]
>>> best_matching([[-1.5, 1.0, -2.0]])
[(0, 1)]
"""

from __future__ import annotations

__all__ = ["best_matching"]


def best_matching(scores: list[list[float]]) -> list[tuple[int, int]]:
    """Row/column pairs of a maximum-sum matching of ``min(rows, cols)`` pairs."""
    n_rows = len(scores)
    n_cols = len(scores[0]) if n_rows else 0
    if n_rows == 0 or n_cols == 0:
        return []
    if n_rows == 1:
        row = scores[0]
        return [(0, max(range(n_cols), key=row.__getitem__))]
    if n_cols == 1:
        return [(max(range(n_rows), key=lambda i: scores[i][0]), 0)]
    from scipy.optimize import linear_sum_assignment  # deferred: scipy's import costs ~0.2 s

    rows, cols = linear_sum_assignment(scores, maximize=True)
    return list(zip(rows.tolist(), cols.tolist()))

"""One-to-one matching of predicted calls to gold calls that maximises the summed pair reward.

BFCL matches parallel calls greedily in gold order; greedy can miss a perfect matching that
exists, so we solve the assignment exactly. Shapes, by how often they occur:

* ``1 x m`` and ``n x 1`` (one call on either side): the best cell, no solver;
* two calls on one side and at most four on the other: every placement of the two calls is
  tried (at most 12), which beats ``scipy.optimize.linear_sum_assignment`` on these sizes
  (measured 0.7 / 1.0 / 1.3 us for 2x2 / 2x3 / 2x4 against 2.3-2.5 us; the call overhead of
  scipy dominates; ``benchmarks/bench_reward.py`` prints the figures);
* anything larger: ``linear_sum_assignment``, O(n^2 m) in C. An exact Python solver (bitmask
  DP over used columns) is already slower from 3 x 3 up (4.5 against 2.7 us; 22 against 4 us
  at 5 x 5).

Ties between optimal matchings go to the first placement in row order (lexicographically
smallest columns) on the small path.

>>> best_matching([[1.0, -1.5], [-1.5, -0.25]])
[(0, 0), (1, 1)]
>>> best_matching([[-1.5, 1.0, -2.0]])
[(0, 1)]
>>> best_matching([[-1.5, 1.0], [1.0, -1.5], [-2.0, -0.25]])
[(0, 1), (1, 0)]
"""

from __future__ import annotations

__all__ = ["best_matching", "pair_matching", "scipy_matching"]

# The two-call brute force is used while the other side has at most this many calls.
SMALL_MAX_SIDE = 4


def best_matching(scores: list[list[float]]) -> list[tuple[int, int]]:
    """Row/column pairs (sorted by row) of a maximum-sum matching of ``min(rows, cols)`` pairs."""
    n_rows = len(scores)
    n_cols = len(scores[0]) if n_rows else 0
    if n_rows == 0 or n_cols == 0:
        return []
    if n_rows == 1:
        row = scores[0]
        return [(0, max(range(n_cols), key=row.__getitem__))]
    if n_cols == 1:
        return [(max(range(n_rows), key=lambda i: scores[i][0]), 0)]
    if min(n_rows, n_cols) == 2 and max(n_rows, n_cols) <= SMALL_MAX_SIDE:
        return pair_matching(scores)
    return scipy_matching(scores)


def pair_matching(scores: list[list[float]]) -> list[tuple[int, int]]:
    """Exact matching when one side has exactly two entries: try every placement of the two."""
    if len(scores) == 2:
        r0, r1 = scores
        n = len(r0)
        best = None
        for j0 in range(n):
            a = r0[j0]
            for j1 in range(n):
                if j1 != j0 and (best is None or a + r1[j1] > best):
                    best, c0, c1 = a + r1[j1], j0, j1
        return [(0, c0), (1, c1)]
    # two columns, several rows: the same on the transpose
    best = None
    n = len(scores)
    for i0 in range(n):
        a = scores[i0][0]
        for i1 in range(n):
            if i1 != i0 and (best is None or a + scores[i1][1] > best):
                best, c0, c1 = a + scores[i1][1], i0, i1
    return sorted([(c0, 0), (c1, 1)])


def scipy_matching(scores: list[list[float]]) -> list[tuple[int, int]]:
    """``scipy.optimize.linear_sum_assignment`` (maximising), as row/column pairs."""
    from scipy.optimize import linear_sum_assignment  # deferred: scipy's import costs ~0.2 s

    rows, cols = linear_sum_assignment(scores, maximize=True)
    return list(zip(rows.tolist(), cols.tolist()))

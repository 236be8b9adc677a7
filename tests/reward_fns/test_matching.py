"""The small exact solver in ``reward_fns.matching`` finds optimal matchings, like scipy's."""

from __future__ import annotations

import itertools
import random

import pytest

from reward_fns.matching import SMALL_MAX_SIDE, best_matching, pair_matching, scipy_matching

LEVELS = [1.0, -0.25, -0.5, -0.8, -1.0, -1.3, -1.5, -1.8, -2.0]  # pair rewards that occur


def _total(scores, matching):
    return sum(scores[i][j] for i, j in matching)


def _brute_force_best(scores):
    n_rows, n_cols = len(scores), len(scores[0])
    if n_rows <= n_cols:
        return max(
            sum(scores[i][j] for i, j in enumerate(cols)) for cols in itertools.permutations(range(n_cols), n_rows)
        )
    return max(sum(scores[i][j] for j, i in enumerate(rows)) for rows in itertools.permutations(range(n_rows), n_cols))


@pytest.mark.parametrize("shape", [(r, c) for r in range(1, 6) for c in range(1, 6)])
def test_best_matching_is_optimal_and_one_to_one(shape):
    rng = random.Random(hash(shape))
    for _ in range(200):
        scores = [[rng.choice(LEVELS) for _ in range(shape[1])] for _ in range(shape[0])]
        matching = best_matching(scores)
        assert len(matching) == min(shape)
        assert len({i for i, _ in matching}) == len({j for _, j in matching}) == min(shape)
        assert matching == sorted(matching)
        assert _total(scores, matching) == pytest.approx(_brute_force_best(scores))


@pytest.mark.parametrize("other", range(2, SMALL_MAX_SIDE + 1))
def test_pair_matching_agrees_with_scipy(other):
    rng = random.Random(other)
    for shape in [(2, other), (other, 2)]:
        for _ in range(300):
            scores = [[rng.uniform(-2, 1) for _ in range(shape[1])] for _ in range(shape[0])]
            assert _total(scores, pair_matching(scores)) == pytest.approx(_total(scores, scipy_matching(scores)))


def test_ties_go_to_the_first_placement():
    assert pair_matching([[1.0, 1.0], [1.0, 1.0]]) == [(0, 0), (1, 1)]
    assert pair_matching([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]) == [(0, 0), (1, 1)]


def test_empty():
    assert best_matching([]) == [] and best_matching([[]]) == []

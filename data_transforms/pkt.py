"""PKT (TL-Training 4.2, docs/design.md#pkt): which tokens of a tool name are key tokens, and their weight.

Token ids in, positions and weights out; tokenising is the caller's job. A tool name's key tokens
are its first token, plus, for every other candidate name, the token where the two names' token
sequences part (``0 < L_j < len(gold)``, ``L_j`` their shared prefix length): where the model has
to choose between similar tools. Key tokens of an assistant message weigh
``clip(|NK| / |K|, 1, w_max)``, its other trained tokens 1.

>>> key_positions([7, 8, 9], [[7, 8, 4], [7, 5], [3], [7, 8, 9, 2]])
[0, 1, 2]
>>> key_weight(n_key=2, n_non_key=30, w_max=9)
9.0
>>> key_weight(n_key=4, n_non_key=10, w_max=9)
2.5
>>> key_weight(n_key=3, n_non_key=1, w_max=9)  # never below the other tokens' weight
1.0
>>> token_weights(trained=[0, 0, 1, 1, 1, 1], keys=[2], w_max=9)
[0.0, 0.0, 3.0, 1.0, 1.0, 1.0]
>>> token_weights(trained=[0, 1, 1, 1], keys=[0, 1], w_max=9)  # an untrained key stays 0
[0.0, 2.0, 1.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["DEFAULT_W_MAX", "key_positions", "key_weight", "shared_prefix", "token_weights"]

DEFAULT_W_MAX = 9.0  # TL-Training section 5.1


def shared_prefix(a: Sequence, b: Sequence) -> int:
    """Length of the common prefix of two sequences.

    >>> shared_prefix([1, 2, 3], [1, 2, 4, 5])
    2
    """
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def key_positions(gold: Sequence[int], candidates: Iterable[Sequence[int]]) -> list[int]:
    """Key positions within the gold name's tokens ``gold``, given each other candidate name's tokens.

    Position 0 always; ``L_j`` for each candidate sharing ``0 < L_j < len(gold)`` leading tokens.
    A candidate that parts at the first token adds nothing (position 0 is key anyway), nor does one
    of which ``gold`` is a prefix (the names part after the gold name ends).
    """
    if not gold:
        return []
    keys = {0}
    for cand in candidates:
        shared = shared_prefix(gold, cand)
        if 0 < shared < len(gold):
            keys.add(shared)
    return sorted(keys)


def key_weight(n_key: int, n_non_key: int, w_max: float = DEFAULT_W_MAX) -> float:
    """``clip(n_non_key / n_key, 1, w_max)``; 1.0 when there is no key token."""
    if n_key <= 0:
        return 1.0
    return float(min(max(n_non_key / n_key, 1.0), w_max))


def token_weights(trained: Sequence, keys: Iterable[int], w_max: float = DEFAULT_W_MAX) -> list[float]:
    """Per-token loss weights of one message: 0 untrained, ``key_weight`` on trained keys, else 1.

    ``trained`` holds the message's 0/1 loss mask; ``keys`` token positions in it. A key on an
    untrained token stays 0 (a masked message is 0 everywhere).
    """
    keys = {k for k in keys if trained[k]}
    n_trained = sum(1 for t in trained if t)
    w = key_weight(len(keys), n_trained - len(keys), w_max)
    return [0.0 if not t else (w if i in keys else 1.0) for i, t in enumerate(trained)]

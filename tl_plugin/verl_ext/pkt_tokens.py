"""PKT key tokens of one rendered assistant message, with a Hugging Face fast tokenizer.

PKT is TL-Training 4.2; the definition we follow is docs/design.md#pkt.

The message is rendered by the chat template and tokenised with an offset mapping; each tool
call's name is found in the text (in call order, as ``"name": "<name>"`` where templates write it
so), and the tokens overlapping it are the gold name's tokens. Every other candidate name is
tokenised in the same left context (the message's text up to the name, plus the character after
it, with which a name's last token may merge) and compared with the gold tokens
(:func:`data_transforms.pkt.key_positions`).
"""

from __future__ import annotations

from collections.abc import Sequence

from data_transforms.pkt import key_positions

__all__ = ["PKTError", "call_key_positions", "find_name", "message_key_positions", "name_tokens"]


class PKTError(ValueError):
    """A tool call's name cannot be placed in the rendered message."""


def find_name(text: str, name: str, start: int = 0) -> tuple[int, int]:
    """Character span of the tool name ``name`` in ``text``, searched from ``start``.

    Templates write the name as a JSON field (``"name": "get_weather"``); that form is searched
    first so that the same word in the message's prose is not taken for it.

    >>> find_name('I will call get_x.\\n{"name": "get_x", "arguments": {}}', "get_x")
    (29, 34)
    """
    for needle, lead in (('"name": "' + name + '"', 9), ('"' + name + '"', 1), (name, 0)):
        at = text.find(needle, start)
        if at >= 0:
            return at + lead, at + lead + len(name)
    raise PKTError(f"tool call name {name!r} does not appear in the rendered message")


def name_tokens(offsets: Sequence, span: tuple[int, int]) -> list[int]:
    """Indices of the tokens whose character offsets overlap ``span``."""
    s, e = span
    return [i for i, (a, b) in enumerate(offsets) if a < e and b > s and b > a]


def _encode(tokenizer, texts: list[str]):
    enc = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
    return enc["input_ids"], enc["offset_mapping"]


def call_key_positions(
    tokenizer, text: str, span: tuple[int, int], gold_ids: list[int], candidates: Sequence[str]
) -> list[int]:
    """Key positions (0-based, within the name's tokens ``gold_ids``) of the name at ``span``.

    ``candidates`` are the other tool names the model could have written.
    """
    s, e = span
    name = text[s:e]
    others = [c for c in dict.fromkeys(candidates) if c != name]
    if not others:
        return key_positions(gold_ids, [])
    right = text[e : e + 1]  # the closing quote
    left = text[:s]
    ids, offsets = _encode(tokenizer, [left + n + right for n in [name, *others]])
    f = name_tokens(offsets[0], (len(left), len(left) + len(name)))[0]
    # tokens from the name's first token on; everything before it is the shared left context
    tails = [seq[f:] if seq[:f] == ids[0][:f] else [] for seq in ids[1:]]
    return key_positions(list(gold_ids), tails)


def message_key_positions(
    tokenizer, text: str, call_names: Sequence[str], candidates: Sequence[str]
) -> tuple[list[int], list[int]]:
    """The tokens of ``text`` and the positions in them of every call's key tokens.

    ``call_names`` are the message's tool calls in order; raises :class:`PKTError` if a name is
    not in the text.
    """
    ids, offsets = _encode(tokenizer, [text])
    ids, offsets = ids[0], offsets[0]
    keys: list[int] = []
    cursor = 0
    for name in call_names:
        span = find_name(text, name, cursor)
        _, cursor = span  # (start, end) of the name in the text
        toks = name_tokens(offsets, span)
        if not toks:
            raise PKTError(f"tool call name {name!r} covers no token")
        gold_ids = [ids[i] for i in toks]
        keys += [toks[0] + k for k in call_key_positions(tokenizer, text, span, gold_ids, candidates)]
    return list(ids), sorted(set(keys))

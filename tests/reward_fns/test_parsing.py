"""Tool-call parsing: formats, auto detection, malformed detection, hostile input.

The rules are in docs/design.md#tool-call-parsing and docs/reward.md.

Nothing here is timed: the hostile-input tests assert what the parser returns, and they only
finish (in well under a second each) because parsing is linear in the input.
"""

from __future__ import annotations

import json
import keyword
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reward_fns.parsing import FORMATS, ParseResult, parse_tool_calls
from reward_fns.tl_tool import compute_score
from tests.helpers import examples

MB = 1_000_000


def ok(text, fmt="auto"):
    """Parse, assert success, return ``(format, calls)``."""
    r = parse_tool_calls(text, fmt)
    assert r.status == "ok", (text[:200], r)
    return r.format, r.calls


def status(text, fmt="auto"):
    return parse_tool_calls(text, fmt).status


def assert_canonical(result: ParseResult):
    assert result.status in ("ok", "no_call", "malformed")
    assert isinstance(result.calls, list)
    assert (result.status == "ok") == bool(result.calls)
    for call in result.calls:
        assert isinstance(call, dict) and set(call) == {"name", "arguments"}
        assert isinstance(call["name"], str) and call["name"]
        assert isinstance(call["arguments"], dict)


# --------------------------------------------------------------------------- hermes


@pytest.mark.parametrize(
    "text",
    [
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}</tool_call>',
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}\n</tool_call>',
        '<tool_call>  \t{"name":"get_weather","arguments":{"city":"Paris","days":3}}\r\n  </tool_call>',
        'Let me check.\n<tool_call>\n{"name": "get_weather",\n "arguments": {"city": "Paris",\n "days": 3}}\n</tool_call>\n',
        '<tool_call>{"name": "get_weather", "parameters": {"city": "Paris", "days": 3}}</tool_call>',
        '<tool_call>{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\", \\"days\\": 3}"}</tool_call>',
    ],
    ids=["compact", "newlines", "tabs_crlf", "prose_and_multiline", "parameters_alias", "arguments_json_string"],
)
def test_hermes_single_call(text):
    assert ok(text) == ("hermes", [{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}])


def test_hermes_several_blocks_keep_order():
    text = (
        '<tool_call>{"name": "a", "arguments": {"x": 1}}</tool_call>\n'
        "some words in between\n"
        '<tool_call>{"name": "b", "arguments": {}}</tool_call>'
    )
    assert ok(text) == ("hermes", [{"name": "a", "arguments": {"x": 1}}, {"name": "b", "arguments": {}}])


def test_hermes_close_tag_inside_json_string():
    text = '<tool_call>{"name": "echo", "arguments": {"s": "a </tool_call> b <tool_call> c"}}</tool_call>'
    assert ok(text) == ("hermes", [{"name": "echo", "arguments": {"s": "a </tool_call> b <tool_call> c"}}])


def test_hermes_missing_or_null_arguments_is_empty_dict():
    assert ok('<tool_call>{"name": "now"}</tool_call>')[1] == [{"name": "now", "arguments": {}}]
    assert ok('<tool_call>{"name": "now", "arguments": null}</tool_call>')[1] == [{"name": "now", "arguments": {}}]


@pytest.mark.parametrize(
    "text",
    [
        '<tool_call>{"name": "f", "arguments": {"x": 1}}',  # unclosed
        '<tool_call>{"name": "f", "arguments": {"x": 1}}</tool_call>\n<tool_call>{"name": "g"',  # 2nd unclosed
        '<tool_call>{"name": "f", "arguments": {"x": 1,}}</tool_call>',  # bad JSON
        "<tool_call>{'name': 'f', 'arguments': {}}</tool_call>",  # Python dict, not JSON
        '<tool_call>{"name": "f", "arguments": {</tool_call>',
        '<tool_call>{"arguments": {"x": 1}}</tool_call>',  # no name
        '<tool_call>{"name": 3, "arguments": {}}</tool_call>',  # name not a string
        '<tool_call>{"name": "f", "arguments": [1, 2]}</tool_call>',  # arguments not an object
        '<tool_call>{"name": "f", "arguments": "not json"}</tool_call>',  # undecodable string
        "<tool_call>[]</tool_call>",  # a list without calls
        '<tool_call>[{"name": "f", "arguments": {}}, 3]</tool_call>',  # a list item that is no call
        '<tool_call>{"name": "f", "arguments": {}}\n{"name": "g"</tool_call>',  # 2nd call in the block torn
        '<tool_call>{"name": "f", "arguments": {}}\n"g"</tool_call>',
        '<tool_call>{"name": "f", "arguments": {}} trailing</tool_call>',
        "<tool_call></tool_call>",
    ],
)
def test_hermes_malformed(text):
    r = parse_tool_calls(text)
    assert (r.status, r.format, r.calls) == ("malformed", "hermes", [])
    assert r.error


def test_hermes_good_block_then_bad_block_is_malformed_not_partial():
    text = '<tool_call>{"name": "f", "arguments": {}}</tool_call><tool_call>{bad}</tool_call>'
    assert parse_tool_calls(text).calls == []
    assert status(text) == "malformed"


# --------------------------------------------------------------------------- json


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "get_weather", "arguments": {"city": "Paris"}}',
        '  {"name": "get_weather", "parameters": {"city": "Paris"}}\n',
        '[{"name": "get_weather", "arguments": {"city": "Paris"}}]',
        '```json\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n```',
        'Here is the call:\n```json\n[{"name": "get_weather", "arguments": {"city": "Paris"}}]\n```\nDone.',
        '```\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n```',
        '{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}',
        '{"type": "function", "function": {"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}}',
        '{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}',
        '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}',  # Llama 3.x marker kept
        '[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Paris"}}]',  # Mistral marker kept
    ],
    ids=[
        "bare",
        "bare_parameters",
        "list",
        "json_fence",
        "fence_in_prose",
        "untagged_fence",
        "string_args",
        "openai_wrapper",
        "tool_calls_key",
        "python_tag",
        "mistral_tool_calls",
    ],
)
def test_json_single_call(text):
    assert ok(text) == ("json", [{"name": "get_weather", "arguments": {"city": "Paris"}}])


def test_json_xlam_list_of_calls():
    text = json.dumps(
        [
            {"name": "live_giveaways_by_type", "arguments": {"type": "beta"}},
            {"name": "live_giveaways_by_type", "arguments": {"type": "game"}},
            {"name": "math.factorial", "arguments": {"number": 5}},
        ]
    )
    fmt, calls = ok(text)
    assert fmt == "json"
    assert [c["name"] for c in calls] == ["live_giveaways_by_type", "live_giveaways_by_type", "math.factorial"]
    assert [c["arguments"] for c in calls] == [{"type": "beta"}, {"type": "game"}, {"number": 5}]


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "f", "arguments": {"x": 1}',  # truncated
        '[{"name": "f", "arguments": {}}, {"name": "g", "arguments": {}]',
        '[{"name": "f", "arguments": {}}, 42]',  # a call list with a non-call item
        '[{"name": "f", "arguments": {}}, {"city": "Paris"}]',
        '{"name": "f", "arguments": [1]}',
        '{"name": "", "arguments": {}}',
        '```json\n{"name": "f", "arguments": {"x": }}\n```',
    ],
)
def test_json_malformed(text):
    r = parse_tool_calls(text)
    assert (r.status, r.format) == ("malformed", "json"), r


@pytest.mark.parametrize(
    "text",
    [
        "[1, 2, 3]",
        "[]",
        "{}",
        '{"answer": 42}',
        '[{"city": "Paris", "temp": 21}]',
        '"just a JSON string"',
        "42",
        "null",
    ],
)
def test_json_data_that_is_no_call_attempt_is_an_answer(text):
    """Decision: JSON with no object carrying name/function/arguments/parameters is an answer."""
    assert parse_tool_calls(text) == ParseResult([], "no_call", "none", "")


# --------------------------------------------------------------------------- python


def test_python_list_of_calls():
    fmt, calls = ok('[f(a=1, b="x"), g()]')
    assert fmt == "python"
    assert calls == [{"name": "f", "arguments": {"a": 1, "b": "x"}}, {"name": "g", "arguments": {}}]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("f(a=1)", {"name": "f", "arguments": {"a": 1}}),
        ("[get_weather(city='Paris', days=-1)]", {"name": "get_weather", "arguments": {"city": "Paris", "days": -1}}),
        ("f(x=-2.5, y=+3, z=-0.0)", {"name": "f", "arguments": {"x": -2.5, "y": 3, "z": -0.0}}),
        ("math.factorial(number=5)", {"name": "math.factorial", "arguments": {"number": 5}}),
        ("[a.b.c(d=None, e=True, f=False)]", {"name": "a.b.c", "arguments": {"d": None, "e": True, "f": False}}),
        ("f(pos=(1, 2), s={3})", {"name": "f", "arguments": {"pos": [1, 2], "s": [3]}}),
        (
            'f(m=[[1, -2], {"k": [3.5, "v"], "n": {"deep": (1,)}}])',
            {"name": "f", "arguments": {"m": [[1, -2], {"k": [3.5, "v"], "n": {"deep": [1]}}]}},
        ),
        ('f(s="a" "b", t="""multi\nline""")', {"name": "f", "arguments": {"s": "ab", "t": "multi\nline"}}),
        ("```python\n[f(a=1)]\n```", {"name": "f", "arguments": {"a": 1}}),
        ("```tool_code\nf(a=1)\n```", {"name": "f", "arguments": {"a": 1}}),
        ("```json\n[f(a=1)]\n```", {"name": "f", "arguments": {"a": 1}}),  # Python in a json fence
        ("<|python_tag|>brave_search.call(query='x')", {"name": "brave_search.call", "arguments": {"query": "x"}}),
        ("  [f(a=1)]\n", {"name": "f", "arguments": {"a": 1}}),
    ],
)
def test_python_single_call(text, expected):
    assert ok(text) == ("python", [expected])


def test_python_tuples_become_lists_and_types_are_kept():
    _, [call] = ok("f(t=(1, 'a', (2.0, True)), e=())")
    assert call["arguments"] == {"t": [1, "a", [2.0, True]], "e": []}
    assert type(call["arguments"]["t"][2][0]) is float and call["arguments"]["t"][2][1] is True


@pytest.mark.parametrize(
    "text, why",
    [
        ("f(1)", "positional"),
        ("[f(a=1), g(2, b=3)]", "positional"),
        ("f(**kwargs)", "**kwargs"),
        ("f(a=1, **{'b': 2})", "**kwargs"),
        ("f(a=1, a=2)", "repeated"),
        ("f(x=y)", "not a literal"),
        ("f(x=1 + 2)", "not a literal"),
        ("f(x=-True)", "not a literal"),
        ("f(x=1j)", "not a literal"),
        ("f(x=b'bytes')", "not a literal"),
        ("f(x=...)", "not a literal"),
        ("f(x=f'{y}')", "not a literal"),
        ("f(x=[i for i in range(3)])", "not a literal"),
        ("f(x={'a': 1, **d})", "not a literal"),
        ("f(x=lambda: 1)", "not a literal"),
        ("[f(a=1), 3]", "not a call"),
        ("f(a=1)(b=2)", "callee"),
        ("f(a=1).g(b=2)", "callee"),
        ("f(a=1", "valid Python"),  # truncated
        ("[get_weather(city='Paris'", "valid Python"),
        ("f(a=1) and then some prose", "valid Python"),
    ],
)
def test_python_malformed(text, why):
    r = parse_tool_calls(text)
    assert (r.status, r.format, r.calls) == ("malformed", "python", [])
    assert why in r.error


def test_python_arguments_are_never_executed(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    import os

    calls = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(a) or 0)
    for text in (
        f'f(x=os.system("touch {marker}"))',
        f'f(x=__import__("os").system("touch {marker}"))',
        f'[f(x=open("{marker}", "w").write("x"))]',
        f'os.system(command="touch {marker}")',  # a "call" named os.system: parsed, not run
    ):
        r = parse_tool_calls(text)
        assert r.status in ("malformed", "ok")
    assert calls == [] and not marker.exists()
    assert parse_tool_calls('f(x=os.system("ls"))').status == "malformed"
    assert ok('os.system(command="ls")') == ("python", [{"name": "os.system", "arguments": {"command": "ls"}}])


# --------------------------------------------------------------------------- react


def test_react_single_action():
    text = 'Thought: I need the weather.\nAction: get_weather\nAction Input: {"city": "Paris", "days": 3}\n'
    assert ok(text) == ("react", [{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}])


def test_react_whitespace_and_multiline_input():
    text = '  Action :  get_weather  \n\n   Action Input:\n{\n  "city": "Paris"\n}\nObservation: ...'
    assert ok(text) == ("react", [{"name": "get_weather", "arguments": {"city": "Paris"}}])


def test_react_several_actions():
    text = (
        "Thought: two lookups.\n"
        'Action: get_weather\nAction Input: {"city": "Paris"}\n'
        "Thought: and the other one\n"
        'Action: get_weather\nAction Input: {"city": "Rome"}\n'
        "Action: now\nAction Input: {}\n"
    )
    fmt, calls = ok(text)
    assert fmt == "react"
    assert calls == [
        {"name": "get_weather", "arguments": {"city": "Paris"}},
        {"name": "get_weather", "arguments": {"city": "Rome"}},
        {"name": "now", "arguments": {}},
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Action: get_weather\n",  # no Action Input
        "Action: get_weather\nThought: hmm\nAction Input: {}",  # input not right after
        'Action: get_weather\nAction Input: {"city": "Paris"}\nAction: now\n',  # 2nd lacks input
        "Action: get_weather\nAction Input: city=Paris",  # not JSON
        'Action: get_weather\nAction Input: ["Paris"]',  # not an object
        'Action: get_weather\nAction Input: {"city": "Paris"',  # truncated
        'Action:\nAction Input: {"city": "Paris"}',  # empty name
        'Action Input: {"city": "Paris"}',  # input with no action
    ],
)
def test_react_malformed(text):
    r = parse_tool_calls(text)
    assert (r.status, r.format) == ("malformed", "react"), r


# --------------------------------------------------------------------------- auto / explicit format


def test_auto_reports_the_matched_format():
    samples = {
        "hermes": '<tool_call>{"name": "f", "arguments": {"a": 1}}</tool_call>',
        "json": '{"name": "f", "arguments": {"a": 1}}',
        "python": "[f(a=1)]",
        "react": 'Action: f\nAction Input: {"a": 1}',
    }
    for fmt, text in samples.items():
        assert ok(text) == (fmt, [{"name": "f", "arguments": {"a": 1}}])
        # the explicit format parses its own text the same way
        assert ok(text, fmt) == (fmt, [{"name": "f", "arguments": {"a": 1}}])
        # ...and every other explicit format sees no call in it
        for other in FORMATS:
            if other != fmt:
                assert status(text, other) == "no_call", (fmt, other)


def test_explicit_format_ignores_other_formats_even_when_malformed():
    assert status("<tool_call>{oops", "python") == "no_call"
    assert status("<tool_call>{oops", "auto") == "malformed"
    assert status("[f(a=1)]", "hermes") == "no_call"


def test_auto_prefers_hermes_over_react_text_inside_it():
    text = 'Action: g\nAction Input: {}\n<tool_call>{"name": "f", "arguments": {}}</tool_call>'
    assert ok(text) == ("hermes", [{"name": "f", "arguments": {}}])


def test_unknown_format_raises_value_error():
    with pytest.raises(ValueError, match="xml"):
        parse_tool_calls("hi", "xml")


def test_non_string_response_is_malformed_not_an_exception():
    for value in (None, 3, b"<tool_call>", ["f(a=1)"]):
        assert parse_tool_calls(value).status == "malformed"


# --------------------------------------------------------------------------- reasoning


def test_think_block_is_not_parsed():
    call = '<tool_call>{"name": "f", "arguments": {"a": 1}}</tool_call>'
    drafts = "<think>Maybe <tool_call>{broken or\nAction: g\nor [h(x=</think>\n"
    assert ok(drafts + call) == ("hermes", [{"name": "f", "arguments": {"a": 1}}])
    assert status(drafts + "The answer is 4.") == "no_call"
    assert status("<think>\n\n</think>\n\nThe answer is 4.") == "no_call"


def test_reasoning_begun_in_the_prompt_ends_at_first_close_tag():
    assert ok("I should call f(a=\n</think>\n[f(a=1)]") == ("python", [{"name": "f", "arguments": {"a": 1}}])


def test_several_think_blocks_and_the_text_between_them():
    text = (
        '<think>a</think>\n<tool_call>{"name": "f", "arguments": {}}</tool_call>'
        '\n<think>b <tool_call>{</think>\n<tool_call>{"name": "g", "arguments": {}}</tool_call>'
    )
    assert [c["name"] for c in ok(text)[1]] == ["f", "g"]


@pytest.mark.parametrize(
    "text",
    [
        '<tool_call>\n{"name": "f", "arguments": {"s": "</think>"}}\n</tool_call>',
        '<tool_call>{"name": "f", "arguments": {"s": "<think>x</think>"}}</tool_call>',
        '{"name": "f", "arguments": {"s": "a</think>\\n"}}',
        "[f(s='</think>')]",
        'Action: f\nAction Input: {"s": "<think> </think>"}',
    ],
)
def test_think_tags_inside_call_strings_are_data(text):
    r = parse_tool_calls(text)
    assert r.status == "ok" and r.calls[0]["name"] == "f" and "think>" in r.calls[0]["arguments"]["s"]


def test_think_tag_not_at_line_start_is_text():
    # `<think>` mid-line does not open a block (as `<tool_call>` would not be hidden by it)
    assert status('Sure <think>x</think> <tool_call>{"name": "f"}</tool_call>') == "ok"
    assert status("Sure <think>x <tool_call>{</think> done") == "malformed"


def test_unclosed_think_is_parsed_as_is():
    """A truncated response: what it drafted still counts (here a malformed block)."""
    assert status('<think>I will call <tool_call>{"name": ') == "malformed"
    assert status("<think>I am still thinking about it") == "no_call"


# --------------------------------------------------------------------------- plain prose


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n",
        "The weather in Paris is sunny, 21 degrees.",
        "We should take Action: tomorrow, not today.",
        "The Action Input: field is explained in the manual.",
        "Paris (the capital of France) is lovely (in spring).",
        "Sure(ish), I can help with that.",
        "f(x) = x^2 is a parabola.",
        "print(x) shows the value.",
        "[1, 2, 3]",
        "The answer is [1, 2, 3].",
        "Use the <tool_call format only when needed.",
        "```python\nx = 1\n```",
        "In Python, `math.factorial(5)` returns 120.",
    ],
)
def test_prose_is_no_call(text):
    assert parse_tool_calls(text) == ParseResult([], "no_call", "none", "")


# --------------------------------------------------------------------------- hostile input


def test_one_megabyte_of_random_noise():
    """Noise alone is never a call; a real call after 1 MB of noise is still found."""
    rng = random.Random(1234)
    alphabet = "abcxyz019 \n\t{}[]()<>/\\\"':,=.-_`*#"  # cannot spell <tool_call>, Action or </think>
    call = '\n<tool_call>{"name": "f", "arguments": {"a": 1}}</tool_call>'
    noises = ["".join(rng.choices(alphabet, k=MB)) for _ in range(3)]
    noises.append("".join(map(chr, rng.choices(range(0x20, 0x2FF), k=MB))))
    for noise in noises:
        r = parse_tool_calls(noise)
        assert_canonical(r)
        assert r.status in ("no_call", "malformed")
        assert ok(noise + call) == ("hermes", [{"name": "f", "arguments": {"a": 1}}])


@pytest.mark.parametrize(
    "text, expected",
    [
        ('<tool_call>{"a": "' * (MB // 18), "malformed"),
        ("<tool_call>" * (MB // 11), "malformed"),
        ("<tool_call>" + " " * MB, "malformed"),
        ('<tool_call>{"name": "f"}' + " " * MB, "malformed"),
        ("Action:\n" * (MB // 8), "malformed"),
        ("Action: f\n" * (MB // 10), "malformed"),
        ("Action Input: {}\n" * (MB // 17), "malformed"),
        ("Action" + " " * MB, "no_call"),
        ("[" * (100 * 1000), "malformed"),  # JSON nested 100k deep
        ("{" * MB, "malformed"),
        ('{"name": "f", "arguments": ' + '{"a": ' * 100_000 + "1" + "}" * 100_001, "malformed"),
        ("f(a=" + "[" * 100_000 + "]" * 100_000 + ")", "malformed"),  # Python nested 100k deep
        ("f(a=" + "(" * MB, "malformed"),
        ("f(a=" + "-" * MB + "1)", "malformed"),
        ("f(a=" + "9" * 5000 + ")", "malformed"),  # int beyond Python's digit limit
        ("```" + " " * MB + "x", "no_call"),  # a fence regex that backtracks would be quadratic here
        ("`" * MB, "no_call"),
        ("a" * MB + "(", "no_call"),
        ("a." * (MB // 2) + "(", "no_call"),
        ('"' + "a" * MB, "no_call"),
        ("\n" * MB, "no_call"),
        ("</think>" * (MB // 8), "no_call"),
        ("<think>" * (MB // 7) + "</think>", "no_call"),
        ("<think></think>\n" * (MB // 16) + "[f(a=1)]", "ok"),
        ("x<think>" * (MB // 8) + "</think>", "no_call"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 20 else None,
)
def test_hostile_inputs_do_not_raise(text, expected):
    r = parse_tool_calls(text)
    assert_canonical(r)
    assert r.status == expected


def test_many_valid_blocks():
    n = 20_000
    hermes = '<tool_call>{"name": "f", "arguments": {"i": 1}}</tool_call>\n' * n
    assert ok(hermes) == ("hermes", [{"name": "f", "arguments": {"i": 1}}] * n)
    react = 'Action: f\nAction Input: {"i": 1}\n' * n
    assert ok(react) == ("react", [{"name": "f", "arguments": {"i": 1}}] * n)
    python = "[" + "f(i=1), " * n + "]"
    assert ok(python) == ("python", [{"name": "f", "arguments": {"i": 1}}] * n)


def test_huge_json_integer_is_malformed_not_an_exception():
    text = '{"name": "f", "arguments": {"x": ' + "9" * 5000 + "}}"
    assert parse_tool_calls(text).status == "malformed"


# --------------------------------------------------------------------------- properties

FRAGMENTS = [
    "<tool_call>",
    "</tool_call>",
    "<tool_call>\n",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    '"name"',
    '"arguments"',
    '"parameters"',
    ": ",
    ", ",
    '"f"',
    '"x"',
    "1",
    "-2.5",
    "null",
    "true",
    "Action:",
    "Action Input:",
    "Action: f\n",
    "\n",
    " ",
    "```",
    "```json\n",
    "```python\n",
    "f(",
    "a=",
    "math.factorial",
    "'s'",
    "**",
    "=",
    "<|python_tag|>",
    "[TOOL_CALLS]",
    "<think>",
    "</think>",
    '\\"',
    "\\",
]

fragment_text = st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join)


@settings(max_examples=examples(400), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(st.text(max_size=300), fragment_text), fmt=st.sampled_from(("auto", *FORMATS)))
def test_property_never_raises_and_calls_are_canonical(text, fmt):
    r = parse_tool_calls(text, fmt)
    assert_canonical(r)
    if fmt != "auto" and r.status != "no_call":
        assert r.format == fmt
    if r.status == "no_call":
        assert r.format == "none"


@st.composite
def call_lists(draw):
    name = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}(\.[A-Za-z_][A-Za-z0-9_]{0,8})?", fullmatch=True).filter(
        lambda n: not any(keyword.iskeyword(part) for part in n.split("."))  # `if(...)` is no Python
    )
    scalar = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**6), 10**6),
        st.floats(allow_nan=False, allow_infinity=False, width=32),
        st.text(max_size=10),
    )
    value = st.recursive(
        scalar,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.text(min_size=1, max_size=5), inner, max_size=3)
        ),
        max_leaves=6,
    )
    key = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True).filter(lambda k: not keyword.iskeyword(k))
    return draw(
        st.lists(
            st.fixed_dictionaries({"name": name, "arguments": st.dictionaries(key, value, max_size=4)}),
            min_size=1,
            max_size=4,
        )
    )


def _py_literal(v):
    return repr(v)  # repr of JSON-ish Python data is a valid literal


def render(calls, fmt):
    if fmt == "hermes":
        return "\n".join(f"<tool_call>\n{json.dumps(c)}\n</tool_call>" for c in calls)
    if fmt == "json":
        return json.dumps(calls)
    if fmt == "react":
        return "\n".join(f"Thought: go\nAction: {c['name']}\nAction Input: {json.dumps(c['arguments'])}" for c in calls)
    inner = ", ".join(
        f"{c['name']}(" + ", ".join(f"{k}={_py_literal(v)}" for k, v in c["arguments"].items()) + ")" for c in calls
    )
    return f"[{inner}]"


@settings(max_examples=examples(200), deadline=None)
@given(calls=call_lists(), fmt=st.sampled_from(FORMATS))
def test_property_rendered_calls_round_trip(calls, fmt):
    text = render(calls, fmt)
    r = parse_tool_calls(text)
    assert r.status == "ok" and r.format == fmt, (text, r)
    assert r.calls == calls
    assert parse_tool_calls(text, fmt).calls == calls


# Several calls in one block: ToolRL's and Tool-N1's prompts ask for all calls in ONE block, one
# JSON object per line ("parameters" as the key), and some models write a JSON list there.
F_CALL, G_CALL = {"name": "f", "arguments": {"x": 1}}, {"name": "g", "arguments": {}}


@pytest.mark.parametrize(
    "text",
    [
        '<tool_call>\n{"name": "f", "parameters": {"x": 1}}\n{"name": "g", "parameters": {}}\n</tool_call>',
        '<tool_call>{"name": "f", "arguments": {"x": 1}}{"name": "g", "arguments": {}}</tool_call>',
        '<tool_call>\n[{"name": "f", "arguments": {"x": 1}}, {"name": "g", "arguments": {}}]\n</tool_call>',
        '<tool_call>[{"name": "f", "arguments": {"x": 1}}]</tool_call>\n<tool_call>{"name": "g", "arguments": {}}</tool_call>',
        '<think>two calls</think>\n<tool_call>\n{"name": "f", "parameters": {"x": 1}}\n'
        '{"name": "g", "parameters": {}}\n</tool_call>',
    ],
)
def test_hermes_several_calls_in_one_block(text):
    r = parse_tool_calls(text)
    assert (r.status, r.format, r.calls) == ("ok", "hermes", [F_CALL, G_CALL])
    assert parse_tool_calls(text, "hermes").calls == [F_CALL, G_CALL]


@pytest.mark.parametrize(
    "text",
    [
        # a good multi-call block, then a torn one: the response is malformed, no call is kept
        '<tool_call>\n{"name": "f", "parameters": {"x": 1}}\n{"name": "g", "parameters": {}}\n</tool_call>'
        '<tool_call>{"name": "h", "parameters": {</tool_call>',
        # a torn call line inside an otherwise good block
        '<tool_call>\n{"name": "f", "parameters": {"x": 1}}\n{"name": "g", "parameters": {\n</tool_call>',
        # a list block followed by a block that is no call
        '<tool_call>[{"name": "f", "arguments": {"x": 1}}]</tool_call><tool_call>{"x": 1}</tool_call>',
    ],
)
def test_hermes_several_calls_mixed_with_malformed_block(text):
    r = parse_tool_calls(text)
    assert (r.status, r.format, r.calls) == ("malformed", "hermes", [])


def test_reward_scores_multi_call_block_as_parallel_calls():
    gt = json.dumps([{"name": "f", "arguments": {"x": [1]}}, {"name": "g", "arguments": {}}])
    tools = json.dumps(
        [
            {"name": "f", "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}}},
            {"name": "g", "parameters": {"type": "object", "properties": {}}},
        ]
    )
    per_line = '<tool_call>\n{"name": "g", "parameters": {}}\n{"name": "f", "parameters": {"x": 1}}\n</tool_call>'
    as_list = '<tool_call>[{"name": "f", "arguments": {"x": 1}}, {"name": "g", "arguments": {}}]</tool_call>'
    for text in (per_line, as_list):
        r = compute_score("toolrl", text, gt, {"tools": tools})
        assert (r["score"], r["correct"], r["malformed"], r["n_pred_calls"]) == (1.0, 1, 0, 2)

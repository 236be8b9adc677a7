"""Readers (data_transforms.readers): sample files of each format to exact records, and bad input
to RecordErrors that name the row and the field.

The samples in tests/data/ are described in tests/data/README.md.
"""

from __future__ import annotations

import doctest
import json

import pytest

from data_transforms.io import append_jsonl, iter_rows, read_json, write_json, write_jsonl
from data_transforms.readers import (
    READERS,
    _common,
    openai_chat,
    read_openai,
    read_react,
    read_sharegpt,
    read_tl_training,
    read_toolace,
    read_toolrl,
    sharegpt,
    sharegpt_style,
    tl_training,
)
from data_transforms.records import Record, RecordError
from tests.helpers import DATA_DIR

DATA = DATA_DIR
SAMPLES = {  # file -> (reader source, number of rows)
    "openai_chat.jsonl": ("openai", 4),
    "toolace.json": ("toolace", 4),
    "rotbench_react.json": ("react", 3),
    "tl_training_raw.json": ("tl_training", 3),
}


def read_file(name: str, reader=None) -> list[Record]:
    read = reader or READERS[SAMPLES[name][0]]
    return [read(row, row_name) for row_name, row in iter_rows(DATA / name)]


def rows(name: str) -> list[tuple[str, dict]]:
    return list(iter_rows(DATA / name))


def raises(reader, row: dict, row_name: str, field: str) -> RecordError:
    """Assert ``reader(row, row_name)`` raises a RecordError naming the row and the field."""
    with pytest.raises(RecordError) as info:
        reader(row, row_name)
    msg = str(info.value)
    assert row_name in msg, msg
    assert f"field {field!r}" in msg, msg
    assert info.value.field == field
    return info.value


def calls(rec: Record) -> list:
    return [m.get("tool_calls") for m in rec.messages if m["role"] == "assistant"]


# --------------------------------------------------------------------------- all samples


def test_package_exports_the_six_readers():
    assert READERS == {
        "openai": read_openai,
        "sharegpt": read_sharegpt,
        "toolace": read_toolace,
        "react": read_react,
        "tl_training": read_tl_training,
        "toolrl": read_toolrl,
    }


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_sample_row_reads_into_a_trajectory(name):
    records = read_file(name)
    assert len(records) == SAMPLES[name][1]
    for rec in records:
        assert rec.gold is None and rec.tools
        assert any(m.get("tool_calls") for m in rec.messages)
        for m in rec.messages:
            assert isinstance(m["content"], str)
            if m["role"] == "tool":
                assert m.get("name"), (rec.id, m)  # every sample response can be named
            for call in m.get("tool_calls", ()):
                assert set(call) == {"name", "arguments"} and isinstance(call["arguments"], dict)
        # canonical tools only: no OpenAI wrapper, no BFCL type names, no stray schema-level keys
        assert all(set(t) == {"name", "description", "parameters"} for t in rec.tools)
        assert '"dict"' not in json.dumps(rec.tools) and '"float"' not in json.dumps(rec.tools)


@pytest.mark.parametrize("name,style", [("toolace.json", "toolace"), ("rotbench_react.json", "react")])
def test_sharegpt_detects_the_style_of_each_sample_row(name, style):
    assert [sharegpt_style(row) for _, row in rows(name)] == [style] * SAMPLES[name][1]
    assert read_file(name, read_sharegpt) == read_file(name)


def test_reader_modules_doctests_pass():
    # pytest's --doctest-modules only collects tests/ and reward_fns/, so run them here
    for module in (_common, openai_chat, sharegpt, tl_training):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__


# --------------------------------------------------------------------------- OpenAI chat


def test_openai_small_row_exactly():
    rec = read_file("openai_chat.jsonl")[0]
    assert rec.id == "oa-weather-1"
    assert rec.messages == [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What's the weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}],
        },
        {
            "role": "tool",
            "content": '{"temperature": 18, "condition": "cloudy"}',
            "name": "get_weather",
            "tool_call_id": "call_1",
        },
        {"role": "assistant", "content": "It is 18 °C and cloudy in Paris."},
    ]
    assert rec.tools == [
        {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City name"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city"],
            },
        }
    ]


def test_openai_parallel_calls_json_string_tools_and_text_parts():
    rec = read_file("openai_chat.jsonl")[1]
    assert [t["name"] for t in rec.tools] == ["get_weather", "get_time"]  # from a JSON string
    assert calls(rec) == [
        # a dict and a JSON string of arguments both end up as dicts
        [
            {"name": "get_weather", "arguments": {"town": "Rome"}},
            {"name": "get_time", "arguments": {"tz": "Europe/Madrid"}},
        ],
        [{"name": "get_weather", "arguments": {"city": "Rome"}}],  # the flat {"name", "arguments"} form
        None,
    ]
    assert rec.messages[1]["content"] == "Let me check both."
    tool_msgs = [m for m in rec.messages if m["role"] == "tool"]
    assert [(m["name"], m["tool_call_id"]) for m in tool_msgs] == [
        ("get_weather", "call_a"),
        ("get_time", "call_b"),
        ("get_weather", "call_c"),
    ]
    assert tool_msgs[0]["content"] == "get_weather() got an unexpected keyword argument 'town'"
    assert tool_msgs[1]["content"] == '{"time": "14:05"}'


def test_openai_legacy_function_call_and_function_role():
    rec = read_file("openai_chat.jsonl")[2]
    assert rec.id == "oa-legacy-3"  # conversation_id
    assert [t["name"] for t in rec.tools] == ["get_stock_price"]  # the legacy functions field
    assert rec.messages[1] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"name": "get_stock_price", "arguments": {"symbol": "AAPL"}}],
    }
    assert rec.messages[2]["role"] == "tool" and rec.messages[2]["name"] == "get_stock_price"
    assert rec.messages[2]["content"].startswith("HTTPSConnectionPool(host='api.example.com', port=443)")


def test_openai_row_without_id_is_named_by_row_name():
    rec = read_file("openai_chat.jsonl")[3]
    assert rec.id == "openai_chat.jsonl:4"
    assert rec.messages[0] == {"role": "user", "content": "What do the bars in figure 3 mean?"}
    assert rec.messages[2]["content"] == "Error bars in the chart show the 95% confidence interval."


def test_openai_tool_names_follow_ids_not_order():
    row = {
        "messages": [
            {"role": "user", "content": "both"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                    {"id": "b", "type": "function", "function": {"name": "g", "arguments": "{}"}},
                ],
            },
            {"role": "tool", "tool_call_id": "b", "content": "from g"},
            {"role": "tool", "tool_call_id": "a", "content": "from f"},
            {"role": "assistant", "content": "done"},
        ]
    }
    rec = read_openai(row, "x.jsonl:1")
    tool_msgs = [(m["name"], m["content"]) for m in rec.messages if m["role"] == "tool"]
    assert tool_msgs == [("g", "from g"), ("f", "from f")]


def test_openai_text_parts_are_joined_with_newlines():
    row = {
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "first"}, {"type": "text", "text": "second"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
        ]
    }
    rec = read_openai(row, "x.jsonl:1")
    assert rec.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first\nsecond"},
        {"role": "assistant", "content": "ok"},
    ]


def test_openai_tool_names_by_position_without_ids():
    row = {
        "messages": [
            {"role": "user", "content": "both"},
            {"role": "assistant", "tool_calls": [{"name": "f", "arguments": {}}, {"name": "g", "arguments": {}}]},
            {"role": "tool", "content": "1"},
            {"role": "tool", "content": "2"},
            {"role": "assistant", "content": "done"},
        ]
    }
    rec = read_openai(row, "x.jsonl:1")
    assert [m.get("name") for m in rec.messages if m["role"] == "tool"] == ["f", "g"]


# --------------------------------------------------------------------------- ToolACE


def test_toolace_small_row_exactly_with_bfcl_types_mapped():
    rec = read_file("toolace.json")[0]
    assert rec.id == "toolace.json[0]"
    # the system prompt only carried the tool list and ToolACE's Python-call instructions: dropped
    assert rec.messages == [
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
        {"role": "tool", "content": '{"temperature": 18, "condition": "cloudy"}', "name": "get_weather"},
        {"role": "assistant", "content": "It is 18 degrees and cloudy in Paris."},
    ]
    assert rec.tools == [
        {
            "name": "get_weather",
            "description": "Get the current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {  # dict -> object, float -> number
                    "city": {"type": "string", "description": "Name of the city"},
                    "threshold": {"type": "number", "description": "Alert threshold in degrees"},
                },
                "required": ["city"],
            },
        }
    ]


def test_toolace_parallel_calls_with_exact_arguments():
    rec = read_file("toolace.json")[1]
    assert rec.messages[1] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"name": "set_thermostat", "arguments": {"room": "living room", "delta": -2.5}},
            {
                "name": "create_event",
                "arguments": {
                    "title": 'Team "offsite" planning',
                    "attendees": ["ana@example.com", "li@example.com"],
                    "options": {"reminders": [10, 30], "location": {"city": "Lyon", "floor": -1}},
                },
            },
        ],
    }
    # one [{"name", "results"}, ...] tool turn -> one tool message per call
    assert rec.messages[2:4] == [
        {"role": "tool", "content": '{"status": "ok", "target": 19.5}', "name": "set_thermostat"},
        {"role": "tool", "content": '{"event_id": "evt_42"}', "name": "create_event"},
    ]
    options = rec.tools[1]["parameters"]["properties"]["options"]
    assert options["type"] == "object" and options["properties"]["location"]["type"] == "object"
    assert rec.tools[0]["parameters"]["properties"]["delta"]["type"] == "number"


def test_toolace_tool_names_with_spaces():
    rec = read_file("toolace.json")[2]
    assert calls(rec)[0] == [
        {"name": "Get Stock Quote", "arguments": {"symbol": "AAPL"}},
        {"name": "Market Trends API", "arguments": {"trend_type": "MARKET_INDEXES", "country": "us"}},
    ]
    assert [(m["name"], m["content"]) for m in rec.messages if m["role"] == "tool"] == [
        ("Get Stock Quote", '{"error": "Invalid API call: missing key"}'),
        ("Market Trends API", '{"indexes": [{"name": "S&P 500", "change": -0.4}]}'),
    ]


def test_toolace_name_alias_never_leaks_into_string_values():
    tools = '[{"name": "Get Stock Quote", "parameters": {"type": "dict", "properties": {"note": {"type": "string"}}}}]'
    row = {
        "system": "Functions:\n" + tools,
        "conversations": [
            {"from": "user", "value": "q"},
            {"from": "assistant", "value": '[Get Stock Quote(note="a, Get Stock Quote(b) = c")]'},
        ],
    }
    assert calls(read_toolace(row, "r"))[0] == [
        {"name": "Get Stock Quote", "arguments": {"note": "a, Get Stock Quote(b) = c"}}
    ]


def test_toolace_clarifying_answer_and_single_unsplit_response():
    rec = read_file("toolace.json")[3]
    assert [m["role"] for m in rec.messages] == ["user", "assistant", "user", "assistant", "tool", "assistant"]
    assert rec.messages[1] == {"role": "assistant", "content": "Sure. Which currencies should I convert between?"}
    assert rec.messages[3]["tool_calls"] == [
        {"name": "convert_currency", "arguments": {"amount": 250.0, "from_currency": "EUR", "to_currency": "JPY"}}
    ]
    assert rec.messages[4] == {"role": "tool", "content": '{"converted_amount": 40125.5}', "name": "convert_currency"}


def test_toolace_keep_system_text_keeps_the_instructions_without_the_tool_list():
    name, row = rows("toolace.json")[0]
    rec = read_toolace(row, name, keep_system_text=True)
    assert rec.messages[0]["role"] == "system"
    text = rec.messages[0]["content"]
    assert text.startswith("You are an expert in composing functions.")
    assert "NOTE: You should not include any other text in the response." in text
    assert "get_weather" not in text and "[{" not in text
    assert rec.messages[1:] == read_toolace(row, name).messages


# --------------------------------------------------------------------------- ReAct


def test_react_small_row_exactly():
    rec = read_file("rotbench_react.json")[0]
    assert rec.id == "Turn 2: Could you give me some advice about 'love'?"
    assert rec.messages == [
        {"role": "user", "content": "Could you give me some advice about 'love'?\nBegin!\n"},
        {
            "role": "assistant",
            "content": "I will search the advice slips for 'love'.",
            "tool_calls": [{"name": "search_advice", "arguments": {"query": "love"}}],
        },
        {
            "role": "tool",
            "name": "search_advice",
            "content": (
                '{"total_results": "1", "query": "love", "slips": [{"id": 202, "advice": '
                '"Never waste an opportunity to tell someone you love them."}]}'
            ),
        },
        {
            "role": "assistant",
            "content": "I found one slip; I will give it to the user.",
            "tool_calls": [
                {"name": "finish", "arguments": {"answer": "Never waste an opportunity to tell someone you love them."}}
            ],
        },
    ]
    # RoTBench writes "required" beside "parameters"; it is moved inside
    assert rec.tools == [
        {
            "name": "search_advice",
            "description": "Search advice slips containing a term.",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string", "desciption": "The search query provided."}},
                "required": ["query"],
            },
        },
        {
            "name": "finish",
            "description": "Finish the task and give your answer.",
            "parameters": {
                "type": "object",
                "properties": {"answer": {"type": "string", "desciption": "Your answer for the task."}},
                "required": ["answer"],
            },
        },
    ]


def test_react_hallucinated_call_recorded_and_missing_thought_is_empty():
    rec = read_file("rotbench_react.json")[1]
    assert calls(rec) == [
        [{"name": "get_forecast", "arguments": {"city": "Berlin", "days": 3}}],  # not a tool of the row
        [{"name": "get_weather", "arguments": {"city": "Berlin"}}],
        [{"name": "finish", "arguments": {"answer": "It is 12 degrees and raining in Berlin right now."}}],
    ]
    assert [m["content"] for m in rec.messages if m["role"] == "assistant"] == [
        "A forecast tool would answer this directly.",
        "",
        "I have the current weather, which is the best I can give.",
    ]
    assert rec.messages[2] == {"role": "tool", "content": "name 'get_forecast' is not defined", "name": "get_forecast"}


def test_react_toolllama_aliases_tools_field_and_final_text():
    rec = read_file("rotbench_react.json")[2]
    assert rec.messages[0]["role"] == "system"  # it held no tool list, so it is kept
    assert rec.messages[0]["content"].startswith("You are AutoGPT")
    assert rec.messages[1:] == [
        {"role": "user", "content": "What do the bars in figure 3 mean?"},
        {
            "role": "assistant",
            "content": "I should look up the description of figure 3.",
            "tool_calls": [{"name": "describe_chart", "arguments": {"chart_id": "fig-3"}}],
        },
        {
            "role": "tool",
            "content": "Error bars in the chart show the 95% confidence interval.",
            "name": "describe_chart",
        },
        {"role": "assistant", "content": "The error bars in figure 3 show the 95% confidence interval."},
    ]
    assert [t["name"] for t in rec.tools] == ["describe_chart"]


def test_sharegpt_detection_rule():
    react_row = {
        "system": "be brief",
        "conversations": [
            {"from": "human", "value": "q"},
            {"from": "gpt", "value": "Thought: t\nAction: f\nAction Input: {}"},
        ],
    }
    python_row = {"conversations": [{"from": "user", "value": "q"}, {"from": "assistant", "value": "[f(x=1)]"}]}
    chat_row = {"conversations": [{"from": "user", "value": "hi"}, {"from": "assistant", "value": "Hello!"}]}
    assert [sharegpt_style(r) for r in (react_row, python_row, chat_row)] == ["react", "toolace", "toolace"]
    # an "Action:" line in a user turn is not a ReAct step
    assert sharegpt_style({"conversations": [{"from": "user", "value": "Action: f"}]}) == "toolace"


# --------------------------------------------------------------------------- TL-Training


def test_tl_training_small_row_exactly_with_finish_call():
    rec = read_file("tl_training_raw.json")[0]
    assert rec.id == "Could you give me some advice about 'love'?"
    assert rec.messages == [
        {"role": "user", "content": "Could you give me some advice about 'love'?"},
        {"role": "assistant", "content": "", "tool_calls": [{"name": "search_advice", "arguments": {"query": "love"}}]},
        {
            "role": "tool",
            "name": "search_advice",
            "content": (
                '{"total_results": "1", "slips": [{"id": 202, "advice": '
                '"Never waste an opportunity to tell someone you love them."}]}'
            ),
        },
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"name": "finish", "arguments": {"answer": "Never waste an opportunity to tell someone you love them."}}
            ],
        },
    ]
    assert rec.tools == [
        {
            "name": "search_advice",
            "description": "Search advice slips containing a term.",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string", "description": "The search query provided."}},
                "required": ["query"],
            },
        },
        {
            "name": "finish",
            "description": "Finish the task and give your answer.",
            "parameters": {
                "type": "object",
                "properties": {"answer": {"type": "string", "description": "Your answer for the task."}},
                "required": ["answer"],
            },
        },
    ]


def test_tl_training_capitalised_roles_and_hallucinated_tool():
    rec = read_file("tl_training_raw.json")[1]
    assert [m["role"] for m in rec.messages] == ["user"] + ["assistant", "tool"] * 3 + ["assistant"]
    assert [c[0]["name"] for c in calls(rec)] == ["get_weather", "get_weather", "get_forecast", "finish"]
    assert "get_forecast" not in {t["name"] for t in rec.tools}
    assert [(m["name"], m["content"]) for m in rec.messages if m["role"] == "tool"] == [
        ("get_weather", "get_weather() got an unexpected keyword argument 'town'"),  # an "Output" turn
        ("get_weather", '{"city": "Oslo", "temperature": 4, "condition": "snow"}'),
        ("get_forecast", "name 'get_forecast' is not defined"),
    ]


# --------------------------------------------------------------------------- bad input

_CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}


def _openai(**assistant) -> dict:
    return {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": None, **assistant}]}


@pytest.mark.parametrize(
    "row,field",
    [
        ({"tools": []}, "messages"),
        ({"messages": "hello"}, "messages"),
        ({"messages": [{"role": "narrator", "content": "x"}]}, "messages[0].role"),
        (
            _openai(tool_calls=[{"type": "function", "function": {"name": "f", "arguments": "[1, 2]"}}]),
            "messages[1].tool_calls[0].function.arguments",
        ),
        (
            _openai(tool_calls=[_CALL, {"type": "function", "function": {"name": "f", "arguments": '{"x": '}}]),
            "messages[1].tool_calls[1].function.arguments",
        ),
        (_openai(tool_calls=[{"name": "f", "arguments": 7}]), "messages[1].tool_calls[0].arguments"),
        (
            _openai(tool_calls=[{"type": "function", "function": {"arguments": "{}"}}]),
            "messages[1].tool_calls[0].function.name",
        ),
        (_openai(function_call={"name": "f", "arguments": "oops"}), "messages[1].function_call.arguments"),
        ({**_openai(tool_calls=[_CALL]), "tools": '[{"name": "f"'}, "tools"),
        ({**_openai(tool_calls=[_CALL]), "tools": [{"description": "no name"}]}, "tools[0].name"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
            "messages[0].content[0]",
        ),
    ],
    ids=[
        "no_messages",
        "messages_not_list",
        "unknown_role",
        "arguments_not_object",
        "arguments_bad_json",
        "flat_arguments_not_object",
        "call_without_name",
        "legacy_function_call",
        "tools_not_json",
        "tool_without_name",
        "image_part",
    ],
)
def test_openai_bad_input(row, field):
    raises(read_openai, row, "chats.jsonl:7", field)


def test_check_record_errors_name_the_source_row_too():
    row = {"id": "conv-9", "messages": [{"role": "assistant", "content": "hello"}]}
    err = raises(read_openai, row, "chats.jsonl:9", "messages")
    assert "conv-9" in str(err) and "no user message" in str(err)


_ACE_SYSTEM = (
    "Here is a list of functions in JSON format that you can invoke:\n"
    '[{"name": "get_weather", "parameters": {"type": "dict", "properties": {"city": {"type": "string"}}}}].\n'
)


def _ace(*assistant_values, system=_ACE_SYSTEM) -> dict:
    conv = [{"from": "user", "value": "q"}] + [{"from": "assistant", "value": v} for v in assistant_values]
    return {"system": system, "conversations": conv}


@pytest.mark.parametrize(
    "row,field",
    [
        ({"system": _ACE_SYSTEM}, "conversations"),
        ({"system": _ACE_SYSTEM, "conversations": []}, "conversations"),
        (_ace("[get_weather(city='Paris')]", '[get_weather(city="Paris"]'), "conversations[2].value"),
        (_ace("[get_weather(city=Paris)]"), "conversations[1].value"),  # a bare name is not a literal
        ({"system": _ACE_SYSTEM, "conversations": [{"from": "narrator", "value": "x"}]}, "conversations[0].from"),
        ({"system": _ACE_SYSTEM, "conversations": [{"from": "user", "value": None}]}, "conversations[0].value"),
        ({"system": _ACE_SYSTEM, "conversations": ["user: hi"]}, "conversations[0]"),
        (_ace("[get_weather(city='Paris')]", system=_ACE_SYSTEM.replace("}}}}]", "}}}]")), "tools"),
        (_ace("hi", system=["not", "text"]), "system"),
        (_ace("hi", system='Functions: [{"name": "f", "parameters": [1]}]'), "system.tools[0][f].parameters"),
    ],
    ids=[
        "no_conversations",
        "empty_conversations",
        "malformed_call_text",
        "non_literal_argument",
        "unknown_speaker",
        "value_not_string",
        "turn_not_object",
        "tools_not_decodable",
        "system_not_string",
        "tool_parameters_not_object",
    ],
)
def test_toolace_bad_input(row, field):
    raises(read_toolace, row, "toolace.json[5]", field)
    raises(read_sharegpt, row, "toolace.json[5]", field)


def _react(*assistant_values, **extra) -> dict:
    conv = [{"from": "user", "value": "q"}]
    for v in assistant_values:
        conv += [{"from": "assistant", "value": v}, {"from": "function", "value": "ok"}]
    return {
        "tools": [{"name": "get_weather", "parameters": {"type": "object", "properties": {}}}],
        "conversations": conv,
        **extra,
    }


@pytest.mark.parametrize(
    "row,field",
    [
        (_react("Thought: t\nAction: get_weather\nAction Input: {city: Paris}"), "conversations[1].value"),
        (
            _react("Action: get_weather\nAction Input: {}", 'Thought: t\nAction: get_weather\nAction Input: ["Paris"]'),
            "conversations[3].value",
        ),
        (_react("Thought: t\nAction: get_weather"), "conversations[1].value"),
        (_react("Action: get_weather\nAction Input: {}", tools='[{"name": "get_weather",'), "tools"),
        (
            _react(
                "Action: get_weather\nAction Input: {}",
                tools=None,
                functions=[{"type": "function", "function": {"name": ""}}],
            ),
            "functions[0].name",
        ),
        (
            {"conversations": [{"from": "user", "value": "q"}, {"from": "critic", "value": "x"}]},
            "conversations[1].from",
        ),
        ({"id": 3}, "conversations"),
    ],
    ids=[
        "input_not_json",
        "input_not_object",
        "no_action_input",
        "tools_not_decodable",
        "tool_without_name",
        "unknown_speaker",
        "no_conversations",
    ],
)
def test_react_bad_input(row, field):
    raises(read_react, row, "rotbench.json[2]", field)


def test_react_without_any_tool_list_is_an_error_not_an_empty_tool_set():
    # ToolBench prints its tool list as a Python repr, which is not JSON
    row = {
        "conversations": [
            {"from": "system", "value": "Specifically, you have access to the following APIs: [{'name': 'f'}]"},
            {"from": "user", "value": "q"},
            {"from": "assistant", "value": "Action: f\nAction Input: {}"},
        ]
    }
    raises(read_react, row, "toolbench.json[0]", "tools")


_TL_TOOLS = '[{"type": "function", "function": {"name": "finish", "parameters": {"type": "object", "properties": {}}}}]'


def _tl(*turns, system=_TL_TOOLS):
    return {
        "id": "tl-1",
        "conversations": [
            {"role": "system", "content": system},
            {"role": "user", "content": "q"},
            *({"role": r, "content": c} for r, c in turns),
        ],
    }


@pytest.mark.parametrize(
    "row,field",
    [
        (_tl(("assistant", 'search_advice\n{"query": "love"')), "conversations[2].content"),
        (_tl(("assistant", "finish")), "conversations[2].content"),
        (
            _tl(("assistant", "search_advice\n{}"), ("function", "x"), ("assistant", 'finish\n["done"]')),
            "conversations[4].content",
        ),
        (_tl(("assistant", "\n{}")), "conversations[2].content.name"),
        (_tl(("assistant", "finish\n{}"), system="search_advice, finish"), "conversations[0].content"),
        (_tl(("assistant", "finish\n{}"), system='{"name": "finish"}'), "conversations[0].content"),
        ({"id": "tl-1", "conversations": [{"role": "user", "content": "q"}]}, "conversations[0].content"),
        (_tl(("Narrator", "x")), "conversations[2].role"),
        ({"id": "tl-1"}, "conversations"),
    ],
    ids=[
        "arguments_bad_json",
        "no_arguments_line",
        "arguments_not_object",
        "empty_name",
        "system_not_json",
        "system_not_list",
        "first_turn_not_system",
        "unknown_role",
        "no_conversations",
    ],
)
def test_tl_training_bad_input(row, field):
    raises(read_tl_training, row, "raw_data.json[4]", field)


# --------------------------------------------------------------------------- hostile input


def test_tool_list_found_after_text_that_only_looks_like_json():
    system = 'Format: [{name: ...}] or [{"x": 1 [ {"a": [{"b"] then\n[{"name": "f", "parameters": {}}].'
    tools, start, end = _common.find_tool_list(system)
    assert tools == [{"name": "f", "parameters": {}}] and system[end:] == "."


def test_tool_list_scan_gives_up_on_hostile_system_text():
    # 40,000 `[{` starts that fail to decode: the scan stops after a bounded number of them
    # (each failure costs time proportional to its offset) instead of taking quadratic time.
    system = '[{"x": 1 ' * 40_000 + '[{"name": "f", "parameters": {"type": "object", "properties": {}}}]'
    row = {
        "conversations": [
            {"from": "system", "value": system},
            {"from": "user", "value": "q"},
            {"from": "assistant", "value": "Action: f\nAction Input: {}"},
        ]
    }
    raises(read_react, row, "big.json[0]", "tools")


def test_react_rows_read_as_toolace_are_refused_not_trained_as_text():
    # ReAct text is no ToolACE call list, so its steps read as plain answers; the tool turns that
    # follow them give it away (before this check every such row was written with gold []).
    errors = []
    for row_name, row in rows("rotbench_react.json"):
        with pytest.raises(RecordError) as info:
            read_toolace(row, row_name)
        errors.append(info.value.problem)
    assert errors and all("follows no tool call" in e for e in errors)


# --------------------------------------------------------------------------------------------
# data_transforms.io: the writers and the single-document reader
# --------------------------------------------------------------------------------------------


def test_jsonl_written_and_appended_reads_back_row_by_row(tmp_path):
    path = write_jsonl([{"id": "a", "text": "é"}], tmp_path / "sub" / "rows.jsonl")
    append_jsonl([{"id": "b"}, {"id": "c"}], path)
    assert "é" in path.read_text(encoding="utf-8")  # written as UTF-8, not \u escapes
    assert list(iter_rows(path)) == [
        ("rows.jsonl:1", {"id": "a", "text": "é"}),
        ("rows.jsonl:2", {"id": "b"}),
        ("rows.jsonl:3", {"id": "c"}),
    ]


def test_read_json_names_the_file(tmp_path):
    assert read_json(write_json({"a": [1]}, tmp_path / "r.json")) == {"a": [1]}
    (tmp_path / "bad.json").write_text("{oops")
    with pytest.raises(ValueError, match=r"bad\.json: not valid JSON"):
        read_json(tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError, match="manifest not found"):
        read_json(tmp_path / "nope.json", "manifest")

"""The Llama-3.1-style tool chat template (``tl_plugin/data/llama3_1_tool_template.jinja``) and
the tiny tokenizer built for it (``build_tiny_tokenizer(template="llama3.1")``).

The template follows Meta's published Llama 3.1 Instruct format; the expected texts below are
written out by hand in that format. The SFT tests run tl-prepare's rows through verl's own
per-message tokenisation (``TLSFTDataset`` is verl's ``MultiTurnSFTDataset``) and document which
settings a Llama-3.1 template needs there:

- rows that start with the user message work with either value of ``tools_in_user_message``;
- rows that start with a system message need ``data.apply_chat_template_kwargs`` with
  ``tools_in_user_message: false``. With the default (true) verl renders the system message alone
  with the tools, the template raises "Cannot put tools in the first user message when there's no
  first user message!", verl's ``apply_chat_template`` swallows that and renders the message behind
  a dummy user turn instead, and its per-turn sanity check then fails (AssertionError
  "apply_chat_template to each turn separately ..."); with ``ignore_input_ids_mismatch=True`` the
  row would load without its bos, date header and tool list;
- an assistant message with parallel calls cannot be rendered at all (the template raises, as
  Meta's does).
"""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from jinja2.exceptions import TemplateError
from omegaconf import OmegaConf
from transformers import AutoTokenizer

from tests.helpers import DATA_DIR
from tl_plugin.cli.prepare import prepare, prepare_config
from tl_plugin.testing import CHAT_TEMPLATE, LLAMA_CHAT_TEMPLATE, build_tiny_tokenizer

DATA = DATA_DIR

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]
CALL = {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
CONVERSATION = [
    {"role": "system", "content": "You are a weather bot."},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "", "tool_calls": [CALL]},
    {"role": "tool", "content": '{"temperature": 18}'},
    {"role": "assistant", "content": "It is 18 degrees."},
]

HEADER = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
DATES = "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
FORMAT = (
    'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.'
    "Do not use variables.\n\n"
)
TOOL_LIST = """{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {
                    "type": "string"
                }
            },
            "required": [
                "city"
            ]
        }
    }
}

"""
TURNS_AFTER_THE_FIRST_USER_MESSAGE = (
    "<|start_header_id|>assistant<|end_header_id|>\n\n"
    '{"name": "get_weather", "parameters": {"city": "Paris"}}<|eot_id|>'
    "<|start_header_id|>ipython<|end_header_id|>\n\n"
    '"{\\"temperature\\": 18}"<|eot_id|>'  # string content goes through tojson, as in Meta's template
    "<|start_header_id|>assistant<|end_header_id|>\n\n"
    "It is 18 degrees.<|eot_id|>"
)


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    return build_tiny_tokenizer(tmp_path_factory.mktemp("llama"), template="llama3.1")


def render(tokenizer, messages, **kwargs):
    return tokenizer.apply_chat_template(messages, tokenize=False, **kwargs)


def blocks(text: str) -> list[str]:
    """The turns of a rendered conversation, each from its header to its ``<|eot_id|>``."""
    assert text.startswith("<|begin_of_text|>") and text.count("<|begin_of_text|>") == 1
    return ["<|start_header_id|>" + b for b in text.removeprefix("<|begin_of_text|>").split("<|start_header_id|>")[1:]]


# ----------------------------------------------------------------------------- rendering


def test_llama_template_renders_meta_format(llama):
    expected = (
        HEADER + "Environment: ipython\n" + DATES + "You are a weather bot.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\n"
        "Given the following functions, please respond with a JSON for a function call with its proper "
        "arguments that best answers the given prompt.\n\n"
        + FORMAT
        + TOOL_LIST
        + "Weather in Paris?<|eot_id|>"
        + TURNS_AFTER_THE_FIRST_USER_MESSAGE
    )
    assert render(llama, CONVERSATION, tools=TOOLS) == expected
    assert render(llama, CONVERSATION, tools=TOOLS, tools_in_user_message=True) == expected
    # the same with the arguments given as a JSON string: rendered as they are
    as_string = json.loads(json.dumps(CONVERSATION))
    as_string[2]["tool_calls"][0]["function"]["arguments"] = '{"city": "Paris"}'
    assert render(llama, as_string, tools=TOOLS) == expected
    # a call without the OpenAI "function" wrapper, as the Qwen2.5-style template accepts too
    flat = json.loads(json.dumps(CONVERSATION))
    flat[2]["tool_calls"] = [CALL["function"]]
    assert render(llama, flat, tools=TOOLS) == expected


def test_tools_in_user_message_false_puts_the_tools_into_the_system_turn(llama):
    expected = (
        HEADER
        + "Environment: ipython\n"
        + DATES
        + "You have access to the following functions. To call a function, please respond with JSON for a "
        "function call." + FORMAT + TOOL_LIST + "You are a weather bot.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nWeather in Paris?<|eot_id|>" + TURNS_AFTER_THE_FIRST_USER_MESSAGE
    )
    assert render(llama, CONVERSATION, tools=TOOLS, tools_in_user_message=False) == expected

    # side by side: the tool list sits in the first user turn (true) or the system turn (false)
    for in_user, holder in ((True, 1), (False, 0)):
        turns = blocks(render(llama, CONVERSATION, tools=TOOLS, tools_in_user_message=in_user))
        assert len(turns) == 5
        assert [i for i, t in enumerate(turns) if TOOL_LIST in t] == [holder]
        assert turns[0].startswith("<|start_header_id|>system") and "Environment: ipython\n" in turns[0]
        assert turns[1].startswith("<|start_header_id|>user") and turns[1].endswith("Weather in Paris?<|eot_id|>")


def test_llama_template_without_tools_and_generation_prompt(llama):
    # no tools: no "Environment: ipython", and the system turn is there even without a system message
    assert render(llama, [{"role": "user", "content": "  Hi!\n"}]) == (
        HEADER + DATES + "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>"
    )
    assert "Today Date: 01 Jan 2025\n" in render(llama, [{"role": "user", "content": "Hi!"}], date_string="01 Jan 2025")
    assert render(llama, CONVERSATION[:2], tools=TOOLS, add_generation_prompt=True).endswith(
        "Weather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    # tool content that is not a string goes through tojson too
    tool = render(llama, [{"role": "tool", "content": [{"temperature": 18}]}])
    assert tool.endswith('<|start_header_id|>ipython<|end_header_id|>\n\n[{"temperature": 18}]<|eot_id|>')


def test_llama_template_raises_where_meta_template_does(llama):
    two_calls = [*CONVERSATION[:2], {"role": "assistant", "content": "", "tool_calls": [CALL, CALL]}]
    with pytest.raises(TemplateError, match="This model only supports single tool-calls at once!"):
        render(llama, two_calls, tools=TOOLS)
    with pytest.raises(TemplateError, match="single tool-calls"):
        render(llama, two_calls)  # with or without tools
    with pytest.raises(
        TemplateError, match="Cannot put tools in the first user message when there's no first user message!"
    ):
        render(llama, CONVERSATION[:1], tools=TOOLS)
    assert render(llama, CONVERSATION[:1], tools=TOOLS, tools_in_user_message=False).endswith(
        "You are a weather bot.<|eot_id|>"
    )


def test_string_arguments_false_renders_tojson_as_meta_template_does(tmp_path):
    strict = build_tiny_tokenizer(tmp_path, template="llama3.1", string_arguments=False)
    as_string = [
        *CONVERSATION[:2],
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}],
        },
    ]
    assert '"parameters": "{\\"city\\": \\"Paris\\"}"}<|eot_id|>' in render(strict, as_string, tools=TOOLS)
    assert '"parameters": {"city": "Paris"}}<|eot_id|>' in render(strict, CONVERSATION, tools=TOOLS)


# ----------------------------------------------------------------------------- the tokenizer


def test_llama_tokenizer_has_llama_special_tokens(llama, tmp_path):
    build_tiny_tokenizer(tmp_path, template="llama3.1")
    for tok in (llama, AutoTokenizer.from_pretrained(tmp_path)):  # as built, and as verl loads it from disk
        assert tok("Hi").input_ids[0] == tok.bos_token_id  # encoding text puts a bos in front, as Llama 3's does
        assert (tok.bos_token, tok.eos_token, tok.pad_token) == (
            "<|begin_of_text|>",
            "<|eot_id|>",
            "<|finetune_right_pad_id|>",
        )
        for special in (
            "<|begin_of_text|>",
            "<|start_header_id|>",
            "<|end_header_id|>",
            "<|eot_id|>",
            "<|eom_id|>",
            "<|python_tag|>",
            "<|finetune_right_pad_id|>",
        ):
            assert tok.convert_ids_to_tokens(tok.encode(special, add_special_tokens=False)) == [special]
        assert tok.chat_template == LLAMA_CHAT_TEMPLATE.read_text()
    # a rendered conversation has exactly one bos: the template's
    ids = llama.apply_chat_template(CONVERSATION, tools=TOOLS, tokenize=True, return_dict=True)["input_ids"]
    assert ids.count(llama.bos_token_id) == 1 and ids[0] == llama.bos_token_id
    assert llama.decode(ids) == render(llama, CONVERSATION, tools=TOOLS)
    # verl masks an assistant message's first len(generation prompt) tokens: they must be exactly the
    # generation prompt's, "\n\n" included (Llama 3's pre-tokenizer keeps a run of newlines whole)
    prompt = llama.encode("<|start_header_id|>assistant<|end_header_id|>\n\n", add_special_tokens=False)
    for body in ('{"name": "get_weather", "parameters": {}}', "It is 18 degrees.", "  Hi"):
        message = llama.encode(
            f"<|start_header_id|>assistant<|end_header_id|>\n\n{body}<|eot_id|>", add_special_tokens=False
        )
        assert message[: len(prompt)] == prompt, body


def test_default_template_is_still_qwen(tmp_path):
    tok = build_tiny_tokenizer(tmp_path / "default")
    assert (
        tok.chat_template
        == CHAT_TEMPLATE.read_text()
        == build_tiny_tokenizer(tmp_path / "qwen", template="qwen2.5").chat_template
    )
    assert "<|im_start|>" in tok.get_vocab() and "<|begin_of_text|>" not in tok.get_vocab()


def test_unknown_template_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown chat template 'llama3'.*'qwen2.5', 'llama3.1'"):
        build_tiny_tokenizer(tmp_path, template="llama3")
    with pytest.raises(ValueError, match="special_tool_markers"):
        build_tiny_tokenizer(tmp_path, template="llama3.1", special_tool_markers=True)
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------- verl's SFT dataset


@pytest.fixture(scope="module")
def sft_rows(tmp_path_factory):
    """tl-prepare's SFT files for the OpenAI and ToolACE samples: ``(path, rows)`` for each."""
    out = {}
    for source, sample in (("openai", "openai_chat.jsonl"), ("toolace", "toolace.json")):
        path = tmp_path_factory.mktemp(source)
        prepare(prepare_config([f"source={source}", f"input={DATA / sample}", f"out={path}", "kinds=[sft]"]))
        out[source] = (path / "sft" / "train.parquet", pq.read_table(path / "sft" / "train.parquet").to_pylist())
    return out


def sft_dataset(path, tokenizer, **config):
    from tl_plugin.verl_ext.sft_dataset import TLSFTDataset

    # no_padding: verl's default for SFT, and the mode TLSFTDataset's PKT weights need (the weights
    # ride in loss_mask, so the tests look at loss_mask > 0)
    base = {"max_length": 32768, "truncation": "error", "pad_mode": "no_padding"}
    return TLSFTDataset([str(path)], tokenizer, OmegaConf.create({**base, **config}))


def parallel(row) -> bool:
    return any(len(m["tool_calls"] or []) > 1 for m in row["messages"])


def assistant_body(message) -> str:
    """What Llama 3.1's format writes for an assistant message, between its header and <|eot_id|>."""
    if message["tool_calls"]:
        (call,) = message["tool_calls"]
        args = json.dumps(json.loads(call["function"]["arguments"]), ensure_ascii=False)
        return '{"name": "' + call["function"]["name"] + '", "parameters": ' + args + "}"
    return message["content"].strip()


def expected_trained(tokenizer, input_ids, row) -> list[bool]:
    """Per token: is it inside an assistant message with loss_mask 1, after its generation prompt?"""
    text = tokenizer.decode(input_ids)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    assert enc["input_ids"] == input_ids  # the text stands for exactly these tokens
    head = "<|start_header_id|>assistant<|end_header_id|>\n\n"
    assistants = [m for m in row["messages"] if m["role"] == "assistant"]
    assert text.count(head) == len(assistants)
    spans, at = [], 0
    for message in assistants:
        piece = head + assistant_body(message) + "<|eot_id|>"
        at = text.index(piece, at)
        if message["loss_mask"]:
            spans.append((at + len(head), at + len(piece)))
        at += len(piece)
    return [any(s <= a < e for s, e in spans) for a, _ in enc["offset_mapping"]]


def first_turns(text: str) -> tuple[str, str]:
    turns = blocks(text)
    return turns[0], turns[1]


@pytest.mark.parametrize("tools_in_user_message", [True, False])
def test_verl_sft_rows_starting_with_the_user_work_either_way(llama, sft_rows, tools_in_user_message):
    checked = 0
    for path, rows in sft_rows.values():
        ds = sft_dataset(path, llama, apply_chat_template_kwargs={"tools_in_user_message": tools_in_user_message})
        for i, row in enumerate(rows):
            if row["messages"][0]["role"] != "user" or parallel(row):
                continue
            item = ds[i]  # runs verl's sanity check: the turns rendered one by one == the whole rendered at once
            ids = item["input_ids"].tolist()
            assert (item["loss_mask"] > 0).tolist() == expected_trained(llama, ids, row)
            assert item["loss_mask"].sum() > 0
            text = llama.decode(ids)
            assert text.startswith(HEADER + "Environment: ipython\n" + DATES)
            system, user = first_turns(text)
            tool_list = json.dumps(ds.tools[i][0], indent=4, ensure_ascii=False)
            assert (tool_list in user, tool_list in system) == (tools_in_user_message, not tools_in_user_message)
            assert user.endswith(row["messages"][0]["content"].strip() + "<|eot_id|>")
            checked += 1
    assert checked == 4  # openai rows 3 and 4 (row 3's call has loss_mask 0), toolace rows 1 and 4


def test_verl_sft_row_starting_with_a_system_message_needs_tools_in_user_message_false(llama, sft_rows):
    path, rows = sft_rows["openai"]
    i = 0
    row = rows[i]
    assert row["messages"][0]["role"] == "system" and not parallel(row)

    # default (tools in the first user message): verl renders the system message alone with the tools
    # and the template raises; verl's apply_chat_template takes that for a template that needs a user
    # turn and renders the message behind a dummy one, and then its sanity check fails
    with pytest.raises(AssertionError, match="apply_chat_template to each turn separately"):
        sft_dataset(path, llama)[i]
    system = {"role": "system", "content": row["messages"][0]["content"]}
    with pytest.raises(
        TemplateError, match="Cannot put tools in the first user message when there's no first user message!"
    ):
        render(llama, [system], tools=TOOLS)
    # ignoring the mismatch would train on a conversation without bos, date header and tool list
    text = llama.decode(sft_dataset(path, llama, ignore_input_ids_mismatch=True)[i]["input_ids"])
    assert text.startswith(
        "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nWhat's the weather in Paris?<|eot_id|>"
    )
    assert "<|begin_of_text|>" not in text and "Today Date" not in text and '"description"' not in text

    # tools_in_user_message=false: the system message alone renders the whole system turn, tools included
    ds = sft_dataset(path, llama, apply_chat_template_kwargs={"tools_in_user_message": False})
    item = ds[i]
    ids = item["input_ids"].tolist()
    assert (item["loss_mask"] > 0).tolist() == expected_trained(llama, ids, row)
    system, user = first_turns(llama.decode(ids))
    assert system.startswith(
        "<|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\n" + DATES + "You have access"
    )
    assert json.dumps(ds.tools[i][0], indent=4, ensure_ascii=False) in system
    assert system.endswith("You are a helpful assistant.<|eot_id|>")
    assert user == "<|start_header_id|>user<|end_header_id|>\n\nWhat's the weather in Paris?<|eot_id|>"


def test_verl_sft_rows_with_parallel_calls_cannot_be_rendered(llama, sft_rows):
    failed = 0
    for path, rows in sft_rows.values():
        ds = sft_dataset(path, llama, apply_chat_template_kwargs={"tools_in_user_message": False})
        for i, row in enumerate(rows):
            if parallel(row):
                with pytest.raises(TemplateError, match="This model only supports single tool-calls at once!"):
                    ds[i]
                failed += 1
    assert failed == 3  # openai row 2, toolace rows 2 and 3

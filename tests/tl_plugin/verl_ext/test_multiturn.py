"""Multi-turn tool RL on CPU: verl's real ``ToolAgentLoop`` (as ``tl_multiturn_agent``) runs real
Python tools declared in verl's tool config, and the ``tl_tool`` reward scores the trajectory
from the tools' feedback.

Rows are real parquet files read by verl's ``RLHFDataset``; verl's ``AgentLoopWorker`` runs the
loop and streams each trajectory to verl's ``RewardLoopWorker`` with the ``tl_tool`` reward
manager. Mocked, because they need a GPU or a cluster: the LLM server (a script of answers per
turn) and Ray (see ``verl_rollout``).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from omegaconf import OmegaConf

from data_transforms.tool_feedback import FEEDBACK_CATEGORIES
from reward_fns.feedback_reward import CATEGORY_KEYS, FEEDBACK_KEYS
from reward_fns.tl_tool import MIXED_KEYS
from tests.helpers import ROOT
from tests.helpers.verl_config import compose_ppo
from tests.helpers.verl_rollout import rollout, tiny_model_dir


def call(name, **arguments):
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>"


# question -> (the model's turns, categories of the executed calls, score with the default values)
SCENARIOS = {
    "hallucinated tool": (
        [call("get_stock_price", symbol="ACME"), "I cannot look that up."],
        ["tool_hallucination"],
        -2.0 + 0.5,
    ),
    "unexpected keyword": (
        [call("get_weather", city="Paris", units="metric"), "It is mild."],
        ["param_hallucination"],
        -0.8 + 0.5,
    ),
    "missing argument": (
        [call("get_weather"), "I need a city."],
        ["param_missing"],
        -0.5 + 0.5,
    ),
    "exception": (
        [call("get_weather", city="Atlantis"), "Atlantis has no weather service."],
        ["tool_call_failure"],
        -0.25 + 0.5,
    ),
    # one brace short: verl's hermes parser drops the block without a word, and the rollout ends
    "malformed block": (
        ['<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}\n</tool_call>'],
        [],
        -2.0,
    ),
    "clean success": (
        [call("get_weather", city="Paris"), "It is 18 degrees in Paris."],
        ["ok"],
        1.0 + 0.5,
    ),
    "slow tool": (
        [call("slow_lookup", query="x", seconds=5), "The lookup timed out."],
        ["tool_instability"],
        0.0 + 0.5,
    ),
    "two turns": (
        [call("get_time", timezone="Europe/Paris"), call("get_weather", city="Rome", unit="kelvin"), "Noon, 24 C."],
        ["ok", "ok"],
        1.0 + 0.5,
    ),
}


def tool_config(path: Path, **slow_options) -> str:
    entries = [
        {"function": "tests.helpers.feedback_tools:get_weather"},
        {"function": "tests.helpers.feedback_tools:get_time"},
        {"function": "tests.helpers.feedback_tools:slow_lookup", "timeout": 0.5, **slow_options},
    ]
    config = {
        "tools": [
            {"class_name": "tl_plugin.verl_ext.tools.PythonFunctionTool", "config": {"type": "native", **e}}
            for e in entries
        ]
    }
    OmegaConf.save(OmegaConf.create(config), path)
    return str(path)


def write_rows(path: Path, rows: list[dict]) -> str:
    records = []
    for i, row in enumerate(rows):
        records.append(
            {
                "data_source": row.get("data_source", "tool_feedback"),
                "prompt": [{"role": "user", "content": row["question"]}],
                "ability": "tool_use",
                "reward_model": {"style": "rule", "ground_truth": row.get("ground_truth")},
                "extra_info": {"index": i, "tools": row.get("tools")},
                "agent_name": row.get("agent_name", "tl_multiturn_agent"),
            }
        )
    pq.write_table(pa.Table.from_pylist(records), path)
    return str(path)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("tiny_qwen2"))


def multiturn_config(model_dir, tools_yaml, *overrides):
    return compose_ppo(
        [
            "+tl=multiturn",
            f"actor_rollout_ref.model.path={model_dir}",
            "actor_rollout_ref.rollout.name=vllm",  # only a name here: the scripted server generates
            f"actor_rollout_ref.rollout.multi_turn.tool_config_path={tools_yaml}",
            "data.max_prompt_length=1024",
            "data.max_response_length=1024",
            *overrides,
        ]
    )


@pytest.fixture(scope="module")
def scenario_rollout(model_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("multiturn")
    parquet = write_rows(tmp / "train.parquet", [{"question": q} for q in SCENARIOS])
    cfg = multiturn_config(model_dir, tool_config(tmp / "tools.yaml"))
    rows, server, out, tokenizer = rollout(cfg, parquet, lambda row: SCENARIOS[_question(row)][0])
    return {_question(row): i for i, row in enumerate(rows)}, server, out


def _question(row) -> str:
    return [m for m in row["raw_prompt"] if m["role"] == "user"][-1]["content"]


@pytest.mark.parametrize("question", SCENARIOS)
def test_each_call_is_recorded_with_its_feedback_category(scenario_rollout, question):
    index, _, out = scenario_rollout
    record = out.non_tensor_batch["tl_feedback"][index[question]]
    _, categories, _ = SCENARIOS[question]
    assert [c["category"] for c in record["calls"]] == categories
    turns, _, _ = SCENARIOS[question]
    assert record["final_answer"] is True  # every script ends in a message without a parsed call
    assert [json.loads(c["arguments"]) for c in record["calls"]] == [
        json.loads(t.split("\n")[1])["arguments"]
        for t in turns
        if t.startswith("<tool_call>") and t.count("{") == t.count("}")
    ]


@pytest.mark.parametrize("question", SCENARIOS)
def test_trajectory_reward_follows_the_feedback_categories(scenario_rollout, question):
    index, _, out = scenario_rollout
    i = index[question]
    _, _, expected = SCENARIOS[question]
    assert float(out.batch["rm_scores"][i].sum()) == pytest.approx(expected)
    assert float(out.non_tensor_batch["score"][i]) == pytest.approx(expected)


def test_de_ce_and_va_are_logged_for_every_trajectory(scenario_rollout):
    index, _, out = scenario_rollout
    nt = out.non_tensor_batch
    assert set(FEEDBACK_KEYS) <= set(out.meta_info["reward_extra_keys"])
    de = {q: float(nt["de"][i]) for q, i in index.items()}
    ce = {q: float(nt["ce"][i]) for q, i in index.items()}
    va = {q: int(nt["va"][i]) for q, i in index.items()}
    # DE: tool / parameter hallucination and missing parameters; CE: every other call error
    assert [q for q in SCENARIOS if de[q] == 1.0] == ["hallucinated tool", "unexpected keyword", "missing argument"]
    assert [q for q in SCENARIOS if ce[q] == 1.0] == ["exception", "malformed block", "slow tool"]
    assert de["clean success"] == ce["clean success"] == de["two turns"] == 0.0
    # VA: a final answer within the turn limit; the malformed turn was an attempted call, not an answer
    assert [q for q in SCENARIOS if va[q] == 0] == ["malformed block"]
    assert (
        int(nt["malformed"][index["malformed block"]]) == 1 and int(nt["n_tool_calls"][index["malformed block"]]) == 1
    )
    assert int(nt["n_tool_calls"][index["two turns"]]) == 2
    assert int(nt["tool_hallucination"][index["hallucinated tool"]]) == 1
    assert int(nt["param_hallucination"][index["unexpected keyword"]]) == 1
    assert int(nt["param_missing"][index["missing argument"]]) == 1
    assert int(nt["tool_call_failure"][index["exception"]]) == 1
    assert int(nt["tool_instability"][index["slow tool"]]) == 1


def test_the_model_sees_each_tool_response_in_its_next_turn(scenario_rollout):
    _, server, _ = scenario_rollout
    second = {q: server.turn_prompts[q][1] for q in SCENARIOS if q != "malformed block"}
    assert "Unknown function 'get_stock_price'" in second["hallucinated tool"]
    assert "TypeError: get_weather() got an unexpected keyword argument 'units'" in second["unexpected keyword"]
    assert "TypeError: get_weather() missing 1 required positional argument: 'city'" in second["missing argument"]
    assert "ValueError: unknown city 'Atlantis'" in second["exception"]
    assert "TimeoutError: slow_lookup did not return within 0.5 s" in second["slow tool"]
    assert '"temperature": 18' in second["clean success"]
    assert len(server.turn_prompts["malformed block"]) == 1  # nothing ran, the rollout ended
    # the tool takes any unit string: no error, and the model sees what the function returned
    assert '"temperature": 75.2, "unit": "kelvin"' in server.turn_prompts["two turns"][2]
    assert "12:00 in Europe/Paris" in server.turn_prompts["two turns"][1]


def test_turn_limit_and_dropped_parallel_calls(model_dir, tmp_path):
    # the model keeps calling: verl stops it at max_assistant_turns before parsing the last turn,
    # so there is no final answer (VA 0) and the unparsed well-formed call is not malformed
    parquet = write_rows(tmp_path / "rows.parquet", [{"question": "keeps calling"}, {"question": "parallel"}])
    cfg = multiturn_config(
        model_dir,
        tool_config(tmp_path / "tools.yaml"),
        "actor_rollout_ref.rollout.multi_turn.max_assistant_turns=3",
        "actor_rollout_ref.rollout.multi_turn.max_parallel_calls=1",
    )
    script = {
        "keeps calling": [call("get_time", timezone="UTC")] * 5,
        "parallel": [call("get_time", timezone="UTC") + "\n" + call("get_weather", city="Rome"), "Done."],
    }
    rows, _, out, _ = rollout(cfg, parquet, lambda row: script[_question(row)])
    nt = out.non_tensor_batch
    i, j = (next(k for k, r in enumerate(rows) if _question(r) == q) for q in ("keeps calling", "parallel"))
    assert [c["category"] for c in nt["tl_feedback"][i]["calls"]] == ["ok", "ok"]
    assert nt["tl_feedback"][i]["final_answer"] is False
    assert (int(nt["va"][i]), int(nt["malformed"][i]), float(nt["score"][i])) == (0, 0, 1.0)
    # max_parallel_calls=1: verl runs the first call and drops the second; reported, not scored
    assert [c["name"] for c in nt["tl_feedback"][j]["calls"]] == ["get_time"]
    assert int(nt["n_unexecuted_calls"][j]) == 1 and float(nt["score"][j]) == pytest.approx(1.5)


def test_mixed_mode_scores_gold_rows_against_gold_and_the_rest_by_feedback(model_dir, tmp_path):
    tools = json.dumps(
        [
            {
                "name": "get_weather",
                "description": "Weather.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            }
        ]
    )
    gold = json.dumps([{"name": "get_weather", "arguments": {"city": ["Paris"]}}])
    parquet = write_rows(
        tmp_path / "rows.parquet",
        [
            {
                "question": "gold row",
                "ground_truth": gold,
                "tools": tools,
                "agent_name": "tl_tool_agent",
                "data_source": "bfcl",
            },
            {"question": "feedback row"},
        ],
    )
    cfg = multiturn_config(
        model_dir, tool_config(tmp_path / "tools.yaml"), "reward.custom_reward_function.reward_kwargs.mode=mixed"
    )
    script = {
        "gold row": call("get_weather", city="Rome"),
        "feedback row": [call("get_weather", city="Paris"), "18 C."],
    }
    rows, _, out, _ = rollout(cfg, parquet, lambda row: script[_question(row)])
    nt = out.non_tensor_batch
    g, f = (next(k for k, r in enumerate(rows) if _question(r) == q) for q in ("gold row", "feedback row"))
    assert list(out.meta_info["reward_extra_keys"]) == list(MIXED_KEYS)
    assert float(nt["score"][g]) == pytest.approx(-0.25) and int(nt["content"][g]) == 1 and int(nt["feedback"][g]) == 0
    assert float(nt["score"][f]) == pytest.approx(1.5) and int(nt["va"][f]) == 1 and int(nt["feedback"][f]) == 1
    assert nt["tl_feedback"][g] is None  # the single-turn loop records nothing; gold needs nothing


def test_feedback_mode_without_the_record_names_the_fix(model_dir, tmp_path):
    parquet = write_rows(tmp_path / "rows.parquet", [{"question": "plain"}])
    cfg = multiturn_config(model_dir, tool_config(tmp_path / "tools.yaml"))
    with pytest.raises(ValueError, match="tl_multiturn_agent"):
        rollout(cfg, parquet, lambda row: "Hi.", agent_name="single_turn_agent")


def test_multiturn_preset_composes_with_main_ppos_config():
    cfg = compose_ppo(
        [
            "+tl=multiturn",
            "actor_rollout_ref.rollout.multi_turn.max_assistant_turns=5",
            "reward.custom_reward_function.reward_kwargs.final_answer=1.0",
        ]
    )
    rollout_cfg = cfg.actor_rollout_ref.rollout
    assert rollout_cfg.agent.default_agent_loop == "tl_multiturn_agent"
    assert rollout_cfg.multi_turn.enable is True and rollout_cfg.multi_turn.format == "hermes"
    assert rollout_cfg.multi_turn.max_assistant_turns == 5 and rollout_cfg.multi_turn.max_parallel_calls == 4
    kwargs = cfg.reward.custom_reward_function.reward_kwargs
    assert kwargs.mode == "feedback" and kwargs.final_answer == 1.0 and kwargs.tool_call_failure == -0.25
    assert cfg.reward.reward_manager.name == "tl_tool" and cfg.algorithm.adv_estimator == "grpo"
    # verl's dataclass accepts the multi-turn keys (it rejects unknown ones)
    from verl.utils.config import omega_conf_to_dataclass

    assert omega_conf_to_dataclass(rollout_cfg.multi_turn).max_tool_response_length == 1024


def test_loop_without_tools_is_refused(model_dir, tmp_path):
    parquet = write_rows(tmp_path / "rows.parquet", [{"question": "q"}])
    cfg = compose_ppo(
        ["+tl=multiturn", f"actor_rollout_ref.model.path={model_dir}", "actor_rollout_ref.rollout.name=vllm"]
    )
    from hydra.errors import InstantiationException  # verl builds each loop with hydra.utils.instantiate

    with pytest.raises(InstantiationException, match="tl_multiturn_agent has no tools to run.*tool_config_path"):
        rollout(cfg, parquet, lambda row: "Hi.")


def test_reward_maps_every_classifier_category():
    assert set(CATEGORY_KEYS) == set(FEEDBACK_CATEGORIES)


# ----------------------------------------------------------------------------- the tool itself


def _tool(function="tests.helpers.feedback_tools:get_weather", schema=None, **options):
    from verl.tools.schemas import OpenAIFunctionToolSchema

    from tl_plugin.verl_ext.tools import PythonFunctionTool

    schema = OpenAIFunctionToolSchema.model_validate(schema) if schema is not None else None
    return PythonFunctionTool({"type": "native", "function": function, **options}, schema)


def _run(tool, args):
    return _timed_run(tool, args)[0]


def _timed_run(tool, args):
    """``(response text, seconds until the response)``; timed inside the event loop, because
    ``asyncio.run`` waits for leftover worker threads when it closes the loop."""

    async def timed():
        start = time.monotonic()
        response, _, _ = await tool.execute("id", args)
        return response.text, time.monotonic() - start

    return asyncio.run(timed())


def test_schema_comes_from_the_function_or_from_the_config():
    tool = _tool()
    assert tool.name == "get_weather"
    params = tool.tool_schema.function.parameters
    assert set(params.properties) == {"city", "unit"} and params.required == ["city"]
    assert params.properties["city"].description.startswith("The city")
    given = {
        "type": "function",
        "function": {
            "name": "weather_now",
            "description": "Weather.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
    tool = _tool(schema=given)
    assert tool.name == "weather_now" and set(tool.tool_schema.function.parameters.properties) == {"city"}
    assert _tool(name="weather").name == "weather"


def test_wrong_types_are_reported_by_jsonschema_and_can_be_allowed():
    from data_transforms.tool_feedback import classify_feedback

    text = _run(_tool(), {"city": 5})
    assert text == "ValidationError: parameter 'city': 5 is not of type 'string'"
    assert classify_feedback(text) == "tool_call_failure"
    assert _run(_tool(validate_arguments=False), {"city": 5}) == "ValueError: unknown city 5"


def test_argument_errors_are_worded_as_python_words_them():
    tool = _tool(function="tests.helpers.feedback_tools:slow_lookup")
    assert _run(tool, [1, 2]).startswith("TypeError: slow_lookup() arguments must be a JSON object")
    assert _run(_tool(function="tests.helpers.feedback_tools:get_time"), {}) == (
        "TypeError: get_time() missing 1 required positional argument: 'timezone'"
    )
    given = {
        "type": "function",
        "function": {
            "name": "f",
            "description": "d",
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {"type": "string"},
                    "seconds": {"type": "number"},
                    "marker": {"type": "string"},
                },
                "required": ["query", "seconds", "marker"],
            },
        },
    }
    assert _run(_tool(function="tests.helpers.feedback_tools:slow_lookup", schema=given), {}) == (
        "TypeError: f() missing 3 required positional arguments: 'query', 'seconds', and 'marker'"
    )


def test_results_are_rendered_as_json():
    assert json.loads(_run(_tool(), {"city": "Rome", "unit": "fahrenheit"})) == {
        "city": "Rome",
        "temperature": 75.2,
        "unit": "fahrenheit",
    }


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_time_limit(isolation, tmp_path):
    marker = tmp_path / "finished"
    tool = _tool(function="tests.helpers.feedback_tools:slow_lookup", timeout=0.5, isolation=isolation)
    text, seconds = _timed_run(tool, {"query": "q", "seconds": 2.0, "marker": str(marker)})
    assert text == "TimeoutError: slow_lookup did not return within 0.5 s"
    assert seconds < 1.9
    time.sleep(2.5)
    # a thread cannot be stopped and finishes unobserved; a process is killed at the limit
    assert marker.exists() is (isolation == "thread")


def test_process_isolation_runs_the_function_and_reports_its_end():
    tool = _tool(isolation="process", timeout=30)
    assert json.loads(_run(tool, {"city": "Paris"}))["temperature"] == 18
    assert _run(tool, {"city": "Atlantis"}) == "ValueError: unknown city 'Atlantis'"
    crash = _tool(function="tests.helpers.feedback_tools:crash", isolation="process", timeout=30)
    assert _run(crash, {"code": 3}) == "RuntimeError: the tool process exited with code 3 without a result"


@pytest.mark.parametrize(
    "config, message",
    [
        ({"function": "tests.helpers.feedback_tools:nope"}, "has no attribute 'nope'"),
        ({"function": "no_such_module:f"}, "cannot import module 'no_such_module'"),
        ({"function": "feedback_tools"}, "must be 'module:function'"),
        ({"function": "tests.helpers.feedback_tools:no_docstring"}, "cannot build a tool schema"),
        ({"function": "tests.helpers.feedback_tools:get_weather", "timeout": 0}, "timeout must be > 0"),
        ({"function": "tests.helpers.feedback_tools:get_weather", "isolation": "fork"}, "isolation must be one of"),
        (
            {"function": "tests.helpers.feedback_tools:get_weather", "retries": 3},
            "unknown PythonFunctionTool config keys",
        ),
    ],
)
def test_bad_tool_config_is_refused_with_the_reason(config, message):
    with pytest.raises(ValueError, match=message):
        _tool(**config)


def test_schema_that_does_not_fit_the_function_is_refused():
    extra = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "d",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
    with pytest.raises(ValueError, match=r"\['country'\] are not parameters"):
        _tool(schema=extra)
    optional = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "d",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": []},
        },
    }
    with pytest.raises(ValueError, match=r"requires \['city'\]"):
        _tool(schema=optional)
    bad_type = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "d",
            "parameters": {"type": "object", "properties": {"city": {"type": "text"}}, "required": ["city"]},
        },
    }
    with pytest.raises(ValueError, match="not valid JSON Schema"):
        _tool(schema=bad_type)


def test_scores_are_numbers_verl_can_average(scenario_rollout):
    _, _, out = scenario_rollout
    for key in FEEDBACK_KEYS:
        assert np.asarray(out.non_tensor_batch[key], dtype=float).shape == (len(SCENARIOS),)


def test_example_tool_config_loads_and_runs_through_verl(monkeypatch):
    from verl.tools.tool_registry import initialize_tools_from_config

    from data_transforms.tool_feedback import classify_feedback

    example = ROOT / "example_configs" / "tools"
    monkeypatch.syspath_prepend(str(example))  # the launch script puts it on PYTHONPATH
    tools = {t.name: t for t in initialize_tools_from_config(str(example / "weather_tools.yaml"))}
    assert set(tools) == {"get_weather", "get_utc_offset"} and tools["get_utc_offset"].isolation == "process"
    assert json.loads(_run(tools["get_weather"], {"city": "Paris", "unit": "fahrenheit"}))["temperature"] == 64.4
    assert json.loads(_run(tools["get_utc_offset"], {"city": "Tokyo"}))["utc_offset_hours"] == 9
    assert classify_feedback(_run(tools["get_utc_offset"], {"city": "Atlantis"})) == "tool_call_failure"
    assert classify_feedback(_run(tools["get_weather"], {"town": "Paris"})) == "param_hallucination"


def test_reward_after_the_rollout_reads_the_record_from_the_batch_column(model_dir):
    # without streaming (a reward model on a shared pool), verl stores the loop's extra fields as
    # batch columns instead of handing them over as tool_extra_fields
    from verl.experimental.reward_loop import RewardLoopWorker

    from tests.tl_plugin.verl_ext.test_reward_manager import _make_batch

    cfg = compose_ppo(["+tl=multiturn", f"actor_rollout_ref.model.path={model_dir}"])
    worker = RewardLoopWorker(cfg)
    text = call("get_weather", city="Paris") + "<tool_response>{}</tool_response>Mild."
    data = _make_batch(worker.input_tokenizer, [text, text], response_len=96)
    data.non_tensor_batch["reward_model"] = np.array([{"style": "rule", "ground_truth": None}] * 2, dtype=object)
    records = [
        {"calls": [{"name": "get_weather", "category": c}], "final_answer": True, "unexecuted_calls": 0}
        for c in ("ok", "tool_call_failure")
    ]
    data.non_tensor_batch["tl_feedback"] = np.array(records, dtype=object)
    outputs = worker.loop.run_until_complete(worker.compute_score_batch(data))
    assert [o["reward_score"] for o in outputs] == pytest.approx([1.5, 0.25])

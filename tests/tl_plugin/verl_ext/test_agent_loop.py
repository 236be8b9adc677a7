"""Per-row tools in verl rollouts, through verl's real agent-loop and reward-loop code on CPU.

``tl-prepare`` writes BFCL ``multiple`` rows (several candidate tools each); verl's ``RLHFDataset``
loads them and its ``collate_fn`` batches them; verl's ``AgentLoopWorker`` runs our
``tl_tool_agent`` loop for each row and hands the result to verl's ``RewardLoopWorker``, which
calls the ``tl_tool`` reward manager. Mocked, because they need a GPU or a cluster: the LLM
server and Ray (see ``verl_rollout``). Everything else is verl's own code with a real BPE
tokenizer and a Qwen2.5-style tool template.
"""

from __future__ import annotations

import json

import pytest

from data_transforms.gold import reference_answer
from data_transforms.render import hermes_text
from tests.helpers import DATA_DIR
from tests.helpers.verl_config import compose_ppo
from tests.helpers.verl_rollout import rollout, tiny_model_dir
from tl_plugin.cli.prepare import prepare, prepare_config

_model_dir = tiny_model_dir


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return _model_dir(tmp_path_factory.mktemp("tiny_qwen2"))


@pytest.fixture(scope="module")
def rl_rows(tmp_path_factory):
    out = tmp_path_factory.mktemp("bfcl_multiple")
    prepare(prepare_config(["source=bfcl", "categories=[multiple]", f"out={out}", "kinds=[rl]", "limit=6"]))
    return str(out / "rl" / "train.parquet")


def _rollout(model_dir, parquet, answers_for, overrides=(), agent_name=None):
    """Load ``parquet`` with RLHFDataset, run verl's AgentLoopWorker on it; return what came out."""
    cfg = compose_ppo(
        [
            "+tl=grpo",
            f"actor_rollout_ref.model.path={model_dir}",
            "actor_rollout_ref.rollout.name=vllm",  # only a name here: the fake server generates
            "actor_rollout_ref.rollout.response_length=96",
            "data.max_prompt_length=1536",
            *overrides,
        ]
    )
    return rollout(cfg, parquet, answers_for, agent_name=agent_name)


def _gold_answer(row):
    return hermes_text(reference_answer(json.loads(row["reward_model"]["ground_truth"])))


def _wrong_tool_answer(row):
    gold = {c["name"] for c in json.loads(row["reward_model"]["ground_truth"])}
    other = next(
        t["function"]["name"] for t in json.loads(row["extra_info"]["tools"]) if t["function"]["name"] not in gold
    )
    return hermes_text([{"name": other, "arguments": {}}])


def test_row_tools_reach_the_prompt_tokens_through_the_chat_template(model_dir, rl_rows):
    rows, server, out, tokenizer = _rollout(model_dir, rl_rows, _gold_answer)
    assert len(rows) == 6 and all(r["agent_name"] == "tl_tool_agent" for r in rows)
    for row in rows:
        question = [m for m in row["raw_prompt"] if m["role"] == "user"][-1]["content"]
        tools = json.loads(row["extra_info"]["tools"])
        assert len(tools) >= 2  # BFCL "multiple": several candidates, each row its own
        expected = tokenizer.apply_chat_template(
            [{"role": m["role"], "content": m["content"]} for m in row["raw_prompt"]],
            tools=tools,
            add_generation_prompt=True,
            tokenize=False,
        )
        prompt_text = tokenizer.decode(server.prompts[question])
        assert prompt_text == expected
        for tool in tools:
            assert json.dumps(tool) in prompt_text  # the full schema, as the template renders it
    # verl's own batch keeps the prompt the loop built (left-padded)
    decoded = tokenizer.decode(
        out.batch["prompts"][0][out.batch["attention_mask"][0][: out.batch["prompts"].shape[1]].bool()]
    )
    assert "<tools>" in decoded


def test_reward_gets_the_row_tools_and_scores_the_rollout(model_dir, rl_rows):
    # gold answers score +1; a call to another candidate of the row is a wrong tool (-1.5), which
    # the reward can only tell from a hallucination (-2) if it got the row's tools
    rows, _, out, _ = _rollout(
        model_dir, rl_rows, lambda r: _gold_answer(r) if r["extra_info"]["index"] % 2 == 0 else _wrong_tool_answer(r)
    )
    scores = out.batch["rm_scores"].sum(dim=1).tolist()
    expected = [1.0 if r["extra_info"]["index"] % 2 == 0 else -1.5 for r in rows]
    assert scores == pytest.approx(expected)
    assert out.non_tensor_batch["wrong_tool"].tolist() == [0 if e == 1.0 else 1 for e in expected]
    assert out.non_tensor_batch["tool_hallucination"].tolist() == [0] * len(rows)
    assert "reward_extra_keys" in out.meta_info


def test_stock_single_turn_agent_does_not_show_the_tools(model_dir, rl_rows):
    # the contrast that motivates tl_tool_agent: verl's default loop drops the row's tools
    rows, server, _, tokenizer = _rollout(model_dir, rl_rows, _gold_answer, agent_name="single_turn_agent")
    for row in rows:
        question = [m for m in row["raw_prompt"] if m["role"] == "user"][-1]["content"]
        prompt_text = tokenizer.decode(server.prompts[question])
        assert "<tools>" not in prompt_text
        assert not any(json.dumps(t) in prompt_text for t in json.loads(row["extra_info"]["tools"]))


def test_system_text_rows_roll_out_with_the_stock_loop(model_dir, tmp_path):
    prepare(
        prepare_config(
            [
                "source=bfcl",
                "categories=[multiple]",
                f"out={tmp_path}",
                "kinds=[rl]",
                "limit=3",
                "tools_in_prompt=system_text",
            ]
        )
    )
    rows, server, out, tokenizer = _rollout(model_dir, str(tmp_path / "rl" / "train.parquet"), _gold_answer)
    assert all(r["agent_name"] == "single_turn_agent" for r in rows)
    for row in rows:
        question = [m for m in row["raw_prompt"] if m["role"] == "user"][-1]["content"]
        prompt_text = tokenizer.decode(server.prompts[question])
        assert "# Tools" not in prompt_text  # the chat template got no tools ...
        for tool in json.loads(row["extra_info"]["tools"]):
            assert json.dumps(tool, ensure_ascii=False) in prompt_text  # ... the system text has them
    assert out.batch["rm_scores"].sum(dim=1).tolist() == pytest.approx([1.0] * len(rows))


def test_grpo_preset_composes_into_verls_config_and_stays_overridable():
    cfg = compose_ppo(["+tl=grpo", "actor_rollout_ref.rollout.n=4"])
    assert cfg.reward.reward_manager.name == "tl_tool"
    assert cfg.reward.custom_reward_function.path == "pkg://reward_fns.tl_tool"
    assert cfg.reward.custom_reward_function.reward_kwargs.wrong_tool == -1.5
    assert cfg.algorithm.adv_estimator == "grpo" and cfg.actor_rollout_ref.actor.use_kl_loss is True
    assert cfg.actor_rollout_ref.rollout.agent.default_agent_loop == "tl_tool_agent"
    assert cfg.actor_rollout_ref.rollout.n == 4
    assert compose_ppo([]).actor_rollout_ref.rollout.agent.default_agent_loop == "single_turn_agent"


def test_import_verl_registers_the_agent_loop():
    from verl.experimental.agent_loop.agent_loop import _agent_loop_registry

    assert _agent_loop_registry["tl_tool_agent"] == {"_target_": "tl_plugin.verl_ext.agent_loop.TLToolAgentLoop"}


def test_earlier_calls_reach_the_template_as_dicts(tmp_path):
    # rows store earlier calls' arguments as JSON strings; a template that renders
    # `arguments | tojson` (Qwen2.5's does) must still see a dict, not a string to quote again
    model = _model_dir(tmp_path / "model", string_arguments=False)
    sample = DATA_DIR / "openai_chat.jsonl"
    prepare(prepare_config(["source=openai", f"input={sample}", f"out={tmp_path / 'o'}", "kinds=[rl]"]))
    rows, server, _, _ = _rollout(model, str(tmp_path / "o" / "rl" / "train.parquet"), lambda r: "Done.")
    earlier = [c["function"] for r in rows for m in r["raw_prompt"] for c in (m.get("tool_calls") or [])]
    assert earlier and all(isinstance(fn["arguments"], str) for fn in earlier)  # as stored
    text = "".join(server.all_prompts)
    assert len(server.all_prompts) == len(rows) and text.count('<tool_call>\n{"name": "') == len(earlier)
    assert '"arguments": "' not in text
    for fn in earlier:
        assert json.dumps(json.loads(fn["arguments"]), ensure_ascii=False) in text

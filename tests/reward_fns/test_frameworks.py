"""The tl_tool reward in TRL and OpenRLHF: the adapters alone, TRL's real ``GRPOTrainer`` on CPU,
and OpenRLHF's own dataset and reward-loading code.

OpenRLHF is installed without its dependencies (deepspeed, flash-attn and vLLM need a GPU), so
only what imports without them runs: its ``PromptDataset`` and the ``SingleTurnAgentExecutor``
that loads ``--remote_rm_url file.py`` and calls ``reward_func``. vLLM is replaced by an engine
that returns fixed token ids (the one mocked part: generation needs a GPU there).
"""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest

import reward_fns.openrlhf_reward as openrlhf_reward
from data_transforms.gold import reference_answer
from data_transforms.render import hermes_text
from reward_fns.tl_tool import compute_score
from reward_fns.trl_reward import LOGGED_KEYS, completion_text, make_tl_tool_reward, tl_tool_reward
from tests.helpers import ROOT
from tl_plugin.cli.prepare import prepare, prepare_config

SMOKE_ROWS = ROOT / "tl_plugin" / "data" / "smoke_rl.jsonl"


@pytest.fixture(scope="module")
def rl_rows(tmp_path_factory):
    """tl-prepare's RL rows (tools written into the system text, an OpenRLHF label column)."""
    out = tmp_path_factory.mktemp("rl")
    prepare(
        prepare_config(
            [
                "source=openai",
                f"input={SMOKE_ROWS}",
                f"out={out}",
                "kinds=[rl]",
                "tools_in_prompt=system_text",
                "rl.label_column=label",
            ]
        )
    )
    path = out / "rl" / "train.parquet"
    return path, pq.read_table(path).to_pylist()


def _gold_text(row) -> str:
    gold = json.loads(row["reward_model"]["ground_truth"])
    tools = [t["function"] for t in json.loads(row["extra_info"]["tools"])]
    return hermes_text(reference_answer(gold, tools)) if gold else "Done, nothing to call."


def _columns(rows) -> dict:
    return {key: [r[key] for r in rows] for key in rows[0] if key != "prompt"}


# ----------------------------------------------------------------------------- TRL adapter


def test_trl_reward_equals_compute_score_for_text_and_chat_completions(rl_rows):
    _, rows = rl_rows
    texts = [_gold_text(r) for r in rows] + ["no call at all"] * len(rows)
    rows2 = rows + rows
    as_chat = [[{"role": "assistant", "content": t}] for t in texts]
    expected = [
        compute_score(r["data_source"], t, r["reward_model"]["ground_truth"], {"tools": r["extra_info"]["tools"]})[
            "score"
        ]
        for r, t in zip(rows2, texts)
    ]
    assert tl_tool_reward(texts, **_columns(rows2)) == expected
    assert tl_tool_reward(as_chat, **_columns(rows2)) == expected
    assert expected[: len(rows)] == [1.0] * len(rows)
    assert set(expected[len(rows) :]) <= {-2.0, 1.0}  # no call: -2 where a call was due


def test_trl_reward_logs_ts_pi_cf_and_category_rates(rl_rows):
    _, rows = rl_rows
    logged = {}
    texts = [_gold_text(rows[0]), "no call"]
    tl_tool_reward(texts, **_columns([rows[0], rows[0]]), log_metric=lambda k, v: logged.__setitem__(k, v))
    assert set(logged) == {f"tl_tool/{k}" for k in LOGGED_KEYS}
    assert logged["tl_tool/correct"] == 0.5 and logged["tl_tool/cf"] == 0.5


def test_trl_reward_reads_calls_trl_parsed_into_tool_calls():
    gt = '[{"name": "f", "arguments": {"x": [1]}}]'
    tools = '[{"name": "f", "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}}}]'
    parsed = [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"x": 1}}}],
        }
    ]
    assert tl_tool_reward([parsed], ground_truth=[gt], tools=[tools]) == [1.0]  # flat columns
    assert completion_text([{"role": "tool", "content": "x"}, {"role": "assistant", "content": "ok"}]) == "ok"


def test_trl_reward_other_columns_and_reward_values():
    gt = '[{"name": "f", "arguments": {"x": [1]}}]'
    tools = (
        '[{"name": "f", "parameters": {"type": "object", "properties": {"x": {}}}}, {"name": "g", "parameters": {}}]'
    )
    reward = make_tl_tool_reward(ground_truth_column="answer", tools_column="functions", wrong_tool=-1.0)
    assert reward.__name__ == "tl_tool_reward"  # TRL names the logged reward after it
    assert reward(['<tool_call>{"name": "g", "arguments": {}}</tool_call>'], answer=[gt], functions=[tools]) == [-1.0]
    with pytest.raises(ValueError, match="column 'reward_model'"):
        tl_tool_reward(["x"], prompt=["p"])
    with pytest.raises(ValueError, match="unknown reward_kwargs"):
        make_tl_tool_reward(wrong_tol=-1.0)


def test_installed_trl_has_what_verls_fsdp_engine_imports_from_it(tiny_qwen):
    # verl 0.9.1 patches AutoModelForCausalLMWithValueHead whenever trl is installed; TRL 1.13
    # removed it, and every verl FSDP run (SFT, actor, critic) then stops with an ImportError.
    # The trl extra's upper bound (< 1.13) exists for this; run verl's own patch to hold it.
    from transformers import AutoModelForCausalLM
    from verl.models.transformers.monkey_patch import apply_monkey_patch

    apply_monkey_patch(AutoModelForCausalLM.from_pretrained(tiny_qwen))


@pytest.fixture(scope="module")
def tiny_qwen(tmp_path_factory):
    from tl_plugin.cli.smoke import build_tiny_model
    from tl_plugin.testing import TINY_QWEN

    path = tmp_path_factory.mktemp("tiny")
    build_tiny_model(path, TINY_QWEN, 0)
    return path


@pytest.mark.slow
def test_trl_grpo_trainer_trains_two_steps_on_cpu_with_the_reward(rl_rows, tiny_qwen, tmp_path):
    import datasets
    from transformers import AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    path, rows = rl_rows
    model_dir = tiny_qwen
    # the recipe in docs/frameworks.md: tl-prepare's parquet as it is
    dataset = datasets.load_dataset("parquet", data_files=str(path), split="train")

    returned = []  # what our reward gave TRL, step by step

    def tl_tool_reward_recorded(completions, **kwargs):
        scores = tl_tool_reward(completions, **kwargs)
        returned.append(scores)
        return scores

    tl_tool_reward_recorded.__name__ = "tl_tool_reward"
    args = GRPOConfig(
        output_dir=str(tmp_path / "out"),
        use_cpu=True,
        bf16=False,
        max_steps=2,
        learning_rate=1e-4,
        per_device_train_batch_size=8,
        num_generations=4,
        max_completion_length=12,
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        seed=0,
        temperature=1.0,
        beta=0.0,
    )
    trainer = GRPOTrainer(
        model=str(model_dir),
        reward_funcs=[tl_tool_reward_recorded],
        args=args,
        train_dataset=dataset,
        processing_class=AutoTokenizer.from_pretrained(model_dir),
    )
    trainer.train()

    logs = [entry for entry in trainer.state.log_history if "rewards/tl_tool_reward/mean" in entry]
    assert len(logs) == 2 and len(returned) == 2
    for entry, scores in zip(logs, returned):
        assert entry["rewards/tl_tool_reward/mean"] == pytest.approx(sum(scores) / len(scores), abs=1e-6)
        assert entry["reward"] == pytest.approx(sum(scores) / len(scores), abs=1e-6)
        for key in ("ts", "pi", "cf", "malformed", "no_call"):
            assert f"tl_tool/{key}" in entry
    # both kinds of row were scored (a due call the random model did not make: -2; a text answer
    # where none is due: +1), so the logged means are the reward's, not a constant
    assert {-2.0, 1.0} <= {s for scores in returned for s in scores}


# ----------------------------------------------------------------------------- OpenRLHF


def test_label_column_carries_gold_tools_and_data_source(rl_rows):
    _, rows = rl_rows
    for row in rows:
        label = json.loads(row["label"])
        assert label == {
            "ground_truth": row["reward_model"]["ground_truth"],
            "tools": row["extra_info"]["tools"],
            "data_source": row["data_source"],
        }


def test_openrlhf_reward_func_interface_without_openrlhf(rl_rows):
    _, rows = rl_rows
    prompts = ["<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n"] * len(rows)
    queries = [p + _gold_text(r) for p, r in zip(prompts, rows)]
    out = openrlhf_reward.reward_func(queries, prompts, [r["label"] for r in rows])
    assert out["rewards"].tolist() == [1.0] * len(rows) and out["scores"].tolist() == [1.0] * len(rows)
    assert set(out["extra_logs"]) == {f"tl_tool/{k}" for k in LOGGED_KEYS}
    wrong = openrlhf_reward.reward_func([prompts[0] + "no call"], prompts[:1], [rows[0]["label"]])
    assert wrong["scores"].tolist() == [0.0]
    with pytest.raises(ValueError, match=r"labels\[0\] is not the JSON label"):
        openrlhf_reward.reward_func(["x"], ["p"], ["not json"])


def test_openrlhf_reward_kwargs_from_the_environment(rl_rows, monkeypatch):
    _, rows = rl_rows
    monkeypatch.setenv("TL_TOOL_REWARD_KWARGS", '{"no_call": -1.0}')
    row = next(r for r in rows if json.loads(r["reward_model"]["ground_truth"]))
    assert openrlhf_reward.reward_func(["P no call"], ["P "], [row["label"]])["rewards"].tolist() == [-1.0]
    monkeypatch.setenv("TL_TOOL_REWARD_KWARGS", '{"no_cal": -1.0}')
    with pytest.raises(ValueError, match="unknown reward_kwargs"):
        openrlhf_reward.reward_func(["P no call"], ["P "], [row["label"]])


class _FakeVLLM:
    """Stands in for OpenRLHF's vLLM engine (GPU only): answers every prompt with fixed tokens."""

    def __init__(self, token_ids):
        self.token_ids = token_ids

    async def generate(self, prompt_token_ids, params, multi_modal_data=None):
        out = SimpleNamespace(token_ids=list(self.token_ids), finish_reason="stop", logprobs=None)
        return SimpleNamespace(outputs=[out])


def test_openrlhf_loads_the_reward_file_and_scores_through_its_own_executor(rl_rows, tmp_path):
    import datasets
    from openrlhf.datasets.prompts_dataset import PromptDataset
    from openrlhf.utils.agent import SingleTurnAgentExecutor
    from transformers import AutoTokenizer

    from tl_plugin.testing import build_tiny_tokenizer

    path, rows = rl_rows
    build_tiny_tokenizer(tmp_path / "tok")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "tok")
    # OpenRLHF's own dataset code: --input_key prompt --label_key label --apply_chat_template
    strategy = SimpleNamespace(
        args=SimpleNamespace(data=SimpleNamespace(input_key="prompt", label_key="label", apply_chat_template=True)),
        is_rank_0=lambda: True,
    )
    dataset = PromptDataset(datasets.load_dataset("parquet", data_files=str(path), split="train"), tokenizer, strategy)
    assert len(dataset) == len(rows)

    # OpenRLHF's own loader: --remote_rm_url path/to/openrlhf_reward.py
    executor = SingleTurnAgentExecutor(remote_rm_url=openrlhf_reward.__file__)
    assert executor.reward_func.__module__ == "reward_func"  # loaded by path, not imported by us
    params = SimpleNamespace(max_tokens=64, logprobs=None)
    for i, row in enumerate(rows):
        _, prompt, label, _ = dataset[i]
        assert "<tool_call>" in prompt or "tools" in prompt.lower()  # the tools are in the system text
        right = tokenizer.encode(_gold_text(row), add_special_tokens=False)
        out = asyncio.run(executor.execute(prompt, label, params, 4096, tokenizer, _FakeVLLM(right)))
        assert float(out["reward"]) == 1.0 and float(out["scores"]) == 1.0, row["extra_info"]["id"]
        assert out["extra_logs"]["tl_tool/cf"] == 1.0
        if json.loads(row["reward_model"]["ground_truth"]):
            wrong = tokenizer.encode("I cannot help.", add_special_tokens=False)
            out = asyncio.run(executor.execute(prompt, label, params, 4096, tokenizer, _FakeVLLM(wrong)))
            assert float(out["reward"]) == -2.0 and out["extra_logs"]["tl_tool/no_call"] == 1.0
        # what OpenRLHF's samples generator then does with each extra log (it needs vLLM to import):
        # a number becomes torch.tensor([value])
        assert all(isinstance(v, float) for v in out["extra_logs"].values())

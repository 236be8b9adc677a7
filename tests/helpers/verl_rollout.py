"""Running verl's real ``AgentLoopWorker`` and ``RewardLoopWorker`` on CPU, for tests.

Mocked, because they need a GPU or a cluster: the LLM server (a scripted fake that records the
prompt tokens it gets and answers with fixed text, turn by turn) and Ray (the reward worker runs
in-process behind an object with the actor-handle interface). Everything else is verl's own code.
"""

from __future__ import annotations

import numpy as np

from tl_plugin.testing import TINY_QWEN, build_tiny_tokenizer


def tiny_model_dir(path, **tokenizer_kwargs) -> str:
    """A tokenizer plus a tiny Qwen2 config (no weights: the fake server does the generating)."""
    from transformers import Qwen2Config

    tok = build_tiny_tokenizer(path, **tokenizer_kwargs)
    Qwen2Config(vocab_size=len(tok), **TINY_QWEN, architectures=["Qwen2ForCausalLM"]).save_pretrained(path)
    return str(path)


class ScriptedServer:
    """Stands in for verl's LLM server client. ``script`` maps a question (found in the prompt) to
    the model's answer, or to a list of answers, one per turn of the trajectory."""

    def __init__(self, tokenizer, script: dict):
        self.tokenizer, self.script = tokenizer, script
        self.prompts: dict[str, list] = {}  # question -> prompt ids of its latest turn
        self.turn_prompts: dict[str, list[str]] = {}  # question -> decoded prompt of every turn
        self.all_prompts: list[str] = []
        self._turns: dict[str, int] = {}

    async def generate(self, request_id, prompt_ids, sampling_params, **kwargs):
        from verl.workers.rollout.replica import TokenOutput

        text = self.tokenizer.decode(prompt_ids)
        (question,) = [q for q in self.script if q in text]
        turn = self._turns.get(request_id, 0)
        self._turns[request_id] = turn + 1
        self.prompts[question] = list(prompt_ids)
        self.turn_prompts.setdefault(question, []).append(text)
        self.all_prompts.append(text)
        answers = self.script[question]
        answer = answers if isinstance(answers, str) else answers[min(turn, len(answers) - 1)]
        ids = self.tokenizer.encode(answer, add_special_tokens=False) + [self.tokenizer.eos_token_id]
        return TokenOutput(token_ids=ids)


class InProcessActor:
    """The Ray actor-handle interface (``handle.compute_score.remote(data)``) over a local worker."""

    def __init__(self, worker):
        class _Method:
            def remote(_self, data):
                return worker.compute_score(data)

        self.compute_score = _Method()


def rollout(cfg, parquet: str, script_for, agent_name=None):
    """Load ``parquet`` with verl's ``RLHFDataset``, batch it with its ``collate_fn``, run verl's
    ``AgentLoopWorker`` (reward streamed to an in-process ``RewardLoopWorker``) with a
    :class:`ScriptedServer` answering ``script_for(row)``. Returns ``(rows, server, output, tokenizer)``.
    """
    rows, server, worker, batch, tokenizer = rollout_worker(cfg, parquet, script_for, agent_name)
    return rows, server, generate(worker, batch), tokenizer


def generate(worker, batch):
    """``worker.generate_sequences(batch)``, run to completion."""
    from verl.utils.ray_utils import get_event_loop

    # verl's agent loops capture asyncio's current loop (verl.utils.ray_utils.get_event_loop) and
    # schedule tokenisation on it, so the rollout must run on that same loop
    return get_event_loop().run_until_complete(worker.generate_sequences(batch))


def rollout_worker(cfg, parquet: str, script_for, agent_name=None):
    """What :func:`rollout` runs, built and not yet run: ``(rows, server, worker, batch, tokenizer)``."""
    from transformers import AutoTokenizer
    from verl import DataProto
    from verl.experimental.agent_loop.agent_loop import AgentLoopWorker
    from verl.experimental.reward_loop import RewardLoopWorker
    from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn

    tokenizer = AutoTokenizer.from_pretrained(cfg.actor_rollout_ref.model.path)
    dataset = RLHFDataset([parquet], tokenizer, cfg.data)
    rows = [dataset[i] for i in range(len(dataset))]
    batch = DataProto.from_single_dict(collate_fn(rows))
    if agent_name is not None:
        batch.non_tensor_batch["agent_name"] = np.array([agent_name] * len(rows), dtype=object)
    script = {}
    for row in rows:
        question = [m for m in row["raw_prompt"] if m["role"] == "user"][-1]["content"]
        script[question] = script_for(row)
    server = ScriptedServer(tokenizer, script)
    reward_worker = RewardLoopWorker(cfg)
    worker = AgentLoopWorker(cfg, llm_client=server, reward_loop_worker_handles=[InProcessActor(reward_worker)])
    return rows, server, worker, batch, tokenizer

#!/usr/bin/env bash
# Multi-turn tool RL: the model calls real Python tools over several turns and is rewarded from the
# tools' own feedback (TL-Training's error categories, reward=tl_tool in feedback mode).
# Resources: 1 node x 8 GPUs (80 GB) for a 7B model (actor + reference under FSDP, vLLM with TP 2);
#   scale trainer.* and the parallel sizes. Tools run in the rollout workers' processes (CPU).
# Time (estimated, not measured: no GPU was available to this project): 1,000 prompts x 3 epochs at batch 64 (x 8 trajectories of up to 9 turns) is ~45 steps:
#   roughly 2-5 h on 8 H100s (every turn is a generation round; slow tools add to it).
# Tools: example_configs/tools/weather_tools.yaml (plain functions in weather_tools.py); write your
#   own the same way and pass TOOLS=path/to/tools.yaml with its module on PYTHONPATH.
# Data: RL parquet whose rows have a prompt and no gold calls (reward_model.ground_truth null);
#   tl-prepare does not write such rows; docs/multiturn.md ("Rows") writes them with pyarrow.
#   tl-prepare's RL rows (gold calls) can join them with reward.custom_reward_function.reward_kwargs.mode=mixed.
# +tl=multiturn sets the tl_multiturn_agent loop (verl's tool agent loop plus a record of each call's
# feedback category), multi_turn.* (9 turns, hermes parser), the reward in feedback mode and GRPO
# (tl_plugin/configs/tl/multiturn.yaml).
# Extra Hydra overrides are appended: bash example_configs/multiturn_tl.sh trainer.total_epochs=1
# DRY_RUN=1 prints the composed config (Hydra --cfg job) instead of training.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MODEL=${MODEL:-Qwen/Qwen2.5-7B-Instruct}
TRAIN=${TRAIN:-data/tools/rl/train.parquet}
VAL=${VAL:-data/tools/rl/test.parquet}
TOOLS=${TOOLS:-$HERE/tools/weather_tools.yaml}
NGPUS=${NGPUS:-8}
# the tool module must be importable in every Ray worker (they inherit this environment on one node)
export PYTHONPATH="$HERE/tools${PYTHONPATH:+:$PYTHONPATH}"

"${PYTHON:-python3}" -m verl.trainer.main_ppo \
    +tl=multiturn \
    actor_rollout_ref.rollout.multi_turn.tool_config_path="$TOOLS" \
    data.train_files="$TRAIN" \
    data.val_files="$VAL" \
    data.train_batch_size=64 \
    data.max_prompt_length=2048 \
    data.max_response_length=4096 \
    actor_rollout_ref.model.path="$MODEL" \
    actor_rollout_ref.actor.optim.lr=1e-6 \
    actor_rollout_ref.actor.ppo_mini_batch_size=32 \
    actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=2 \
    actor_rollout_ref.rollout.name=vllm \
    actor_rollout_ref.rollout.tensor_model_parallel_size=2 \
    actor_rollout_ref.rollout.gpu_memory_utilization=0.6 \
    actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=4 \
    actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=4 \
    trainer.n_gpus_per_node="$NGPUS" \
    trainer.nnodes=1 \
    trainer.total_epochs=3 \
    trainer.project_name=tl-plugin \
    trainer.experiment_name=multiturn_tl_tool \
    'trainer.logger=[console]' \
    "$@" ${DRY_RUN:+--cfg job}

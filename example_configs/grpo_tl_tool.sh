#!/usr/bin/env bash
# GRPO with TL-Training's tool-call reward (reward=tl_tool) on single-turn tool-use data.
# Resources: 1 node x 8 GPUs (80 GB) for a 7B model (actor + reference under FSDP, vLLM with TP 2);
#   scale trainer.* and the parallel sizes. No critic: GRPO's baseline is the group of 8 samples.
# Time (estimated, not measured: no GPU was available to this project): BFCL live_simple + live_multiple (1,311 questions, ~1,180 for training) x 3 epochs at
#   batch 64 (x 8 samples) is ~55 steps: roughly 1-3 h on 8 H100s.
# Not the paper's algorithm: TL-Training trains with PPO (example_configs/ppo_tl_tool.sh); this is
#   the same reward with verl's GRPO recipe (lr 1e-6, batch 64, 8 samples, low-variance KL loss).
# Data: RL parquet from tl-prepare (docs/data.md), e.g. BFCL live data split disjoint by tool name:
#   tl-prepare source=bfcl 'categories=[live_simple,live_multiple]' out=data/bfcl split.test_fraction=0.1
# +tl=grpo sets reward=tl_tool, the tl_tool_agent loop (each row's own tools rendered by the chat
# template), GRPO and a low-variance KL loss (tl_plugin/configs/tl/grpo.yaml).
# Extra Hydra overrides are appended: bash example_configs/grpo_tl_tool.sh trainer.total_epochs=1
# DRY_RUN=1 prints the composed config (Hydra --cfg job) instead of training.
set -euo pipefail
MODEL=${MODEL:-Qwen/Qwen2.5-7B-Instruct}
TRAIN=${TRAIN:-data/bfcl/rl/train.parquet}
VAL=${VAL:-data/bfcl/rl/test.parquet}
NGPUS=${NGPUS:-8}

"${PYTHON:-python3}" -m verl.trainer.main_ppo \
    +tl=grpo \
    data.train_files="$TRAIN" \
    data.val_files="$VAL" \
    data.train_batch_size=64 \
    data.max_prompt_length=4096 \
    data.max_response_length=1024 \
    data.filter_overlong_prompts=True \
    actor_rollout_ref.model.path="$MODEL" \
    actor_rollout_ref.actor.optim.lr=1e-6 \
    actor_rollout_ref.actor.ppo_mini_batch_size=32 \
    actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4 \
    actor_rollout_ref.rollout.name=vllm \
    actor_rollout_ref.rollout.tensor_model_parallel_size=2 \
    actor_rollout_ref.rollout.gpu_memory_utilization=0.6 \
    actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=8 \
    actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=8 \
    trainer.n_gpus_per_node="$NGPUS" \
    trainer.nnodes=1 \
    trainer.total_epochs=3 \
    trainer.project_name=tl-plugin \
    trainer.experiment_name=grpo_tl_tool \
    'trainer.logger=[console]' \
    "$@" ${DRY_RUN:+--cfg job}

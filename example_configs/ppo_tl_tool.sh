#!/usr/bin/env bash
# TL-Training's RL stage: PPO (GAE with a critic) with the tool-call reward (reward=tl_tool, IRM).
# Resources: 1 node x 8 GPUs (80 GB) for a 7B actor + 7B critic: FSDP holds two trainable 7B models
#   (fp32 weights, gradients and AdamW states: ~120 GB each), the reference model and vLLM (TP 2)
#   beside them. On smaller GPUs add actor_rollout_ref.actor.fsdp_config.param_offload=True,
#   ...optimizer_offload=True and the same for critic.model.fsdp_config.
# Time (estimated, not measured: no GPU was available to this project): the paper's 1,194 prompts (about the size of the BFCL split below) x 3 epochs at batch 8 is
#   ~450 PPO steps: roughly 4-8 h on 8 H100s
#   (small batches keep the GPUs mostly idle; the batch size is the paper's, not a throughput choice).
# Data: RL parquet from tl-prepare (docs/data.md), e.g. BFCL live data split disjoint by tool name:
#   tl-prepare source=bfcl 'categories=[live_simple,live_multiple]' out=data/bfcl split.test_fraction=0.1
#   (the paper used its own multi-turn data: tl-prepare source=tl_training input=FILE out=DIR)
# Model: the paper starts PPO from its SFT model: MODEL=checkpoints/tl-plugin/sft_tl/global_step_N/huggingface
#   (example_configs/sft_tl.sh saves it); the critic starts from the same weights with a new value
#   head (CRITIC=... to change).
# +tl=ppo sets reward=tl_tool, the tl_tool_agent loop, GAE, the KL penalty in the reward and the
# paper's actor lr 2e-6, critic lr 1e-6, batch 8, 3 epochs (tl_plugin/configs/tl/ppo.yaml).
# "3 epochs" is trainer.total_epochs=3 (passes over the prompts), ppo_epochs stays 1: the paper's
# sentence alone is ambiguous (it uses the same words for SFT's 1 epoch); its released code settles it.
# Batch 8 over the GPUs: NGPUS 2, 4 or 8 (vLLM uses TP 2).
# Extra Hydra overrides are appended: bash example_configs/ppo_tl_tool.sh trainer.total_epochs=1
# DRY_RUN=1 prints the composed config (Hydra --cfg job) instead of training.
set -euo pipefail
MODEL=${MODEL:-Qwen/Qwen2.5-7B-Instruct}
CRITIC=${CRITIC:-$MODEL}
TRAIN=${TRAIN:-data/bfcl/rl/train.parquet}
VAL=${VAL:-data/bfcl/rl/test.parquet}
NGPUS=${NGPUS:-8}

"${PYTHON:-python3}" -m verl.trainer.main_ppo \
    +tl=ppo \
    data.train_files="$TRAIN" \
    data.val_files="$VAL" \
    data.max_prompt_length=4096 \
    actor_rollout_ref.model.path="$MODEL" \
    actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=1 \
    actor_rollout_ref.rollout.name=vllm \
    actor_rollout_ref.rollout.tensor_model_parallel_size=2 \
    actor_rollout_ref.rollout.gpu_memory_utilization=0.5 \
    actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=1 \
    actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=1 \
    critic.model.path="$CRITIC" \
    critic.ppo_micro_batch_size_per_gpu=1 \
    trainer.n_gpus_per_node="$NGPUS" \
    trainer.nnodes=1 \
    trainer.project_name=tl-plugin \
    trainer.experiment_name=ppo_tl_tool \
    'trainer.logger=[console]' \
    "$@" ${DRY_RUN:+--cfg job}

#!/usr/bin/env bash
# ToolDev stage 3, self-evolution (ToolDev 3.4): tl-evolve generates tools and k=5 calls per query
# with vLLM, votes and filters, and trains each next round with verl's SFT trainer (+tl=tooldev).
# Resources: 1 node x 8 GPUs (80 GB) for an 8B model. vLLM runs in this process on one GPU
# (tensor_parallel_size) and is freed before training starts; training uses all NGPUS through torchrun.
# Time (estimated, not measured: no GPU was available to this project): a round generates 1 tool set + k=5 calls for each of 10,000 queries (~60,000 samples) with
# vLLM, then trains LoRA on the kept rows: roughly 1-3 h a round on H100s, 3 rounds.
# Model: the stage-2 checkpoint in Hugging Face form (example_configs/tooldev_sft.sh saves one under
# checkpoints/.../global_step_N/huggingface; merge LoRA with tl_plugin.cli.launch.hf_model).
# Queries: JSON Lines {"id", "query"} or one query per line (.txt); the paper used 10,000 new
# queries per round for 3 rounds (queries_per_round=10000 rounds=3); 30,000 queries in all.
# Paper settings (ToolDev 4.1 and appendix A): 3 rounds, tools sampled at temperature 1.0, k=5 calls
# sampled with top-k and majority-voted; each round trains with +tl=tooldev (LoRA r16/alpha 32,
# global batch 64, lr 1e-4, cosine, warmup 0.1). Extra Hydra overrides of tl-evolve are appended.
# Resumable: run the same command again after a kill. Outputs: docs/tooldev.md.
# DRY_RUN=1 prints the composed config (Hydra --cfg job) instead of running.
set -euo pipefail
MODEL=${MODEL:-checkpoints/tl-plugin/tooldev_sft/global_step_1000/huggingface}
QUERIES=${QUERIES:-data/evolve/queries.jsonl}
OUT=${OUT:-runs/evolve}
NGPUS=${NGPUS:-8}
# overrides of verl.trainer.sft_trainer for each round's training (each one quoted for Hydra)
TRAIN_OVERRIDES="train.overrides=['data.max_length=8192',\
'data.max_token_len_per_gpu=16384','data.truncation=right','engine.strategy=fsdp2',\
'trainer.n_gpus_per_node=$NGPUS','trainer.logger=[console]']"

"${PYTHON:-python3}" -m tl_plugin.cli.evolve \
    generation=vllm \
    model="$MODEL" \
    queries="$QUERIES" \
    out="$OUT" \
    rounds=3 \
    queries_per_round=10000 \
    tool_sampling.temperature=1.0 \
    k=5 \
    chunk_size=512 \
    generation.tensor_parallel_size=1 \
    generation.gpu_memory_utilization=0.85 \
    train.nproc_per_node="$NGPUS" \
    train.micro_batch_size_per_gpu=2 \
    "$TRAIN_OVERRIDES" \
    "$@" ${DRY_RUN:+--cfg job}

#!/usr/bin/env bash
# ToolDev stages 1-2 (ToolDev 3.2-3.3) with verl's own SFT trainer: tool documentation adaption,
# query-aware tool generation and tool invocation rows, trained with the paper's LoRA settings.
# Resources: 1 node x 8 GPUs for an 8B model (FSDP2, bf16, LoRA rank 16): LoRA trains ~40M
#   parameters, so the frozen 8B weights and activations dominate; 40-80 GB GPUs are comfortable
#   (the paper used 8 x V100 32 GB; verl's defaults, bf16 and flash-attention 2, need Ampere+).
# Time (estimated, not measured: no GPU was available to this project): the paper's stages 1-2 (26,522 tool documents + 20,000 invocation rows, ~46,500 rows) at
#   global batch 64 are ~730 steps an epoch: roughly 1-3 h on 8 A100/H100s.
# Data: SFT parquet from tl-prepare with the ToolDev tasks mixed in (docs/tooldev.md), e.g.
#   tl-prepare source=toolace input=ToolACE/data.json out=data/tooldev 'kinds=[sft]' \
#       tooldev.ratios.adaption=1.0 tooldev.ratios.generation=1.0
# +tl=tooldev sets TLSFTDataset and the paper's settings (LoRA r16/alpha 32 on all linear layers,
# global batch 64, lr 1e-4, cosine, warmup ratio 0.1; tl_plugin/configs/tl/tooldev.yaml). Checkpoints
# include a Hugging Face copy (checkpoint.save_contents ... hf_model): tl-evolve's MODEL.
# Extra Hydra overrides are appended: bash example_configs/tooldev_sft.sh trainer.total_epochs=2
# DRY_RUN=1 prints the composed config (Hydra --cfg job) instead of training.
set -euo pipefail
MODEL=${MODEL:-meta-llama/Llama-3.1-8B-Instruct}
TRAIN=${TRAIN:-data/tooldev/sft/train.parquet}
NGPUS=${NGPUS:-8}

if [ -n "${DRY_RUN:-}" ]; then
    LAUNCH=("${PYTHON:-python3}")
else
    LAUNCH=(torchrun --standalone --nnodes=1 --nproc_per_node="$NGPUS")
fi

"${LAUNCH[@]}" -m verl.trainer.sft_trainer \
    +tl=tooldev \
    data.train_files="$TRAIN" \
    data.micro_batch_size_per_gpu=2 \
    data.max_length=8192 \
    data.max_token_len_per_gpu=16384 \
    data.truncation=right \
    data.num_workers=4 \
    model.path="$MODEL" \
    engine.strategy=fsdp2 \
    trainer.n_gpus_per_node="$NGPUS" \
    trainer.nnodes=1 \
    trainer.project_name=tl-plugin \
    trainer.experiment_name=tooldev_sft \
    'checkpoint.save_contents=[model,optimizer,extra,hf_model]' \
    'trainer.logger=[console]' \
    "$@" ${DRY_RUN:+--cfg job}

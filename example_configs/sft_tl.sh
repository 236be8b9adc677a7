#!/usr/bin/env bash
# TL-Training SFT with verl's own SFT trainer: MAE (erroneous steps masked) + PKT (key tool-name
# tokens weighted up to w_max=9), through TLSFTDataset.
# Resources: 1 node x 4 GPUs (80 GB) for a 7B model (FSDP2, bf16).
# Data: SFT parquet from tl-prepare (docs/data.md), e.g.
#   tl-prepare source=toolace input=ToolACE/data.json out=data/toolace split.test_fraction=0.05
# See the weights first: tl-inspect data.train_files=data/toolace/sft/train.parquet model.path=$MODEL
# +tl=sft sets the dataset class and the paper's settings (lr 1e-6, cosine, warmup 0.01, batch 4,
# 1 epoch, w_max 9; tl_plugin/configs/tl/sft.yaml). data.train_batch_size is the global batch:
# keep it >= the number of GPUs. Extra Hydra overrides are appended, e.g. data.pkt.w_max=5.
# DRY_RUN=1 prints the composed config (Hydra --cfg job) instead of training.
set -euo pipefail
MODEL=${MODEL:-Qwen/Qwen2.5-7B-Instruct}
TRAIN=${TRAIN:-data/toolace/sft/train.parquet}
VAL=${VAL:-data/toolace/sft/test.parquet}
NGPUS=${NGPUS:-4}

if [ -n "${DRY_RUN:-}" ]; then
    LAUNCH=("${PYTHON:-python3}")
else
    LAUNCH=(torchrun --standalone --nnodes=1 --nproc_per_node="$NGPUS")
fi

"${LAUNCH[@]}" -m verl.trainer.sft_trainer \
    +tl=sft \
    data.train_files="$TRAIN" \
    data.val_files="$VAL" \
    data.micro_batch_size_per_gpu=1 \
    data.max_length=8192 \
    data.max_token_len_per_gpu=16384 \
    data.truncation=right \
    data.num_workers=4 \
    model.path="$MODEL" \
    engine.strategy=fsdp2 \
    trainer.n_gpus_per_node="$NGPUS" \
    trainer.nnodes=1 \
    trainer.project_name=tl-plugin \
    trainer.experiment_name=sft_tl \
    trainer.save_freq=after_each_epoch \
    'trainer.logger=[console]' \
    "$@" ${DRY_RUN:+--cfg job}

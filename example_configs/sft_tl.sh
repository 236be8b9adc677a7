#!/usr/bin/env bash
# TL-Training SFT with verl's own SFT trainer: MAE (erroneous steps masked) + PKT (key tool-name
# tokens weighted up to w_max=9), through TLSFTDataset.
# Resources: 1 node x 4 GPUs (80 GB) for a 7B model, full fine-tuning with FSDP2 (fp32 weights,
#   gradients and AdamW states: ~120 GB, ~30 GB a GPU, plus activations); the paper's batch of 4 is
#   one row per GPU, as in its released code (4 GPUs, 1 row each, no accumulation).
# Time (estimated, not measured: no GPU was available to this project): the paper's 1,217 rows at batch 4 are ~300 steps: well under an hour on 4 A100/H100s;
#   ToolACE (~11,300 dialogues, more rows) takes about ten times as long.
# Data: SFT parquet from tl-prepare (docs/data.md); MAE happens there: mae.mode=mask (the default)
#   gives erroneous assistant steps loss_mask 0, and TLSFTDataset honours it, e.g.
#   tl-prepare source=toolace input=ToolACE/data.json out=data/toolace split.test_fraction=0.05 mae.mode=mask
#   (the paper's own data: source=tl_training input=FILE)
# See the weights first: tl-inspect data.train_files=data/toolace/sft/train.parquet model.path=$MODEL
# +tl=sft sets the dataset class and the paper's settings (lr 1e-6, cosine, warmup 0.01, batch 4,
# 1 epoch, w_max 9; tl_plugin/configs/tl/sft.yaml). data.train_batch_size is the global batch:
# keep it >= the number of GPUs. Checkpoints include a Hugging Face copy (hf_model) for
# example_configs/ppo_tl_tool.sh. Extra Hydra overrides are appended, e.g. data.pkt.w_max=5.
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
    'checkpoint.save_contents=[model,optimizer,extra,hf_model]' \
    'trainer.logger=[console]' \
    "$@" ${DRY_RUN:+--cfg job}

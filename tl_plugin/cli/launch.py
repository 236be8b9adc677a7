"""Launching verl's SFT trainer from our CLIs and reading back what it saved.

``tl-evolve`` trains each round with ``torchrun -m verl.trainer.sft_trainer`` and generates the
next round with the result; ``python -m tl_plugin.cli.smoke sft`` runs the same trainer on CPU. Both
build the command here and run it with the output echoed and logged.

verl saves a Hugging Face copy of the model under ``global_step_N/huggingface`` when
``checkpoint.save_contents`` holds ``hf_model``. With LoRA (``model.lora_rank > 0``) verl 0.9.1
writes that copy with PEFT's key names (``base_model.model....base_layer.weight``,
``lora_A/lora_B``), which ``from_pretrained`` cannot load (every weight "missing"): the
:func:`hf_model` merges the adapters into the weights with ``peft`` and saves a plain model.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["SAVE_CONTENTS", "hf_model", "latest_step_dir", "run_logged", "sft_command"]

# what the trainer saves: its own resumable state plus the Hugging Face model generation needs
SAVE_CONTENTS = "checkpoint.save_contents=[model,optimizer,extra,hf_model]"
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
    "generation_config.json",
)


def sft_command(nproc_per_node: int, overrides: list) -> list:
    """``python -m torch.distributed.run ... -m verl.trainer.sft_trainer OVERRIDES`` on one node."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={int(nproc_per_node)}",
        "-m",
        "verl.trainer.sft_trainer",
        *overrides,
    ]


def run_logged(cmd: list, env: dict, cwd: Path, log_path: Path) -> int:
    """Run ``cmd``, echoing its output and copying it to ``log_path``; returns its exit status."""
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            sys.stdout.write(line)
            log.write(line)
        return proc.wait()


def latest_step_dir(ckpt_root: Path) -> Path:
    """``ckpt_root/global_step_N`` for the step verl last recorded as saved."""
    latest = Path(ckpt_root) / "latest_checkpointed_iteration.txt"
    if not latest.is_file():
        raise FileNotFoundError(f"verl recorded no checkpoint in {ckpt_root} (no {latest.name})")
    step_dir = Path(ckpt_root) / f"global_step_{latest.read_text().strip()}"
    if not step_dir.is_dir():
        raise FileNotFoundError(f"{latest} names {step_dir.name}, which does not exist")
    return step_dir


def hf_model(step_dir: Path, merged_dir: Path) -> Path:
    """A loadable Hugging Face model folder for a verl checkpoint step: ``step_dir/huggingface``
    as verl wrote it, or, after LoRA training, the adapters merged into ``merged_dir``."""
    hf_dir = Path(step_dir) / "huggingface"
    if not (hf_dir / "config.json").is_file():
        raise FileNotFoundError(f"{hf_dir} holds no model: train with {SAVE_CONTENTS}")
    meta_path = Path(step_dir) / "lora_train_meta.json"
    if not meta_path.is_file():
        return hf_dir
    if (merged_dir / "config.json").is_file() and (merged_dir / "merged_from.txt").is_file():
        if (merged_dir / "merged_from.txt").read_text() == str(step_dir):
            return merged_dir
    from data_transforms.io import read_json

    _merge_lora(hf_dir, read_json(meta_path), merged_dir)
    return merged_dir


def _merge_lora(hf_dir: Path, meta: dict, merged_dir: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForCausalLM

    state = {}
    for shard in sorted(hf_dir.glob("*.safetensors")):
        state.update(load_file(shard))
    targets = sorted({k.split(".lora_A.")[0].rsplit(".", 1)[-1] for k in state if ".lora_A." in k})
    if not targets:
        raise ValueError(f"{hf_dir}: LoRA metadata but no lora_A weights in the saved model")
    config = AutoConfig.from_pretrained(hf_dir)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    peft_model = get_peft_model(
        model, LoraConfig(r=int(meta["r"]), lora_alpha=int(meta["lora_alpha"]), target_modules=targets)
    )
    # tied embeddings: verl drops the tied copy, so only the loaded keys must all be used
    missing, unexpected = peft_model.load_state_dict(state, strict=False, assign=True)
    if unexpected:
        raise ValueError(f"{hf_dir}: weights the LoRA model does not have: {unexpected[:5]}")
    if config.tie_word_embeddings:
        peft_model.base_model.model.tie_weights()
    missing = [k for k in missing if not (config.tie_word_embeddings and k.endswith("lm_head.weight"))]
    if missing:
        raise ValueError(f"{hf_dir}: weights missing from the saved LoRA model: {missing[:5]}")
    merged = peft_model.merge_and_unload()
    tmp = merged_dir.with_name(merged_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    merged.save_pretrained(tmp)
    for name in _TOKENIZER_FILES:
        if (hf_dir / name).is_file():
            shutil.copy2(hf_dir / name, tmp / name)
    (tmp / "merged_from.txt").write_text(str(hf_dir.parent))
    shutil.rmtree(merged_dir, ignore_errors=True)
    tmp.rename(merged_dir)

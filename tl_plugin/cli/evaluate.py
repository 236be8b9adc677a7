"""``tl-eval``: BFCL and RoTBench evaluation with TS/PI/CF and the reward's error categories.

    tl-eval predictions=preds.jsonl out=eval/base                   # score a predictions file
    tl-eval generation.model_path=ckpt/hf out=eval/step100         # generate, then score
    tl-eval benchmark=rotbench 'input=[clean.json]' predictions=p.jsonl out=eval/rot
    tl-eval compare eval/base/report.json eval/step100/report.json

Judging uses the reward's own matching (``reward_fns``): BFCL accuracy is the reward's binary
correctness, which agrees with BFCL's AST checker (``tests/tl_plugin/cli/test_eval_bfcl.py``); RoTBench uses its
TS/PI/CF cascade (``reward_fns/rotbench.py``), reading each response as RoTBench's own
``evaluate.py`` does unless ``reward_kwargs.format`` asks for the lenient reading, which the report
marks (``rotbench_judging``) and the console warns about. Config: ``tl_plugin/configs/eval.yaml``; every
key is a Hydra override. Output: ``OUT/report.json``, ``OUT/results.jsonl``, ``OUT/report.png``
and, when generating, ``OUT/predictions.jsonl`` (appended as it goes: a killed run resumes).
"""

from __future__ import annotations

import datetime
import sys
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from tqdm import tqdm

from data_transforms.io import write_json
from reward_fns.rotbench import judging as rotbench_judging
from tl_plugin.cli.config import as_list, compose_config
from tl_plugin.evaluation.judge import score_sample
from tl_plugin.evaluation.predictions import append_predictions, read_predictions
from tl_plugin.evaluation.report import plot_report, print_report, summarize, write_results
from tl_plugin.evaluation.samples import BFCL_CATEGORIES, bfcl_samples, rotbench_samples

__all__ = ["BENCHMARKS", "cli", "eval_config", "evaluate", "generate_predictions", "load_samples", "main"]

BENCHMARKS = ("bfcl", "rotbench")
REPORT_FORMAT = "tl-eval/1"


def eval_config(overrides=()) -> DictConfig:
    """``eval.yaml`` with Hydra overrides, to call :func:`evaluate` from Python."""
    return compose_config("eval", overrides)


def load_samples(cfg) -> list:
    """The benchmark's samples, at most ``cfg.limit`` per category."""
    if cfg.benchmark not in BENCHMARKS:
        raise ValueError(f"benchmark must be one of {list(BENCHMARKS)}, got {cfg.benchmark!r}")
    if cfg.benchmark == "bfcl":
        categories = as_list(cfg.categories)
        unknown = [c for c in categories if c not in BFCL_CATEGORIES]
        if not categories or unknown:
            raise ValueError(f"categories must be among {list(BFCL_CATEGORIES)}, got {categories}")
        if cfg.tools_in_prompt not in ("native", "system_text"):
            raise ValueError(f"tools_in_prompt must be native or system_text, got {cfg.tools_in_prompt!r}")
        if cfg.system_text is not None and "{tools}" not in cfg.system_text:
            raise ValueError("system_text must contain the placeholder {tools}")
        samples = bfcl_samples(categories, bool(cfg.bfcl.dot_to_underscore), cfg.tools_in_prompt, cfg.system_text)
    else:
        paths = as_list(cfg.input)
        if not paths:
            raise ValueError("benchmark=rotbench needs input=FILE (or a list of RoTBench-format files)")
        for p in paths:
            if not Path(p).is_file():
                raise FileNotFoundError(f"input file not found: {p}")
        samples = rotbench_samples(paths)
    if cfg.ids is not None:
        samples = _only_ids(samples, cfg.ids)
    if cfg.limit is None:
        return list(samples)
    if int(cfg.limit) < 1:
        raise ValueError(f"limit must be a positive number of samples per category or null, got {cfg.limit}")
    kept, per_category = [], {}
    for s in samples:
        if per_category.get(s.category, 0) < int(cfg.limit):
            per_category[s.category] = per_category.get(s.category, 0) + 1
            kept.append(s)
    return kept


def read_ids(path) -> list:
    """Sample ids from a parquet file's ``id`` column, or from a text file (one per line)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ids file not found: {path}")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        if "id" not in table.column_names:
            raise ValueError(f"ids: {path} has no `id` column (columns: {table.column_names})")
        return [str(i) for i in table.column("id").to_pylist()]
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _only_ids(samples, path) -> list:
    wanted = dict.fromkeys(read_ids(path))  # ordered, duplicates once
    if not wanted:
        raise ValueError(f"ids: {path} lists no id")
    kept = [s for s in samples if s.id in wanted]
    unknown = sorted(set(wanted) - {s.id for s in kept})
    if unknown:
        raise ValueError(
            f"ids: {len(unknown)} id(s) in {path} name no sample of the chosen categories, e.g. {unknown[:5]}"
        )
    return kept


def _resume_file(path: Path, resume: bool) -> dict:
    """Answers already generated into ``path``; a torn last line (a killed write) is cut off."""
    if not path.exists():
        return {}
    if not resume:
        path.unlink()
        return {}
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as fh:
            fh.truncate(data.rfind(b"\n") + 1)
    return read_predictions(path)


def generate_predictions(samples: list, cfg, path: Path, console: Console) -> dict:
    """Generate one answer per sample into ``path`` (JSON Lines), skipping those already there."""
    from tl_plugin.generation import Prompt, make_backend, sampling_config

    sampling = sampling_config(cfg.sampling)
    if sampling.n != 1:
        raise ValueError(f"sampling.n must be 1 for evaluation (one answer per sample), got {sampling.n}")
    done = _resume_file(path, bool(cfg.resume))
    todo = [s for s in samples if s.id not in done]
    if done:
        console.print(f"resuming: {len(samples) - len(todo)} answers already in {path}")
    if todo:
        backend = make_backend(cfg.generation)
        step = max(1, int(cfg.save_every))
        try:
            with tqdm(total=len(todo), desc="generating", unit=" samples", disable=None) as bar:
                for start in range(0, len(todo), step):
                    chunk = todo[start : start + step]
                    answers = backend.generate([Prompt(s.messages, s.tools) for s in chunk], sampling)
                    append_predictions(path, [(s.id, texts[0]) for s, texts in zip(chunk, answers)])
                    bar.update(len(chunk))
        finally:
            backend.close()
    return read_predictions(path)


def evaluate(cfg: DictConfig, console: Console | None = None) -> dict:
    """Run the evaluation described by ``cfg`` (eval.yaml); write and return the report."""
    console = console or Console(width=140)
    if cfg.on_missing not in ("error", "skip"):
        raise ValueError(f"on_missing must be error or skip, got {cfg.on_missing!r}")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    samples = load_samples(cfg)
    if not samples:
        raise ValueError("no samples to evaluate")
    ids = [s.id for s in samples]
    if len(set(ids)) != len(ids):
        raise ValueError("sample ids repeat across the chosen categories/files; evaluate them separately")

    seconds = {}
    start = time.perf_counter()
    if cfg.predictions is None:
        predictions_path = out / "predictions.jsonl"
        responses = generate_predictions(samples, cfg, predictions_path, console)
        seconds["generate"] = round(time.perf_counter() - start, 3)
        name = cfg.name or str(cfg.generation.get("model_path") or cfg.generation.get("model"))
    else:
        predictions_path = Path(cfg.predictions)
        responses = read_predictions(predictions_path, cfg.response_field)
        name = cfg.name or str(predictions_path)

    sample_ids = set(ids)
    unmatched = [i for i in responses if i not in sample_ids]
    if responses and len(unmatched) == len(responses):
        raise ValueError(
            f"none of the {len(responses)} ids in {predictions_path} is a sample id of benchmark="
            f"{cfg.benchmark} (first: {unmatched[:3]}; samples look like {ids[:2]})"
        )
    missing: dict[str, list] = {}
    for s in samples:
        if s.id not in responses:
            missing.setdefault(s.category, []).append(s.id)
    if missing and cfg.on_missing == "error":
        total = sum(len(v) for v in missing.values())
        detail = "; ".join(f"{c}: {len(v)} (e.g. {v[:3]})" for c, v in missing.items())
        raise ValueError(
            f"{total} samples have no prediction in {predictions_path}: {detail}. Choose the categories "
            "the file covers, or on_missing=skip to score the rest (the report counts the skipped)"
        )

    reward_kwargs = OmegaConf.to_container(cfg.reward_kwargs, resolve=True) if cfg.reward_kwargs else {}
    # "evaluate.py" (RoTBench's own verdicts) or "lenient (format=...)"; a bad format fails here
    judging = rotbench_judging(reward_kwargs) if cfg.benchmark == "rotbench" else None
    start = time.perf_counter()
    rows = [
        score_sample(s, responses[s.id], reward_kwargs)
        for s in tqdm(samples, desc="scoring", unit=" samples", disable=None)
        if s.id in responses
    ]
    seconds["score"] = round(time.perf_counter() - start, 3)
    if not rows:
        raise ValueError("no sample has a prediction: nothing to score")

    report = {
        "format": REPORT_FORMAT,
        "benchmark": cfg.benchmark,
        "rotbench_judging": judging,
        "name": name,
        "model": str(cfg.generation.get("model_path") or cfg.generation.get("model"))
        if cfg.predictions is None
        else None,
        "predictions": str(predictions_path),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "counts": {
            "samples": len(samples),
            "scored": len(rows),
            "missing": {c: len(v) for c, v in missing.items()},
            "missing_ids": {c: v[:100] for c, v in missing.items()},
            "unmatched_predictions": len(unmatched),
            "unmatched_ids": unmatched[:100],
        },
        **summarize(rows),
        "results_file": "results.jsonl",
        "chart": "report.png" if cfg.chart else None,
        "seconds": seconds,
        "samples_per_second": round(len(rows) / seconds["score"], 1) if seconds["score"] > 0 else None,
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    write_results(rows, out / "results.jsonl")
    if cfg.chart:
        plot_report(report, out / "report.png")
    write_json(report, out / "report.json")
    return report


@hydra.main(config_path="../configs", config_name="eval", version_base=None)
def main(cfg: DictConfig) -> None:
    console = Console(width=140)
    report = evaluate(cfg, console)
    print_report(report, console)
    counts = report["counts"]
    if counts["missing"]:
        console.print(f"[yellow]skipped for lack of a prediction: {counts['missing']}[/]")
    if counts["unmatched_predictions"]:
        console.print(f"predictions for other samples (ignored): {counts['unmatched_predictions']}")
    console.print(f"scored {counts['scored']} samples in {report['seconds']['score']} s; wrote {cfg.out}/report.json")


def cli() -> None:
    """Console entry point: ``tl-eval compare A B`` or ``tl-eval [Hydra overrides]``."""
    if len(sys.argv) > 1 and sys.argv[1] == "compare":
        from tl_plugin.evaluation.compare import main as compare_main

        sys.exit(compare_main(sys.argv[2:]))
    main()


if __name__ == "__main__":
    cli()

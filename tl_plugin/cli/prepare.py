"""``tl-prepare``: tool-use data to verl parquet (RL rows for ``reward=tl_tool``, SFT rows with MAE).

    tl-prepare source=bfcl 'categories=[live_simple]' out=data/bfcl
    tl-prepare source=toolace input=toolace.json out=data/toolace split.test_fraction=0.1
    tl-prepare source=toolrl input=rlla_4k/train.parquet out=data/toolrl
    python -m tl_plugin.cli.prepare source=openai input=chats.jsonl out=data/chats mae.mode=drop

Reads the source into records (``data_transforms.readers`` / ``data_transforms.bfcl``), splits
them (disjoint by tool name by default), writes ``OUT/{rl,sft}/{train,test}.parquet`` and
``OUT/summary.json`` atomically, and prints what was read, written, masked and dropped, and why.
Config: ``tl_plugin/configs/prepare.yaml``; every key is a Hydra override.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

from data_transforms.bfcl import iter_bfcl
from data_transforms.error_turns import KINDS as ERROR_KINDS
from data_transforms.error_turns import with_error_turn
from data_transforms.io import iter_rows, write_json, write_parquet
from data_transforms.readers import READERS
from data_transforms.records import DUPLICATE_POLICIES, RecordError, dedupe_tools, record_name, type_problems
from data_transforms.render import DEFAULT_SYSTEM_TEXT
from data_transforms.split import record_tool_names, split_indices
from data_transforms.tally import Tally
from data_transforms.tooldev import TASKS, TaskPrompts, mix_rows, task_rows
from data_transforms.writers import RowOptions, rl_rows, sft_rows
from reward_fns.categories import canonical_category
from tl_plugin.cli.config import as_list, compose_config

__all__ = ["KINDS", "SOURCES", "main", "prepare", "prepare_config"]

SOURCES = (*READERS, "bfcl")
KINDS = ("rl", "sft")
_BUILD = {"rl": rl_rows, "sft": sft_rows}


def _read_records(cfg, tally: Tally) -> list:
    """Every record of the source; bad rows raise (on_error=raise) or are counted (skip)."""
    if cfg.source == "bfcl":
        rows = iter_bfcl(as_list(cfg.categories), dot_to_underscore=bool(cfg.bfcl.dot_to_underscore))
        read = None
    else:
        paths = as_list(cfg.input)
        if not paths:
            raise ValueError(f"source={cfg.source} needs input=FILE (or a list of files)")
        for p in paths:
            if not Path(p).is_file():
                raise FileNotFoundError(f"input file not found: {p}")
        # bad rows come out as RecordErrors, so on_error=skip loses only them, not the rest of the file
        rows = ((name, row) for p in paths for name, row in iter_rows(p, bad_rows="yield"))
        read = READERS[cfg.source]
    records = []
    rows_iter = iter(rows)
    with tqdm(desc=f"reading {cfg.source}", unit=" rows", disable=None) as bar:
        while cfg.limit is None or tally.rows_read < cfg.limit:
            try:
                name, row = next(rows_iter)
                if isinstance(row, RecordError):
                    raise row
                rec = row if read is None else read(row, name)
                if read is not None and rec.id != name:  # a file row whose own id may repeat
                    rec.meta.setdefault("source_row", name)
            except StopIteration:
                break
            except RecordError as exc:
                tally.rows_read += 1
                bar.update()
                if cfg.on_error != "skip":
                    raise
                tally.bad_rows[exc.field] += 1
                tally.examples.setdefault(f"bad_row:{exc.field}", str(exc))
                continue
            tally.rows_read += 1
            bar.update()
            records.append(rec)
    tally.records = len(records)
    return records


def _settle_tools(cfg, records: list, tally: Tally) -> list:
    """Records whose tools the reward can read: one schema per name (``duplicate_tools``) and
    every parameter type mapped to JSON Schema. Each refusal is counted under a named reason."""
    kept = []
    for rec in records:
        tools, removed, refusal = dedupe_tools(rec.tools, cfg.duplicate_tools)
        if refusal is not None:
            tally.drop("record", "duplicate_tool_name", f"{record_name(rec)}: {refusal}")
            continue
        for note in removed:
            tally.drop("tool", "duplicate_tool_removed", f"{record_name(rec)}: {note}")
        problems = type_problems(tools)
        if problems:
            tally.drop("record", "unmapped_parameter_type", f"{record_name(rec)}: {problems[0]}")
            continue
        rec.tools = tools
        kept.append(rec)
    return kept


def prepare_config(overrides=()) -> DictConfig:
    """``prepare.yaml`` with Hydra overrides, to call :func:`prepare` from Python."""
    return compose_config("prepare", overrides)


def _inject_errors(cfg, records: list, test: set, tally: Tally) -> list:
    """``records`` with ``errors.fraction`` of the training records given a failed first attempt."""
    fraction = float(cfg.errors.fraction)
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"errors.fraction must be in [0, 1], got {fraction}")
    if fraction == 0.0:
        return records
    kinds = [canonical_category(kind) for kind in as_list(cfg.errors.kinds)]  # old spellings accepted
    if not kinds or set(kinds) - set(ERROR_KINDS):
        raise ValueError(f"errors.kinds must be a non-empty subset of {list(ERROR_KINDS)}, got {kinds}")
    out = []
    for i, rec in enumerate(records):
        # one generator per record: the choice does not depend on the order or the other records
        rng = random.Random(f"{cfg.errors.seed}:{rec.id}")
        if i in test or rec.gold is None or rng.random() >= fraction:
            out.append(rec)
            continue
        changed = with_error_turn(rec, rng, kinds)
        tally.injected[changed.meta["injected_error"] if changed else "none (no kind fits the gold)"] += 1
        out.append(changed or rec)
    return out


def _mix_tooldev_tasks(cfg, records: list, test: set, sft_rows_by_split: dict, tally: Tally) -> None:
    """Add ToolDev's adaption and generation rows to the SFT rows, mixed by ``tooldev.ratios``."""
    tooldev = cfg.tooldev
    ratios = OmegaConf.to_container(tooldev.ratios, resolve=True)
    unknown = sorted(set(ratios) - set(TASKS))
    if unknown:
        raise ValueError(f"tooldev.ratios: unknown tasks {unknown}; the tasks are {list(TASKS)}")
    if ratios.get("adaption", 0) == 0 and ratios.get("generation", 0) == 0 and ratios.get("invocation", 1) == 1:
        return  # plain SFT rows, as without ToolDev
    prompts = TaskPrompts(**{k: v for k, v in OmegaConf.to_container(tooldev.prompts).items() if v is not None})
    for split, invocation in sft_rows_by_split.items():
        split_records = [r for i, r in enumerate(records) if (i in test) == (split == "test")]
        by_task = {"invocation": invocation, **task_rows(split_records, prompts, tally, cfg.tools_in_prompt)}
        mixed, counts = mix_rows(by_task, ratios, int(tooldev.seed))
        sft_rows_by_split[split] = mixed
        for task, n in counts.items():
            tally.wrote(f"sft:{task}", split, n)


def prepare(cfg: DictConfig) -> dict:
    """Run the preparation described by ``cfg`` (prepare.yaml); return the summary dict."""
    if cfg.source not in SOURCES:
        raise ValueError(f"source must be one of {list(SOURCES)}, got {cfg.source!r}")
    kinds = as_list(cfg.kinds)
    if not kinds or set(kinds) - set(KINDS):
        raise ValueError(f"kinds must be a non-empty subset of {list(KINDS)}, got {kinds}")
    if cfg.duplicate_tools not in DUPLICATE_POLICIES:
        raise ValueError(f"duplicate_tools must be one of {list(DUPLICATE_POLICIES)}, got {cfg.duplicate_tools!r}")
    if cfg.on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be raise or skip, got {cfg.on_error!r}")
    opts = RowOptions(
        tools_in_prompt=cfg.tools_in_prompt,
        system_text=cfg.system_text or DEFAULT_SYSTEM_TEXT,
        agent_name=cfg.rl.agent_name,
        data_source=cfg.rl.data_source,
        final_answer_steps=bool(cfg.rl.final_answer_steps),
        label_column=cfg.rl.label_column or None,
        mae_mode=cfg.mae.mode,
        error_categories=tuple(as_list(cfg.mae.error_categories)),
    )
    if "{tools}" not in opts.system_text:
        raise ValueError("system_text must contain the placeholder {tools}")
    out = Path(cfg.out)
    start = time.perf_counter()
    tally = Tally()

    records = _settle_tools(cfg, _read_records(cfg, tally), tally)
    names = [record_tool_names(r, cfg.split.by) for r in records]
    test = split_indices(names, float(cfg.split.test_fraction), int(cfg.split.seed))

    built = _inject_errors(cfg, records, test, tally)
    rows = {kind: {"train": [], "test": []} for kind in kinds}
    for i, rec in enumerate(tqdm(built, desc="building rows", unit=" records", disable=None)):
        split = "test" if i in test else "train"
        for kind in kinds:
            rows[kind][split].extend(_BUILD[kind](rec, cfg.source, opts, tally, split))
    if "sft" in kinds:
        _mix_tooldev_tasks(cfg, records, test, rows["sft"], tally)

    files = {}
    out.mkdir(parents=True, exist_ok=True)
    for kind in kinds:
        for split, split_rows in rows[kind].items():
            if kind == "rl":
                for index, row in enumerate(split_rows):
                    row["extra_info"]["index"] = index
            tally.wrote(kind, split, len(split_rows))
            path = out / kind / f"{split}.parquet"
            if split_rows:
                files[f"{kind}/{split}"] = str(write_parquet(split_rows, path))
            else:
                path.unlink(missing_ok=True)  # a stale file from an earlier run would mislead
    seconds = time.perf_counter() - start
    summary = {
        "source": cfg.source,
        "config": OmegaConf.to_container(cfg, resolve=True),
        **tally.as_dict(),
        "test_records": len(test),
        "files": files,
        "seconds": round(seconds, 3),
        "rows_per_second": round(tally.rows_read / seconds, 1) if seconds > 0 else None,
    }
    write_json(summary, out / "summary.json")
    return summary


def print_summary(summary: dict, console: Console) -> None:
    table = Table(
        title=f"tl-prepare {summary['source']}: {summary['rows_read']} rows read, {summary['records']} records"
    )
    table.add_column("what")
    table.add_column("count", justify="right")
    for field, n in summary["bad_rows"].items():
        table.add_row(f"skipped bad row ({field})", str(n))
    for kind, splits in summary["written"].items():
        for split, n in splits.items():
            table.add_row(f"{kind} rows written, {split}", str(n))
    for kind, n in summary["injected"].items():
        table.add_row(f"training records given an erroneous turn: {kind}", str(n))
    for category, n in summary["masked"].items():
        table.add_row(f"sft messages masked: {category}", str(n))
    for kind, reasons in summary["dropped"].items():
        for reason, n in reasons.items():
            what = {"record": "records refused", "tool": "tool schemas removed"}.get(kind, f"{kind} rows dropped")
            table.add_row(f"{what}: {reason}", str(n))
    for category, n in summary["feedback"].items():
        table.add_row(f"tool responses: {category}", str(n))
    console.print(table)
    console.print(f"test split: {summary['test_records']} of {summary['records']} records")
    for name, path in summary["files"].items():
        console.print(f"  {name}: {path}")
    console.print(f"{summary['rows_per_second']} source rows/s ({summary['seconds']} s)")


@hydra.main(config_path="../configs", config_name="prepare", version_base=None)
def main(cfg: DictConfig) -> None:
    try:
        summary = prepare(cfg)
    except (ValueError, FileNotFoundError) as exc:  # RecordError and InputFileError are ValueErrors
        # bad data or settings, said in one line (the row, file or key and what to fix); no traceback
        print(f"tl-prepare: {exc}", file=sys.stderr)
        sys.exit(1)
    print_summary(summary, Console(width=140))


if __name__ == "__main__":
    main()

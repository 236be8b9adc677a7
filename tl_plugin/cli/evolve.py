"""``tl-evolve``: ToolDev self-evolution rounds around verl (ToolDev 3.4, docs/design.md#tooldev-steps).

    tl-evolve generation=hf model=MODEL queries=queries.jsonl out=runs/evolve rounds=3 k=5
    tl-evolve generation=vllm model=MODEL queries=q.jsonl out=runs/evolve train.nproc_per_node=8
    tl-evolve ... train.cpu=true                  # train between rounds on CPU (TL_PLUGIN_CPU=1)

Each round, top to bottom:

1. the round's queries are cut into chunks of ``chunk_size``; for each chunk not yet on disk
   the model writes tools for every query (``tool_sampling``), the tools are rule-checked,
   ``k`` answers are sampled with the tools that passed (``call_sampling``), majority-voted and
   rule-checked (``data_transforms.self_evolution``); the chunk's entries go to
   ``OUT/round_N/chunks/chunk_XXXXX.jsonl`` in one atomic write. Each chunk samples with its own
   seed (from ``seed``, the round and the chunk), so a chunk redone after a kill comes out the same;
2. the kept triplets become SFT rows (tool generation + invocation, ``data.ratios``) in
   ``OUT/round_N/data/train.parquet``; ``report.json`` holds each filter's yield, the reasons,
   the vote-agreement histogram and the timings, also printed as a table;
3. verl's SFT trainer trains on the rows (``train``; ``+tl=tooldev``: the paper's LoRA settings)
   starting from the round's model; the Hugging Face model it saves (LoRA merged) is the next
   round's model, ``OUT/round_N/model``.

``OUT/round_N/manifest.json`` records the round's state (``generating`` -> ``generated`` ->
``trained``) and the settings that shaped it; every file is written atomically, so a killed run
started again with the same command continues where it stopped and writes nothing twice.
Config: ``tl_plugin/configs/evolve.yaml``; the generation backend is the config group ``tl-eval``
uses, ``generation`` (``tl_plugin/configs/generation/<name>.yaml``), whose model is ``model``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import zlib
from pathlib import Path
from typing import NamedTuple

import hydra
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

from data_transforms.io import iter_rows, read_json, write_json, write_jsonl, write_parquet
from data_transforms.render import openai_tools
from data_transforms.self_evolution import judge_answers, read_queries, round_report, round_rows, screen_tools
from data_transforms.tally import Tally
from data_transforms.tooldev import TaskPrompts, generation_prompt
from data_transforms.vote import TIE_BREAKS
from tl_plugin.cli.config import compose_config
from tl_plugin.cli.launch import SAVE_CONTENTS, hf_model, latest_step_dir, run_logged, sft_command
from tl_plugin.generation import Prompt, SamplingConfig, make_backend, sampling_config

__all__ = ["EvolveError", "evolve", "evolve_config", "main", "print_round_report", "train_overrides"]

MANIFEST_FORMAT = "tl-evolve/1"
# settings that shape a round's output: resuming with other values would mix two runs
FINGERPRINT_KEYS = (
    "generation",
    "queries_per_round",
    "chunk_size",
    "seed",
    "tool_sampling",
    "k",
    "call_sampling",
    "min_votes",
    "tie_break",
    "checks",
    "prompts",
    "data",
)


class EvolveError(RuntimeError):
    """A run that cannot go on as configured (the message says what to change)."""


def evolve_config(overrides=()) -> DictConfig:
    """``evolve.yaml`` with Hydra overrides, to call :func:`evolve` from Python."""
    return compose_config("evolve", overrides)


# --------------------------------------------------------------------------------------------
# settings
# --------------------------------------------------------------------------------------------


def _check_config(cfg) -> None:
    for key in ("rounds", "k", "min_votes", "chunk_size"):
        value = cfg[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key} must be an integer >= 1, got {value!r}")
    if cfg.min_votes > cfg.k:
        raise ValueError(f"min_votes={cfg.min_votes} can never be reached with k={cfg.k} samples")
    if cfg.tie_break not in TIE_BREAKS:
        raise ValueError(f"tie_break must be one of {list(TIE_BREAKS)}, got {cfg.tie_break!r}")
    if cfg.queries_per_round is not None and int(cfg.queries_per_round) < 1:
        raise ValueError(f"queries_per_round must be >= 1 or null, got {cfg.queries_per_round}")


def _samplings(cfg) -> tuple[dict, dict]:
    """The tool and call sampling settings (``n`` and per-chunk ``seed`` are added when used)."""
    out = []
    for what, n in (("tool_sampling", 1), ("call_sampling", int(cfg.k))):
        values = OmegaConf.to_container(cfg[what], resolve=True)
        if "n" in values or "seed" in values:
            raise ValueError(f"{what} takes no n or seed: n is 1 for tools and k for calls, seeds come from `seed`")
        values["n"] = n
        sampling_config(values)  # unknown keys and bad values fail here, before any model loads
        out.append(values)
    return tuple(out)


def _prompts(cfg) -> TaskPrompts:
    return TaskPrompts(**{k: v for k, v in OmegaConf.to_container(cfg.prompts, resolve=True).items() if v is not None})


def _fingerprint(cfg, queries: list) -> dict:
    settings = {
        key: OmegaConf.to_container(cfg[key], resolve=True) if OmegaConf.is_config(cfg[key]) else cfg[key]
        for key in FINGERPRINT_KEYS
        if key != "generation"
    }
    settings["generation"] = _backend_config(cfg, str(cfg.model))  # with the model filled in
    digest = hashlib.sha256(json.dumps(queries, ensure_ascii=False).encode()).hexdigest()
    return {"settings": settings, "queries_sha256": digest}


def _round_queries(queries: list, round_no: int, per_round) -> list:
    if per_round is None:
        return queries
    per_round = int(per_round)
    return queries[(round_no - 1) * per_round : round_no * per_round]


class ChunkSeeds(NamedTuple):
    """A chunk's sampling seeds: one for its tool generation, one for its call samples."""

    tools: int
    calls: int


def _chunk_seed(seed: int, round_no: int, chunk: int, stage: str) -> int:
    """A seed per (run seed, round, chunk, stage): a redone chunk samples exactly as before."""
    return zlib.crc32(f"{seed}:{round_no}:{chunk}:{stage}".encode())


def _backend_config(cfg, model: str) -> dict:
    """The ``generation`` settings for a round that generates with ``model``.

    The backend's model (``model_path``; ``model``, the served name, for ``generation=openai``) is
    ``model=`` unless given on its own.
    """
    gen = cfg.generation
    backend = OmegaConf.to_container(gen, resolve=True)
    for key in ("model_path", "model"):
        if key in backend and OmegaConf.is_missing(gen, key):
            backend[key] = str(cfg.model)
    if model != cfg.model and "model_path" in backend:
        # a trained round's model is a plain Hugging Face folder with its own tokenizer
        backend.update(model_path=model, **{k: None for k in ("gguf_file", "tokenizer_path") if k in backend})
    return backend


# --------------------------------------------------------------------------------------------
# one chunk, one round
# --------------------------------------------------------------------------------------------


def _run_chunk(
    backend, chunk: list, cfg, samplings: tuple, prompts: TaskPrompts, seeds: ChunkSeeds
) -> tuple[list, dict]:
    """Entries of the chunk's queries, and the seconds spent generating and checking."""
    tool_sampling, call_sampling = samplings
    seconds = {"tool_generation": 0.0, "call_generation": 0.0, "checks": 0.0}
    start = time.perf_counter()
    texts = backend.generate(
        [Prompt(generation_prompt(q, prompts)) for _, q in chunk], SamplingConfig(**tool_sampling, seed=seeds.tools)
    )
    seconds["tool_generation"] = time.perf_counter() - start

    start = time.perf_counter()
    name_pattern = cfg.checks.name_pattern
    entries = [screen_tools(qid, q, outs[0], name_pattern) for (qid, q), outs in zip(chunk, texts)]
    seconds["checks"] += time.perf_counter() - start

    passed = [e for e in entries if e["stage"] is None]
    if passed:
        start = time.perf_counter()
        samples = backend.generate(
            [Prompt([{"role": "user", "content": e["query"]}], tools=openai_tools(e["tools"])) for e in passed],
            SamplingConfig(**call_sampling, seed=seeds.calls),
        )
        seconds["call_generation"] = time.perf_counter() - start
        start = time.perf_counter()
        for entry, outs in zip(passed, samples):
            judge_answers(entry, outs, int(cfg.min_votes), cfg.tie_break)
        seconds["checks"] += time.perf_counter() - start
    return entries, seconds


def _load_manifest(round_dir: Path, round_no: int, model: str, fingerprint: dict, resume: bool) -> dict:
    path = round_dir / "manifest.json"
    if path.is_file():
        if not resume:
            raise EvolveError(f"{round_dir} holds a round already and resume=false: choose a new out= or remove it")
        manifest = read_json(path, "manifest")
        settings = manifest["fingerprint"]["settings"]
        if "backend" in settings and "generation" not in settings:  # made before the group was renamed
            settings["generation"] = settings.pop("backend")
        differ = [
            k
            for k in fingerprint["settings"]
            if manifest["fingerprint"]["settings"].get(k) != fingerprint["settings"][k]
        ]
        if manifest["fingerprint"]["queries_sha256"] != fingerprint["queries_sha256"]:
            differ.append("queries")
        if manifest["model"] != model:
            differ.append(f"model ({manifest['model']} there, {model} now)")
        if differ:
            raise EvolveError(
                f"{round_dir} was made with other settings ({', '.join(differ)}); resuming would mix two runs. "
                "Run with the settings it was made with, or choose a new out="
            )
        return manifest
    manifest = {
        "format": MANIFEST_FORMAT,
        "round": round_no,
        "status": "generating",
        "model": model,
        "fingerprint": fingerprint,
        "chunk_seconds": {},
        "model_out": None,
    }
    write_json(manifest, path)
    return manifest


def _generate_round(
    cfg, round_no: int, round_dir: Path, queries: list, model: str, manifest: dict, samplings: tuple, console: Console
) -> dict:
    """Steps 1-2 of a round: chunks, rows and report; returns the report."""
    prompts = _prompts(cfg)
    size = int(cfg.chunk_size)
    chunks = [queries[i : i + size] for i in range(0, len(queries), size)]
    paths = [round_dir / "chunks" / f"chunk_{i:05d}.jsonl" for i in range(len(chunks))]
    todo = [i for i, p in enumerate(paths) if not p.is_file()]
    if len(todo) < len(chunks):
        console.print(f"round {round_no}: resuming, {len(chunks) - len(todo)} of {len(chunks)} chunks done")
    manifest.update(queries=len(queries), chunks=len(chunks))
    if todo:
        backend = make_backend(_backend_config(cfg, model))
        try:
            for i in tqdm(todo, desc=f"round {round_no} chunks", unit=" chunk", disable=None):
                seeds = ChunkSeeds(
                    tools=_chunk_seed(int(cfg.seed), round_no, i, "tools"),
                    calls=_chunk_seed(int(cfg.seed), round_no, i, "calls"),
                )
                entries, seconds = _run_chunk(backend, chunks[i], cfg, samplings, prompts, seeds)
                write_jsonl(entries, paths[i])
                manifest["chunk_seconds"][str(i)] = {k: round(v, 4) for k, v in seconds.items()}
                write_json(manifest, round_dir / "manifest.json")
        finally:
            backend.close()

    entries = [e for p in paths for _, e in iter_rows(p)]
    ids = [e["id"] for e in entries]
    if ids != [qid for qid, _ in queries]:  # a chunk file from elsewhere, or edited by hand
        raise EvolveError(f"{round_dir}/chunks does not hold exactly the round's queries in order")
    tally = Tally()
    ratios = OmegaConf.to_container(cfg.data.ratios, resolve=True)
    rows, counts = round_rows(entries, ratios, _chunk_seed(int(cfg.seed), round_no, -1, "mix"), prompts, tally=tally)
    data_path = round_dir / "data" / "train.parquet"
    if rows:
        write_parquet(rows, data_path)
    report = {
        "round": round_no,
        "model": model,
        **round_report(entries, int(cfg.k)),
        "rows": {**counts, "total": len(rows)},
        "dropped_rows": tally.as_dict()["dropped"],
        "data": str(data_path) if rows else None,
    }
    seconds = {
        k: round(sum(c[k] for c in manifest["chunk_seconds"].values()), 3)
        for k in ("tool_generation", "call_generation", "checks")
    }
    answers = sum(len(e["samples"]) for e in entries)
    report["seconds"] = seconds
    report["answers"] = answers
    report["answers_per_second_checks"] = round(answers / seconds["checks"], 1) if seconds["checks"] > 0 else None
    write_json(report, round_dir / "report.json")
    manifest.update(status="generated", rows=len(rows), data=report["data"])
    write_json(manifest, round_dir / "manifest.json")
    return report


def train_overrides(cfg, round_no: int, round_dir: Path, model: str, rows: int) -> list:
    """The ``verl.trainer.sft_trainer`` overrides that train round ``round_no``'s rows from ``model``."""
    batch = min(int(cfg.train.batch_size), rows)
    presets = [*cfg.train.presets, *(["sft_cpu"] if cfg.train.cpu else [])]
    return [
        *([f"+tl=[{','.join(presets)}]"] if presets else []),
        f"model.path={model}",
        f"data.train_files={round_dir / 'data' / 'train.parquet'}",
        f"data.train_batch_size={batch}",
        f"data.micro_batch_size_per_gpu={min(int(cfg.train.micro_batch_size_per_gpu), batch)}",
        f"trainer.default_local_dir={round_dir / 'checkpoints'}",
        SAVE_CONTENTS,
        "trainer.resume_mode=auto",  # a killed training picks up verl's own last checkpoint
        "trainer.project_name=tl-evolve",
        f"trainer.experiment_name=round_{round_no}",
        *cfg.train.overrides,
    ]


def _train_round(cfg, round_no: int, round_dir: Path, model: str, manifest: dict, console: Console) -> str:
    """Step 3: verl's SFT trainer on the round's rows; returns the trained model's folder."""
    rows = int(manifest["rows"])
    cmd = sft_command(int(cfg.train.nproc_per_node), train_overrides(cfg, round_no, round_dir, model, rows))
    env = dict(os.environ)
    if cfg.train.cpu:
        env["TL_PLUGIN_CPU"] = "1"
    console.print(f"round {round_no}: training on {rows} rows: " + " ".join(cmd[1:]))
    start = time.perf_counter()
    rc = run_logged(cmd, env, round_dir, round_dir / "train.log")
    if rc != 0:
        raise EvolveError(
            f"round {round_no}: verl.trainer.sft_trainer exited with status {rc} (log: {round_dir / 'train.log'})"
        )
    model_out = hf_model(latest_step_dir(round_dir / "checkpoints"), round_dir / "model")
    manifest.update(
        status="trained",
        model_out=str(model_out),
        train={"command": cmd, "seconds": round(time.perf_counter() - start, 1)},
    )
    write_json(manifest, round_dir / "manifest.json")
    return str(model_out)


# --------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------


def evolve(cfg: DictConfig, console: Console | None = None) -> list:
    """Run (or resume) the rounds described by ``cfg`` (evolve.yaml); returns the round reports."""
    console = console or Console(width=140)
    _check_config(cfg)
    samplings = _samplings(cfg)
    queries = read_queries(cfg.queries)
    fingerprint = _fingerprint(cfg, queries)
    out = Path(cfg.out)
    model, reports = str(cfg.model), []
    backend_name = cfg.generation.backend
    for round_no in range(1, int(cfg.rounds) + 1):
        round_dir = out / f"round_{round_no}"
        round_queries = _round_queries(queries, round_no, cfg.queries_per_round)
        if not round_queries:
            console.print(
                f"[yellow]round {round_no}: no queries left (queries_per_round={cfg.queries_per_round}); stopping[/]"
            )
            break
        manifest = _load_manifest(round_dir, round_no, model, fingerprint, bool(cfg.resume))
        if manifest["status"] == "generating":
            if backend_name == "openai" and round_no > 1 and model != str(cfg.model):
                # the server serves one model; it cannot switch to the round's checkpoint itself
                raise EvolveError(
                    f"round {round_no} should generate with {model}, but generation=openai generates with whatever "
                    f"{cfg.generation.get('base_url')} serves. Serve that model, then rerun with model={model} and "
                    f"out={out}/from_round_{round_no} rounds={int(cfg.rounds) - round_no + 1}"
                )
            report = _generate_round(cfg, round_no, round_dir, round_queries, model, manifest, samplings, console)
        else:
            report = read_json(round_dir / "report.json", "round report")
        print_round_report(report, console)
        reports.append(report)
        if not cfg.train.enable:
            continue
        if manifest["status"] == "generated":
            if not manifest["rows"]:
                console.print(
                    f"[yellow]round {round_no}: no rows were kept, so nothing to train; the model stays {model}[/]"
                )
                manifest.update(status="trained", model_out=model)
                write_json(manifest, round_dir / "manifest.json")
            else:
                _train_round(cfg, round_no, round_dir, model, manifest, console)
        model = manifest["model_out"]
        console.print(f"round {round_no}: next model {model}")
    return reports


def print_round_report(report: dict, console: Console) -> None:
    """The report as two tables: filter yields (with reasons) and the vote-agreement histogram."""
    table = Table(title=f"tl-evolve round {report['round']}: {report['queries']} queries, {report['kept']} kept")
    for col in ("filter", "in", "out", "yield", "stopped because"):
        table.add_column(col, justify="right" if col in ("in", "out", "yield") else "left")
    for f in report["filters"]:
        reasons = ", ".join(f"{code} {n}" for code, n in report["reasons"].get(f["filter"], {}).items())
        table.add_row(
            f["filter"], str(f["in"]), str(f["out"]), "-" if f["yield"] is None else f"{f['yield']:.1%}", reasons
        )
    console.print(table)
    votes = Table(title="votes for the top answer (queries that reached the vote)")
    votes.add_column("votes", justify="right")
    votes.add_column("queries", justify="right")
    for v, n in report["vote_histogram"].items():
        votes.add_row(v, str(n))
    console.print(votes)
    rows = report["rows"]
    console.print(
        f"rows written: {rows['total']} ({', '.join(f'{k} {v}' for k, v in rows.items() if k != 'total')})"
        + (f" -> {report['data']}" if report["data"] else "")
    )
    s = report["seconds"]
    console.print(
        f"seconds: tool generation {s['tool_generation']}, call generation {s['call_generation']}, "
        f"checks+votes {s['checks']} ({report['answers_per_second_checks']} answers/s)"
    )


@hydra.main(config_path="../configs", config_name="evolve", version_base=None)
def main(cfg: DictConfig) -> None:
    evolve(cfg, Console(width=140))


if __name__ == "__main__":
    main()

"""One self-evolution round as pure data (ToolDev 3.4): screen, vote, write rows, report.

The steps are listed in docs/design.md#tooldev-steps.

``tl-evolve`` (``tl_plugin/cli/evolve.py``) generates text with a model; everything it decides about
that text is here, on plain data:

1. :func:`screen_tools`: the tools the model wrote for a query, through the tool rules;
2. :func:`judge_answers`: the ``k`` sampled answers parsed, majority-voted
   (:mod:`data_transforms.vote`) and the winner put through the answer rules;
3. :func:`round_rows`: the kept ``(query, tools, answer)`` triplets as SFT rows of the two
   objectives of ToolDev's eq. 6 (tool generation and invocation), mixed by ratios;
4. :func:`round_report`: the yield of each filter, the reasons, and the vote-agreement histogram.

Each query's outcome is an *entry*, a JSON-ready dict (what ``tl-evolve`` stores per chunk)::

    {"id", "query", "tools_text", "tools", "tool_problems": [str],
     "samples": [str], "parsed": [calls | null], "vote": {...}, "answer": [calls] | null,
     "answer_problems": [str], "kept": bool, "stage": "tool_parse" | "tool_rules" | "vote" |
     "answer_rules" | "kept"}

``stage`` is the filter that stopped the entry (``kept`` when none did).

>>> tools_text = ('<tools>[{"name": "get_weather", "description": "Weather in a city.", "parameters": '
...     '{"type": "object", "properties": {"city": {"type": "string", "description": "The city."}}, '
...     '"required": ["city"]}}]</tools>')
>>> entry = screen_tools("q1", "Weather in Paris?", tools_text)
>>> entry["stage"], entry["tools"][0]["name"]
(None, 'get_weather')
>>> call = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
>>> entry = judge_answers(entry, [call, call, "no idea", call.replace("Paris", "paris")], min_votes=2)
>>> entry["stage"], entry["vote"]["votes"], entry["answer"]
('kept', 3, [{'name': 'get_weather', 'arguments': {'city': 'Paris'}}])
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from data_transforms.io import iter_rows
from data_transforms.records import Record, RecordError, canonical_tools
from data_transforms.tally import Tally
from data_transforms.tool_checks import DEFAULT_NAME_PATTERN, check_answer, check_tools, parse_tools
from data_transforms.tooldev import TaskPrompts, generation_row, mix_rows
from data_transforms.vote import majority_vote
from data_transforms.writers import RowOptions, sft_rows
from reward_fns.parsing import parse_tool_calls

__all__ = [
    "FILTERS",
    "judge_answers",
    "parsed_answer",
    "read_queries",
    "round_report",
    "round_rows",
    "screen_tools",
]

# The filters in the order an entry meets them; an entry's "stage" names the one that stopped it.
FILTERS = ("tool_parse", "tool_rules", "vote", "answer_rules")


def read_queries(path) -> list:
    """``[(id, query)]`` from JSON Lines / a JSON array of ``{"query", "id"?}``, or ``.txt`` lines.

    A missing id becomes the row name (``file.jsonl:3``). Empty queries and repeated ids raise a
    RecordError naming the row.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"queries file not found: {path}")
    if path.suffix == ".txt":
        lines = path.read_text(encoding="utf-8").splitlines()
        rows = [(f"{path.name}:{n}", {"query": line}) for n, line in enumerate(lines, 1) if line.strip()]
    else:
        rows = list(iter_rows(path))
    queries, seen = [], {}
    for name, row in rows:
        query = row.get("query")
        if not isinstance(query, str) or not query.strip():
            raise RecordError(name, "query", f"must be a non-empty string, got {str(query)[:80]!r}")
        qid = str(row.get("id", name))
        if qid in seen:
            raise RecordError(name, "id", f"id {qid!r} already used by row {seen[qid]}")
        seen[qid] = name
        queries.append((qid, query.strip()))
    if not queries:
        raise RecordError(path.name, "<file>", "no queries")
    return queries


def screen_tools(query_id: str, query: str, tools_text: str, name_pattern: str | None = DEFAULT_NAME_PATTERN) -> dict:
    """A new entry with the generated tools parsed and checked; ``stage`` is None when they pass."""
    entry = {
        "id": query_id,
        "query": query,
        "tools_text": tools_text,
        "tools": None,
        "tool_problems": [],
        "samples": [],
        "parsed": [],
        "vote": None,
        "answer": None,
        "answer_problems": [],
        "kept": False,
        "stage": None,
    }
    raw, problems = parse_tools(tools_text)
    if problems:
        entry.update(
            tool_problems=[str(p) for p in problems], tool_codes=[p.code for p in problems], stage="tool_parse"
        )
        return entry
    problems = check_tools(raw, name_pattern)
    if problems:
        entry.update(
            tool_problems=[str(p) for p in problems], tool_codes=[p.code for p in problems], stage="tool_rules"
        )
        return entry
    # canonical form (plain schema, JSON-Schema types): what the invocation prompt and rows show
    entry["tools"] = canonical_tools(raw, query_id, "tools")
    return entry


def parsed_answer(text: str) -> list | None:
    """The calls of one sampled answer: a list (``[]`` = answered without a call), None if malformed."""
    result = parse_tool_calls(text)
    if result.status == "malformed":
        return None
    return result.calls


def judge_answers(entry: dict, samples: list, min_votes: int = 1, tie_break: str = "first") -> dict:
    """``entry`` (which passed :func:`screen_tools`) with its samples voted and the winner checked."""
    parsed = [parsed_answer(text) for text in samples]
    vote = majority_vote(parsed, min_votes, tie_break)
    entry.update(
        samples=list(samples),
        parsed=parsed,
        vote={
            "winner": vote.winner,
            "votes": vote.votes,
            "n_samples": vote.n_samples,
            "counts": vote.counts,
            "tie": vote.tie,
            "reason": vote.reason,
        },
    )
    if vote.winner is None:
        entry["stage"] = "vote"
        return entry
    entry["answer"] = parsed[vote.winner]
    problems = check_answer(entry["answer"], entry["tools"])
    if problems:
        entry.update(
            answer_problems=[str(p) for p in problems], answer_codes=[p.code for p in problems], stage="answer_rules"
        )
        return entry
    entry.update(kept=True, stage="kept")
    return entry


def round_rows(
    entries: list,
    ratios: dict,
    seed: int,
    prompts: TaskPrompts = TaskPrompts(),
    opts: RowOptions | None = None,
    tally: Tally | None = None,
) -> tuple[list, dict]:
    """SFT rows from the kept entries: ``(rows, {task: rows})`` for tasks generation and invocation."""
    opts, tally = opts or RowOptions(), tally if tally is not None else Tally()
    generation, invocation = [], []
    for entry in entries:
        if not entry["kept"]:
            continue
        generation.append(
            generation_row(entry["query"], entry["tools"], f"{entry['id']}:generation", prompts, opts.tools_in_prompt)
        )
        answer = {"role": "assistant", "content": "", "tool_calls": entry["answer"]}
        rec = Record(f"{entry['id']}:invocation", [{"role": "user", "content": entry["query"]}, answer], entry["tools"])
        invocation.extend(sft_rows(rec, "tl_evolve", opts, tally))
    unknown = sorted(set(ratios) - {"generation", "invocation"})
    if unknown:
        raise ValueError(f"data.ratios: unknown tasks {unknown}; a round writes generation and invocation rows")
    return mix_rows({"generation": generation, "invocation": invocation}, ratios, seed)


def round_report(entries: list, k: int) -> dict:
    """What each filter let through, why the others stopped, and how strongly the votes agreed.

    ``filters``: for each filter, entries in and out and the yield (out / in). ``reasons``: the
    problem codes of the entries a filter stopped (an entry counts once per code).
    ``vote_histogram``: for the entries that were voted on, how many got 0..k votes for the top answer.
    """
    reaching = len(entries)
    filters, reasons = [], {}
    stopped = Counter(e["stage"] for e in entries)
    for name in FILTERS:
        out = reaching - stopped.get(name, 0)
        filters.append(
            {"filter": name, "in": reaching, "out": out, "yield": round(out / reaching, 4) if reaching else None}
        )
        reaching = out
    codes_key = {"tool_parse": "tool_codes", "tool_rules": "tool_codes", "answer_rules": "answer_codes"}
    for name in FILTERS:
        counts = Counter()
        for e in entries:
            if e["stage"] != name:
                continue
            codes = [e["vote"]["reason"]] if name == "vote" else e.get(codes_key[name], [])
            counts.update(set(codes))
        reasons[name] = dict(sorted(counts.items()))
    histogram = dict.fromkeys(range(k + 1), 0)
    for e in entries:
        if e["vote"] is not None:
            histogram[e["vote"]["votes"]] = histogram.get(e["vote"]["votes"], 0) + 1
    return {
        "queries": len(entries),
        "kept": stopped.get("kept", 0),
        "filters": filters,
        "reasons": reasons,
        "vote_histogram": {str(v): n for v, n in sorted(histogram.items())},
    }

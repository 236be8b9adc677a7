"""tl_plugin.demo.reward_demo: the shipped sample covers every category and format, as labelled."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from reward_fns.parsing import FORMATS
from reward_fns.scoring import CATEGORIES
from tl_plugin.demo.reward_demo import load_rows, score_rows


def test_shipped_sample_covers_every_category_and_format_as_labelled():
    rows = load_rows(None)
    results = score_rows(rows, {})
    for row, res in zip(rows, results):
        # each row's label names the categories it must produce ("correct (...)" rows score +1)
        label = row["case"].split(" (")[0]
        if label == "correct":
            assert res["score"] == 1.0 and res["correct"] == 1, row["id"]
        elif label == "unexpected call":
            assert res["score"] == -1.5 and res["extra_call"] == 1, row["id"]
        else:
            wanted = {p.strip() for p in label.split("+")}
            wanted = {w if w.startswith("param_") or w in CATEGORIES else f"param_{w}" for w in wanted}
            got = {c for c in CATEGORIES if res[c]}
            assert got == wanted, (row["id"], got, wanted)
        if row["format"] != "none":
            assert res["format"] == row["format"], row["id"]
    assert all(any(r[c] for r in results) for c in CATEGORIES)
    assert {r["format"] for r in results} >= set(FORMATS)


def test_bad_demo_input_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"response": "x", "ground_truth": "[]"}) + "\n" + '{"response": "x"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2 lacks field\(s\) \['ground_truth'\]"):
        load_rows(str(path))


@pytest.mark.slow
def test_demo_cli_prints_tables_and_takes_hydra_overrides():
    out = subprocess.run(
        [sys.executable, "-m", "tl_plugin.demo.reward_demo", "reward_kwargs.wrong_tool=-1.0"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "TS / PI / CF over 22 responses" in out.stdout
    wrong_tool_line = next(line for line in out.stdout.splitlines() if "demo-13" in line)
    assert "-1.000" in wrong_tool_line  # the override reached compute_score

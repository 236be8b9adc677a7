"""TLSFTDataset: MAE masks and PKT key-token weights, through verl's own dataset code and loss.

Real parts: verl's ``MultiTurnSFTDataset`` (tokenisation, sanity check, padding), its
``SFTTensorCollator`` and ``sft_loss``, Hydra composition of verl's ``sft_trainer_engine`` config,
pyarrow parquet, and a real byte-level BPE tokenizer with the repo's Qwen2.5-style tool template.
Expected weights are written out by hand: the key tokens as strings, and the weight from verl's
stock 0/1 mask (``clip(|NK| / |K|, 1, w_max)``).
"""

from __future__ import annotations

import json

import pytest
import torch
from omegaconf import OmegaConf

from data_transforms.io import write_parquet
from tl_plugin.testing import build_tiny_tokenizer
from tl_plugin.verl_ext.sft_dataset import PKTConfig, TLSFTDataset, key_tokens

NO_PADDING = {"pad_mode": "no_padding", "max_length": 4096, "truncation": "error"}


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return build_tiny_tokenizer(tmp_path_factory.mktemp("tok"))


def tool(name):
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": f"{name} tool",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }


def call(name, **args):
    return {"type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


def row(calls, tools, content="", masked=False, system=None):
    """user -> assistant(calls) -> tool results -> assistant answer, as tl-prepare writes SFT rows."""
    messages = [{"role": "system", "content": system, "loss_mask": 0}] if system else []
    messages += [
        {"role": "user", "content": "What is the weather like in Paris?", "loss_mask": 0},
        {"role": "assistant", "content": content, "tool_calls": calls, "loss_mask": 0 if masked else 1},
        *({"role": "tool", "content": "sunny", "loss_mask": 0} for _ in calls),
        {"role": "assistant", "content": "It is sunny.", "tool_calls": None, "loss_mask": 1},
    ]
    return {"messages": messages, "tools": json.dumps([tool(n) for n in tools]), "id": "r"}


def stock_mask(r, tokenizer, tmp_path):
    """The row's tokens and 0/1 loss mask with PKT off: verl's own mask with the MAE masks applied
    (tests/tl_plugin/cli/test_prepare.py checks it against verl's stock class)."""
    path = write_parquet([r], tmp_path / "pkt_off.parquet")
    item = TLSFTDataset([str(path)], tokenizer, OmegaConf.create({**NO_PADDING, "pkt": {"enable": False}}))[0]
    return item["input_ids"].tolist(), item["loss_mask"].tolist()


def first_assistant(weights):
    return next(m for m in weights.messages if m["role"] == "assistant")


def expected(got, mask, w_max=9.0):
    """Weights by docs/design.md#pkt from the 0/1 mask.

    Per message, keys weigh clip(|NK| / |K|, 1, w_max).
    """
    out = []
    for m in got.messages:
        span = mask[m["start"] : m["end"]]
        keys = {k - m["start"] for k in got.keys if m["start"] <= k < m["end"]}
        w = min(max((sum(span) - len(keys)) / len(keys), 1.0), w_max) if keys else 1.0
        out += [0.0 if not t else (w if i in keys else 1.0) for i, t in enumerate(span)]
    assert len(out) == len(mask)
    return pytest.approx(out, rel=1e-6)


# gold name, candidate names, the key tokens (in order) as each tiny tokenizer splits the names.
# Qwen2.5-style: get_weather = get|_|weather, get_time = get|_|t|i|me, getter = get|ter,
# set_weather = se|t|_|weather, get_weathers = get|_|weather|s, get_weatherz = get|_|weather|z,
# get_weather_v2 = get|_|weather|_|v|2, get_weather_x = get|_|weather|_|x
# Llama-3.1-style (Llama 3's pre-tokenizer keeps "_weather" whole): get_weather = get|_weather,
# get_time = get|_|ti|me, getter = get|t|er, set_weather = se|t|_weather, get_weatherz =
# get|_weather|z, get_weather_v2 = get|_weather|_|v|2, get_weather_x = get|_weather|_|x
CASES = {
    ("qwen2.5", "shares 0 tokens"): ("get_weather", ["set_weather"], ["get"]),
    ("qwen2.5", "shares 1 token"): ("get_weather", ["getter"], ["get", "_"]),
    ("qwen2.5", "shares 2 tokens"): ("get_weather", ["get_time"], ["get", "weather"]),
    ("qwen2.5", "shares 4 tokens"): ("get_weather_v2", ["get_weather_x"], ["get", "v"]),
    ("qwen2.5", "several candidates"): ("get_weather", ["getter", "get_time", "set_weather"], ["get", "_", "weather"]),
    ("qwen2.5", "single candidate"): ("get_weather", [], ["get"]),
    ("qwen2.5", "differ in the last token"): ("get_weathers", ["get_weatherz"], ["get", "s"]),
    ("qwen2.5", "gold is a prefix of the candidate"): ("get_weather", ["get_weatherz"], ["get"]),
    ("llama3.1", "shares 0 tokens"): ("get_weather", ["set_weather"], ["get"]),
    ("llama3.1", "shares 1 token"): ("get_weather", ["get_time"], ["get", "_weather"]),
    ("llama3.1", "shares 3 tokens"): ("get_weather_v2", ["get_weather_x"], ["get", "v"]),
    ("llama3.1", "several candidates"): (
        "get_weather_v2",
        ["getter", "get_time", "get_weather_x"],
        ["get", "_weather", "v"],
    ),
    ("llama3.1", "single candidate"): ("get_weather", [], ["get"]),
    ("llama3.1", "differ in the last token"): ("get_weatherz", ["get_weather"], ["get", "z"]),
    ("llama3.1", "gold is a prefix of the candidate"): ("get_weather", ["get_weatherz"], ["get"]),
}


@pytest.fixture(scope="module")
def tokenizers(tokenizer, tmp_path_factory):
    return {
        "qwen2.5": tokenizer,
        "llama3.1": build_tiny_tokenizer(tmp_path_factory.mktemp("llama"), template="llama3.1"),
    }


@pytest.mark.parametrize("template, case", CASES, ids=[f"{t}-{c}" for t, c in CASES])
def test_key_tokens_and_weights_of_one_call(template, case, tokenizers, tmp_path):
    tokenizer = tokenizers[template]
    gold, candidates, key_strings = CASES[template, case]
    r = row([call(gold, city="Paris")], [gold, *candidates])
    got = key_tokens(r, tokenizer)
    ids, mask = stock_mask(r, tokenizer, tmp_path)
    assert got.input_ids == ids  # PKT changes weights, never tokens
    assert [got.tokens[k] for k in got.keys] == key_strings
    assert got.weights == expected(got, mask)
    call_msg = first_assistant(got)
    assert all(call_msg["start"] <= k < call_msg["end"] for k in got.keys)
    # the clip is hit here: a call message has ~20 trained tokens and at most 3 keys
    n_trained = sum(mask[call_msg["start"] : call_msg["end"]])
    assert call_msg["key_weight"] == pytest.approx(min((n_trained - len(key_strings)) / len(key_strings), 9.0))


def test_llama_rows_with_a_system_message_need_tools_in_the_system_turn(tokenizers):
    # Llama 3.1 puts tools into the first user turn by default, which verl cannot render message by
    # message when a system message comes first (tests/tl_plugin/verl_ext/test_chat_templates.py); with the tools in
    # the system turn the row passes verl's check and is weighted like any other
    llama = tokenizers["llama3.1"]
    r = row([call("get_weather", city="Paris")], ["get_weather", "get_time"], system="Be brief.")
    with pytest.raises(AssertionError, match="apply_chat_template to each turn separately"):
        key_tokens(r, llama)
    got = key_tokens(r, llama, apply_chat_template_kwargs={"tools_in_user_message": False})
    assert [got.tokens[k] for k in got.keys] == ["get", "_weather"]
    assert [m["role"] for m in got.messages if any(got.weights[m["start"] : m["end"]])] == ["assistant", "assistant"]


def test_w_max_and_the_unclipped_ratio(tokenizer, tmp_path):
    r = row([call("get_weather", city="Paris")], ["get_weather", "get_time"])
    _, mask = stock_mask(r, tokenizer, tmp_path)
    got = key_tokens(r, tokenizer, pkt={"w_max": 100})
    msg = first_assistant(got)
    n_trained = sum(mask[msg["start"] : msg["end"]])
    assert (
        msg["key_weight"] == pytest.approx((n_trained - 2) / 2) and msg["key_weight"] < 100
    )  # |NK| / |K|, not clipped
    assert first_assistant(key_tokens(r, tokenizer, pkt={"w_max": 3}))["key_weight"] == 3.0
    assert key_tokens(r, tokenizer, pkt={"w_max": 1}).weights == [float(m) for m in mask]


def test_several_calls_in_one_message_share_one_weight(tokenizer, tmp_path):
    r = row([call("get_weather", city="Paris"), call("get_time", city="Paris")], ["get_weather", "get_time"])
    got = key_tokens(r, tokenizer, pkt={"w_max": 100})
    _, mask = stock_mask(r, tokenizer, tmp_path)
    # get_weather parts from get_time at "weather", get_time from get_weather at "t"
    assert [got.tokens[k] for k in got.keys] == ["get", "weather", "get", "t"]
    assert got.weights == expected(got, mask, w_max=100)
    msg = first_assistant(got)
    assert msg["key_weight"] == pytest.approx((sum(mask[msg["start"] : msg["end"]]) - 4) / 4)


def test_the_same_tool_called_twice_gets_keys_on_both_calls(tokenizer, tmp_path):
    r = row([call("get_weather", city="Paris"), call("get_weather", city="Rome")], ["get_weather", "get_time"])
    got = key_tokens(r, tokenizer, pkt={"w_max": 100})
    _, mask = stock_mask(r, tokenizer, tmp_path)
    assert [got.tokens[k] for k in got.keys] == ["get", "weather", "get", "weather"]
    assert got.keys[2] > got.keys[1] + 5  # the second call's name, not the first one's again
    assert got.weights == expected(got, mask, w_max=100)


def test_masked_message_is_zero_everywhere_and_other_turns_untouched(tokenizer, tmp_path):
    r = row([call("get_weather", city="Paris")], ["get_weather", "get_time"], masked=True, system="Be brief.")
    got = key_tokens(r, tokenizer)
    _, mask = stock_mask(r, tokenizer, tmp_path)
    roles = [m["role"] for m in got.messages]
    assert roles == ["system", "user", "assistant", "tool", "assistant"]
    for m in got.messages:
        span = got.weights[m["start"] : m["end"]]
        if m["role"] != "assistant" or m["loss_mask"] == 0:
            assert span and set(span) == {0.0}, m  # system, user, tool and the masked step: no loss
    assert got.keys == [] and first_assistant(got)["key_weight"] is None
    final = got.messages[-1]
    assert got.weights[final["start"] : final["end"]] == [float(x) for x in mask[final["start"] : final["end"]]]
    assert sum(got.weights[final["start"] : final["end"]]) > 0


def test_name_in_prose_is_not_taken_for_the_call(tokenizer):
    r = row([call("get_weather", city="Paris")], ["get_weather", "get_time"], content='I will use "get_weather" now.')
    got = key_tokens(r, tokenizer)
    first_key = got.keys[0]
    assert got.tokens[first_key] == "get" and got.tokens[first_key - 1] == ' "'  # inside "name": "get_weather"
    assert "<tool_call>" in "".join(got.tokens[first_assistant(got)["start"] : first_key])


def test_system_text_rows_take_candidates_from_tool_names(tokenizer):
    r = row([call("get_weather", city="Paris")], [])
    del r["tools"]  # tl-prepare's tools_in_prompt=system_text rows: the names are in tool_names
    r["tool_names"] = ["get_weather", "get_time"]
    got = key_tokens(r, tokenizer)
    assert [got.tokens[k] for k in got.keys] == ["get", "weather"]
    r["tool_names"] = []
    got = key_tokens(r, tokenizer)
    assert [got.tokens[k] for k in got.keys] == ["get"]


def test_pkt_off_keeps_verls_integer_mask_and_mae(tokenizer, tmp_path):
    r = row([call("get_weather", city="Paris")], ["get_weather", "get_time"], masked=True)
    path = write_parquet([r], tmp_path / "r.parquet")
    off = TLSFTDataset([str(path)], tokenizer, OmegaConf.create({**NO_PADDING, "pkt": {"enable": False}}))[0]
    on = TLSFTDataset([str(path)], tokenizer, OmegaConf.create(NO_PADDING))[0]
    assert off["loss_mask"].dtype == torch.long and on["loss_mask"].dtype == torch.float32
    assert torch.equal(off["loss_mask"].float(), on["loss_mask"])  # masked call: nothing to weight
    # right padding works with PKT off (verl's other mode), and PKT on refuses it
    right = TLSFTDataset([str(path)], tokenizer, OmegaConf.create({"max_length": 512, "pkt": {"enable": False}}))[0]
    assert right["loss_mask"].shape == (512,) and right["loss_mask"].sum() == off["loss_mask"].sum()


@pytest.mark.parametrize(
    "pkt, extra, message",
    [
        ({"enable": "yes"}, {}, "data.pkt.enable must be true or false"),
        ({"w_max": 0.5}, {}, "data.pkt.w_max must be a number >= 1"),
        ({"w_max": "9"}, {}, "data.pkt.w_max must be a number >= 1"),
        ({"wmax": 9}, {}, r"data.pkt: unknown key\(s\) \['wmax'\]"),
        ({}, {"pad_mode": "right"}, "needs data.pad_mode=no_padding"),
    ],
)
def test_bad_pkt_config_is_refused_naming_the_field(pkt, extra, message):
    with pytest.raises(ValueError, match=message):
        PKTConfig.from_data_config({**NO_PADDING, **extra, "pkt": pkt})


def test_a_call_name_missing_from_the_rendered_text_names_the_row(tokenizer, tmp_path):
    # a template that does not write tool names cannot be weighted: the error says where and what to do
    bad = build_tiny_tokenizer(tmp_path / "tok")
    bad.chat_template = bad.chat_template.replace("fn.name", "'tool'")
    rows = [row([call("get_weather", city="Paris")], ["get_weather"])] * 2
    ds = TLSFTDataset([str(write_parquet(rows, tmp_path / "r.parquet"))], bad, OmegaConf.create(NO_PADDING))
    with pytest.raises(
        ValueError, match=r"row 1: message 1: tool call name 'get_weather' does not appear.*pkt.enable=false"
    ):
        ds[1]


# ----------------------------------------------------------------------------- the loss


def test_verls_sft_loss_is_the_weighted_mean_nll(tokenizer, tmp_path):
    from tensordict import TensorDict
    from verl.utils import tensordict_utils as tu
    from verl.utils.dataset.dataset_utils import SFTTensorCollator
    from verl.workers.utils.losses import sft_loss

    rows = [
        row([call("get_weather", city="Paris")], ["get_weather", "get_time", "getter"]),
        row(
            [call("get_weather", city="Paris"), call("get_time", city="Rome")], ["get_weather", "get_time"], masked=True
        ),
        row([call("get_weather_v2", city="Oslo")], ["get_weather_v2", "get_weather_x"], system="Be brief."),
    ]
    ds = TLSFTDataset([str(write_parquet(rows, tmp_path / "r.parquet"))], tokenizer, OmegaConf.create(NO_PADDING))
    items = [ds[i] for i in range(len(rows))]
    batch = SFTTensorCollator("no_padding")(items)
    torch.manual_seed(0)
    # log p(token t+1 | tokens <= t) at position t, as the engine returns them (a model is not needed
    # to check the reduction)
    logps = [-torch.rand(len(it["input_ids"])) * 5 for it in items]
    log_probs = torch.nested.as_nested_tensor(logps, layout=torch.jagged)
    data = tu.get_tensordict(tensor_dict=dict(batch), non_tensor_dict={"pad_mode": "no_padding"})
    # what verl's FSDP engine sets before calling the loss (forward_backward_batch)
    tu.assign_non_tensor(data, batch_num_tokens=batch["loss_mask"].values().sum().item(), dp_size=1)
    loss, _ = sft_loss(None, {"log_probs": log_probs}, data)

    assert [it["loss_mask"].max().item() for it in items] == pytest.approx(
        [20 / 3, 1.0, 9.0]
    )  # PKT weights ride in the mask
    num = den = 0.0
    for it, lp in zip(items, logps):
        w = it["loss_mask"]
        num += float((w[1:] * lp[:-1]).sum())  # token t+1's weight on the prediction made at t
        den += float(w.sum())
    assert isinstance(data, TensorDict)
    assert loss.item() == pytest.approx(-num / den, rel=1e-6)
    # and it is not the unweighted mean
    plain = sum(float(((it["loss_mask"][1:] > 0) * lp[:-1]).sum()) for it, lp in zip(items, logps))
    assert loss.item() != pytest.approx(-plain / sum(float((it["loss_mask"] > 0).sum()) for it in items), rel=1e-3)


# ----------------------------------------------------------------------------- the preset


def test_preset_tl_sft_composes_into_verls_sft_config_and_reaches_the_dataset(tokenizer, tmp_path):
    from pathlib import Path

    import verl
    from hydra import compose, initialize_config_dir
    from verl.trainer.sft_trainer import create_sft_dataset

    path = write_parquet(
        [row([call("get_weather", city="Paris")], ["get_weather", "get_time"])], tmp_path / "r.parquet"
    )
    config_dir = str(Path(verl.__file__).parent / "trainer" / "config")
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        cfg = compose(
            config_name="sft_trainer_engine", overrides=["+tl=sft", f"data.train_files={path}", "data.pkt.w_max=5"]
        )
        cfg_plus = compose(config_name="sft_trainer_engine", overrides=["+data.pkt.w_max=7"])
    assert cfg.data.custom_cls.path == "pkg://tl_plugin.sft" and cfg.data.custom_cls.name == "TLSFTDataset"
    assert cfg.optim.lr == 1e-6 and cfg.optim.lr_scheduler_type == "cosine" and cfg.optim.lr_warmup_steps_ratio == 0.01
    assert cfg.data.train_batch_size == 4 and cfg.trainer.total_epochs == 1 and cfg.data.pad_mode == "no_padding"
    assert cfg.data.pkt == {"enable": True, "w_max": 5}
    assert cfg_plus.data.pkt.w_max == 7  # without the preset, `+data.pkt.*` adds the keys

    ds = create_sft_dataset(cfg.data.train_files, cfg.data, tokenizer, None)  # verl's own factory
    assert type(ds) is TLSFTDataset and ds.pkt == PKTConfig(enable=True, w_max=5.0)
    assert ds[0]["loss_mask"].max() == 5.0


# ----------------------------------------------------------------------------- tl-inspect


def _inspect(*args, cwd):
    import os
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).parent / "tl-inspect"  # the installed console script
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    return subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


@pytest.fixture(scope="module")
def inspect_inputs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("inspect")
    tok = build_tiny_tokenizer(tmp / "tok")
    rows = [
        row([call("get_weather", city="Paris")], ["get_weather", "get_time"]),
        row([call("get_time", city="Rome")], ["get_weather", "get_time"], masked=True),
    ]
    return tmp, tok, write_parquet(rows, tmp / "sft.parquet"), rows


def test_tl_inspect_prints_trained_messages_with_key_tokens_marked(inspect_inputs):
    tmp, tok, path, rows = inspect_inputs
    proc = _inspect(f"data.train_files={path}", f"model.path={tmp / 'tok'}", "rows=[0,1]", cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "2 rows; PKT on, w_max 9" in out
    row0, row1 = out.split("row 1:")
    assert '{"name": "⟦get⟧_⟦weather⟧", "arguments": {"city": "Paris"}}' in row0
    assert "trained, key weight 9" in row0 and "'get' x9, " in row0 and "'weather' x9" in row0
    assert "masked (MAE)" in row1 and "⟦" not in row1  # the erroneous step: no loss, no keys
    assert "no loss: '<|im_start|>user\\n<tool_response>" in out  # tool turns are listed untrained


def test_tl_inspect_json_equals_key_tokens_and_takes_overrides(inspect_inputs):
    tmp, tok, path, rows = inspect_inputs
    proc = _inspect(f"data.train_files={path}", f"model.path={tmp / 'tok'}", "format=json", "data.pkt.w_max=4", cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    (line,) = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    got = json.loads(line)
    want = key_tokens(rows[0], tok, pkt={"w_max": 4})
    assert got["row"] == 0 and got["weights"] == pytest.approx(want.weights) and got["keys"] == want.keys
    assert max(got["weights"]) == 4.0


def test_tl_inspect_errors_name_the_problem(inspect_inputs):
    tmp, tok, path, rows = inspect_inputs
    proc = _inspect(f"data.train_files={path}", f"model.path={tmp / 'tok'}", "rows=[5]", cwd=tmp)
    assert proc.returncode != 0 and "rows [5] out of range" in proc.stderr and "has 2 rows" in proc.stderr
    proc = _inspect(f"data.train_files={path}", f"model.path={tmp / 'tok'}", "data.pkt.w_max=0", cwd=tmp)
    assert proc.returncode != 0 and "data.pkt.w_max must be a number >= 1" in proc.stderr


def test_calls_written_in_the_text_are_weighted_when_they_name_a_row_tool(tokenizer):
    # tools_in_prompt=system_text rows: calls are assistant text, the row lists its tool names
    text_call = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    r = row([call("get_weather", city="Paris")], [])
    del r["tools"]
    r["tool_names"] = ["get_weather", "get_time"]
    r["messages"][1] = {"role": "assistant", "content": text_call, "tool_calls": None, "loss_mask": 1}
    got = key_tokens(r, tokenizer)
    assert [got.tokens[k] for k in got.keys] == ["get", "weather"]
    r["tool_names"] = ["get_time"]  # a call to a tool the row does not list is not a gold name
    assert key_tokens(r, tokenizer).keys == []

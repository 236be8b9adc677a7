"""The vLLM and OpenAI-compatible generation backends, and ``make_backend`` with user classes.

The OpenAI backend talks to a fake OpenAI-compatible server started here on 127.0.0.1: it records
every request, answers with text that depends on the prompt, returns choices out of index order and
can be told to fail. vLLM needs a GPU and is not installed here, so the vLLM backend runs against
a stand-in ``vllm`` module that records what it is handed (see :func:`fake_vllm`).
"""

from __future__ import annotations

import inspect
import json
import socket
import subprocess
import sys
import threading
import time
import weakref
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from types import ModuleType, SimpleNamespace
from zlib import crc32

import pytest
from omegaconf import OmegaConf

from reward_fns.parsing import parse_tool_calls
from tl_plugin.generation import BACKENDS, GenerationBackend, Prompt, SamplingConfig, make_backend, render_prompt
from tl_plugin.generation.openai import OpenAIBackend, completion_text
from tl_plugin.generation.vllm import VLLMBackend
from tl_plugin.testing import build_tiny_tokenizer
from tl_plugin.verl_ext.row_format import chat_template_messages

CONFIGS = Path(str(resources.files("tl_plugin") / "configs"))

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
FLIGHTS = {  # plain schema, not OpenAI form
    "name": "search_flights",
    "description": "Flights between two airports.",
    "parameters": {"type": "object", "properties": {"origin": {"type": "string"}}},
}
HISTORY = [  # a finished call in the history: dict arguments and JSON-string arguments
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "content": "Weather in Paris, then flights from SFO?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
            {
                "id": "call_abc",
                "type": "function",
                "function": {"name": "search_flights", "arguments": '{"origin": "SFO"}'},
            },
        ],
    },
    {"role": "tool", "content": '{"temperature": 21}'},
    {"role": "tool", "content": '{"flights": []}', "tool_call_id": "call_abc"},
    {"role": "user", "content": "Thanks, and tomorrow?"},
]
QUESTIONS = ["Hi", "What is the weather like in Paris today?", "Search flights from SFO.", "factorial of 5", "Bye"]
PROMPTS = [
    Prompt([{"role": "user", "content": q}], tools=[[WEATHER, FLIGHTS], None, [FLIGHTS]][i % 3])
    for i, q in enumerate(QUESTIONS)
]
SAMPLE3 = SamplingConfig(n=3, temperature=1.0, max_new_tokens=16)


# ---- a fake OpenAI-compatible server -----------------------------------------------------------


def _last_user(body: dict) -> str:
    return [m for m in body["messages"] if m["role"] == "user"][-1]["content"]


class FakeServer:
    """``/v1/chat/completions`` answering ``"<last user message>#<choice index>"`` per choice.

    Knobs: ``fail_first`` (that many requests get 503), ``bad_marker`` (a user message holding it
    gets 400), ``missing_choices`` (answer that many choices fewer), ``tool_calls`` (structured
    calls added to every choice), ``delay`` (seconds each request takes, to see concurrency; a
    dict maps a user message to its own delay).
    """

    def __init__(self):
        self.requests: list[dict] = []  # {"path", "headers", "body"}
        self.fail_first = 0
        self.bad_marker: str | None = None
        self.missing_choices = 0
        self.tool_calls: list[dict] | None = None
        self.delay = 0.0
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self.thread.start()

    def answer(self, path: str, body: dict) -> tuple[int, dict | str]:
        with self.lock:
            if len(self.requests) <= self.fail_first:
                return 503, "server busy"
        if path != "/v1/chat/completions":
            return 404, "no such route"
        user = _last_user(body)
        if self.bad_marker and self.bad_marker in user:
            return 400, "bad request: " + "x" * 1000
        choices = [
            {
                "index": k,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": f"{user}#{k}", "tool_calls": self.tool_calls},
            }
            for k in range(body["n"] - self.missing_choices)
        ]
        return 200, {"id": "cmpl-1", "object": "chat.completion", "choices": choices[::-1]}  # out of order

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real servers do

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    delay = server.delay
                    time.sleep(delay.get(_last_user(body), 0) if isinstance(delay, dict) else delay)
                    status, answer = server.answer(self.path, body)
                finally:
                    with server.lock:
                        server.in_flight -= 1
                data = (answer if isinstance(answer, str) else json.dumps(answer)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if status == 200 else "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        return Handler

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    fake = FakeServer()
    yield fake
    fake.close()


@pytest.fixture
def client(server):
    backend = OpenAIBackend(server.base_url, model="tiny-model", api_key="sk-test", max_concurrency=4)
    backend.retry_initial_wait = 0.001  # keep retries fast
    yield backend
    backend.close()


# ---- OpenAIBackend -----------------------------------------------------------------------------


def test_openai_answers_in_prompt_order_with_n_each(client, server):
    # Four requests in flight at once; later prompts answered first.
    server.delay = {q: 0.05 * (len(QUESTIONS) - i) for i, q in enumerate(QUESTIONS)}
    answers = client.generate(PROMPTS, SAMPLE3)
    assert answers == [[f"{q}#{k}" for k in range(3)] for q in QUESTIONS]
    assert sorted(_last_user(r["body"]) for r in server.requests) == sorted(QUESTIONS)  # one request per prompt
    assert client.generate([], SAMPLE3) == []
    assert isinstance(client, GenerationBackend)


def test_openai_request_body_and_headers(server):
    backend = OpenAIBackend(
        server.base_url + "/",
        model="tiny-model",
        api_key="sk-test",
        extra_body={"repetition_penalty": 1.1, "temperature": 0.5},
        chat_template_kwargs={"enable_thinking": False},
    )
    sampling = SamplingConfig(n=2, temperature=0.7, top_p=0.9, max_new_tokens=33, seed=7)
    backend.generate([Prompt(HISTORY, tools=[WEATHER, FLIGHTS])], sampling)
    [request] = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-test"
    assert request["body"] == {
        "model": "tiny-model",
        "messages": [
            HISTORY[0],
            HISTORY[1],
            {
                "role": "assistant",
                "tool_calls": [  # content None dropped, arguments as JSON strings
                    {
                        "id": "call_2_0",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    },
                    {
                        "id": "call_abc",
                        "type": "function",
                        "function": {"name": "search_flights", "arguments": '{"origin": "SFO"}'},
                    },
                ],
            },
            HISTORY[3],
            HISTORY[4],
            HISTORY[5],
        ],
        "tools": [WEATHER, {"type": "function", "function": FLIGHTS}],
        "n": 2,
        "temperature": 0.5,  # extra_body overrides
        "top_p": 0.9,
        "max_tokens": 33,
        "seed": 7,
        "repetition_penalty": 1.1,
        "chat_template_kwargs": {"enable_thinking": False},
    }
    assert isinstance(HISTORY[2]["tool_calls"][0]["function"]["arguments"], dict)  # prompt not mutated

    # top_k only when on; tools only when given; no chat_template_kwargs when none are set
    plain = OpenAIBackend(server.base_url, model="m", api_key="k")
    plain.generate([PROMPTS[1]], SamplingConfig(n=2, temperature=1.0, top_k=20))
    plain.generate([PROMPTS[1]], SamplingConfig())
    sampled, greedy = server.requests[1]["body"], server.requests[2]["body"]
    assert sampled["top_k"] == 20 and "tools" not in sampled and "chat_template_kwargs" not in sampled
    assert "top_k" not in greedy and greedy["temperature"] == 0 and greedy["n"] == 1
    backend.close()
    plain.close()


def test_openai_api_key_from_environment(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    OpenAIBackend(server.base_url, model="m").generate([PROMPTS[0]], SamplingConfig())
    monkeypatch.delenv("OPENAI_API_KEY")
    OpenAIBackend(server.base_url, model="m").generate([PROMPTS[0]], SamplingConfig())
    assert [r["headers"]["Authorization"] for r in server.requests] == ["Bearer sk-env", "Bearer EMPTY"]


def test_openai_structured_tool_calls_become_hermes_blocks(client, server):
    calls = [
        {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}},
        {"name": "search_flights", "arguments": {"origin": "SFO", "passengers": 2}},
    ]
    server.tool_calls = [
        {
            "id": f"chatcmpl-tool-{i}",
            "type": "function",
            "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])},
        }
        for i, c in enumerate(calls)
    ]
    [[first, second]] = client.generate([PROMPTS[1]], SamplingConfig(n=2, temperature=1.0))
    assert first.startswith(f"{QUESTIONS[1]}#0\n<tool_call>\n") and second.startswith(f"{QUESTIONS[1]}#1\n")
    parsed = parse_tool_calls(first)
    assert (parsed.status, parsed.format, parsed.calls) == ("ok", "hermes", calls)

    # No content: the blocks alone; arguments that are not JSON stay as the text the server sent.
    assert completion_text({"content": None, "tool_calls": server.tool_calls[:1]}) == (
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}\n</tool_call>'
    )
    broken = completion_text({"content": "", "tool_calls": [{"function": {"name": "f", "arguments": "{oops"}}]})
    assert broken == '<tool_call>\n{"name": "f", "arguments": "{oops"}\n</tool_call>'
    assert completion_text({"content": None}) == ""


def test_openai_retries_busy_server(client, server):
    server.fail_first = 2
    assert client.generate([PROMPTS[0]], SamplingConfig()) == [["Hi#0"]]
    assert len(server.requests) == 3  # 503, 503, 200

    server.requests.clear()
    server.fail_first = 10
    client.max_retries = 1
    with pytest.raises(RuntimeError, match=r"HTTP 503 .* prompt 0: server busy"):
        client.generate([PROMPTS[0]], SamplingConfig())
    assert len(server.requests) == 2


def test_openai_retries_connection_errors(monkeypatch):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = OpenAIBackend(f"http://127.0.0.1:{port}/v1", model="m", max_retries=2)
    backend.retry_initial_wait = 0.001
    attempts = []
    post = backend._client.post
    monkeypatch.setattr(backend._client, "post", lambda *a, **k: attempts.append(1) or post(*a, **k))
    with pytest.raises(RuntimeError, match=r"prompt 0: request to .* failed: ConnectError"):
        backend.generate([PROMPTS[0]], SamplingConfig())
    assert len(attempts) == 3


def test_openai_client_error_is_not_retried(client, server):
    server.bad_marker = "weather"
    with pytest.raises(RuntimeError, match=r"HTTP 400 .* prompt 1: bad request: x+$") as info:
        client.generate(PROMPTS[:2], SamplingConfig())
    assert len(str(info.value).split(": bad request: ")[1]) == 500 - len("bad request: ")  # body cut at 500
    assert [_last_user(r["body"]) for r in server.requests].count(QUESTIONS[1]) == 1


def test_openai_too_few_choices_is_an_error(client, server):
    server.missing_choices = 1
    with pytest.raises(RuntimeError, match="prompt 0: expected 3 choices, got 2"):
        client.generate([PROMPTS[0]], SAMPLE3)


@pytest.mark.parametrize("limit", [1, 3])
def test_openai_respects_max_concurrency(server, limit):
    server.delay = 0.05
    backend = OpenAIBackend(server.base_url, model="m", max_concurrency=limit)
    assert len(backend.generate(PROMPTS + PROMPTS[:1], SamplingConfig())) == 6
    assert server.max_in_flight <= limit  # never more
    assert server.max_in_flight > 1 or limit == 1  # and requests do run side by side
    backend.close()


def test_openai_close(client, server):
    client.close()
    client.close()  # idempotent
    with pytest.raises(RuntimeError, match="after close"):
        client.generate(PROMPTS[:1], SamplingConfig())
    assert server.requests == []
    with pytest.raises(ValueError, match="max_concurrency"):
        OpenAIBackend(server.base_url, model="m", max_concurrency=0)


def test_openai_make_backend_and_yaml(server):
    from hydra import compose, initialize_config_dir

    yaml_cfg = OmegaConf.load(CONFIGS / "generation" / "openai.yaml")
    assert set(yaml_cfg) - {"backend"} == set(inspect.signature(OpenAIBackend).parameters)
    with pytest.raises(Exception, match="base_url"):  # ??? must be filled in
        make_backend(yaml_cfg)
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        cfg = compose(overrides=["+generation=openai", f"generation.base_url={server.base_url}", "generation.model=m"])
    backend = make_backend(cfg.generation)
    assert isinstance(backend, OpenAIBackend) and backend.max_concurrency == 8
    assert backend.generate([PROMPTS[0]], SamplingConfig()) == [["Hi#0"]]
    assert "chat_template_kwargs" not in server.requests[0]["body"]
    backend.close()

    with pytest.raises(TypeError, match=r"unknown keys \['temprature'\]"):
        make_backend({"backend": "openai", "base_url": server.base_url, "model": "m", "temprature": 1})


# ---- VLLMBackend (against a stand-in vllm module) ----------------------------------------------


def _fake_text(ids: list[int], k: int) -> str:
    return f"{crc32(repr(ids).encode())}#{k}"


@pytest.fixture(scope="module")
def tiny_tokenizer(tmp_path_factory):
    return build_tiny_tokenizer(tmp_path_factory.mktemp("tok"))


@pytest.fixture
def fake_vllm(monkeypatch, tiny_tokenizer):
    """A stand-in ``vllm`` module: this is a mock, because vLLM needs a GPU (and is not installed).

    ``LLM`` records its arguments and hands out a real tiny tokenizer; ``generate`` records its
    inputs and answers ``"<crc of the prompt ids>#<output index>"``, outputs in reverse index order.
    """
    tokenizer = tiny_tokenizer
    module = ModuleType("vllm")
    module.llm_kwargs = []

    class SamplingParams:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

    class LLM:
        def __init__(self, **kwargs):
            module.llm_kwargs.append(kwargs)
            self.tokenizer = tokenizer
            self.calls = []

        def get_tokenizer(self):
            return self.tokenizer

        def generate(self, prompts, sampling_params, use_tqdm="not given"):
            self.calls.append(SimpleNamespace(prompts=prompts, params=sampling_params, use_tqdm=use_tqdm))
            n = sampling_params.kwargs["n"]
            return [
                SimpleNamespace(
                    outputs=[
                        SimpleNamespace(index=k, text=_fake_text(p["prompt_token_ids"], k)) for k in reversed(range(n))
                    ]
                )
                for p in prompts
            ]

    module.LLM, module.SamplingParams = LLM, SamplingParams
    monkeypatch.setitem(sys.modules, "vllm", module)
    return module


def _ids(tokenizer, prompt: Prompt, **chat_template_kwargs) -> list[int]:
    """By hand: the chat template with the generation prompt, arguments as dicts, no added tokens."""
    text = tokenizer.apply_chat_template(
        chat_template_messages(prompt.messages),
        tools=prompt.tools,
        add_generation_prompt=True,
        tokenize=False,
        **chat_template_kwargs,
    )
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_vllm_constructor_arguments_reach_the_engine(fake_vllm):
    VLLMBackend(
        "org/model",
        tokenizer_path="org/tok",
        dtype="bfloat16",
        tensor_parallel_size=2,
        gpu_memory_utilization=0.5,
        max_model_len=4096,
        enforce_eager=True,
        trust_remote_code=True,
    )
    VLLMBackend("org/model")
    assert fake_vllm.llm_kwargs == [
        dict(
            model="org/model",
            tokenizer="org/tok",
            dtype="bfloat16",
            tensor_parallel_size=2,
            gpu_memory_utilization=0.5,
            max_model_len=4096,
            enforce_eager=True,
            trust_remote_code=True,
        ),
        dict(
            model="org/model",
            tokenizer=None,
            dtype="auto",
            tensor_parallel_size=1,
            gpu_memory_utilization=0.9,
            max_model_len=None,
            enforce_eager=False,
            trust_remote_code=False,
        ),
    ]


def test_vllm_renders_each_prompt_with_its_own_tools(fake_vllm):
    from tl_plugin.generation.hf import HFBackend

    backend = VLLMBackend("org/model")
    prompts = PROMPTS + [Prompt(HISTORY, tools=[WEATHER, FLIGHTS])]
    backend.generate(prompts, SamplingConfig())
    [call] = backend.llm.calls
    tok = backend.tokenizer
    assert call.prompts == [{"prompt_token_ids": _ids(tok, p)} for p in prompts]
    texts = [tok.decode(p["prompt_token_ids"]) for p in call.prompts]
    # the same text HFBackend renders (one shared function)
    assert texts == [HFBackend.render(SimpleNamespace(tokenizer=tok, chat_template_kwargs={}), p) for p in prompts]
    assert texts == [render_prompt(tok, p) for p in prompts]
    assert ["get_weather" in t for t in texts[:3]] == [True, False, False]
    assert ["search_flights" in t for t in texts[:3]] == [True, False, True]
    assert '{"name": "get_weather", "arguments": {"city": "Paris"}}' in texts[-1]
    assert call.use_tqdm is True


def test_vllm_decodes_json_string_arguments_for_tojson_templates(fake_vllm, tmp_path):
    """Qwen2.5's own template renders ``arguments | tojson``: a JSON string would be encoded twice."""
    backend = VLLMBackend("org/model")
    backend.tokenizer = build_tiny_tokenizer(tmp_path, string_arguments=False)
    text = backend.render(Prompt(HISTORY, tools=[WEATHER, FLIGHTS]))
    assert '{"name": "search_flights", "arguments": {"origin": "SFO"}}' in text
    assert '\\"origin\\"' not in text


def test_vllm_chat_template_kwargs_reach_the_template(fake_vllm, tmp_path):
    backend = VLLMBackend("org/model", chat_template_kwargs={"greeting": "Bonjour"})
    backend.tokenizer = build_tiny_tokenizer(tmp_path)  # its own: the template is edited
    backend.tokenizer.chat_template = "{{ greeting }}:{% for m in messages %}{{ m.content }}{% endfor %}"
    backend.generate(PROMPTS[:1], SamplingConfig())
    assert backend.tokenizer.decode(backend.llm.calls[0].prompts[0]["prompt_token_ids"]) == "Bonjour:Hi"


def test_vllm_prompt_ids_carry_one_bos(fake_vllm, tmp_path):
    """Llama 3's template writes the bos token itself; tokenizing with special tokens would double it."""
    backend = VLLMBackend("org/model")
    backend.tokenizer = tok = build_tiny_tokenizer(tmp_path / "llama", template="llama3.1")
    backend.generate(PROMPTS[:1], SamplingConfig())
    ids = backend.llm.calls[0].prompts[0]["prompt_token_ids"]
    assert ids[0] == tok.bos_token_id and ids[1] != tok.bos_token_id
    assert tok(backend.render(PROMPTS[0]))["input_ids"][:2] == [tok.bos_token_id] * 2  # what is avoided


@pytest.mark.parametrize(
    "sampling, expected",
    [
        (SamplingConfig(), dict(n=1, temperature=0.0, top_p=1.0, top_k=-1, max_tokens=512, seed=0)),
        (
            SamplingConfig(n=4, temperature=0.8, top_p=0.95, top_k=0, max_new_tokens=77, seed=5),
            dict(n=4, temperature=0.8, top_p=0.95, top_k=-1, max_tokens=77, seed=5),
        ),
        (
            SamplingConfig(n=2, temperature=1.0, top_k=20, max_new_tokens=8, seed=3),
            dict(n=2, temperature=1.0, top_p=1.0, top_k=20, max_tokens=8, seed=3),
        ),
    ],
)
def test_vllm_sampling_params(fake_vllm, sampling, expected):
    backend = VLLMBackend("org/model")
    backend.generate(PROMPTS[:2], sampling)
    assert backend.llm.calls[0].params.kwargs == expected


def test_vllm_outputs_in_prompt_and_index_order(fake_vllm):
    backend = VLLMBackend("org/model")
    answers = backend.generate(PROMPTS, SAMPLE3)
    expected = [[_fake_text(_ids(backend.tokenizer, p), k) for k in range(3)] for p in PROMPTS]
    assert answers == expected
    assert len({a[0] for a in answers}) == len(PROMPTS)  # each prompt got its own answers
    assert backend.generate([], SAMPLE3) == [] and len(backend.llm.calls) == 1  # no engine call


def test_vllm_close(fake_vllm):
    backend = VLLMBackend("org/model")
    engine = weakref.ref(backend.llm)
    assert isinstance(backend, GenerationBackend)
    backend.close()
    assert engine() is None  # the engine itself is gone, not just hidden
    backend.close()  # idempotent
    with pytest.raises(RuntimeError, match="after close"):
        backend.generate(PROMPTS[:1], SamplingConfig())


def test_vllm_missing_is_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # "import vllm" fails, installed or not
    with pytest.raises(ImportError, match=r"vLLM.*pip install tl-plugin\[gpu\].*pip install vllm"):
        VLLMBackend("org/model")


def test_vllm_make_backend_and_yaml(fake_vllm):
    yaml_cfg = OmegaConf.load(CONFIGS / "generation" / "vllm.yaml")
    assert set(yaml_cfg) - {"backend"} == set(inspect.signature(VLLMBackend).parameters)
    with pytest.raises(Exception, match="model_path"):
        make_backend(yaml_cfg)
    yaml_cfg.model_path = "org/model"
    backend = make_backend(yaml_cfg)
    assert isinstance(backend, VLLMBackend) and backend.chat_template_kwargs == {}
    by_class = make_backend({"backend": "tl_plugin.generation.vllm:VLLMBackend", "model_path": "org/other"})
    assert isinstance(by_class, VLLMBackend)
    assert [kw["model"] for kw in fake_vllm.llm_kwargs] == ["org/model", "org/other"]
    with pytest.raises(TypeError, match=r"unknown keys \['batch_size'\]"):
        make_backend({"backend": "vllm", "model_path": "org/model", "batch_size": 8})
    assert len(fake_vllm.llm_kwargs) == 2  # rejected before the engine was built


# ---- make_backend with a class of one's own ----------------------------------------------------


class EchoBackend:
    """A user's backend: answers each prompt's last message, with a prefix."""

    built = 0

    def __init__(self, prefix: str, repeat: int = 1):
        EchoBackend.built += 1
        self.prefix, self.repeat = prefix, repeat

    def generate(self, prompts, sampling):
        return [[self.prefix + p.messages[-1]["content"] * self.repeat] * sampling.n for p in prompts]

    def close(self):
        pass


NOT_A_CLASS = 42


def test_make_backend_builds_a_user_class(monkeypatch):
    monkeypatch.setattr(EchoBackend, "built", 0)
    backend = make_backend({"backend": f"{__name__}:EchoBackend", "prefix": "> ", "repeat": 2, "sampling": {}})
    assert isinstance(backend, EchoBackend) and isinstance(backend, GenerationBackend)
    assert backend.generate(PROMPTS[:1], SamplingConfig()) == [["> HiHi"]]
    with pytest.raises(TypeError, match=rf"'{__name__}:EchoBackend' got unknown keys \['temprature'\]"):
        make_backend({"backend": f"{__name__}:EchoBackend", "prefix": "", "temprature": 1.0})
    assert EchoBackend.built == 1  # rejected before construction


@pytest.mark.parametrize(
    "name, message",
    [
        (f"{__name__}:", "expected a class named as 'package.module:ClassName'"),
        (":EchoBackend", "expected a class named as 'package.module:ClassName'"),
        (f"{__name__}:Echo.Backend", "expected a class named as 'package.module:ClassName'"),
        ("no_such_package_xyz.backends:Mine", "no module named 'no_such_package_xyz.backends'"),
        (f"{__name__}:Missing", f"module '{__name__}' has no attribute 'Missing'"),
        (f"{__name__}:NOT_A_CLASS", "'NOT_A_CLASS' is not a class or function"),
        ("llama", r"unknown generation backend 'llama'; known backends: \['hf', 'openai', 'vllm'\]"),
    ],
)
def test_make_backend_bad_names(name, message):
    with pytest.raises(ValueError, match=message):
        make_backend({"backend": name})


def test_make_backend_shows_a_user_module_missing_dependency(tmp_path, monkeypatch):
    (tmp_path / "my_broken_backends.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_xyz"):
        make_backend({"backend": "my_broken_backends:Mine"})


def test_imports_stay_light():
    code = (
        "import sys, tl_plugin.generation, tl_plugin.generation.vllm\n"
        "assert not {'torch', 'transformers', 'httpx', 'vllm'} & set(sys.modules), sys.modules.keys()\n"
        "import tl_plugin.generation.openai\n"
        "assert 'torch' not in sys.modules and 'httpx' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert {"hf", "openai", "vllm"} <= set(BACKENDS)

"""OpenAI-compatible server backend: ``/v1/chat/completions`` on ``vllm serve``, SGLang and the like.

The server holds the model and renders the chat template; this backend only sends requests, one per
prompt, up to ``max_concurrency`` at a time, and retries connection errors, timeouts, 429 and 5xx
answers with exponential backoff. Needs ``httpx`` and ``tenacity``, not torch.

    backend = OpenAIBackend("http://127.0.0.1:8000/v1", model="Qwen/Qwen2.5-7B-Instruct")
    answers = backend.generate([Prompt([{"role": "user", "content": "Hi"}])], SamplingConfig())
    backend.close()

Tool calls that the server parsed out of the text (``vllm serve --enable-auto-tool-choice``) come
back as ``<tool_call>`` blocks appended to the content, see :func:`completion_text`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential, wait_random
from tqdm import tqdm

from data_transforms.render import hermes_text
from tl_plugin.generation import Prompt, SamplingConfig

__all__ = ["OpenAIBackend", "completion_text", "wire_messages", "wire_tools"]


class _Retryable(RuntimeError):
    """A 429 or 5xx answer: the server is busy or briefly down, so the request is tried again."""


# Transient transport failures (refused or dropped connections, timeouts); a bad URL is not one.
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def _json_default(value):
    if hasattr(value, "tolist"):  # numpy arrays and scalars from parquet rows
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _without_none(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


def wire_messages(messages: Sequence[dict]) -> list[dict]:
    """Messages in the OpenAI wire format: call arguments as JSON strings, ``None`` fields dropped.

    Calls without an ``id`` get one (the API requires it); everything else is sent as it is.

    >>> wire_messages([{"role": "assistant", "content": None,
    ...                 "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"x": 1}}}]}])
    [{'role': 'assistant', 'tool_calls': [{'id': 'call_0_0', 'type': 'function', 'function': {'name': 'f', 'arguments': '{"x": 1}'}}]}]
    """
    out = []
    for m, msg in enumerate(messages):
        msg = _without_none(dict(msg))
        if msg.get("tool_calls"):
            calls = []
            for c, call in enumerate(msg["tool_calls"]):
                fn = call.get("function", call)  # OpenAI form, or a plain {"name", "arguments"}
                args = fn.get("arguments", {})
                calls.append(
                    {
                        "id": call.get("id") or f"call_{m}_{c}",
                        "type": "function",
                        "function": {
                            "name": fn["name"],
                            "arguments": args
                            if isinstance(args, str)
                            else json.dumps(args, ensure_ascii=False, default=_json_default),
                        },
                    }
                )
            msg["tool_calls"] = calls
        else:
            msg.pop("tool_calls", None)  # an empty list: some servers reject it
        out.append(msg)
    return out


def wire_tools(tools: Sequence[dict] | None) -> list[dict] | None:
    """Tools in OpenAI form: plain ``{"name", "description", "parameters"}`` schemas get wrapped."""
    if tools is None:
        return None
    return [
        t if t.get("type") == "function" and "function" in t else {"type": "function", "function": t} for t in tools
    ]


def _decoded_arguments(args):
    if isinstance(args, str):
        try:
            return json.loads(args)
        except ValueError:
            return args  # not JSON: keep the text, the reward parser then reports it as it is
    return args


def completion_text(message: dict) -> str:
    """One choice's ``message`` as the text a model would have written: content, then its calls.

    A server started with automatic tool parsing moves the model's ``<tool_call>`` blocks out of
    ``content`` into structured ``tool_calls``; writing them back as hermes blocks gives the reward
    parser the same text it reads from the other backends.

    >>> completion_text({"content": None, "tool_calls": [{"function": {"name": "f", "arguments": '{"x": 1}'}}]})
    '<tool_call>\\n{"name": "f", "arguments": {"x": 1}}\\n</tool_call>'
    """
    calls = [
        {"name": c["function"]["name"], "arguments": _decoded_arguments(c["function"].get("arguments", {}))}
        for c in message.get("tool_calls") or []
    ]
    return "\n".join(part for part in (message.get("content") or "", hermes_text(calls)) if part)


class OpenAIBackend:
    """Chat completions from an OpenAI-compatible server; see :class:`tl_plugin.generation.GenerationBackend`.

    ``base_url`` ends in ``/v1``; ``model`` is the served model name. ``api_key=None`` takes
    ``OPENAI_API_KEY`` from the environment, else ``"EMPTY"`` (what local servers expect).
    ``timeout`` is per request in seconds; ``max_retries`` retries after the first attempt.
    ``extra_body`` is merged into every request body last, so it can add or override any field
    (e.g. ``{"repetition_penalty": 1.05}``). ``chat_template_kwargs``, when not empty, is sent as
    the body's ``chat_template_kwargs`` (vLLM, SGLang). ``top_k`` is sent only when on (> 0): it
    is not an OpenAI parameter, but vLLM and SGLang accept it. Backoff between retries starts at
    ``retry_initial_wait`` seconds and doubles up to ``retry_max_wait`` (attributes, not
    constructor keys).
    """

    retry_initial_wait = 0.5
    retry_max_wait = 30.0

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 600.0,
        max_concurrency: int = 8,
        max_retries: int = 3,
        extra_body: dict | None = None,
        chat_template_kwargs: dict | None = None,
    ):
        for name, value, low in (("max_concurrency", max_concurrency, 1), ("max_retries", max_retries, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"OpenAIBackend: {name} must be an integer >= {low}, got {value!r}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.extra_body = dict(extra_body or {})
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "EMPTY")
        self._client = httpx.Client(
            timeout=timeout,
            headers={"Authorization": f"Bearer {api_key}"},
            limits=httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency),
        )

    def request_body(self, prompt: Prompt, sampling: SamplingConfig) -> dict:
        """The JSON body for one prompt."""
        body = {
            "model": self.model,
            "messages": wire_messages(prompt.messages),
            "n": sampling.n,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_new_tokens,
            "seed": sampling.seed,
        }
        if prompt.tools is not None:
            body["tools"] = wire_tools(prompt.tools)
        if sampling.top_k > 0:
            body["top_k"] = sampling.top_k
        if self.chat_template_kwargs:
            body["chat_template_kwargs"] = self.chat_template_kwargs
        body.update(self.extra_body)
        return body

    def _post(self, index: int, content: bytes) -> dict:
        response = self._client.post(self.url, content=content, headers={"Content-Type": "application/json"})
        if not response.is_success:
            error = _Retryable if response.status_code == 429 or response.status_code >= 500 else RuntimeError
            raise error(
                f"OpenAIBackend: HTTP {response.status_code} from {self.url} for prompt {index}: {response.text[:500]}"
            )
        try:
            return response.json()
        except ValueError as exc:
            raise RuntimeError(f"OpenAIBackend: prompt {index}: the answer is not JSON: {response.text[:500]}") from exc

    def _complete(self, index: int, prompt: Prompt, sampling: SamplingConfig) -> list[str]:
        content = json.dumps(self.request_body(prompt, sampling), ensure_ascii=False, default=_json_default)
        retrying = Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, (_Retryable, *_TRANSIENT))),
            stop=stop_after_attempt(self.max_retries + 1),
            # Jitter spreads the retries of concurrent requests that a busy server turned away together.
            wait=wait_exponential(multiplier=self.retry_initial_wait, max=self.retry_max_wait)
            + wait_random(0, self.retry_initial_wait),
            reraise=True,
        )
        try:
            answer = retrying(self._post, index, content.encode())
        except httpx.TransportError as exc:  # timeouts included
            raise RuntimeError(
                f"OpenAIBackend: prompt {index}: request to {self.url} failed: {type(exc).__name__}: {exc}"
            ) from exc
        choices = answer.get("choices") if isinstance(answer, dict) else None
        if not isinstance(choices, list) or len(choices) != sampling.n:
            got = len(choices) if isinstance(choices, list) else "no"
            raise RuntimeError(
                f"OpenAIBackend: prompt {index}: expected {sampling.n} choices, got {got}: {json.dumps(answer)[:500]}"
            )
        choices = sorted(choices, key=lambda c: c.get("index", 0))
        return [completion_text(c.get("message") or {}) for c in choices]

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingConfig) -> list[list[str]]:
        """For each prompt, in prompt order, ``sampling.n`` completions in choice-index order."""
        if self._client is None:
            raise RuntimeError("OpenAIBackend.generate called after close()")
        if not prompts:
            return []
        results: list[list[str] | None] = [None] * len(prompts)
        pool = ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(prompts)))
        bar = tqdm(total=len(prompts), desc="generate", unit="prompt", disable=None)
        try:
            futures = {pool.submit(self._complete, i, p, sampling): i for i, p in enumerate(prompts)}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update(1)
        finally:
            # All done, or an error (or Ctrl-C): then fail fast, cancelling the requests not yet
            # sent rather than waiting for the whole batch.
            pool.shutdown(wait=False, cancel_futures=True)
            bar.close()
        return results

    def close(self) -> None:
        """Close the HTTP connections; ``generate`` raises afterwards."""
        if self._client is not None:
            self._client.close()
            self._client = None

"""Text generation for evaluation and self-evolution: one interface, several backends.

``tl-eval`` asks for one greedy answer per prompt; ToolDev self-evolution samples several answers
per prompt. Both hand chat-shaped :class:`Prompt` objects and a :class:`SamplingConfig` to a
:class:`GenerationBackend` and get decoded text back, so the caller never touches a tokenizer or an
inference engine. Backends are looked up by name in :data:`BACKENDS` and imported only when built:
importing this package pulls in none of torch, transformers, httpx or vLLM (vLLM and flash-attn
are optional GPU extras).

Built-in backends: ``hf`` (:class:`~tl_plugin.generation.hf.HFBackend`: transformers, CPU or one
GPU), ``vllm`` (:class:`~tl_plugin.generation.vllm.VLLMBackend`: vLLM's offline engine) and
``openai`` (:class:`~tl_plugin.generation.openai.OpenAIBackend`: any OpenAI-compatible server,
e.g. ``vllm serve`` or SGLang). A name of the form ``"package.module:ClassName"`` builds one's own
class that follows :class:`GenerationBackend`; its keys are checked against its constructor too.

>>> sampling_config({"n": 5, "temperature": 1.0, "top_k": 50})
SamplingConfig(n=5, temperature=1.0, top_p=1.0, top_k=50, max_new_tokens=512, seed=0)
>>> SamplingConfig(n=2)  # doctest: +ELLIPSIS
Traceback (most recent call last):
    ...
ValueError: SamplingConfig: n=2 with temperature=0 (greedy) would return 2 identical answers; ...
>>> make_backend({"backend": "llama"})
Traceback (most recent call last):
    ...
ValueError: unknown generation backend 'llama'; known backends: ['hf', 'openai', 'vllm'], or a class named as 'package.module:ClassName'
>>> make_backend({"backend": "tl_plugin.generation:NoSuchBackend"})
Traceback (most recent call last):
    ...
ValueError: generation backend 'tl_plugin.generation:NoSuchBackend': module 'tl_plugin.generation' has no attribute 'NoSuchBackend'
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from tl_plugin.verl_ext.row_format import chat_template_messages

__all__ = [
    "BACKENDS",
    "GenerationBackend",
    "LazyFactory",
    "Prompt",
    "SamplingConfig",
    "make_backend",
    "render_prompt",
    "sampling_config",
]


@dataclass(frozen=True)
class Prompt:
    """One chat to continue: OpenAI-shaped messages plus the tool schemas the template lists.

    ``messages`` may hold assistant ``tool_calls`` (arguments as dicts or JSON strings) and
    ``role: "tool"`` results. ``tools`` are OpenAI-form (``{"type": "function", "function": ...}``)
    or plain schemas, handed to the chat template's ``tools=`` as they are; ``None`` when the tools
    are already written into the prompt text.
    """

    messages: list[dict]
    tools: list[dict] | None = None


@dataclass(frozen=True)
class SamplingConfig:
    """How to decode: ``temperature=0`` is greedy, ``top_k=0`` turns top-k off.

    ``n`` answers per prompt; greedy decoding only allows ``n=1`` (all answers would be equal).
    ``seed`` makes sampling reproducible for a given backend, batch size and device.
    """

    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 512
    seed: int = 0

    def __post_init__(self):
        for name in ("n", "top_k", "max_new_tokens", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"SamplingConfig: {name} must be an integer, got {value!r}")
        for name in ("temperature", "top_p"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"SamplingConfig: {name} must be a number, got {value!r}")
        if self.n < 1:
            raise ValueError(f"SamplingConfig: n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise ValueError(f"SamplingConfig: temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"SamplingConfig: top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"SamplingConfig: top_k must be >= 0 (0 = off), got {self.top_k}")
        if self.max_new_tokens < 1:
            raise ValueError(f"SamplingConfig: max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.greedy and self.n > 1:
            raise ValueError(
                f"SamplingConfig: n={self.n} with temperature=0 (greedy) would return {self.n} identical "
                "answers; set temperature > 0 to sample several, or n=1"
            )

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@runtime_checkable
class GenerationBackend(Protocol):
    """Anything that turns prompts into decoded completions."""

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingConfig) -> list[list[str]]:
        """For each prompt, in prompt order, ``sampling.n`` decoded completions (prompt excluded)."""
        ...

    def close(self) -> None:
        """Free the model and any engine; the backend is unusable afterwards."""
        ...


def render_prompt(tokenizer, prompt: Prompt, chat_template_kwargs: Mapping | None = None) -> str:
    """The prompt text: ``tokenizer``'s chat template with the generation prompt, call arguments as dicts.

    Shared by the backends that render locally (``hf``, ``vllm``), so both feed a model the same
    text for the same prompt, as verl's rollouts do.
    """
    return tokenizer.apply_chat_template(
        chat_template_messages(prompt.messages),
        tools=prompt.tools,
        add_generation_prompt=True,
        tokenize=False,
        **(chat_template_kwargs or {}),
    )


class LazyFactory:
    """A backend class named ``"module:Class"``, imported on first use.

    Keeps heavy imports (torch, transformers, vllm) out of ``import tl_plugin.generation``;
    ``inspect.signature`` sees the real constructor, so :func:`make_backend` can check keys
    before anything is loaded.
    """

    def __init__(self, target: str):
        self.target = target

    def load(self) -> Callable[..., GenerationBackend]:
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(self.load())

    def __call__(self, **kwargs) -> GenerationBackend:
        return self.load()(**kwargs)

    def __repr__(self) -> str:
        return f"LazyFactory({self.target!r})"


# Backend name -> factory called with the config's other keys.
BACKENDS: dict[str, Callable[..., GenerationBackend]] = {
    "hf": LazyFactory("tl_plugin.generation.hf:HFBackend"),
    "openai": LazyFactory("tl_plugin.generation.openai:OpenAIBackend"),
    "vllm": LazyFactory("tl_plugin.generation.vllm:VLLMBackend"),
}


def _plain_mapping(cfg, what: str) -> dict:
    """A plain dict from a mapping or an OmegaConf DictConfig (resolved; ``???`` raises)."""
    if cfg is None:
        return {}
    if type(cfg).__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf

        cfg = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    if not isinstance(cfg, Mapping):
        raise TypeError(f"{what} must be a mapping, got {type(cfg).__name__}")
    return dict(cfg)


def sampling_config(cfg: Mapping | None) -> SamplingConfig:
    """A :class:`SamplingConfig` from a mapping or DictConfig; unknown keys are an error."""
    values = _plain_mapping(cfg, "sampling config")
    known = {f.name for f in dataclasses.fields(SamplingConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown sampling keys {unknown}; expected some of {sorted(known)}")
    return SamplingConfig(**values)


def _class_factory(name: str) -> Callable[..., GenerationBackend]:
    """The class named ``"package.module:ClassName"``, imported now, so a bad name fails early."""
    module, _, attr = name.partition(":")
    if not module or not attr.isidentifier():
        raise ValueError(f"generation backend {name!r}: expected a class named as 'package.module:ClassName'")
    try:
        factory = getattr(importlib.import_module(module), attr, None)
    except ModuleNotFoundError as exc:
        if exc.name is None or not (module == exc.name or module.startswith(exc.name + ".")):
            raise  # the module exists but one of its own imports is missing: show that
        raise ValueError(f"generation backend {name!r}: no module named {module!r}") from exc
    if factory is None:
        raise ValueError(f"generation backend {name!r}: module {module!r} has no attribute {attr!r}")
    if not callable(factory):
        raise ValueError(f"generation backend {name!r}: {attr!r} is not a class or function")
    return factory


def make_backend(cfg: Mapping) -> GenerationBackend:
    """Build the backend named by ``cfg["backend"]`` with the other keys as keyword arguments.

    The name is a key of :data:`BACKENDS` or a class of one's own as ``"package.module:ClassName"``.
    A ``sampling`` key is ignored (it belongs to ``generate``). Unknown names and keys raise
    before any model is loaded.
    """
    kwargs = _plain_mapping(cfg, "generation config")
    kwargs.pop("sampling", None)
    name = kwargs.pop("backend", None)
    if name is None:
        raise ValueError(f"generation config needs a 'backend' key; known backends: {sorted(BACKENDS)}")
    if name in BACKENDS:
        factory = BACKENDS[name]
    elif isinstance(name, str) and ":" in name:
        factory = _class_factory(name)
    else:
        raise ValueError(
            f"unknown generation backend {name!r}; known backends: {sorted(BACKENDS)}, "
            "or a class named as 'package.module:ClassName'"
        )
    params = inspect.signature(factory).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        accepted = {n for n, p in params.items() if p.kind is not inspect.Parameter.POSITIONAL_ONLY}
        unknown = sorted(set(kwargs) - accepted)
        if unknown:
            raise TypeError(f"generation backend {name!r} got unknown keys {unknown}; it accepts {sorted(accepted)}")
    return factory(**kwargs)

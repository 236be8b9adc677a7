"""Generation backends for the tl-evolve tests, plugged in as ``generation.backend=evolve_backends:NAME`` (``tests/`` on the path).

``ScriptedBackend`` stands in for a model whose answers we choose (a trained model is needed for a
non-zero yield, and none can be downloaded here); ``KillableHF`` is the real Hugging Face backend
that kills its own process with SIGKILL at a chosen ``generate`` call, to cut a run mid-round.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from tl_plugin.generation import Prompt, SamplingConfig
from tl_plugin.generation.hf import HFBackend

GENERATION_PREFIX = "Generate tools to solve the query: "


class ScriptedBackend:
    """Answers from a JSON script ``{"tools": {query: text}, "calls": {query: [texts]}}``.

    A prompt without tools asks for tools (the query follows the generation prompt's prefix); a
    prompt with tools asks for calls, answered with the script's texts (cycled to ``n``). Every
    ``generate`` call is appended to ``script + ".log"`` with its model and sampling settings.
    """

    def __init__(self, script: str, model_path: str, **_other_backend_keys):
        self.script = json.loads(Path(script).read_text())
        self.log = Path(script + ".log")
        self.model_path = model_path

    def generate(self, prompts: list[Prompt], sampling: SamplingConfig) -> list[list[str]]:
        out, kinds = [], []
        for p in prompts:
            user = next(m["content"] for m in p.messages if m["role"] == "user")
            if p.tools is None:
                kinds.append("tools")
                out.append([self.script["tools"][user.removeprefix(GENERATION_PREFIX)]] * sampling.n)
            else:
                kinds.append("calls")
                texts = self.script["calls"][user]
                out.append([texts[i % len(texts)] for i in range(sampling.n)])
        with open(self.log, "a") as fh:
            fh.write(
                json.dumps(
                    {
                        "model": self.model_path,
                        "kinds": kinds,
                        "n": sampling.n,
                        "temperature": sampling.temperature,
                        "top_k": sampling.top_k,
                        "seed": sampling.seed,
                        "tools": [p.tools for p in prompts],
                    }
                )
                + "\n"
            )
        return out

    def close(self) -> None:
        pass


class KillableHF(HFBackend):
    """:class:`HFBackend` that SIGKILLs its process at ``generate`` call number
    ``$TL_TEST_KILL_AT_GENERATE`` (1-based; unset: never)."""

    calls = 0

    def generate(self, prompts, sampling):
        KillableHF.calls += 1
        if str(KillableHF.calls) == os.environ.get("TL_TEST_KILL_AT_GENERATE"):
            os.kill(os.getpid(), signal.SIGKILL)
        return super().generate(prompts, sampling)

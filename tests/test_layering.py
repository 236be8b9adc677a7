"""The layering promise, enforced: ``reward_fns`` and ``data_transforms`` import without verl, torch
or hydra, and the dependencies point one way (tl_plugin -> data_transforms -> reward_fns).

Each check runs in a fresh interpreter whose import system refuses the forbidden packages, so a
module that imports one of them at module level fails here, however it got installed.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.helpers import ROOT

FORBIDDEN = ("verl", "torch", "hydra", "omegaconf", "transformers", "tl_plugin")

PROBE = textwrap.dedent(
    """
    import importlib, importlib.abc, json, pkgutil, sys

    FORBIDDEN = set(sys.argv[2].split(","))

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in FORBIDDEN:
                raise ImportError(f"{name} may not be imported here")
            return None

    sys.meta_path.insert(0, Refuse())
    package = importlib.import_module(sys.argv[1])
    names = [package.__name__] + [
        m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
    ]
    failed = {}
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001  every failure is reported by name
            failed[name] = f"{type(exc).__name__}: {exc}"
    loaded = sorted({m.split(".")[0] for m in sys.modules})
    print(json.dumps({"modules": names, "failed": failed, "loaded": loaded}))
    """
)


def _probe(package: str, forbidden: tuple) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, package, ",".join(forbidden)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "package, also_forbidden",
    [("reward_fns", ("data_transforms",)), ("data_transforms", ())],
)
def test_pure_layers_import_without_verl_torch_hydra(package, also_forbidden):
    result = _probe(package, FORBIDDEN + also_forbidden)
    assert result["failed"] == {}
    # every module was tried: the walk found the package's modules, readers included
    assert len(result["modules"]) > 8
    if package == "data_transforms":
        assert "data_transforms.readers.toolrl" in result["modules"]
    assert not set(result["loaded"]) & set(FORBIDDEN + also_forbidden)


def test_the_probe_catches_a_forbidden_import():
    # the same probe on a package that imports verl at module level reports it by module name
    result = _probe("tl_plugin.verl_ext", ("verl",))
    assert "tl_plugin.verl_ext.reward_manager" in result["failed"]
    assert "verl may not be imported here" in result["failed"]["tl_plugin.verl_ext.reward_manager"]


FAST_LOOP = [
    "tests/reward_fns",
    "tests/data_transforms",
    "reward_fns",
    "data_transforms",
    "-m",
    "not verl and not slow",
]

RUN_WITHOUT_VERL = textwrap.dedent(
    """
    import importlib.abc, sys

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "verl":
                raise ImportError(f"{name}: a test of the fast loop imports verl; mark it @pytest.mark.verl")
            return None

    sys.meta_path.insert(0, Refuse())
    import pytest
    sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", *sys.argv[1:]]))
    """
)


def test_fast_loop_runs_with_verl_unimportable():
    # the `verl` marks are complete: what the fast loop selects runs (and is collected) without verl
    out = subprocess.run(
        [sys.executable, "-c", RUN_WITHOUT_VERL, *FAST_LOOP],
        env={**os.environ, "TL_FAST_LOOP": "1"},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )
    assert out.returncode == 0, out.stdout[-4000:]
    assert " passed" in out.stdout and " failed" not in out.stdout and " error" not in out.stdout

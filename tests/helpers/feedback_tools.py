"""Plain Python tools for the multi-turn tests (declared through tl_plugin.verl_ext.tools.PythonFunctionTool)."""

from __future__ import annotations

import os
import time
from pathlib import Path

_WEATHER = {"Paris": 18, "Rome": 24}


def get_weather(city: str, unit: str = "celsius") -> dict:
    """Current temperature in a city.

    Args:
        city: The city, e.g. "Paris".
        unit: "celsius" or "fahrenheit".
    """
    if city not in _WEATHER:
        raise ValueError(f"unknown city {city!r}")
    temp = _WEATHER[city]
    return {"city": city, "temperature": temp if unit == "celsius" else temp * 9 / 5 + 32, "unit": unit}


def get_time(timezone: str) -> str:
    """Current time in a timezone.

    Args:
        timezone: An IANA timezone such as "Europe/Paris".
    """
    return f"12:00 in {timezone}"


def slow_lookup(query: str, seconds: float = 3.0, marker: str = "") -> str:
    """A lookup that takes a while.

    Args:
        query: What to look up.
        seconds: How long it takes.
        marker: A file written once the lookup finishes (tests use it to see whether it ran to the end).
    """
    time.sleep(seconds)
    if marker:
        Path(marker).write_text("finished")
    return f"result for {query}"


def crash(code: int) -> str:
    """Ends its process at once.

    Args:
        code: The exit code.
    """
    os._exit(code)


def no_docstring(x):
    return x

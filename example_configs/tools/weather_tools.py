"""Example tools for multi-turn RL: plain Python functions, no verl import.

Each needs type hints and a Google-style docstring with an ``Args:`` block: the tool schema the
model sees is built from them (``tl_plugin.verl_ext.tools.PythonFunctionTool``). Errors are raised as
ordinary exceptions; the tool turns them into responses the reward's classifier reads.
Offline data, so the example runs anywhere.
"""

from __future__ import annotations

_TEMPERATURE_C = {"paris": 18.0, "rome": 24.0, "tokyo": 21.0, "new york": 16.0}
_UTC_OFFSET_H = {"paris": 1, "rome": 1, "tokyo": 9, "new york": -5}


def get_weather(city: str, unit: str = "celsius") -> dict:
    """Current temperature in a city.

    Args:
        city: The city name, e.g. "Paris".
        unit: "celsius" or "fahrenheit".
    """
    key = city.strip().lower()
    if key not in _TEMPERATURE_C:
        raise ValueError(f"no weather data for city {city!r}")
    if unit not in ("celsius", "fahrenheit"):
        raise ValueError(f"unit must be 'celsius' or 'fahrenheit', got {unit!r}")
    temp = _TEMPERATURE_C[key]
    return {"city": city, "temperature": temp if unit == "celsius" else round(temp * 9 / 5 + 32, 1), "unit": unit}


def get_utc_offset(city: str) -> dict:
    """UTC offset of a city's time zone, in hours.

    Args:
        city: The city name, e.g. "Tokyo".
    """
    key = city.strip().lower()
    if key not in _UTC_OFFSET_H:
        raise ValueError(f"no time zone data for city {city!r}")
    return {"city": city, "utc_offset_hours": _UTC_OFFSET_H[key]}

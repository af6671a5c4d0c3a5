"""Reading a function's configuration from its environment, failing loudly at cold start."""

from __future__ import annotations

import os


class MissingSetting(RuntimeError):
    """A required environment variable that is not set (or set but empty)."""


class BadSetting(RuntimeError):
    """An environment variable whose value cannot be used; the message says why."""


def required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise MissingSetting(f"environment variable {name} must be set")
    return value


def optional(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def number(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise BadSetting(f"environment variable {name} must be a number, not {raw!r}") from None

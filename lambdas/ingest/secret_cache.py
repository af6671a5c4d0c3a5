"""Secrets from SSM Parameter Store (SecureString), read once per container.

Values are never logged; a missing parameter is a deployment error and fails the request.
"""

from __future__ import annotations

from typing import Any


class SecretCache:
    def __init__(self, ssm: Any) -> None:
        self._ssm = ssm
        self._values: dict[str, str] = {}

    def get(self, name: str) -> str:
        if name not in self._values:
            response = self._ssm.get_parameter(Name=name, WithDecryption=True)
            self._values[name] = response["Parameter"]["Value"]
        return self._values[name]

    def clear(self) -> None:
        self._values.clear()

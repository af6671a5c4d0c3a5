"""The deployed stack's outputs, stored where the portal reads its settings from.

`manage.py deploy` writes data/stack-outputs.json (git-ignored). When the portal runs against
AWS (AWS_ENDPOINT_URL empty), portal/settings.py takes the "settings" object of that file as
the defaults of the settings named there (lambdas/shared/resource_names.SETTINGS_FROM_OUTPUTS);
environment variables still win. Nothing in it is secret.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lambdas.shared.resource_names import SETTINGS_FROM_OUTPUTS


def portal_settings(outputs: Mapping[str, str]) -> dict[str, str]:
    """The portal's settings that the outputs give (those present)."""
    return {
        setting: outputs[output]
        for setting, output in SETTINGS_FROM_OUTPUTS.items()
        if outputs.get(output)
    }


def write_outputs(
    path: Path, stack_name: str, region: str, account: str, outputs: Mapping[str, str]
) -> None:
    """Replace the file in one step, so the portal never reads half of it."""
    document = {
        "stack": stack_name,
        "region": region,
        "account": account,
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "outputs": dict(outputs),
        "settings": portal_settings(outputs),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(partial, path)


def read_outputs(path: Path) -> dict[str, Any] | None:
    """The stored document, or None when there is none (or it cannot be read)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def remove_outputs(path: Path, stack_name: str, region: str) -> bool:
    """Remove the file if it describes this stack; True when it did."""
    document = read_outputs(path)
    if document is None or (document.get("stack"), document.get("region")) != (stack_name, region):
        return False
    path.unlink(missing_ok=True)
    return True

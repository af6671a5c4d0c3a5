"""What `make run` created, for the commands of a second terminal: data/local-outputs.json.

The emulator gives the dashboard's identity pool a new id at every start, and the ports can be
chosen (TEXTVOTE_*_PORT), so a `manage.py` command started in another terminal cannot know
them. While it runs, the local backend writes them here (the file is removed on a clean stop,
and replaced at the next start after a crash); portal/settings.py takes the settings the file
gives as the defaults of those settings when its AWS_ENDPOINT_URL is the file's emulator, and
environment variables still win. It is for `make run` what deploy/aws/outputs.py's
data/stack-outputs.json is for a deployed stack. Nothing in it is secret but the local Twilio
stand-in's development auth token (deploy/local/twilio_api.py), which the emulator's Parameter
Store already serves to anyone who can reach it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lambdas.shared.resource_names import DASHBOARD_IDENTITY_POOL, TALLY_FAILURE_QUEUE

# Where the file is, for the backend that writes it and the portal that reads it.
LOCAL_OUTPUTS_VARIABLE = "LOCAL_OUTPUTS_FILE"
DEFAULT_LOCAL_OUTPUTS = Path(__file__).resolve().parents[2] / "data" / "local-outputs.json"
# The portal settings the file gives (each also the environment variable that overrides it).
PORTAL_SETTINGS = (DASHBOARD_IDENTITY_POOL.variable, "PUBLIC_WEBHOOK_URL")
# The portal settings of the local Twilio stand-in, when the backend started one.
TWILIO_SETTINGS = ("TWILIO_API_BASE_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")


class MalformedLocalOutputs(ValueError):
    """The file is not one the local backend wrote."""


def local_outputs_path(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get(LOCAL_OUTPUTS_VARIABLE) or DEFAULT_LOCAL_OUTPUTS)


def write_local_outputs(
    path: Path,
    *,
    endpoint_url: str,
    webhook_url: str,
    identity_pool_id: str,
    failure_queue_url: str,
    twilio: Mapping[str, str] | None = None,
) -> None:
    """Replace the file in one step, so a command never reads half of it. `twilio`: the
    `TWILIO_SETTINGS` of the local Twilio stand-in, if one runs."""
    document = {
        "endpoint": endpoint_url.rstrip("/"),
        "settings": {
            DASHBOARD_IDENTITY_POOL.variable: identity_pool_id,
            TALLY_FAILURE_QUEUE.variable: failure_queue_url,
            "PUBLIC_WEBHOOK_URL": webhook_url,
            **{name: twilio[name] for name in TWILIO_SETTINGS if twilio is not None},
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(partial, path)


def remove_local_outputs(path: Path, endpoint_url: str) -> None:
    """Remove the file if it describes the emulator at `endpoint_url` (not another run's)."""
    try:
        if _read(path).get("endpoint") == endpoint_url.rstrip("/"):
            path.unlink(missing_ok=True)
    except (OSError, MalformedLocalOutputs):
        return


def portal_settings_from_local_outputs(path: Path, endpoint_url: str) -> dict[str, str]:
    """The portal settings (`PORTAL_SETTINGS`, and the `TWILIO_SETTINGS` when it has them)
    the file gives for the emulator at `endpoint_url`: none if there is no file or it
    describes another emulator."""
    try:
        document = _read(path)
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise MalformedLocalOutputs(f"cannot read it: {error}") from None
    if document.get("endpoint") != endpoint_url.rstrip("/"):
        return {}
    settings = document.get("settings")
    if not isinstance(settings, dict):
        raise MalformedLocalOutputs("it has no settings object")
    values = {name: settings.get(name) for name in PORTAL_SETTINGS}
    if not all(isinstance(value, str) and value for value in values.values()):
        raise MalformedLocalOutputs(f"it lacks one of {', '.join(PORTAL_SETTINGS)}")
    twilio = {name: settings.get(name) for name in TWILIO_SETTINGS if name in settings}
    complete = len(twilio) == len(TWILIO_SETTINGS)
    if twilio and not (complete and all(isinstance(v, str) and v for v in twilio.values())):
        raise MalformedLocalOutputs(f"it lacks one of {', '.join(TWILIO_SETTINGS)}")
    return {name: str(value) for name, value in {**values, **twilio}.items()}


def local_twilio_settings(path: Path) -> dict[str, str]:
    """The `TWILIO_SETTINGS` of the Twilio stand-in the running `make run` serves (none if
    it is not running or runs none), for loadgen in another terminal."""
    try:
        settings = _read(path).get("settings")
    except (OSError, MalformedLocalOutputs):
        return {}
    if not isinstance(settings, dict):
        return {}
    found = {name: settings.get(name) for name in TWILIO_SETTINGS}
    if not all(isinstance(value, str) and value for value in found.values()):
        return {}
    return {name: str(value) for name, value in found.items()}


def _read(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise MalformedLocalOutputs(f"it is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise MalformedLocalOutputs("it is not a JSON object")
    return document

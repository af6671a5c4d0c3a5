"""The config table's item: a poll's configuration document under its number and poll id, with
its version. The portal writes it with `to_item`; the ingest (and whatever else reads what
was pushed) reads it with `from_item`.
"""

from __future__ import annotations

from typing import Any

from lambdas.shared import attributes, keys
from lambdas.shared.config_doc import InvalidConfig, PollConfig


def to_item(config: PollConfig) -> dict[str, dict[str, str]]:
    """The low-level (boto3 client) item for `config`; InvalidConfig if it cannot be stored."""
    return {
        **keys.config_key(config.number, config.poll_id),
        attributes.CONFIG_DOCUMENT: {"S": config.to_json()},
        attributes.CONFIG_VERSION: {"N": str(config.version)},
    }


def from_item(item: dict[str, Any]) -> PollConfig:
    """The configuration a low-level config item holds; InvalidConfig if it holds none."""
    document = item.get(attributes.CONFIG_DOCUMENT)
    if not isinstance(document, dict) or not isinstance(document.get("S"), str):
        raise InvalidConfig(f"config item without a {attributes.CONFIG_DOCUMENT!r} string")
    return PollConfig.from_json(document["S"])

"""Poll configuration by Twilio number, cached in the container for a few seconds.

A warm container does no config read per vote, and closing a poll in the portal takes effect
within `ttl_seconds`. Numbers with no poll are cached too, so a flood to a wrong number costs
no extra reads.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from lambdas.shared import config_item, keys
from lambdas.shared.config_doc import InvalidConfig, PollConfig

logger = logging.getLogger(__name__)

# How long the ingest keeps a number's polls by default (CONFIG_CACHE_SECONDS): a pushed change
# reaches every warm container within it.
DEFAULT_TTL_SECONDS = 5.0


class ConfigCache:
    def __init__(
        self,
        dynamodb: Any,
        table: str,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[str, tuple[float, list[PollConfig]]] = {}

    def polls_for(self, number: str) -> list[PollConfig]:
        now = self._clock()
        cached = self._entries.get(number)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        polls = self._load(number)
        self._entries[number] = (now, polls)
        return polls

    def clear(self) -> None:
        self._entries.clear()

    def _load(self, number: str) -> list[PollConfig]:
        polls = []
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :number",
            "ExpressionAttributeNames": {"#pk": keys.PARTITION_KEY},
            "ExpressionAttributeValues": {":number": {"S": number}},
        }
        while True:
            page = self._dynamodb.query(**arguments)
            for item in page["Items"]:
                try:
                    polls.append(config_item.from_item(item))
                except InvalidConfig as error:
                    # One broken document must not take the number's other polls down.
                    logger.error(
                        "skipping unreadable poll config %s: %s", item.get(keys.SORT_KEY), error
                    )
            if "LastEvaluatedKey" not in page:
                return polls
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

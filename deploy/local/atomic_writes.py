"""Making the emulator's DynamoDB writes atomic, as DynamoDB's are.

DynamoDB evaluates a write's condition and applies the write as one step per item: two
concurrent conditional writes to one item never both pass a condition that only one of them
may pass. moto checks a condition, then applies the write, with no lock between, so under the
threaded server two texts of one phone in flight together could both pass the allowance that
lambdas/ingest/votes.py writes as a condition. `make_item_writes_atomic` runs every DynamoDB
write of the process's moto backends one at a time (moto serves ~400 writes/s either way).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from moto.dynamodb.models import DynamoDBBackend

_WRITES = (
    "put_item",
    "update_item",
    "delete_item",
    "batch_write_item",
    "transact_write_items",
    "execute_transaction",
)
_lock = threading.RLock()


def _one_at_a_time(write: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(write)
    def atomic(*args: Any, **kwargs: Any) -> Any:
        with _lock:
            return write(*args, **kwargs)

    atomic.__atomic__ = True  # type: ignore[attr-defined]
    return atomic


def make_item_writes_atomic() -> None:
    """Serialise moto's DynamoDB writes in this process (idempotent)."""
    for name in _WRITES:
        write = getattr(DynamoDBBackend, name)
        if not getattr(write, "__atomic__", False):
            setattr(DynamoDBBackend, name, _one_at_a_time(write))

"""Making the emulator's DynamoDB writes behave as DynamoDB's do, where TextVote relies on it.

- **Atomic conditional writes.** DynamoDB evaluates a write's condition and applies the write
  as one step per item: two concurrent conditional writes to one item never both pass a
  condition only one of them may pass. moto checks a condition, then applies the write, with
  no lock between, so under the threaded server two texts of one phone in flight together
  could both pass the allowance that lambdas/ingest/votes.py writes as a condition. Every
  DynamoDB write of the process's moto backends runs one at a time (moto serves ~400
  writes/s either way).
- **One stream record per UpdateItem.** An UpdateItem that creates its item is one INSERT
  carrying the new item on DynamoDB. moto first puts the bare key (an INSERT of an item with
  no attributes) and then records the update as another INSERT: the tally would take the
  first for a poison record. The bare key's record is left out.

`make_dynamodb_faithful` patches moto's classes in this process (idempotent); the local
backend and the tests' emulator call it before they start moto's server.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

_WRITES = (
    "put_item",
    "update_item",
    "delete_item",
    "batch_write_item",
    "transact_write_items",
    "execute_transaction",
)
_lock = threading.RLock()
# Set while an UpdateItem runs (under _lock, so one thread at a time).
_updating = threading.local()


def _one_at_a_time(write: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(write)
    def atomic(*args: Any, **kwargs: Any) -> Any:
        with _lock:
            return write(*args, **kwargs)

    atomic.__faithful__ = True  # type: ignore[attr-defined]
    return atomic


def _flagged_as_update(update: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(update)
    def flagged(*args: Any, **kwargs: Any) -> Any:
        _updating.active = True
        try:
            return update(*args, **kwargs)
        finally:
            _updating.active = False

    return flagged


def _without_the_bare_key_record(put: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(put)
    def put_item(table: Table, *args: Any, **kwargs: Any) -> Any:
        if not getattr(_updating, "active", False) or table.stream_shard is None:
            return put(table, *args, **kwargs)
        shard, table.stream_shard = table.stream_shard, None
        try:
            return put(table, *args, **kwargs)
        finally:
            table.stream_shard = shard

    put_item.__faithful__ = True  # type: ignore[attr-defined]
    return put_item


def make_dynamodb_faithful() -> None:
    """Patch this process's moto DynamoDB as the module says (idempotent)."""
    if getattr(Table.put_item, "__faithful__", False):
        return
    Table.put_item = _without_the_bare_key_record(Table.put_item)  # type: ignore[method-assign]
    DynamoDBBackend.update_item = _flagged_as_update(DynamoDBBackend.update_item)  # type: ignore[method-assign]
    for name in _WRITES:
        setattr(DynamoDBBackend, name, _one_at_a_time(getattr(DynamoDBBackend, name)))

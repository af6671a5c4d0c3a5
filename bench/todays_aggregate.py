"""Today's design for bench.scale's comparison: the tally of the last commit that kept one
aggregate item per poll (counts, minutes, regions and 32 watermarks), on the same show.

bench.scale runs this in a subprocess whose `lambdas` package is that commit's (extracted with
`git archive`), against its emulator, so today's figures are measured on today's code:

    python -m bench.todays_aggregate SHOW.json OUT.json

SHOW.json: {"poll": id, "ticks": [{"after_hour": h, "now": epoch s, "batches": [[record]]}]};
OUT.json: per tick, the poll's aggregate item as the page read it (eventually consistent
GetItem) and the tally's UpdateItem calls per invocation.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def main() -> None:
    show_path, out_path = Path(sys.argv[1]), Path(sys.argv[2])
    show = json.loads(show_path.read_text())
    from lambdas.shared import keys  # that commit's
    from lambdas.tally import handler

    client = handler.AGGREGATES_AND_FAILURE_QUEUE.dynamodb
    updates = 0

    def count(**_: Any) -> None:
        nonlocal updates
        updates += 1

    client.meta.events.register("before-call.dynamodb.UpdateItem", count)
    ticks: list[dict[str, Any]] = []
    invocations = 0
    for tick in show["ticks"]:
        now = datetime.fromtimestamp(tick["now"], UTC)
        for batch in tick["batches"]:
            response = handler.tally(batch, handler.AGGREGATES_AND_FAILURE_QUEUE, now)
            if response["batchItemFailures"]:
                raise SystemExit(f"today's tally failed records: {response}")
            invocations += 1
        item = client.get_item(
            TableName=handler.AGGREGATES_AND_FAILURE_QUEUE.aggregates_table,
            Key=keys.aggregate_key(show["poll"]),
        )["Item"]
        ticks.append({"after_hour": tick["after_hour"], "item": item})
    out_path.write_text(
        json.dumps({"ticks": ticks, "invocations": invocations, "update_items": updates})
    )


if __name__ == "__main__":
    main()

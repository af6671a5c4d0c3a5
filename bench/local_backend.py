"""The backend half of the local backend in a process of its own, for bench.end_to_end: the
API Gateway stand-in with the ingest handler, and the stream poller with the tally handler,
exactly as `make run` runs them, against an emulator running in another process.

    python -m bench.local_backend EMULATOR_ENDPOINT

Writes "READY <webhook url>" to standard error once it takes requests, and stops (after
counting what is left in the stream) when its standard input closes.
"""

from __future__ import annotations

import logging
import sys

from bench.common import REGION, use_local_emulator

READY = "READY"


def main() -> None:
    endpoint = sys.argv[1]
    use_local_emulator(endpoint)
    logging.basicConfig(level=logging.WARNING)
    from deploy.local.backend import LocalBackend

    backend = LocalBackend(endpoint, REGION, api_port=0)
    backend.start()
    print(f"{READY} {backend.webhook_url}", file=sys.stderr, flush=True)
    sys.stdin.read()
    backend.stop()


if __name__ == "__main__":
    main()

"""What every benchmark shares: the machine it ran on, tables on stdout, JSON in bench/results/,
an emulator in its own process, and a stand-in for AWS at botocore's HTTP seam."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
REGION = "us-east-1"
# Clients that must never reach the network point here: a refused connection, at once.
NOWHERE = "http://127.0.0.1:9"
# Other work on the machine skews every figure: the load average is stored with each result.
_LOAD_AT_START = os.getloadavg()


# -- reporting -----------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """Where and when the figures were measured, stored with each result."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_kb = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": model or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "load_average_at_start": _LOAD_AT_START,
        "load_average_at_end": os.getloadavg(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "boto3": version("boto3"),
        "moto": version("moto"),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "uncommitted_changes": bool(_git("status", "--porcelain")),
    }


def _git(*arguments: str) -> str:
    try:
        return subprocess.run(
            ["git", *arguments], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def write_results(name: str, figures: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    document = {
        "benchmark": name,
        "command": " ".join([Path(sys.executable).name, "-m", f"bench.{name}", *sys.argv[1:]]),
        "machine": machine(),
        **figures,
    }
    path.write_text(json.dumps(document, indent=1, default=str) + "\n")
    print(f"\nwrote {path.relative_to(ROOT)}")
    return path


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    print(f"\n{title}")
    print(
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w)
            for i, (h, w) in enumerate(zip(headers, widths, strict=True))
        )
    )
    for row in cells:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:,.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


# -- processes -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def moto_server() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The emulator in a process of its own (as DynamoDB is not in the function's process)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the emulator did not start") from None
                time.sleep(0.1)
        yield endpoint, process
    finally:
        process.terminate()
        process.wait(timeout=10)


def use_local_emulator(endpoint: str) -> None:
    """Talk to the emulator at `endpoint` as the local backend does: its variables, and the
    resource names (as set, else the local ones)."""
    from deploy.local.environment import use_emulator
    from deploy.local.resources import resource_environment

    use_emulator(endpoint, REGION)
    os.environ.update(resource_environment())


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def stdout_to_devnull(path: str = os.devnull) -> Iterator[None]:
    """Send file descriptor 1 to /dev/null (or `path`): the functions log JSON lines to stdout,
    as on Lambda, and that write is part of their cost, but not of the report."""
    sys.stdout.flush()
    saved = os.dup(1)
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.dup2(target, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(target)


# -- AWS at botocore's seam ------------------------------------------------------------------------


class _Body:
    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._content


# (operation, request body) -> (status, response body as data or already JSON-encoded)
Responder = Callable[[str, dict[str, Any]], tuple[int, dict[str, Any] | bytes]]


class Seam:
    """Answers a client's calls just before botocore would send them over HTTP.

    Everything the function's process does for a call still runs: building, serialising and
    signing the request, and parsing the answer. Only the network and the server are gone.
    `responder(operation, request body) -> (status, response body)` plays the server; its own
    CPU time is tallied in `server_cpu` so a benchmark can leave it out.
    """

    def __init__(self, responder: Responder) -> None:
        self._responder = responder
        self.requests: dict[str, int] = {}
        self.server_cpu = 0.0

    def attach(self, client: Any) -> Any:
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register(f"before-send.{service}", self._answer)
        return client

    def _answer(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        started = time.process_time()
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else target
        operation = target.rsplit(".", 1)[-1]
        body = request.body
        payload = json.loads(body.decode() if isinstance(body, bytes) else body or "{}")
        status, answer = self._responder(operation, payload)
        self.requests[operation] = self.requests.get(operation, 0) + 1
        content = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "bench"}
        self.server_cpu += time.process_time() - started
        return AWSResponse(request.url, status, headers, _Body(content))

    def reset(self) -> None:
        self.requests.clear()
        self.server_cpu = 0.0


def conditional_failure(item: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
    """DynamoDB's answer to a write whose condition failed, with the stored item returned."""
    answer: dict[str, Any] = {
        "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
        "message": "The conditional request failed",
    }
    if item:
        answer["Item"] = item
    return 400, answer

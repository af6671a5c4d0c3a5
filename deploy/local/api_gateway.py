"""A local stand-in for API Gateway's HTTP API: HTTP requests in, payload 2.0 events out.

It builds the event the template's `POST /sms` route would send (form bodies base64-encoded,
as API Gateway does), calls the handler in-process and turns its response back into HTTP,
including API Gateway's own answers: 404 for an unknown route, 500 when the function raises.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

logger = logging.getLogger("textvote.api")

Handler = Callable[[dict[str, Any], Any], Any]
# API Gateway's payload limit; larger requests never reach the function.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
_TEXT_TYPES = ("text/", "application/json", "application/xml")


def http_api_event(
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    source_ip: str,
    route_key: str,
) -> dict[str, Any]:
    """The payload 2.0 event API Gateway sends for this request."""
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        lowered[key] = f"{lowered[key]},{value}" if key in lowered else value
    # What API Gateway adds in front of every request; this stand-in speaks plain HTTP.
    lowered.setdefault("x-forwarded-for", source_ip)
    lowered.setdefault("x-forwarded-proto", "http")
    content_type = lowered.get("content-type", "")
    is_text = content_type.startswith(_TEXT_TYPES)
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": lowered,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": lowered.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": not is_text,
    }
    if query:
        event["queryStringParameters"] = dict(parse_qsl(query, keep_blank_values=True))
    if body:
        event["body"] = body.decode("utf-8") if is_text else base64.b64encode(body).decode()
    return event


class _Context:
    function_name = "ingest"
    memory_limit_in_mb = 256

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + 10

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _response_parts(result: Any) -> tuple[int, dict[str, str], bytes]:
    if isinstance(result, dict) and "statusCode" in result:
        body = result.get("body") or ""
        raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        return int(result["statusCode"]), dict(result.get("headers") or {}), raw
    # Payload 2.0 "simple" responses: anything else is JSON-encoded with status 200.
    return 200, {"Content-Type": "application/json"}, json.dumps(result).encode()


class ApiGateway:
    def __init__(self, routes: dict[str, Handler], host: str = "127.0.0.1", port: int = 3000):
        self.routes = routes
        gateway = self

        class RequestHandler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                gateway._serve(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

            def log_message(self, format: str, *args: object) -> None:
                logger.info("%s %s", self.address_string(), format % args)

        self.server = ThreadingHTTPServer((host, port), RequestHandler)
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="api-gateway", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        path, _, query = request.path.partition("?")
        route_key = f"{request.command} {path}"
        function = self.routes.get(route_key)
        length = int(request.headers.get("Content-Length") or 0)
        if length > MAX_PAYLOAD_BYTES:
            self._reply(
                request,
                413,
                {"Content-Type": "application/json"},
                b'{"message":"Request Entity Too Large"}',
            )
            return
        body = request.rfile.read(length) if length else b""
        if function is None:
            self._reply(
                request, 404, {"Content-Type": "application/json"}, b'{"message":"Not Found"}'
            )
            return
        event = http_api_event(
            request.command,
            path,
            query,
            dict(request.headers.items()),
            body,
            request.client_address[0],
            route_key,
        )
        try:
            status, headers, raw = _response_parts(function(event, _Context()))
        except Exception:
            logger.exception("function for %s raised", route_key)
            status, headers, raw = (
                500,
                {"Content-Type": "application/json"},
                (b'{"message":"Internal Server Error"}'),
            )
        self._reply(request, status, headers, raw)

    @staticmethod
    def _reply(
        request: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes
    ) -> None:
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(body)

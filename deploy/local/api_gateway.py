"""A local stand-in for API Gateway's HTTP API: HTTP requests in, payload 2.0 events out.

It builds the event the template's `POST /sms` route would send (form bodies base64-encoded,
as API Gateway does), calls the handler in-process with the context of the route's function
(deploy/local/lambda_context.py) and turns its response back into HTTP, including API
Gateway's own answers: 404 for an unknown route, 500 when the function raises. Given a
journal (deploy/local/journal.py), it appends each request answered 200 to it, on disk, before
sending the answer, and answers 500 instead if it cannot.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from deploy.local.journal import WebhookJournal
from deploy.local.lambda_context import lambda_context

logger = logging.getLogger("textvote.api")

Handler = Callable[[dict[str, Any], Any], Any]
# Route key ("POST /sms") -> the template's logical id of the function behind it, and its handler.
Routes = dict[str, tuple[str, Handler]]
# API Gateway's payload limit; larger requests never reach the function.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
_TEXT_TYPES = ("text/", "application/json", "application/xml")
_JSON = {"Content-Type": "application/json"}
_INTERNAL_ERROR = b'{"message":"Internal Server Error"}'
# A kept-alive connection idle this long is closed (clients reconnect), so it holds no thread.
IDLE_SECONDS = 60.0


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


def _response_parts(result: Any) -> tuple[int, dict[str, str], bytes]:
    if isinstance(result, dict) and "statusCode" in result:
        body = result.get("body") or ""
        raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        return int(result["statusCode"]), dict(result.get("headers") or {}), raw
    # Payload 2.0 "simple" responses: anything else is JSON-encoded with status 200.
    return 200, {"Content-Type": "application/json"}, json.dumps(result).encode()


class _Server(ThreadingHTTPServer):
    # Twilio and the load generator open many connections at once. With socketserver's
    # backlog of 5, connections beyond it while the accept loop catches up are reset.
    request_queue_size = 1024
    # A connection's thread never keeps the process, or `stop`, waiting.
    daemon_threads = True


class ApiGateway:
    """Serves `routes` over HTTP/1.1 with kept-alive connections, one thread per connection."""

    def __init__(
        self,
        routes: Routes,
        host: str = "127.0.0.1",
        port: int = 3000,
        journal: WebhookJournal | None = None,
    ):
        self.routes = routes
        self.host = host
        self.journal = journal
        gateway = self

        class RequestHandler(BaseHTTPRequestHandler):
            # Keep-alive: every reply says its Content-Length (http.server's own errors too).
            protocol_version = "HTTP/1.1"
            timeout = IDLE_SECONDS

            def _handle(self) -> None:
                gateway._serve(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

            def log_message(self, format: str, *args: object) -> None:
                logger.info("%s %s", self.address_string(), format % args)

        self.server = _Server((host, port), RequestHandler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.server.server_port}"  # the port bound, if given 0

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
        route = self.routes.get(route_key)
        # A body left unread would be taken for the connection's next request: each refusal
        # before the body is read ends the connection.
        if request.headers.get("Transfer-Encoding"):
            self._reply(request, 411, _JSON, b'{"message":"Length Required"}', close=True)
            return
        length = request.headers.get("Content-Length") or "0"
        if not length.isdigit():
            self._reply(request, 400, _JSON, b'{"message":"Bad Request"}', close=True)
            return
        if int(length) > MAX_PAYLOAD_BYTES:
            body = b'{"message":"Request Entity Too Large"}'
            self._reply(request, 413, _JSON, body, close=True)
            return
        body = request.rfile.read(int(length))
        if route is None:
            self._reply(request, 404, _JSON, b'{"message":"Not Found"}')
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
        function_id, handler = route
        try:
            status, headers, raw = _response_parts(handler(event, lambda_context(function_id)))
        except Exception:
            logger.exception("function for %s raised", route_key)
            status, headers, raw = 500, _JSON, _INTERNAL_ERROR
        if status == 200 and self.journal is not None:
            try:
                self.journal.append(event)
            except OSError as error:
                # Answered 200, the text would be lost in a crash before the next snapshot.
                logger.error("could not journal a request to %s: %s", route_key, error)
                status, headers, raw = 500, _JSON, _INTERNAL_ERROR
        self._reply(request, status, headers, raw)

    @staticmethod
    def _reply(
        request: BaseHTTPRequestHandler,
        status: int,
        headers: dict[str, str],
        body: bytes,
        close: bool = False,
    ) -> None:
        request.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                request.send_header(name, value)
        request.send_header("Content-Length", str(len(body)))
        if close:
            request.send_header("Connection", "close")  # also makes http.server close it
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(body)

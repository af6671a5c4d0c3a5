"""A local stand-in of Twilio's REST API: what `make run` and the tests talk to instead of Twilio.

The number side: IncomingPhoneNumbers list (`PhoneNumber` matches partial numbers, as Twilio
does) and update (SmsUrl, SmsMethod). The messaging side: the account's message log, listed
by `GET …/Messages.json` with Twilio's `To`, `From`, `DateSent>` and `DateSent<` filters
(inclusive, newest first) and paging fields, so the twilio SDK's `client.messages.list(…)`
reads it unchanged; and `POST /textvote-local/inbound-sms` (From, To, Body, optionally
FromCountry and FromState), which does what Twilio does when a phone texts one of the
account's numbers: logs the message (SM… sid, direction inbound, status received, date_sent
now) and POSTs the signed webhook (deploy/local/twilio_messages.py) to the number's SmsUrl,
answering the message and what the webhook answered as JSON. `Webhook=skip` logs the message
without its webhook: a vote lost on purpose, which only reconciliation finds
(polls/services/reconcile.py).

Every call needs the account's Basic auth (SID and auth token), as Twilio's API does; errors
are Twilio's JSON error bodies. The state lives in memory: a restart starts with an empty log.
`make run` starts one (deploy/local/__main__.py) with the demo number pointed at the webhook;
tests start their own.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from deploy.local.resources import DEV_TWILIO_AUTH_TOKEN
from deploy.local.twilio_messages import post_signed, twilio_params

API_VERSION = "2010-04-01"
# The local account: the one loadgen's webhook parameters name (twilio_params).
LOCAL_ACCOUNT_SID = "AC" + "0" * 32
# The demo number's SID in the local account.
DEMO_NUMBER_SID = "PN" + "0" * 32
# Where Twilio sends the texts of a number nobody has configured.
TWILIO_DEMO_REPLY = "https://demo.twilio.com/welcome/sms/reply"
# The path of "a phone texts one of the account's numbers": not Twilio's API, the stand-in's.
INBOUND_SMS_PATH = "/textvote-local/inbound-sms"
# Its form value that logs the message without sending its webhook.
SKIP_WEBHOOK = "skip"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
# Twilio waits this long for a webhook's answer.
WEBHOOK_TIMEOUT_SECONDS = 15.0


def twilio_time(moment: datetime) -> str:
    """A time as Twilio's JSON writes it (RFC 2822, UTC)."""
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0), usegmt=False)


def parse_date_filter(value: str, *, end: bool) -> datetime:
    """A `DateSent<`/`DateSent>` value: a date (the whole day) or an ISO 8601 UTC time."""
    if len(value) == 10:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
        return day.replace(hour=23, minute=59, second=59, microsecond=999999) if end else day
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def error_body(status: int, code: int, message: str) -> dict[str, Any]:
    """Twilio's JSON error body."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


@dataclass
class TwilioStandIn:
    """The account's numbers and message log, and every request the API received (method,
    path, query or form), served on `host`:`port` (0: any free port) once started."""

    account_sid: str = LOCAL_ACCOUNT_SID
    auth_token: str = DEV_TWILIO_AUTH_TOKEN
    host: str = "127.0.0.1"
    port: int = 0
    numbers: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Listed, but released before an update reaches them.
    released: set[str] = field(default_factory=set)
    messages: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)

    @property
    def account_path(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}"

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the Twilio stand-in is not started")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> None:
        self._server = ThreadingHTTPServer((self.host, self.port), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, name="twilio-stand-in", daemon=True
        ).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def add_number(
        self, phone_number: str, sid: str | None = None, sms_url: str = TWILIO_DEMO_REPLY
    ) -> dict[str, Any]:
        """An IncomingPhoneNumber of the account, as Twilio's API returns it."""
        sid = sid or "PN" + secrets.token_hex(16)
        uri = f"{self.account_path}/IncomingPhoneNumbers/{sid}.json"
        number = {
            "account_sid": self.account_sid,
            "address_requirements": "none",
            "address_sid": None,
            "api_version": API_VERSION,
            "beta": False,
            "bundle_sid": None,
            "capabilities": {"fax": False, "mms": True, "sms": True, "voice": True},
            "date_created": "Thu, 30 Jul 2015 23:19:04 +0000",
            "date_updated": "Thu, 30 Jul 2015 23:19:04 +0000",
            "emergency_address_sid": None,
            "emergency_address_status": "unregistered",
            "emergency_status": "Active",
            "friendly_name": phone_number,
            "identity_sid": None,
            "origin": "twilio",
            "phone_number": phone_number,
            "sid": sid,
            "sms_application_sid": "",
            "sms_fallback_method": "POST",
            "sms_fallback_url": "",
            "sms_method": "POST",
            "sms_url": sms_url,
            "status": "in-use",
            "status_callback": "",
            "status_callback_method": "POST",
            "subresource_uris": {"assigned_add_ons": uri.replace(".json", "/AssignedAddOns.json")},
            "trunk_sid": None,
            "uri": uri,
            "voice_application_sid": None,
            "voice_caller_id_lookup": False,
            "voice_fallback_method": "POST",
            "voice_fallback_url": None,
            "voice_method": "POST",
            "voice_receive_mode": "voice",
            "voice_url": None,
        }
        with self._lock:
            self.numbers[sid] = number
        return number

    def log_inbound(
        self,
        sender: str,
        to: str,
        body: str,
        *,
        date_sent: datetime | None = None,
        sid: str | None = None,
    ) -> dict[str, Any]:
        """Log an inbound message as Twilio's message log holds it (no webhook)."""
        sid = sid or "SM" + secrets.token_hex(16)
        sent = twilio_time(date_sent or datetime.now(UTC))
        uri = f"{self.account_path}/Messages/{sid}.json"
        message = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": sent,
            "date_sent": sent,
            "date_updated": sent,
            "direction": "inbound",
            "error_code": None,
            "error_message": None,
            "from": sender,
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "received",
            "subresource_uris": {
                "media": uri.replace(".json", "/Media.json"),
                "feedback": uri.replace(".json", "/Feedback.json"),
            },
            "to": to,
            "uri": uri,
        }
        with self._lock:
            self.messages.append(message)
        return message

    def receive_sms(
        self,
        sender: str,
        to: str,
        body: str,
        *,
        country: str = "US",
        state: str = "CA",
        send_webhook: bool = True,
    ) -> dict[str, Any]:
        """What Twilio does with a text to one of the account's numbers: log it, then POST the
        signed webhook to the number's SmsUrl. The answer: the logged message and the webhook's
        status and body (None: not sent), or the error that kept it from being delivered."""
        number = next((n for n in self.numbers.values() if n["phone_number"] == to), None)
        if number is None:
            raise UnknownNumber(to)
        message = self.log_inbound(sender, to, body)
        if not send_webhook:
            return {"message": message, "webhook": None}
        params = twilio_params(body, sender, to, message_sid=message["sid"], country=country)
        params.update(AccountSid=self.account_sid, FromState=state)
        try:
            answered = post_signed(
                number["sms_url"], params, self.auth_token, timeout=WEBHOOK_TIMEOUT_SECONDS
            )
        except (OSError, ValueError) as error:
            return {"message": message, "webhook": {"error": f"{type(error).__name__}: {error}"}}
        return {"message": message, "webhook": {"status": answered.status, "body": answered.body}}

    def list_messages(self, query: dict[str, str]) -> list[dict[str, Any]]:
        """The logged messages matching Twilio's list filters, newest first."""
        after = query.get("DateSent>")
        before = query.get("DateSent<")
        low = parse_date_filter(after, end=False) if after else None
        high = parse_date_filter(before, end=True) if before else None
        with self._lock:
            logged = list(self.messages)
        found = []
        for message in reversed(logged):
            sent = datetime.strptime(message["date_sent"], "%a, %d %b %Y %H:%M:%S %z")
            if query.get("To") and message["to"] != query["To"]:
                continue
            if query.get("From") and message["from"] != query["From"]:
                continue
            if (low is not None and sent < low) or (high is not None and sent > high):
                continue
            found.append(message)
        return found


class UnknownNumber(LookupError):
    """A text to a number the account does not have."""


class StandInRefused(Exception):
    """The stand-in answered an error (Twilio's JSON error body); the message says which."""


@dataclass(frozen=True)
class Delivery:
    """What became of a text sent through the stand-in: its MessageSid, and the webhook's
    status and body (status None: not sent, or `error` says why it got no answer)."""

    message_sid: str
    status: int | None = None
    body: str = ""
    error: str = ""


@dataclass(frozen=True)
class StandInClient:
    """A phone texting one of the stand-in account's numbers (`INBOUND_SMS_PATH`): what
    loadgen sends through when the stand-in runs, so its message log is complete."""

    url: str
    account_sid: str
    auth_token: str
    timeout: float = WEBHOOK_TIMEOUT_SECONDS + 5

    def text(
        self,
        sender: str,
        to: str,
        body: str,
        *,
        country: str = "US",
        state: str = "CA",
        send_webhook: bool = True,
    ) -> Delivery:
        """Send the text; StandInRefused for an error answer, OSError if unreachable."""
        form = {"From": sender, "To": to, "Body": body, "FromCountry": country}
        form.update(FromState=state, **({} if send_webhook else {"Webhook": SKIP_WEBHOOK}))
        credentials = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        request = urllib.request.Request(
            self.url.rstrip("/") + INBOUND_SMS_PATH,
            data=urllib.parse.urlencode(form).encode(),
            headers={"Authorization": f"Basic {credentials}"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                answer = json.loads(reply.read())
        except urllib.error.HTTPError as error:
            try:
                message = json.loads(error.read()).get("message", "")
            except ValueError:
                message = ""
            raise StandInRefused(f"HTTP {error.code} from the Twilio stand-in: {message}") from None
        webhook = answer["webhook"] or {}
        return Delivery(
            answer["message"]["sid"],
            webhook.get("status"),
            webhook.get("body", ""),
            webhook.get("error", ""),
        )


def _handler(twilio: TwilioStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, document: dict[str, Any]) -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _not_found(self, path: str) -> None:
            self._send(404, error_body(404, 20404, f"The requested resource {path} was not found"))

        def _authorised(self) -> bool:
            credentials = f"{twilio.account_sid}:{twilio.auth_token}".encode()
            expected = "Basic " + base64.b64encode(credentials).decode()
            given = self.headers.get("Authorization", "")
            if hmac.compare_digest(given.encode(), expected.encode()):
                return True
            self._send(401, error_body(401, 20003, "Authenticate"))
            return False

        def _form(self) -> dict[str, str] | None:
            """The POST's url-encoded form; None when its length or its text (as bytes or
            %-escapes) is not one."""
            try:
                length = int(self.headers.get("Content-Length", 0))
                if length < 0:
                    return None
                body = self.rfile.read(length)
                return dict(urllib.parse.parse_qsl(body.decode(), errors="strict"))
            except ValueError:  # UnicodeDecodeError is a ValueError
                return None

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            twilio.requests.append(("GET", url.path, query))
            if not self._authorised():
                return
            try:
                if url.path == f"{twilio.account_path}/IncomingPhoneNumbers.json":
                    # Twilio matches partial numbers too.
                    wanted = query.get("PhoneNumber", "").lstrip("+")
                    found = [n for n in twilio.numbers.values() if wanted in n["phone_number"]]
                    self._send(200, _page(url.path, query, "incoming_phone_numbers", found))
                elif url.path == f"{twilio.account_path}/Messages.json":
                    found = twilio.list_messages(query)
                    self._send(200, _page(url.path, query, "messages", found))
                else:
                    self._not_found(url.path)
            except ValueError as error:  # a filter or paging value that is not one
                self._send(400, error_body(400, 20001, f"Invalid parameter: {error}"))

        def do_POST(self) -> None:
            form = self._form()
            twilio.requests.append(("POST", self.path, form or {}))
            if not self._authorised():
                return
            if form is None:
                message = "Invalid parameter: the request body is not a UTF-8 url-encoded form"
                self._send(400, error_body(400, 20001, message))
                return
            if self.path == INBOUND_SMS_PATH:
                self._inbound(form)
                return
            sid = self.path.rpartition("/")[2].removesuffix(".json")
            number = twilio.numbers.get(sid)
            if number is None or number["uri"] != self.path or sid in twilio.released:
                self._not_found(self.path)
                return
            number.update(sms_url=form.get("SmsUrl", ""), sms_method=form.get("SmsMethod", ""))
            number["date_updated"] = twilio_time(datetime.now(UTC))
            self._send(200, number)

        def _inbound(self, form: dict[str, str]) -> None:
            missing = [name for name in ("From", "To", "Body") if name not in form]
            if missing:
                self._send(
                    400, error_body(400, 21603, f"missing parameter(s): {', '.join(missing)}")
                )
                return
            try:
                answer = twilio.receive_sms(
                    form["From"],
                    form["To"],
                    form["Body"],
                    country=form.get("FromCountry", "US"),
                    state=form.get("FromState", "CA"),
                    send_webhook=form.get("Webhook", "") != SKIP_WEBHOOK,
                )
            except UnknownNumber:
                self._send(
                    404,
                    error_body(404, 21606, f"{form['To']} is not a number of the account"),
                )
                return
            self._send(201, answer)

    return Handler


def _page(
    path: str, query: dict[str, str], key: str, found: list[dict[str, Any]]
) -> dict[str, Any]:
    """One page of a list, with Twilio's paging fields (`Page`, `PageSize`, `PageToken`)."""
    size = min(max(int(query.get("PageSize") or DEFAULT_PAGE_SIZE), 1), MAX_PAGE_SIZE)
    number = max(int(query.get("Page") or 0), 0)
    start = number * size
    items = found[start : start + size]

    def uri(page: int) -> str:
        others = {k: v for k, v in query.items() if k not in ("Page", "PageToken", "PageSize")}
        token = {"PageToken": f"PT{page * size}"} if page else {}
        return (
            f"{path}?{urllib.parse.urlencode({**others, 'PageSize': size, 'Page': page, **token})}"
        )

    return {
        key: items,
        "end": start + max(len(items) - 1, 0),
        "first_page_uri": uri(0),
        "next_page_uri": uri(number + 1) if start + size < len(found) else None,
        "page": number,
        "page_size": size,
        "previous_page_uri": uri(number - 1) if number else None,
        "start": start,
        "uri": f"{path}?{urllib.parse.urlencode(query)}" if query else path,
    }

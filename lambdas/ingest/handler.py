"""The ingest function: a Twilio SMS webhook in, a stored vote and a TwiML reply out.

`handler` is Lambda's entry: `answer_webhook` at the current time, then its metrics flushed.
`answer_webhook` takes the event and the time; everything else it reads from module state,
made at import from the environment so that a warm container reuses it: `dynamodb` and
`VOTES_TABLE` (where votes are written), `config` (the pushed poll documents, cached),
`secret_cache` with `TWILIO_AUTH_TOKEN_PARAMETER` and `VOTER_HASH_KEY_PARAMETER` (the
SSM secrets, cached), `PUBLIC_WEBHOOK_URL` (the URL Twilio signs), `logger` and `metrics`.
Tests replace these attributes and call `handler`; `reset_container_state` empties the caches.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError
from twilio.twiml.messaging_response import MessagingResponse

from lambdas.ingest.config_cache import DEFAULT_TTL_SECONDS, ConfigCache
from lambdas.ingest.recording import Recorder, answer_message
from lambdas.ingest.secret_cache import SecretCache
from lambdas.ingest.twilio_request import (
    Rejected,
    TwilioMessage,
    message_from,
    read_form,
    verify_signature,
    webhook_url,
)
from lambdas.ingest.votes import VoteResult
from lambdas.shared import env, resource_names
from lambdas.shared.voters import mask_phone

logger = Logger(service="textvote-ingest")
metrics = Metrics(namespace="TextVote", service="ingest")

VOTES_TABLE = env.required(resource_names.VOTES_TABLE.variable)
TWILIO_AUTH_TOKEN_PARAMETER = env.required(resource_names.TWILIO_AUTH_TOKEN.variable)
VOTER_HASH_KEY_PARAMETER = env.required(resource_names.VOTER_HASH_KEY.variable)
PUBLIC_WEBHOOK_URL = env.optional("PUBLIC_WEBHOOK_URL")

dynamodb = boto3.client("dynamodb")
ssm = boto3.client("ssm")
config = ConfigCache(
    dynamodb,
    env.required(resource_names.CONFIG_TABLE.variable),
    ttl_seconds=env.number("CONFIG_CACHE_SECONDS", DEFAULT_TTL_SECONDS),
)
secret_cache = SecretCache(ssm)

# The metric (and its alarm in deploy/template.yaml) of messages answered 503: not stored.
VOTES_NOT_STORED_METRIC = "VotesNotStored"
# A MessageSid is "SM" + 32 hex characters; an unverified request's claim is cut to this.
MAX_LOGGED_SID_CHARS = 64

# The outcomes of a message that reached the votes table. The vote item keeps what identifies
# it (MessageSid, time, category) and a metric counts it, so its log line is debug: at
# 100,000 votes/s an info line per vote is 40 MB/s of logs. Everything else stays at info.
_RECORDED_OUTCOMES = frozenset(result.value for result in VoteResult)
# A new vote has no metric line of its own here: the tally counts votes in its metric
# "counted", one line per batch (lambdas.tally.handler), where a line per vote would cost
# every accepted vote ~200 B of logs and a sixth of the ingest's own CPU (docs/PERFORMANCE.md).
_OUTCOMES_THE_TALLY_COUNTS = frozenset({VoteResult.ACCEPTED.value})
# Distinct reply texts a container keeps TwiML for: a few per poll (replies.render).
TWIML_CACHE_SIZE = 1024


def reset_container_state() -> None:
    """Forget cached config and secrets, as a new container would."""
    config.clear()
    secret_cache.clear()


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    try:
        return answer_webhook(event, now=datetime.now(UTC))
    finally:
        if metrics.metric_set:  # nothing to flush after an accepted vote
            metrics.flush_metrics()


def answer_webhook(event: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The HTTP response to one API Gateway event of Twilio's webhook: TwiML with the reply
    (the vote recorded first), 4xx for a request that is not a valid signed message, 503
    when AWS cannot be reached. Reads the module's clients, caches and settings."""
    params: dict[str, str] = {}
    try:
        try:
            params = read_form(event)
            auth_token = secret_cache.get(TWILIO_AUTH_TOKEN_PARAMETER)
            verify_signature(event, params, auth_token, webhook_url(event, PUBLIC_WEBHOOK_URL))
            message = message_from(params)
        except Rejected as rejected:
            outcome = "forged" if rejected.status == 403 else "rejected"
            _log(outcome, status=rejected.status, reason=rejected.reason)
            return _plain(rejected.status, rejected.reason)
        reply = answer(message, received_at=_received_at(event, now), now=now)
    except (BotoCoreError, ClientError) as error:
        # A failure Twilio can see, never a false "counted" for a vote that was not stored.
        # Twilio does not retry a 5xx: the MessageSid is what lets an operator find the text
        # in Twilio's message log (docs/OPERATIONS.md, "Votes not stored").
        _log_not_stored(params.get("MessageSid", "")[:MAX_LOGGED_SID_CHARS], error)
        return _plain(503, "temporarily unable to record votes")
    return _twiml(reply)


def answer(message: TwilioMessage, received_at: datetime, now: datetime) -> str | None:
    """The reply text for a verified message (None: no reply), recording its vote if it is one
    (lambdas.ingest.recording, with the module's clients and caches)."""
    return answer_message(message, received_at, now, _recorder()).reply


def _recorder() -> Recorder:
    return Recorder(
        dynamodb=dynamodb,
        votes_table=VOTES_TABLE,
        polls_for=config.polls_for,
        voter_hash_key=functools.partial(secret_cache.get, VOTER_HASH_KEY_PARAMETER),
        log=_log,
    )


def _received_at(event: dict[str, Any], now: datetime) -> datetime:
    epoch_ms = (event.get("requestContext") or {}).get("timeEpoch")
    return datetime.fromtimestamp(epoch_ms / 1000, UTC) if isinstance(epoch_ms, int) else now


def _twiml(text: str | None) -> dict[str, Any]:
    return {"statusCode": 200, "headers": {"Content-Type": "text/xml"}, "body": twiml_body(text)}


@functools.lru_cache(maxsize=TWIML_CACHE_SIZE)
def twiml_body(text: str | None) -> str:
    """The TwiML document replying `text` (None or empty: no reply), built (and escaped) by
    twiml's MessagingResponse once per distinct text in a container."""
    response = MessagingResponse()
    if text:
        response.message(text)
    return str(response)


def _plain(status: int, text: str) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "text/plain"}, "body": text}


def _log_not_stored(message_sid: str, error: Exception) -> None:
    """The error line and metric of a message whose vote (if it was one) was not stored."""
    metrics.add_metric(name=VOTES_NOT_STORED_METRIC, unit=MetricUnit.Count, value=1)
    logger.error(
        "vote_not_stored", extra={"message_sid": message_sid, "error": type(error).__name__}
    )


def _log(outcome: str, message: TwilioMessage | None = None, **fields: object) -> None:
    """One metric and one structured log line per request: phone numbers masked, no bodies;
    at debug for a recorded vote's outcome, at info for every other."""
    if outcome not in _OUTCOMES_THE_TALLY_COUNTS:
        metrics.add_metric(name=outcome, unit=MetricUnit.Count, value=1)
    log = logger.debug if outcome in _RECORDED_OUTCOMES else logger.info
    if message is not None:
        fields.update(
            message_sid=message.message_sid,
            sender=mask_phone(message.sender),
            channel=message.channel.value,
        )
    log(outcome, extra=fields)

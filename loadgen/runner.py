"""One load run: send the plan through sender threads, watch the totals, say what happened.

The calling thread reads the totals every `sample_interval` while the senders work (so
vote-to-total latency covers the whole run, not only its tail) and after the last reply until
they equal what the ledger expects, or `wait` seconds pass. Reading happens only on the calling
thread, so a reader may use thread-bound resources (the portal's database connection).
"""

from __future__ import annotations

import dataclasses
import http.client
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from deploy.local.twilio_api import StandInClient, StandInRefused
from lambdas.shared.channels import Channel
from lambdas.shared.config_doc import PollConfig
from loadgen.allowance import AllowanceLedger
from loadgen.latency import Observation, summary, vote_to_total
from loadgen.ledger import Counts, Ledger
from loadgen.outcomes import Outcome, ReplyClassifier, Verdict
from loadgen.plan import (
    BadPlan,
    CategoryMix,
    Message,
    PlanSpec,
    build_plan,
    category_for,
    origin,
    phone_number,
    run_tag,
    text_body,
)
from loadgen.schedule import Job, Schedule, sleep_until
from loadgen.twilio_webhook import Response, SignedWebhook, twilio_params

# After this many replies without one vote among them, the run stops: the URL, the token or
# the poll is wrong, and thousands more requests would only say so again.
ABORT_AFTER = 20
# Totals that have not changed for this long after the last reply will not change any more.
SETTLED_SECONDS = 2.0
_VOTE_OUTCOMES = frozenset({Outcome.ACCEPTED, Outcome.DUPLICATE, Outcome.CHANGED})
# Of a poll with several votes per phone, a reply other than the predicted one is unexpected
# unless the webhook failed (5xx: a failed request, LoadResult.failed_requests).
_NO_REPLY_DETAILS = ("HTTP 5",)


class ReadFailed(Exception):
    """The totals could not be read; the message says why."""


class LoadAborted(Exception):
    """The webhook answered no message as a vote; the message says what it answered."""


ReadCounts = Callable[[], Counts]


@dataclass(frozen=True)
class LoadOptions:
    url: str
    auth_token: str
    plan: PlanSpec
    mix: str = ""  # "A=50,B=30,C=20"; empty: uniform
    rate: float = 0.0  # messages per second; 0: as fast as `concurrency` allows
    concurrency: int = 8
    wait: float = 30.0  # seconds to wait for the totals after the last reply
    sample_interval: float = 0.1
    signature_url: str | None = None
    timeout: float = 15.0
    # Texts go through the local Twilio stand-in (its message log keeps them), which posts
    # the webhook; None: straight to `url`. WhatsApp texts always go straight to `url`.
    twilio: StandInClient | None = None
    # Of the texts, about this share are logged by the stand-in but never delivered: each a
    # voter's last text, so recovering them (manage.py reconcile --recover) gives the totals
    # that nothing dropped would have given.
    drop_webhook_share: float = 0.0


@dataclass(frozen=True)
class Progress:
    planned: int
    completed: int
    elapsed: float
    outcomes: dict[str, int]
    new_votes_counted: int | None
    counting: bool  # all replies are in; waiting for the totals


@dataclass(frozen=True)
class LoadResult:
    url: str
    poll_id: str
    started_at: str
    planned: int
    voters: int
    completed: int
    target_rate: float
    concurrency: int
    send_seconds: float  # first request to last reply
    outcomes: dict[str, int]
    reasons: dict[str, int]  # "HTTP 503", "reply closed", "timed out", ...
    unexpected_replies: int  # replies other than the ledger predicted
    votes_per_phone: int  # the poll's: with more than 1, voters are counted too
    request_latency: dict[str, float]  # seconds
    baseline: Counts
    expected: Counts | None
    observed: Counts | None
    converged: bool
    converge_seconds: float | None  # from the last reply
    new_votes: int
    vote_to_total: dict[str, float]  # seconds
    reused_phones: int
    read_failures: int
    last_read_error: str
    dropped_webhooks: int = 0  # texts the stand-in logged without delivering them
    # The totals once the dropped texts are recovered: what nothing dropped would have given.
    expected_when_recovered: Counts | None = None

    @property
    def achieved_rate(self) -> float:
        return self.completed / self.send_seconds if self.send_seconds > 0 else 0.0

    @property
    def exact(self) -> bool | None:
        """Whether the totals equal exactly what was sent; None when that is unknowable."""
        if self.expected is None:
            return None
        return self.observed is not None and self.observed.matches(self.expected)

    @property
    def failed_requests(self) -> int:
        """Requests answered with an HTTP error (4xx: a signed text refused; 5xx) or not at
        all: what a real Twilio would drop or retry."""
        refused = sum(n for reason, n in self.reasons.items() if reason.startswith("HTTP "))
        return refused + self.outcomes.get(Outcome.ERROR.value, 0)


@dataclass
class _Tracker:
    """What the senders found, shared between them (under its lock)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    completed: int = 0
    votes: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    unexpected: int = 0
    latencies: list[float] = field(default_factory=list)
    first_sent: float | None = None
    last_reply: float = 0.0
    failure: BaseException | None = None
    # A dropped text's voter, the verdict the ledger predicted for it, and its send time.
    dropped: list[tuple[int, Verdict, float]] = field(default_factory=list)

    def add(
        self,
        voter: int,
        verdict: Verdict,
        predicted: Verdict,
        sent_at: float,
        replied_at: float,
        several_votes: bool,
    ) -> None:
        with self.lock:
            self.completed += 1
            self.votes += verdict.outcome in _VOTE_OUTCOMES
            self.outcomes[verdict.outcome.value] += 1
            if verdict.detail:
                self.reasons[verdict.detail] += 1
            if several_votes:
                self.unexpected += verdict != predicted and not (
                    verdict.outcome in (Outcome.ERROR, Outcome.DROPPED)
                    or verdict.detail.startswith(_NO_REPLY_DETAILS)
                )
            else:
                self.unexpected += verdict != predicted and verdict.outcome in _VOTE_OUTCOMES
            if verdict.outcome is Outcome.DROPPED:
                self.dropped.append((voter, predicted, sent_at))
            self.latencies.append(replied_at - sent_at)
            self.first_sent = sent_at if self.first_sent is None else min(self.first_sent, sent_at)
            self.last_reply = max(self.last_reply, replied_at)


def run_load(
    poll: PollConfig,
    options: LoadOptions,
    read_counts: ReadCounts,
    on_progress: Callable[[Progress], None] | None = None,
) -> LoadResult:
    """Send the plan, then watch the totals; raises BadPlan (also for a plan of other votes per
    phone than the poll's), BadWebhookUrl, ReadFailed or LoadAborted for runs that cannot start
    or make no sense to continue."""
    codes = [category.code for category in poll.categories]
    mix = CategoryMix.parse(options.mix, codes)
    if options.plan.votes_per_phone != poll.votes_per_phone:
        raise BadPlan(
            f"poll {poll.poll_id!r} gives each phone {poll.votes_per_phone} votes, not "
            f"{options.plan.votes_per_phone}: plan for {poll.votes_per_phone} (or change the "
            "poll's votes per phone and push it)"
        )
    plan = build_plan(options.plan)
    webhook = SignedWebhook(
        options.url,
        options.auth_token,
        signature_url=options.signature_url,
        timeout=options.timeout,
    )
    baseline = read_counts()
    several_votes = poll.votes_per_phone > 1
    ledger = Ledger(baseline, poll.allow_vote_change)
    allowance = AllowanceLedger(baseline, poll.votes_per_phone)
    # Of a poll with several votes per phone: voter -> its last text (body, category, votes,
    # MessageSid), which a retry sends again.
    last_texts: dict[int, _Text] = {}
    classifier = ReplyClassifier(poll)
    tracker = _Tracker()
    tag = run_tag()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    schedule = Schedule(plan, options.rate, time.perf_counter())
    dropping = _texts_to_drop(plan, options)

    def send(job: Job) -> None:
        message = job.message
        voter = message.voter
        retried = last_texts.get(voter) if message.retry else None
        if retried is not None:
            text = retried
        else:
            held = allowance.held(voter) if several_votes else ledger.held(voter)
            code = category_for(message, held, mix)
            text = _Text(text_body(poll, code, message), code, message.count or 1, message.channel)
        country, state = origin(voter)
        params = twilio_params(
            text.body,
            phone_number(tag, voter),
            poll.number,
            text.message_sid,
            country,
            state,
            channel=text.channel,
        )
        sid = params["MessageSid"]
        if several_votes:
            predicted = allowance.predict(voter, text.code, text.count, sid)
        else:
            predicted = ledger.predict(voter, text.code)
        sleep_until(job.due)
        sent_at = time.perf_counter()
        try:
            # Twilio's retry of a text is its webhook again, not another text.
            if options.twilio is not None and text.channel is Channel.SMS and retried is None:
                answer, sid = _through_twilio(options.twilio, params, job.index not in dropping)
            else:
                answer = webhook.post(params)
        except (OSError, http.client.HTTPException, StandInRefused) as error:
            verdict = Verdict(Outcome.ERROR, detail=_describe(error))
        else:
            if isinstance(answer, Verdict):
                verdict = answer
            elif several_votes:
                verdict = classifier.classify_allowance(answer.status, answer.body, predicted)
            else:
                verdict = classifier.classify(answer.status, answer.body, text.code, predicted)
        replied_at = time.perf_counter()
        if several_votes:
            last_texts[voter] = dataclasses.replace(text, message_sid=sid)
            allowance.record(voter, verdict, sent_at, sid)
        else:
            ledger.record(voter, verdict, sent_at)
        tracker.add(voter, verdict, predicted, sent_at, replied_at, several_votes)

    def sender() -> None:
        while (job := schedule.next()) is not None:
            try:
                send(job)
            except BaseException as error:  # a bug here must stop the run, not hang it
                with tracker.lock:
                    tracker.failure = tracker.failure or error
                schedule.stop()
            finally:
                schedule.done(job)
        webhook.close()

    threads = [
        threading.Thread(target=sender, name=f"load-sender-{n}", daemon=True)
        for n in range(max(1, options.concurrency))
    ]
    for thread in threads:
        thread.start()
    watch = _Watch(read_counts, baseline)

    def report_progress(counting: bool) -> None:
        if on_progress is not None:
            on_progress(_progress(tracker, len(plan), watch, counting))

    try:
        while any(thread.is_alive() for thread in threads):
            time.sleep(options.sample_interval)
            watch.observe()
            _check_abort(tracker, len(plan), schedule)
            report_progress(counting=False)
    finally:
        schedule.stop()
        for thread in threads:
            thread.join()
    if tracker.failure is not None:
        raise tracker.failure
    _check_abort(tracker, tracker.completed, schedule)

    expected = allowance.expected() if several_votes else ledger.expected()
    for voter, predicted, sent_at in tracker.dropped:  # as if each had been delivered
        if several_votes:
            allowance.record(voter, predicted, sent_at, last_texts[voter].message_sid or "")
        else:
            ledger.record(voter, predicted, sent_at)
    recovered = allowance.expected() if several_votes else ledger.expected()
    converge_seconds = watch.until_converged(
        expected,
        deadline=tracker.last_reply + options.wait,
        interval=options.sample_interval,
        since=tracker.last_reply,
        on_sample=lambda: report_progress(counting=True),
    )
    sent_times = allowance.new_vote_times if several_votes else ledger.new_vote_times
    return LoadResult(
        url=options.url,
        poll_id=poll.poll_id,
        started_at=started_at,
        planned=len(plan),
        voters=options.plan.voters,
        completed=tracker.completed,
        target_rate=options.rate,
        concurrency=options.concurrency,
        send_seconds=tracker.last_reply - (tracker.first_sent or tracker.last_reply),
        outcomes=dict(tracker.outcomes),
        reasons=dict(tracker.reasons),
        unexpected_replies=tracker.unexpected,
        votes_per_phone=poll.votes_per_phone,
        request_latency=summary(tracker.latencies),
        baseline=baseline,
        expected=expected,
        observed=watch.last,
        converged=converge_seconds is not None,
        converge_seconds=converge_seconds,
        new_votes=len(sent_times),
        vote_to_total=summary(vote_to_total(sent_times, watch.observations)),
        reused_phones=ledger.reused_phones,
        read_failures=watch.failures,
        last_read_error=watch.last_error,
        dropped_webhooks=len(tracker.dropped),
        expected_when_recovered=recovered if tracker.dropped else expected,
    )


@dataclass(frozen=True)
class _Text:
    """A text a voter sends: its body, the category and votes it asks for, its channel and,
    once sent (or for a retry), its MessageSid (None: a new one)."""

    body: str
    code: str
    count: int
    channel: Channel
    message_sid: str | None = None


def _texts_to_drop(plan: list[Message], options: LoadOptions) -> frozenset[int]:
    """The plan positions whose webhook the stand-in skips: voters' last texts, drawn
    (reproducibly with the plan's seed) so that about `drop_webhook_share` of all texts go."""
    if not options.drop_webhook_share or options.twilio is None:
        return frozenset()
    last_texts = {message.voter: index for index, message in enumerate(plan)}
    chance = min(1.0, options.drop_webhook_share * len(plan) / len(last_texts))
    draws = random.Random(options.plan.seed)
    return frozenset(
        index
        for index in sorted(last_texts.values())
        if plan[index].channel is Channel.SMS and not plan[index].retry and draws.random() < chance
    )


def _through_twilio(
    twilio: StandInClient, params: dict[str, str], send_webhook: bool
) -> tuple[Response | Verdict, str]:
    """The text through the Twilio stand-in: the webhook's answer, or the verdict on a text
    that got none (dropped on purpose, or the webhook unreachable), and the MessageSid the
    stand-in gave it."""
    delivery = twilio.text(
        params["From"],
        params["To"],
        params["Body"],
        country=params["FromCountry"],
        state=params["FromState"],
        send_webhook=send_webhook,
    )
    if delivery.status is not None:
        return Response(delivery.status, delivery.body), delivery.message_sid
    if not send_webhook:
        return Verdict(Outcome.DROPPED), delivery.message_sid
    error = delivery.error.partition(":")[0] or "no answer"
    return Verdict(Outcome.ERROR, detail=error), delivery.message_sid


class _Watch:
    """The totals over time, read on the calling thread."""

    def __init__(self, read_counts: ReadCounts, baseline: Counts) -> None:
        self._read = read_counts
        self._baseline = baseline
        self.observations: list[Observation] = []
        self.last: Counts | None = None
        self.failures = 0
        self.last_error = ""

    def observe(self) -> Counts | None:
        try:
            counts = self._read()
        except ReadFailed as error:
            self.failures += 1
            self.last_error = str(error)
            return None
        at = time.perf_counter()
        self.last = counts
        self.observations.append(Observation(at, counts.total - self._baseline.total))
        return counts

    def until_converged(
        self,
        expected: Counts | None,
        deadline: float,
        interval: float,
        since: float,
        on_sample: Callable[[], object],
    ) -> float | None:
        """Seconds from `since` to the first read equal to `expected`; None if none by
        `deadline`. With no expectation, waits until the totals stop changing."""
        changed_at = time.perf_counter()
        while True:
            before = self.last
            counts = self.observe()
            now = time.perf_counter()
            on_sample()
            if counts is not None and expected is not None and counts.matches(expected):
                return now - since
            if counts is not None and before is not None and not counts.matches(before):
                changed_at = now
            if expected is None and now - changed_at >= SETTLED_SECONDS:
                return None
            if now >= deadline:
                return None
            time.sleep(interval)


def _check_abort(tracker: _Tracker, enough: int, schedule: Schedule) -> None:
    with tracker.lock:
        completed, votes = tracker.completed, tracker.votes
        reasons = tracker.reasons.most_common(1)
    if votes or completed < min(ABORT_AFTER, enough) or completed == 0:
        return
    schedule.stop()
    reason = reasons[0][0] if reasons else "no reply"
    raise LoadAborted(f"none of the first {completed} messages was taken as a vote ({reason})")


def _progress(tracker: _Tracker, planned: int, watch: _Watch, counting: bool) -> Progress:
    with tracker.lock:
        completed = tracker.completed
        outcomes = dict(tracker.outcomes)
        elapsed = time.perf_counter() - (tracker.first_sent or time.perf_counter())
    latest = watch.observations[-1].new_votes if watch.observations else None
    return Progress(planned, completed, elapsed, outcomes, latest, counting)


def _describe(error: BaseException) -> str:
    if isinstance(error, StandInRefused):
        return str(error)
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    return type(error).__name__

"""simulate_votes: signed load through the local backend, with exact totals checked twice —
by the command against what it sent, and here against a recount of the votes table."""

from __future__ import annotations

import json
import re
from collections import Counter
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from twilio.twiml.messaging_response import MessagingResponse

from lambdas.shared import attributes
from lambdas.shared.config_doc import PollStatus
from loadgen.latency import Observation, vote_to_total
from loadgen.ledger import Counts, Ledger
from loadgen.outcomes import Outcome, ReplyClassifier, Verdict
from loadgen.plan import CategoryMix, Intent, PlanSpec, build_plan
from loadgen.progress import BAR_WIDTH, ProgressBar, describe
from loadgen.runner import Progress
from tests.factories import aggregate, demo_poll, failure_queue_messages, make_poll, vote_items

pytestmark = pytest.mark.django_db


LUNCH: dict[str, Any] = {
    "slug": "lunch",
    "question": "Lunch?",
    "categories": [("A", "Apples"), ("B", "Burgers"), ("C", "Curry")],
}
EXACT = "EXACT: the totals equal what was sent."
# What loadgen.progress writes to a log (not a terminal): one line per report.
PROGRESS_LINE = re.compile(
    r"(?:sending |counting) \[(?P<bar>[#.]+)\] (?P<completed>\d+)/240 [\d,]+/s  "
    r"accepted [\d,]+ duplicate [\d,]+ changed [\d,]+ rejected 0 errors 0  counted (?:-|[\d,]+)"
)


def simulate(*arguments: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("simulate_votes", *arguments, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def report_line(report: str, heading: str) -> str:
    """The one line of a simulate_votes report that starts with `heading`."""
    [line] = [line for line in report.splitlines() if line.startswith(heading)]
    return line


def recount(poll_id: str) -> Counter[str]:
    return Counter(item[attributes.VOTE_CATEGORY]["S"] for item in vote_items(poll_id))


def test_totals_are_exact_with_repeat_voters_and_changes(backend, tmp_path):
    make_poll(**LUNCH, status=PollStatus.OPEN, push=True, allow_vote_change=True)
    result_file = tmp_path / "result.json"

    out, err = simulate(
        "lunch",
        *("--url", backend.webhook_url, "--total", "240", "--voters", "160"),
        *("--change-share", "0.5", "--mix", "A=5,B=3,C=2", "--rate", "0"),
        *("--concurrency", "8", "--seed", "7", "--json", str(result_file)),
    )

    result = json.loads(result_file.read_text())
    assert result["exact"] is True
    assert result["outcomes"]["accepted"] == 160  # each phone's first text
    assert result["outcomes"]["duplicate"] + result["outcomes"]["changed"] == 80
    assert result["outcomes"]["changed"] > 20
    assert result["failed_requests"] == 0 and result["unexpected_replies"] == 0
    assert result["vote_to_total"]["n"] == 160
    # The command's expectation is the votes table's own count, and the tally's.
    stored = recount("lunch")
    assert attributes.counts_from_aggregate(aggregate("lunch")) == dict(stored)
    assert result["expected"]["categories"] == dict(stored)
    assert sum(stored.values()) == 160
    replies = re.fullmatch(
        r"Replies {10}accepted 160 · duplicate (\d+) · changed (\d+) · rejected 0 · errors 0",
        report_line(out, "Replies"),
    )
    assert replies is not None and int(replies[1]) + int(replies[2]) == 80
    assert re.fullmatch(
        r"Vote-to-total {4}p50 [\d.]+ s · p95 [\d.]+ s · p99 [\d.]+ s · max [\d.]+ s "
        r"\(160 new votes\)",
        report_line(out, "Vote-to-total"),
    )
    assert out.splitlines()[-1] == EXACT
    # Progress went to stderr as log lines (it is not a terminal), each the bar of its moment.
    progress = err.splitlines()
    assert progress and err == "".join(line + "\n" for line in progress)
    for line in progress:
        shown = PROGRESS_LINE.fullmatch(line)
        assert shown is not None, line
        filled = round(int(shown["completed"]) / 240 * BAR_WIDTH)
        assert shown["bar"] == "#" * filled + "." * (BAR_WIDTH - filled)

    # A second run starts from the totals already there (and new phones).
    again, _ = simulate(
        "lunch", "--url", backend.webhook_url, "--total", "40", "--rate", "0", "--no-progress"
    )

    assert again.splitlines()[-1] == EXACT
    assert aggregate("lunch")[attributes.AGGREGATE_TOTAL] == {"N": str(160 + 32)}  # 80% new phones


LOAD_TEXTS = 20_000
LOAD_PHONES = 15_000


@pytest.mark.slow
@pytest.mark.load
def test_twenty_thousand_texts_with_repeats_and_changes_are_counted_exactly(backend, tmp_path):
    make_poll(**LUNCH, status=PollStatus.OPEN, push=True, allow_vote_change=True)
    result_file = tmp_path / "result.json"

    out, _ = simulate(
        "lunch",
        *("--url", backend.webhook_url, "--total", str(LOAD_TEXTS)),
        *("--voters", str(LOAD_PHONES), "--change-share", "0.5", "--mix", "A=5,B=3,C=2"),
        *("--rate", "0", "--concurrency", "16", "--seed", "20000", "--wait", "120"),
        *("--json", str(result_file), "--no-progress"),
    )

    result = json.loads(result_file.read_text())
    print(out)  # the run's report, for the CI log
    assert result["failed_requests"] == 0 and result["unexpected_replies"] == 0
    outcomes = result["outcomes"]
    assert outcomes["accepted"] == LOAD_PHONES
    assert outcomes["duplicate"] + outcomes["changed"] == LOAD_TEXTS - LOAD_PHONES
    assert outcomes["changed"] > 1_000
    assert result["exact"] is True
    stored = recount("lunch")
    assert sum(stored.values()) == LOAD_PHONES
    assert result["expected"]["categories"] == dict(stored)
    assert attributes.counts_from_aggregate(aggregate("lunch")) == dict(stored)
    assert aggregate("lunch")[attributes.AGGREGATE_TOTAL] == {"N": str(LOAD_PHONES)}
    assert failure_queue_messages() == []


def test_changes_are_refused_where_the_poll_does_not_allow_them(backend):
    make_poll(**LUNCH, status=PollStatus.OPEN, push=True, allow_vote_change=False)

    out, _ = simulate(
        "lunch",
        *("--url", backend.webhook_url, "--total", "60", "--voters", "30"),
        *("--change-share", "1", "--rate", "0", "--no-progress"),
    )

    assert report_line(out, "Replies") == (
        "Replies          accepted 30 · duplicate 30 · changed 0 · rejected 0 · errors 0"
    )
    assert out.splitlines()[-1] == EXACT
    assert sum(recount("lunch").values()) == 30


def test_votes_the_tally_never_counts_are_reported_and_fail_the_run(backend):
    make_poll(**LUNCH, status=PollStatus.OPEN, push=True)
    backend.poller.stop()  # votes are stored, never counted
    out = StringIO()

    with pytest.raises(CommandError, match="the totals do not equal what was sent"):
        call_command(
            "simulate_votes",
            *("lunch", "--url", backend.webhook_url, "--total", "20", "--voters", "20"),
            *("--rate", "0", "--wait", "0.5", "--no-progress"),
            stdout=out,
            stderr=StringIO(),
        )

    assert report_line(out.getvalue(), "Totals") == "Totals           did not converge"
    assert re.fullmatch(
        r"NOT EXACT after the wait: (?:[ABC] expected \d+, counted 0; )+"
        r"total expected 20, counted 0\.",
        out.getvalue().splitlines()[-1],
    )
    assert len(vote_items("lunch")) == 20


def test_a_wrong_auth_token_stops_the_run_with_a_hint(backend, monkeypatch):
    make_poll(**LUNCH, status=PollStatus.OPEN, push=True)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "not-the-token")

    with pytest.raises(CommandError, match=r"HTTP 403.*set TWILIO_AUTH_TOKEN"):
        simulate("lunch", "--url", backend.webhook_url, "--total", "500", "--no-progress")
    assert vote_items("lunch") == []


def test_an_unreachable_webhook_is_a_clear_error(aws):
    make_poll(**LUNCH, status=PollStatus.OPEN, push=True)

    with pytest.raises(CommandError, match=r"connection refused.*is the webhook running"):
        simulate("lunch", "--url", "http://127.0.0.1:9/sms", "--total", "30", "--no-progress")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("--total", "0"), "at least 1"),
        (("--total", "10", "--voters", "20"), "cannot all vote"),
        (("--change-share", "2"), "between 0 and 1"),
        (("--url", "ftp://example.com/sms"), "not an http"),
        (("--concurrency", "0"), "at least 1"),
        (("--rate", "-1"), "must not be negative"),
    ],
)
def test_impossible_options_are_refused_before_anything_is_read(arguments, message):
    make_poll(**LUNCH, status=PollStatus.OPEN)

    with pytest.raises(CommandError, match=message):
        simulate("lunch", "--no-progress", *arguments)


def test_a_mix_naming_no_category_of_the_poll_is_refused(aws):
    make_poll(**LUNCH, status=PollStatus.OPEN, push=True)

    with pytest.raises(CommandError, match="one of the poll's codes"):
        simulate("lunch", "--mix", "A=1,Z=1")


def test_a_poll_that_was_never_pushed_is_refused(aws):
    make_poll(**LUNCH, status=PollStatus.OPEN)

    with pytest.raises(CommandError, match="push_config lunch"):
        simulate("lunch")


def test_a_closed_poll_is_refused(aws):
    make_poll(**LUNCH, status=PollStatus.CLOSED, push=True)

    with pytest.raises(CommandError, match="not taking votes"):
        simulate("lunch")


def test_an_unknown_poll_is_refused():
    with pytest.raises(CommandError, match="no poll with the slug"):
        simulate("nope")


# -- the parts, without a server --------------------------------------------------------------


def test_plan_has_every_voter_first_and_the_requested_repeats():
    plan = build_plan(PlanSpec(total=1000, voters=700, change_share=0.25, seed=3))

    firsts = [m for m in plan if m.intent is Intent.FIRST]
    assert [m.voter for m in firsts] == list(range(700))
    seen: set[int] = set()
    for message in plan:  # a repeat always follows its voter's first text
        assert (message.intent is Intent.FIRST) != (message.voter in seen)
        seen.add(message.voter)
    changes = sum(m.intent is Intent.CHANGE for m in plan)
    assert 40 < changes < 110  # a quarter of 300 repeats
    assert plan == build_plan(PlanSpec(total=1000, voters=700, change_share=0.25, seed=3))


def test_mix_picks_by_weight_and_changes_pick_another_category():
    mix = CategoryMix.parse("A=3, B=1", ["A", "B", "C"])

    picks = Counter(mix.pick(n / 1000) for n in range(1000))
    assert picks == {"A": 750, "B": 250}
    assert {mix.pick(n / 10, exclude="A") for n in range(10)} == {"B"}


def test_replies_are_read_with_the_polls_own_texts():
    poll = demo_poll(replies={"changed": "Switched to {label}!"})
    classifier = ReplyClassifier(poll)
    accepted = Verdict(Outcome.ACCEPTED, "A")

    def twiml(text: str) -> str:
        response = MessagingResponse()
        response.message(text)
        return str(response)

    assert classifier.classify(200, twiml("Switched to Bananas!"), "B", accepted) == Verdict(
        Outcome.CHANGED, "B"
    )
    already = twiml("You have already voted for Cherries. Only your first vote counts.")
    assert classifier.classify(200, already, "A", accepted) == Verdict(Outcome.DUPLICATE, "C")
    closed = twiml("Voting for this poll is closed. Thank you!")
    assert classifier.classify(200, closed, "A", accepted).detail == "reply closed"
    assert classifier.classify(503, "unavailable", "A", accepted).detail == "HTTP 503"


def test_ledger_expects_the_baseline_plus_each_voters_last_category():
    ledger = Ledger(Counts({"A": 10}, 10), allow_change=True)
    ledger.record(1, Verdict(Outcome.ACCEPTED, "A"), sent_at=1.0)
    ledger.record(2, Verdict(Outcome.ACCEPTED, "B"), sent_at=2.0)
    ledger.record(1, Verdict(Outcome.CHANGED, "C"), sent_at=3.0)
    ledger.record(3, Verdict(Outcome.DUPLICATE, "A"), sent_at=4.0)  # voted before the run
    ledger.record(3, Verdict(Outcome.CHANGED, "B"), sent_at=5.0)
    ledger.record(4, Verdict(Outcome.REJECTED, detail="HTTP 503"), sent_at=6.0)

    assert ledger.expected() == Counts({"A": 9, "B": 2, "C": 1}, 12)
    assert ledger.new_vote_times == [1.0, 2.0]


SENDING = Progress(
    planned=2000,
    completed=500,
    elapsed=2.0,
    outcomes={"accepted": 400, "duplicate": 60, "changed": 30, "rejected": 10},
    new_votes_counted=1234,
    counting=False,
)


def test_progress_describes_the_bar_the_rate_the_outcomes_and_the_count():
    counting = Progress(2000, 2000, 4.0, {"accepted": 1900, "error": 100}, None, counting=True)

    assert describe(SENDING) == (
        "sending  [########......................] 500/2,000 250/s  "
        "accepted 400 duplicate 60 changed 30 rejected 10 errors 0  counted 1,234"
    )
    assert describe(counting) == (
        "counting [##############################] 2,000/2,000 500/s  "
        "accepted 1,900 duplicate 0 changed 0 rejected 0 errors 100  counted -"
    )


def test_progress_redraws_one_line_on_a_terminal_and_writes_lines_to_a_log():
    on_terminal: list[str] = []
    in_log: list[str] = []
    terminal = ProgressBar(on_terminal.append, terminal=True)
    log = ProgressBar(in_log.append, terminal=False)

    for bar in (terminal, log):
        bar(SENDING)
        bar(SENDING)  # at once again: too soon to redraw, let alone to log
        bar.finish()

    assert on_terminal == [f"\r{describe(SENDING)}\x1b[K", "\n"]
    assert in_log == [f"{describe(SENDING)}\n"]


def test_vote_to_total_matches_votes_to_reads_in_order():
    sent = [0.0, 0.1, 0.2]
    reads = [Observation(0.5, 1), Observation(0.6, 0), Observation(1.0, 3)]

    assert vote_to_total(sent, reads) == pytest.approx([0.5, 0.9, 0.8])

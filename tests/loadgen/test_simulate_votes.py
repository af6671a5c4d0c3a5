"""simulate_votes: signed load through the local backend, with exact totals checked twice —
by the command against what it sent, and here against a recount of the votes table."""

from __future__ import annotations

import json
from collections import Counter
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from twilio.twiml.messaging_response import MessagingResponse

from lambdas.shared import keys
from lambdas.shared.config_doc import PollStatus
from loadgen.latency import Observation, vote_to_total
from loadgen.ledger import Counts, Ledger
from loadgen.outcomes import Outcome, ReplyClassifier, Verdict
from loadgen.plan import CategoryMix, Intent, PlanSpec, build_plan
from polls.models import Category, Poll
from polls.services.config_push import push_config
from tests.helpers import aggregate, demo_poll, failure_queue_messages, vote_items

pytestmark = pytest.mark.django_db


def make_poll(slug: str = "lunch", push: bool = True, **fields: object) -> Poll:
    owner, _ = User.objects.get_or_create(username="owner")
    fields = {"status": PollStatus.OPEN, **fields}
    poll = Poll.objects.create(
        owner=owner, slug=slug, question="Lunch?", number="+15005550006", **fields
    )
    for order, (code, label) in enumerate([("A", "Apples"), ("B", "Burgers"), ("C", "Curry")]):
        Category.objects.create(poll=poll, code=code, label=label, order=order)
    if push:
        push_config(poll)
    return poll


def simulate(*arguments: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("simulate_votes", *arguments, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def recount(poll_id: str) -> Counter[str]:
    return Counter(item[keys.VOTE_CATEGORY]["S"] for item in vote_items(poll_id))


def test_totals_are_exact_with_repeat_voters_and_changes(backend, tmp_path):
    make_poll(allow_vote_change=True)
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
    assert keys.counts_from_aggregate(aggregate("lunch")) == dict(stored)
    assert result["expected"]["categories"] == dict(stored)
    assert sum(stored.values()) == 160
    assert "EXACT: the totals equal what was sent." in out
    assert "accepted 160" in out and "Vote-to-total" in out
    assert "[" in err  # progress was shown

    # A second run starts from the totals already there (and new phones).
    again, _ = simulate(
        "lunch", "--url", backend.webhook_url, "--total", "40", "--rate", "0", "--no-progress"
    )

    assert "EXACT" in again
    assert aggregate("lunch")[keys.AGGREGATE_TOTAL] == {"N": str(160 + 32)}  # 80% new phones


LOAD_TEXTS = 20_000
LOAD_PHONES = 15_000


@pytest.mark.slow
@pytest.mark.load
def test_twenty_thousand_texts_with_repeats_and_changes_are_counted_exactly(backend, tmp_path):
    make_poll(allow_vote_change=True)
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
    assert keys.counts_from_aggregate(aggregate("lunch")) == dict(stored)
    assert aggregate("lunch")[keys.AGGREGATE_TOTAL] == {"N": str(LOAD_PHONES)}
    assert failure_queue_messages() == []


def test_changes_are_refused_where_the_poll_does_not_allow_them(backend):
    make_poll(allow_vote_change=False)

    out, _ = simulate(
        "lunch",
        *("--url", backend.webhook_url, "--total", "60", "--voters", "30"),
        *("--change-share", "1", "--rate", "0", "--no-progress"),
    )

    assert "accepted 30 · duplicate 30 · changed 0 · rejected 0" in out
    assert "EXACT" in out
    assert sum(recount("lunch").values()) == 30


def test_votes_the_tally_never_counts_are_reported_and_fail_the_run(backend):
    make_poll()
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

    assert "Totals           did not converge" in out.getvalue()
    assert "NOT EXACT after the wait:" in out.getvalue()
    assert "total expected 20, counted 0" in out.getvalue()
    assert len(vote_items("lunch")) == 20


def test_a_wrong_auth_token_stops_the_run_with_a_hint(backend, monkeypatch):
    make_poll()
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "not-the-token")

    with pytest.raises(CommandError, match=r"HTTP 403.*set TWILIO_AUTH_TOKEN"):
        simulate("lunch", "--url", backend.webhook_url, "--total", "500", "--no-progress")
    assert vote_items("lunch") == []


def test_an_unreachable_webhook_is_a_clear_error(aws):
    make_poll()

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
    make_poll(push=False)

    with pytest.raises(CommandError, match=message):
        simulate("lunch", "--no-progress", *arguments)


def test_a_mix_naming_no_category_of_the_poll_is_refused(aws):
    make_poll()

    with pytest.raises(CommandError, match="one of the poll's codes"):
        simulate("lunch", "--mix", "A=1,Z=1")


def test_a_poll_that_was_never_pushed_is_refused(aws):
    make_poll(push=False)

    with pytest.raises(CommandError, match="push_config lunch"):
        simulate("lunch")


def test_a_closed_poll_is_refused(aws):
    make_poll(status=PollStatus.CLOSED)

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


def test_vote_to_total_matches_votes_to_reads_in_order():
    sent = [0.0, 0.1, 0.2]
    reads = [Observation(0.5, 1), Observation(0.6, 0), Observation(1.0, 3)]

    assert vote_to_total(sent, reads) == pytest.approx([0.5, 0.9, 0.8])

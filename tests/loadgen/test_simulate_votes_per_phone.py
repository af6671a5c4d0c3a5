"""simulate_votes on a poll with several votes per phone: repeat voters splitting their votes,
counts in texts ("A 3", "3 A"), counts above what is left and above the allowance, and Twilio's
retries of a MessageSid, through the local backend; every reply is the one predicted and the
totals, the distinct voters included, are exact, here checked against the votes table too."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from io import StringIO
from typing import Any

import boto3
import pytest
from django.core.management import CommandError, call_command

from lambdas.ingest import handler as ingest
from lambdas.ingest import recording
from lambdas.ingest.twilio_request import Rejected, TwilioMessage
from lambdas.ingest.votes import VoteResult
from lambdas.shared import attributes, keys
from lambdas.shared.config_doc import CategoryConfig, PollStatus
from lambdas.shared.replies import Reply
from loadgen.allowance import BAD_COUNT, AllowanceLedger
from loadgen.ledger import Counts
from loadgen.outcomes import Outcome, ReplyClassifier, Verdict
from loadgen.plan import Intent, Message, PlanSpec, build_plan, text_body
from loadgen.runner import Progress
from loadgen.send_vote import main as send_vote
from polls.management.commands import simulate_votes
from tests.factories import aggregate, demo_poll, make_poll, vote_items

pytestmark = pytest.mark.django_db

CATEGORIES = [("A", "Apples"), ("B", "Burgers"), ("C", "Curry")]
EXACT = "EXACT: the totals equal what was sent."


def simulate(*arguments: str) -> str:
    out = StringIO()
    call_command("simulate_votes", *arguments, stdout=out, stderr=StringIO())
    return out.getvalue()


def report_line(report: str, heading: str) -> str:
    [line] = [line for line in report.splitlines() if line.startswith(heading)]
    return line


def recount(poll_id: str) -> Counts:
    """The votes table's own count: each phone's held votes, each phone with votes a voter."""
    votes: Counter[str] = Counter()
    voters: Counter[str] = Counter()
    phones = 0
    for item in vote_items(poll_id):
        given = {
            name[len(attributes.COUNT_PREFIX) :]: n
            for name, n in attributes.vote_item_counters(item).items()
            if name.startswith(attributes.COUNT_PREFIX) and n
        }
        votes.update(given)
        voters.update(given.keys())
        phones += bool(given)
    return Counts(dict(votes), votes.total(), phones, dict(voters))


def test_ten_votes_per_phone_count_exactly_with_splits_counts_and_retries(backend, tmp_path):
    make_poll(
        slug="lunch", categories=CATEGORIES, status=PollStatus.OPEN, push=True, votes_per_phone=10
    )
    result_file = tmp_path / "result.json"

    out = simulate(
        "lunch",
        *("--url", backend.webhook_url, "--total", "240", "--voters", "60"),
        *("--change-share", "0.5", "--mix", "A=5,B=3,C=2", "--rate", "0"),
        *("--votes-per-phone", "10", "--seed", "16", "--concurrency", "8"),
        *("--no-progress", "--json", str(result_file)),
    )

    result = json.loads(result_file.read_text())
    outcomes = result["outcomes"]
    # Every kind of answer came, each word for word the one predicted from the phone's texts
    # before it (the votes given and left are in the replies).
    assert result["unexpected_replies"] == 0 and result["failed_requests"] == 0
    assert outcomes["accepted"] > 60 and outcomes["replayed"] > 5
    assert outcomes["limit reached"] > 5 and outcomes["not enough left"] > 5
    assert outcomes["rejected"] == result["reasons"]["reply bad_count"] > 0
    assert sum(outcomes.values()) == 240
    assert result["exact"] is True
    assert out.splitlines()[-1] == EXACT
    assert re.fullmatch(
        r"Replies {10}accepted \d+ · replayed \d+ · limit reached \d+ · not enough left \d+ "
        r"· rejected \d+ · errors 0",
        report_line(out, "Replies"),
    )
    assert re.fullmatch(r"voters +0 +60 +60", report_line(out, "voters  "))
    # The expectation is the votes table's own count and the tally's.
    stored = recount("lunch")
    counted = aggregate("lunch")
    voters, category_voters = attributes.voters_from_aggregate(counted)
    assert Counts(**result["expected"]) == stored
    assert stored.voters == voters == 60
    assert stored.category_voters == {code: n for code, n in category_voters.items() if n}
    assert attributes.counts_from_aggregate(counted) == stored.categories
    assert counted[attributes.AGGREGATE_TOTAL] == {"N": str(stored.total)}
    items = vote_items("lunch")
    # No phone passed its allowance; each text whose votes were added is one MessageSid on its
    # phone's item, and no retry added any.
    assert max(attributes.counter_value(item[attributes.VOTE_VOTES]) for item in items) <= 10
    assert (
        sum(len(item[attributes.VOTE_SID_DIGESTS]["SS"]) for item in items)
        == (outcomes["accepted"])
    )
    assert result["vote_to_total"]["n"] == stored.total


def test_a_vote_removed_behind_the_runs_back_is_reported_and_fails_it(backend, monkeypatch):
    make_poll(
        slug="lunch", categories=CATEGORIES, status=PollStatus.OPEN, push=True, votes_per_phone=10
    )
    backend.poller.stop()  # counted only once a phone's item is gone
    removed: list[dict[str, Any]] = []

    class RemoveOneVoter:
        """In place of the progress bar: once every reply is in, deletes one phone's item
        and lets the tally count the votes table's stream."""

        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def __call__(self, progress: Progress) -> None:
            if progress.counting and not removed:
                removed.append(vote_items("lunch")[0])
                boto3.client("dynamodb").delete_item(
                    TableName=os.environ["VOTES_TABLE"],
                    Key={name: removed[0][name] for name in (keys.PARTITION_KEY, keys.SORT_KEY)},
                )
                backend.poller.drain()

        def finish(self) -> None:
            pass

    monkeypatch.setattr(simulate_votes, "ProgressBar", RemoveOneVoter)
    out = StringIO()

    with pytest.raises(CommandError, match="the totals do not equal what was sent"):
        call_command(
            "simulate_votes",
            *("lunch", "--url", backend.webhook_url, "--total", "60", "--voters", "20"),
            *("--rate", "0", "--wait", "1", "--seed", "3", "--votes-per-phone", "10"),
            stdout=out,
            stderr=StringIO(),
        )

    [item] = removed
    held = attributes.vote_item_counters(item)
    expected = recount("lunch")  # the phones still stored ...
    lost = {  # ... and the one removed
        name[len(attributes.COUNT_PREFIX) :]: n
        for name, n in held.items()
        if name.startswith(attributes.COUNT_PREFIX) and n
    }
    differences = [
        f"{code} expected {expected.categories.get(code, 0) + n}, counted "
        f"{expected.categories.get(code, 0)}"
        for code, n in sorted(lost.items())
    ]
    differences.append(
        f"total expected {expected.total + held[attributes.AGGREGATE_TOTAL]}, counted "
        f"{expected.total}"
    )
    differences += [
        f"voters of {code} expected {expected.category_voters.get(code, 0) + 1}, counted "
        f"{expected.category_voters.get(code, 0)}"
        for code in sorted(lost)
    ]
    differences.append(f"voters expected {expected.voters + 1}, counted {expected.voters}")
    assert out.getvalue().splitlines()[-1] == (
        "NOT EXACT after the wait: " + "; ".join(differences) + "."
    )


def test_a_votes_per_phone_other_than_the_polls_is_refused(aws):
    make_poll(
        slug="lunch", categories=CATEGORIES, status=PollStatus.OPEN, push=True, votes_per_phone=10
    )

    with pytest.raises(CommandError, match="gives each phone 10 votes, not 3"):
        simulate("lunch", "--votes-per-phone", "3", "--no-progress")
    with pytest.raises(CommandError, match="votes per phone must be between 1 and 100"):
        simulate("lunch", "--votes-per-phone", "0", "--no-progress")


def test_send_vote_sends_a_count(backend, capsys):
    make_poll(
        slug="lunch", categories=CATEGORIES, status=PollStatus.OPEN, push=True, votes_per_phone=10
    )

    assert send_vote(["A 3", "--url", backend.webhook_url]) == 0
    assert "Thanks! Votes for Apples: 3. You have 7 of your 10 votes left." in (
        capsys.readouterr().out
    )
    assert send_vote(["8 B", "--url", backend.webhook_url]) == 0
    assert "Sorry, you have only 7 of your 10 votes left (Apples 3 so far)." in (
        capsys.readouterr().out
    )


# -- the parts, without a server --------------------------------------------------------------


def test_each_reply_is_predicted_word_for_word_from_the_phones_texts_before():
    poll = demo_poll(votes_per_phone=10)
    ledger = AllowanceLedger(Counts({"A": 4}, 4, 2, {"A": 2}), 10)
    classifier = ReplyClassifier(poll)

    def answer(code: str, count: int, sid: str, at: float) -> tuple[Verdict, str | None]:
        predicted = ledger.predict(1, code, count, sid)
        ledger.record(1, predicted, at, sid)
        return predicted, classifier.allowance_reply(predicted)

    first, first_reply = answer("A", 6, "SM1", 1.0)
    assert first_reply == "Thanks! Votes for Apples: 6. You have 4 of your 10 votes left."
    assert answer("B", 5, "SM2", 2.0) == (
        Verdict(Outcome.NOT_ENOUGH_LEFT, "B", count=5, given=(("A", 6),)),
        "Sorry, you have only 4 of your 10 votes left (Apples 6 so far). Text a smaller "
        "number, like B 2.",
    )
    assert answer("B", 11, "SM3", 3.0) == (BAD_COUNT, None)
    assert answer("B", 4, "SM4", 4.0)[1] == (
        "Thanks! Votes for Bananas: 4. You have 0 of your 10 votes left."
    )
    assert answer("C", 1, "SM5", 5.0)[1] == (
        "You have no votes left in this poll (you gave Apples 6, Bananas 4). Thank you!"
    )
    # Twilio's retry of the first text: its reply again, now with what is left now.
    assert answer("A", 6, "SM1", 6.0) == (
        Verdict(Outcome.REPLAYED, "A", count=6, given=(("A", 6), ("B", 4))),
        "Thanks! Votes for Apples: 6. You have 0 of your 10 votes left.",
    )
    assert ledger.expected() == Counts({"A": 10, "B": 4}, 14, 3, {"A": 3, "B": 1})
    assert ledger.new_vote_times == [1.0] * 6 + [4.0] * 4
    twiml = f"<Response><Message>{first_reply}</Message></Response>"
    assert classifier.classify_allowance(200, twiml, first) == first
    # The same reply to a text predicted otherwise is no vote of the phone's.
    assert classifier.classify_allowance(200, twiml, ledger.predict(2, "A", 5, "SM9")) == Verdict(
        Outcome.REJECTED, detail="unrecognised reply"
    )


def test_a_plan_for_several_votes_per_phone_has_counts_and_retries_after_their_text():
    plan = build_plan(
        PlanSpec(total=2000, voters=500, change_share=0.5, seed=4, votes_per_phone=10)
    )

    counts = Counter(message.count for message in plan if not message.retry)
    assert 0.3 < counts[0] / sum(counts.values()) < 0.5  # the choice alone
    assert set(counts) - {0} == set(range(1, 6)) | {11, 12, 13}  # up to half, or over 10
    first = [message.count_first for message in plan if message.count]
    assert 0.4 < sum(first) / len(first) < 0.6  # "3 A" rather than "A 3"
    retries = [index for index, message in enumerate(plan) if message.retry]
    assert 150 < len(retries) < 300  # of 1,500 repeats
    first_texts = {m.voter: i for i, m in reversed(list(enumerate(plan)))}
    assert all(first_texts[plan[index].voter] < index for index in retries)
    # A poll with one vote per phone gets the plan it always got.
    single = build_plan(PlanSpec(total=2000, voters=500, change_share=0.5, seed=4))
    assert not any(m.count or m.retry for m in single)


def test_a_count_goes_first_only_where_the_parser_reads_it_so():
    numbered = demo_poll(
        votes_per_phone=10,
        keyword="pizza",
        categories=(CategoryConfig("2", "Two"), CategoryConfig("3", "Three")),
    )
    counted_first = Message(0, Intent.FIRST, 0.0, count=3, count_first=True)

    assert text_body(demo_poll(votes_per_phone=10), "A", counted_first) == "3 A"
    assert text_body(numbered, "2", counted_first) == "PIZZA 2 3"  # "3 2": 2 votes for 3
    assert text_body(numbered, "3", Message(0, Intent.FIRST, 0.0, count=2)) == "PIZZA 3 2"
    assert text_body(numbered, "3", Message(0, Intent.FIRST, 0.0)) == "PIZZA 3"


def run_against(backend, tmp_path) -> tuple[CommandError | None, dict[str, Any]]:
    """simulate_votes on a fresh poll of 10 votes per phone: the error it exits with (None: 0)
    and its JSON result."""
    make_poll(
        slug="lunch", categories=CATEGORIES, status=PollStatus.OPEN, push=True, votes_per_phone=10
    )
    result_file = tmp_path / "result.json"
    failed = None
    try:
        simulate(
            "lunch",
            *("--url", backend.webhook_url, "--total", "120", "--voters", "20"),
            *("--change-share", "0.5", "--mix", "A=5,B=3,C=2", "--rate", "0"),
            *("--votes-per-phone", "10", "--seed", "16", "--concurrency", "4"),
            *("--no-progress", "--json", str(result_file)),
        )
    except CommandError as error:
        failed = error
    return failed, json.loads(result_file.read_text())


def test_a_run_fails_when_a_reply_is_not_the_one_predicted(backend, monkeypatch, tmp_path):
    # An ingest answering "no votes left" where "not enough left" is due adds the same votes.
    monkeypatch.setitem(
        recording._REPLY_FOR_SEVERAL, VoteResult.NOT_ENOUGH_LEFT, Reply.LIMIT_REACHED
    )

    failed, result = run_against(backend, tmp_path)

    assert result["unexpected_replies"] > 0
    assert failed is not None
    assert re.fullmatch(
        r"\d+ replies differed from what the voters' earlier texts make due", str(failed)
    )


def test_a_run_fails_when_the_webhook_answers_an_http_error(backend, monkeypatch, tmp_path):
    # An ingest answering 400 to each of Twilio's retries: the totals are right all the same.
    real_message_from = ingest.message_from
    seen: set[str] = set()

    def refuse_retries(params: dict[str, str]) -> TwilioMessage:
        message = real_message_from(params)
        if message.message_sid in seen:
            raise Rejected(400, "bad request")
        seen.add(message.message_sid)
        return message

    monkeypatch.setattr(ingest, "message_from", refuse_retries)

    failed, result = run_against(backend, tmp_path)

    assert result["reasons"]["HTTP 400"] > 0
    assert str(failed) == (
        f"{result['reasons']['HTTP 400']} requests failed (an HTTP error or no answer)"
    )

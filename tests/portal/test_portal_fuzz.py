"""Property-based: whatever an organiser types into the poll form, the portal answers with the
form or its errors (never a 500) and saves only what the ingest can run; whatever text reaches
a CSV export (labels organisers type, regions Twilio sends), no cell is a spreadsheet formula.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections import Counter

import boto3
import pytest
from django.conf import settings as django_settings
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploy.local.resources import DEMO_NUMBER
from lambdas.ingest import handler as ingest
from lambdas.shared import keys
from lambdas.shared.config_doc import PollStatus
from lambdas.shared.parsing import Vote, parse_message
from polls.models import Poll
from polls.services.config_push import withdraw_config
from polls.services.exports import BOM, FORMULA_STARTS
from polls.validation import find_clashes
from tests.factories import (
    POLLS_URL,
    WEBHOOK_URL,
    add_form,
    assign_number,
    change_url,
    logged_in,
    make_poll,
    pushed_config,
    signed_event,
    sms,
    write_totals,
)

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# What a spreadsheet would run, what the ingest treats specially, and what breaks naive code.
TRICKY = [
    "",
    " ",
    "A",
    "a",
    "HELP",
    "stop",
    "Cancel",
    "=1+1",
    "+SUM(A1)",
    "-2+3",
    "@cmd",
    "\t=1",
    "\r\n",
    '=HYPERLINK("http://127.0.0.1/x","y")',
    DEMO_NUMBER,
    "x" * 300,
    "🍕",
    "Ａ",  # full-width A: NFKC makes it A
    "a,b,,a",
    "<script>alert(1)</script>",
    "\x00",
    "#zzzzzz",
    "#3b82f6",
]
text = st.one_of(st.sampled_from(TRICKY), st.text(max_size=40))
formula = st.from_regex(r"[=+\-@\t\r][^\n]{0,20}", fullmatch=True)


@pytest.fixture
def open_ingest(monkeypatch):
    monkeypatch.setattr(ingest, "PUBLIC_WEBHOOK_URL", WEBHOOK_URL)


# Well-formed forms, so that many examples are saved and their polls checked...
valid_fields = st.fixed_dictionaries(
    {
        "question": st.sampled_from(["Best fruit?", "Who wins?"]),
        "slug": st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
        "number": st.just(DEMO_NUMBER),
        "keyword": st.sampled_from(["", "PIZZA", "vote", "Fruit"]),
        "status": st.sampled_from([status.value for status in PollStatus]),
        "retention_days": st.sampled_from(["", "1", "30"]),
    }
)
valid_categories = st.lists(
    st.builds(
        lambda code, label, alias: (code, label, f"{code}{code}" if alias else ""),
        st.sampled_from(["A", "B", "C", "1", "GREEN"]),
        st.sampled_from(["Apples", "Bananas", "=1+1", "🍕"]),
        st.booleans(),
    ),
    min_size=2,
    max_size=4,
    unique_by=lambda row: row[0],
)
# ...and anything at all in any field.
any_fields = st.fixed_dictionaries(
    {
        name: st.one_of(text, valid_fields.map(lambda fields, name=name: fields[name]))
        for name in ("question", "slug", "number", "keyword", "status", "retention_days")
    }
)
any_categories = st.lists(st.tuples(text, text, text), max_size=4)
poll_forms = st.one_of(
    st.tuples(valid_fields, valid_categories), st.tuples(any_fields, any_categories)
)


def test_the_poll_form_never_500s_and_saves_only_what_the_ingest_can_run(aws, alice):
    assign_number(alice)
    client = logged_in(alice)
    statuses: Counter[int] = Counter()

    @FUZZ
    @given(form=poll_forms)
    def post(form: tuple[dict[str, str], list[tuple[str, str, str]]]) -> None:
        fields, categories = form
        with transaction.atomic():  # each example starts from no polls
            response = client.post(f"{POLLS_URL}add/", add_form(*categories, **fields))

            statuses[response.status_code] += 1
            assert response.status_code in (200, 302)
            saved = Poll.objects.filter(slug=fields["slug"]).first()
            if response.status_code == 200:
                assert saved is None  # the form came back with its errors; nothing was kept
            else:
                assert saved is not None
                assert_runnable(saved)
                # The rollback forgets the poll; DynamoDB must too, or the next example's push
                # would meet it on the number.
                withdraw_config(saved)
            transaction.set_rollback(True)

    post()
    assert statuses[200] >= 5 and statuses[302] >= 5, statuses  # both paths were exercised


def assert_runnable(poll: Poll) -> None:
    config = poll.to_config()
    spellings = [(c.code, c.aliases) for c in config.categories]
    assert find_clashes(spellings, poll.keyword) == []
    if poll.status == PollStatus.OPEN:  # what takes votes is in DynamoDB, as saved
        pushed = pushed_config(poll.number, poll.slug)
        assert pushed is not None and pushed.categories == config.categories
    prefix = f"{poll.keyword} " if poll.keyword else ""
    for choice in config.categories:
        for spelling in (choice.code, *choice.aliases):
            assert parse_message(config, prefix + spelling) == Vote(choice.code), spelling


_senders = (f"+1555{n:07d}" for n in itertools.count(2000))


@FUZZ
@given(labels=st.lists(st.one_of(formula, text), min_size=2, max_size=2), region=formula)
def test_no_exported_cell_is_a_formula(aws, alice, open_ingest, labels, region):
    with transaction.atomic():
        poll = make_poll(
            alice,
            "fuzz",
            categories=[("A", labels[0] or "Apples"), ("B", labels[1] or "Bananas")],
            status=PollStatus.OPEN,
        )
        client = logged_in(alice)
        client.post(change_url(poll, "run/push_configuration"))
        ingest.reset_container_state()
        # Twilio's FromCountry/FromState become the vote's region, and a cell of both exports.
        sender = next(_senders)
        message = sms("A", sender=sender, country=region[:2], state=region)
        assert ingest.handler(signed_event(message), None)["statusCode"] == 200
        write_totals("fuzz", {"A": 1}, regions={f"{region[:2]}-{region}": 1})

        for view in ("results.csv", "votes.csv"):
            response = client.get(f"/polls/{poll.pk}/{view}")
            assert response.status_code == 200, view
            content = b"".join(response.streaming_content).decode("utf-8").removeprefix(BOM)
            for row in csv.reader(io.StringIO(content)):
                for cell in row:
                    assert not cell.startswith(FORMULA_STARTS), (view, cell)
        transaction.set_rollback(True)
    delete_poll_items("fuzz")


def delete_poll_items(poll_id: str) -> None:
    dynamodb = boto3.client("dynamodb")
    vote_key = (keys.PARTITION_KEY, keys.SORT_KEY)
    for vote in dynamodb.scan(TableName=django_settings.VOTES_TABLE)["Items"]:
        key = {name: vote[name] for name in vote_key}
        dynamodb.delete_item(TableName=django_settings.VOTES_TABLE, Key=key)
    dynamodb.delete_item(
        TableName=django_settings.AGGREGATES_TABLE, Key=keys.aggregate_key(poll_id)
    )

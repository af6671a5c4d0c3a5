"""The management commands: export_results, push_config and seed_demo."""

from __future__ import annotations

from io import StringIO

import boto3
import pytest
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command, load_command_class

from deploy.local.resources import DEMO_NUMBER
from lambdas.shared.config_doc import PollStatus
from polls.models import Poll
from tests.factories import make_poll, pushed_config, write_totals

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


LUNCH_MENU = [("A", "Apples, green"), ("B", "Burgers")]


def run(*arguments: str) -> str:
    out = StringIO()
    call_command(*arguments, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_export_results_writes_csv(aws):
    make_poll(categories=LUNCH_MENU, status=PollStatus.OPEN)
    write_totals("lunch", {"B": 2})

    assert run("export_results", "lunch") == 'code,label,votes\nA,"Apples, green",0\nB,Burgers,2\n'


def test_export_results_of_an_unknown_poll():
    with pytest.raises(CommandError, match="no poll with the slug 'nope'"):
        run("export_results", "nope")


def test_export_results_when_aws_fails(aws):
    make_poll(categories=LUNCH_MENU, status=PollStatus.OPEN)
    boto3.client("dynamodb").delete_table(TableName=settings.AGGREGATES_TABLE)

    with pytest.raises(CommandError, match=r"aggregates table .* does not exist"):
        run("export_results", "lunch")


def test_push_config_by_slug_and_all_open(aws):
    make_poll(slug="lunch", categories=LUNCH_MENU, status=PollStatus.OPEN)
    make_poll(slug="dinner", categories=LUNCH_MENU, status=PollStatus.DRAFT)

    assert run("push_config", "dinner") == "dinner: pushed version 1\n"
    assert run("push_config", "--all-open") == "lunch: pushed version 1\n"
    assert pushed_config(DEMO_NUMBER, "dinner").status == PollStatus.DRAFT
    assert pushed_config(DEMO_NUMBER, "lunch").version == 1


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["nope"], "no poll with the slug 'nope'"),
        ([], "either one or more poll slugs or --all-open"),
        (["lunch", "--all-open"], "either one or more poll slugs or --all-open"),
    ],
)
def test_push_config_refuses(arguments, message):
    make_poll(categories=LUNCH_MENU, status=PollStatus.OPEN)
    with pytest.raises(CommandError, match=message):
        run("push_config", *arguments)


def test_push_config_fails_when_the_table_is_missing(aws):
    make_poll(categories=LUNCH_MENU, status=PollStatus.OPEN)
    boto3.client("dynamodb").delete_table(TableName=settings.CONFIG_TABLE)

    with pytest.raises(CommandError, match="1 of 1 polls were not pushed"):
        run("push_config", "lunch")


def test_seed_demo_is_idempotent_and_pushes_the_demo_poll(aws):
    first = run("seed_demo")
    Poll.objects.filter(slug="demo").update(status=PollStatus.CLOSED, question="Edited")
    second = run("seed_demo")

    assert "organiser / textvote-demo" in first
    assert "config version 1" in first
    assert "config version 2" in second
    poll = Poll.objects.get(slug="demo")
    assert (poll.status, poll.question, poll.categories.count()) == (PollStatus.OPEN, "Edited", 3)
    assert pushed_config(DEMO_NUMBER, "demo") == poll.to_config()
    assert User.objects.count() == 2
    organiser = authenticate(username="organiser", password="textvote-demo")
    assert organiser.is_staff and not organiser.is_superuser
    assert organiser.has_perms(["polls.add_poll", "polls.change_category"])
    assert authenticate(username="admin", password="textvote-admin").is_superuser


@pytest.mark.parametrize(
    ("command", "mentions"),
    [
        ("push_config", ["SLUG", "--all-open"]),
        ("export_results", ["slug", "--by-region", "--output", "byte order mark"]),
        ("export_votes", ["slug", "--output", "never a phone number"]),
        ("recount", ["slug", "--repair", "--force"]),
    ],
)
def test_organiser_commands_explain_themselves(command, mentions):
    help_text = " ".join(  # as one line: argparse wraps it at the terminal's width
        load_command_class("polls", command)
        .create_parser("manage.py", command)
        .format_help()
        .split()
    )

    assert all(mention in help_text for mention in mentions), help_text

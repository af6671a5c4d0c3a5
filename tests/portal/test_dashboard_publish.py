"""Publishing the dashboard: the right objects, types and cache headers, public, no secrets;
from the admin, and again as final results when the poll closes."""

from __future__ import annotations

import json
import urllib.request

import boto3
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client

from deploy.local.resources import DEV_TWILIO_AUTH_TOKEN, DEV_VOTER_HASH_KEY
from lambdas.shared import attributes, keys
from lambdas.shared.config_doc import PollStatus
from polls.models import Poll
from polls.services.dashboard import (
    LONG_CACHE,
    SHORT_CACHE,
    national_number,
    public_url,
    publish_dashboard,
    qr_codes,
)
from polls.services.results import read_totals
from tests.factories import (
    POLLS_URL,
    a_while_ago,
    change_url,
    logged_in,
    make_poll,
    page_messages,
    write_totals,
)

pytestmark = pytest.mark.django_db

# Distinctive stand-ins for the portal's credentials, so a leak would be found.
PORTAL_KEY_ID = "AKIAPORTALKEYEXAMPLE"
PORTAL_SECRET = "portal-secret-access-key-example-0123456789"


@pytest.fixture
def dashboard_settings(aws, settings):
    settings.DASHBOARD_IDENTITY_POOL_ID = aws.identity_pool_id
    settings.AWS_ACCESS_KEY_ID = PORTAL_KEY_ID
    settings.AWS_SECRET_ACCESS_KEY = PORTAL_SECRET
    return settings


@pytest.fixture
def poll() -> Poll:
    return make_poll(
        slug="fruit",
        question="Best <fruit>?",
        categories=[
            {"code": "A", "label": "Apples", "colour": "#ff0000"},
            {"code": "B", "label": "Bananas", "colour": "#ffff00"},
        ],
        keyword="FRUIT",
        status=PollStatus.OPEN,
    )


def published_objects() -> dict[str, dict]:
    s3 = boto3.client("s3")
    objects = {}
    for summary in s3.list_objects_v2(Bucket=settings.DASHBOARD_BUCKET).get("Contents", []):
        response = s3.get_object(Bucket=settings.DASHBOARD_BUCKET, Key=summary["Key"])
        objects[summary["Key"]] = {**response, "Body": response["Body"].read()}
    return objects


def test_published_objects_have_types_cache_headers_and_no_secrets(dashboard_settings, poll):
    url = publish_dashboard(poll)

    objects = published_objects()
    names = sorted(objects)
    assert names[2:] == ["polls/fruit/config.json", "polls/fruit/index.html"]
    script, stylesheet = names[0], names[1]
    assert script.startswith("assets/dashboard-") and script.endswith(".js")
    assert stylesheet.startswith("assets/style-") and stylesheet.endswith(".css")
    expected = {
        script: ("text/javascript; charset=utf-8", LONG_CACHE),
        stylesheet: ("text/css; charset=utf-8", LONG_CACHE),
        "polls/fruit/config.json": ("application/json", SHORT_CACHE),
        "polls/fruit/index.html": ("text/html; charset=utf-8", SHORT_CACHE),
    }
    for name, (content_type, cache) in expected.items():
        assert (objects[name]["ContentType"], objects[name]["CacheControl"]) == (
            content_type,
            cache,
        ), name
    secrets = [
        DEV_TWILIO_AUTH_TOKEN,
        DEV_VOTER_HASH_KEY,
        PORTAL_KEY_ID,
        PORTAL_SECRET,
        settings.SECRET_KEY,
    ]
    for name, obj in objects.items():
        for secret in secrets:
            assert secret.encode() not in obj["Body"], f"{name} leaks a secret"
    page = objects["polls/fruit/index.html"]["Body"].decode()
    assert f"../../{script}" in page and f"../../{stylesheet}" in page
    assert "Best &lt;fruit&gt;?" in page
    config = json.loads(objects["polls/fruit/config.json"]["Body"])
    assert config["identityPoolId"] == dashboard_settings.DASHBOARD_IDENTITY_POOL_ID
    assert (config["pollId"], config["table"], config["keyword"]) == (
        "fruit",
        settings.AGGREGATES_TABLE,
        "FRUIT",
    )
    assert [c["code"] for c in config["categories"]] == ["A", "B"]
    # Anyone may read the page, as a browser would, without credentials.
    with urllib.request.urlopen(url) as response:
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"


def test_republishing_replaces_the_page_and_keeps_one_copy_of_each_asset(dashboard_settings, poll):
    publish_dashboard(poll)
    Poll.objects.filter(pk=poll.pk).update(status=PollStatus.CLOSED)
    poll.refresh_from_db()

    publish_dashboard(poll)

    objects = published_objects()
    assert len(objects) == 4
    assert json.loads(objects["polls/fruit/config.json"]["Body"])["status"] == "closed"


@pytest.mark.outside_the_stack
def test_publish_command_prints_the_url_and_names_problems(dashboard_settings, poll, capsys):
    call_command("publish_dashboard", "fruit")
    assert capsys.readouterr().out.strip().endswith("/polls/fruit/index.html")

    dashboard_settings.DASHBOARD_BUCKET = "no-such-bucket"
    with pytest.raises(CommandError, match="bucket 'no-such-bucket' does not exist"):
        call_command("publish_dashboard", "fruit")
    dashboard_settings.DASHBOARD_IDENTITY_POOL_ID = ""
    with pytest.raises(CommandError, match="DASHBOARD_IDENTITY_POOL_ID"):
        call_command("publish_dashboard", "fruit")
    with pytest.raises(CommandError, match="no poll with the slug"):
        call_command("publish_dashboard", "nope")


@pytest.fixture
def admin_client() -> Client:
    return logged_in(User.objects.create_superuser("root"))


def test_the_admin_publishes_and_shows_where(dashboard_settings, poll, admin_client):
    listing = admin_client.get(POLLS_URL).content.decode()
    assert "not published" in listing

    response = admin_client.post(change_url(poll, "run/publish"), follow=True)

    url = public_url(poll)
    assert page_messages(response) == [
        f"Published the dashboard of “Best &lt;fruit&gt;?” at "
        f'<a href="{url}" target="_blank" rel="noopener">{url}</a>.'
    ]
    assert "polls/fruit/index.html" in published_objects()
    poll.refresh_from_db()
    assert poll.dashboard_published_at is not None
    assert f'href="{url}"' in admin_client.get(POLLS_URL).content.decode()
    assert f'href="{url}"' in admin_client.get(change_url(poll)).content.decode()


def test_a_publish_that_fails_says_why(dashboard_settings, poll, admin_client):
    dashboard_settings.DASHBOARD_IDENTITY_POOL_ID = ""

    response = admin_client.post(change_url(poll, "run/publish"), follow=True)

    assert response.status_code == 200
    assert page_messages(response) == [
        "The dashboard of “Best <fruit>?” was not published: no Cognito identity pool is "
        "configured for the dashboard (set DASHBOARD_IDENTITY_POOL_ID)."
    ]
    assert published_objects() == {}


def test_closing_republishes_a_published_dashboard_as_final(dashboard_settings, poll, admin_client):
    publish_dashboard(poll)

    response = admin_client.post(change_url(poll, "run/close_now"), follow=True)

    assert page_messages(response)[1:] == [
        "Republished the dashboard of “Best <fruit>?” as final results."
    ]
    config = json.loads(published_objects()["polls/fruit/config.json"]["Body"])
    assert config["status"] == "closed" and config["closesAt"]


def test_closing_leaves_an_unpublished_dashboard_unpublished(
    dashboard_settings, poll, admin_client
):
    admin_client.post(change_url(poll, "run/close_now"))

    assert published_objects() == {}


@pytest.mark.outside_the_stack
def test_a_failed_republish_is_a_warning_and_the_poll_stays_closed(
    dashboard_settings, poll, admin_client
):
    publish_dashboard(poll)
    dashboard_settings.DASHBOARD_BUCKET = "no-such-bucket"

    response = admin_client.post(change_url(poll, "run/close_now"), follow=True)

    assert page_messages(response)[1:] == [
        "“Best <fruit>?” is closed, but its dashboard was not republished as final results: "
        "the dashboard bucket 'no-such-bucket' does not exist. Try “Publish dashboard” again."
    ]
    poll.refresh_from_db()
    assert poll.status == PollStatus.CLOSED


def test_deleting_a_poll_takes_its_page_down(dashboard_settings, poll, admin_client):
    publish_dashboard(poll)
    admin_client.post(change_url(poll, "run/close_now"), follow=True)
    a_while_ago(poll)

    admin_client.post(change_url(poll, "delete"), {"post": "yes"})

    assert not Poll.objects.filter(pk=poll.pk).exists()
    assert [name.split("/")[0] for name in published_objects()] == ["assets", "assets"]


def test_publishing_writes_the_copies_a_page_reads_with_totals_counted_before_the_slices(
    dashboard_settings, poll
):
    # A poll counted before the tally wrote slices: its totals are in its root item only.
    write_totals("fruit", {"A": 3, "B": 1}, regions={"GB": 4})

    publish_dashboard(poll)

    config = json.loads(published_objects()["polls/fruit/config.json"]["Body"])
    assert len(config["viewerKeys"]) == len(config["detailKeys"]) == keys.VIEWER_REPLICAS
    client = boto3.client("dynamodb")
    for viewer_key, detail_key in zip(config["viewerKeys"], config["detailKeys"], strict=True):
        viewer = client.get_item(TableName=settings.AGGREGATES_TABLE, Key={"pk": {"S": viewer_key}})
        detail = client.get_item(TableName=settings.AGGREGATES_TABLE, Key={"pk": {"S": detail_key}})
        assert attributes.counts_from_aggregate(viewer["Item"]) == {"A": 3, "B": 1}
        assert attributes.regions_from_aggregate(detail["Item"]) == {"GB": 4}
    assert read_totals(["fruit"]) == {"fruit": 4}


def test_the_page_says_how_to_vote_with_the_number_as_its_country_writes_it(
    dashboard_settings, poll
):
    publish_dashboard(poll)

    objects = published_objects()
    config = json.loads(objects["polls/fruit/config.json"]["Body"])
    assert (config["number"], config["numberDisplay"]) == ("+15005550006", "(500) 555-0006")
    assert [(c["text"], c["smsUri"]) for c in config["categories"]] == [
        ("FRUIT A", "sms:+15005550006?body=FRUIT%20A"),
        ("FRUIT B", "sms:+15005550006?body=FRUIT%20B"),
    ]
    # A QR code per category (tests/e2e/test_dashboard_layout.py decodes them).
    page = objects["polls/fruit/index.html"]["Body"].decode()
    assert page.count('class="qr"><path') == 2
    assert '<kbd class="token">FRUIT A</kbd> Apples' in page


def test_a_poll_of_more_than_six_choices_gets_one_qr_code_for_its_number():
    poll = make_poll(
        slug="many", categories=[(str(n), f"Choice {n}") for n in range(7)], keyword="PICK"
    )

    assert [(qr.text, qr.label, qr.uri) for qr in qr_codes(poll)] == [
        ("PICK ", "(500) 555-0006", "sms:+15005550006?body=PICK%20")
    ]
    poll.keyword = ""
    assert [qr.uri for qr in qr_codes(poll)] == ["sms:+15005550006"]


@pytest.mark.parametrize(
    ("number", "shown"),
    [
        ("+15005550006", "(500) 555-0006"),
        ("+447700900301", "07700 900301"),
        ("+33612345678", "06 12 34 56 78"),
        ("+12345", "+12345"),  # no country's: as it is
        ("+9991234567", "+9991234567"),
    ],
)
def test_numbers_are_shown_as_their_country_writes_them(number, shown):
    assert national_number(number) == shown

"""Owner isolation: another organiser (and a visitor who is not logged in) walks every URL the
portal serves, with GET and POST, aimed at Bob's poll and Bob's phone number, and neither sees
nor changes anything (the phone numbers' pages, sync included, are a superuser's).

The URLs come from the URL resolver, so a page or action added later is walked too. Bob, the
owner, walks the same URLs first: they are the right ones, and they do show his poll.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.contrib.contenttypes.models import ContentType
from django.forms.models import model_to_dict
from django.test import Client
from django.urls import URLResolver, get_resolver

from polls.admin import PollAdmin
from polls.models import Invalidation, PhoneNumber, Poll
from tests.factories import POLLS_URL, logged_in, make_poll, organiser, write_totals

pytestmark = pytest.mark.django_db

SECRETS = ("Secret question of Bob", "bobs-secret-poll", "Bobberries", "+447700900777")
ACTIONS = [action.__name__ for action in PollAdmin.actions] + ["delete_selected"]
# Everything a form or an action of the portal might read, so a POST can do damage if allowed.
POST_DATA = {
    "post": "yes",
    "apply": "1",
    "closes_at": "2031-01-01T10:00",
    "question": "Taken over",
    "status": "closed",
}


def routes(resolver: URLResolver | None = None, prefix: str = "") -> Iterator[str]:
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            yield from routes(pattern, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern)


def urls(bob: User, poll: Poll) -> list[str]:
    """Every route, with Bob's objects (or each action, app) in its parameters."""
    ids = {
        "auth/user/": bob.pk,
        "auth/group/": Group.objects.get().pk,
        "polls/phonenumber/": PhoneNumber.objects.get(number=poll.number).pk,
        "polls/": poll.pk,
    }
    found: list[str] = []
    for route in routes():
        if route in ("admin/logout/", "admin/(?P<url>.*)$"):
            continue  # would end the session; the catch-all is every other URL
        if "(?P<app_label>" in route:
            found += ["/admin/auth/", "/admin/polls/"]
            continue
        object_id = next((i for part, i in ids.items() if part in route), poll.pk)
        url = "/" + re.sub(r"<(?:path:|int:)?(object_id|poll_id|id)>", str(object_id), route)
        url = url.replace("<path:content_type_id>", str(ContentType.objects.get_for_model(Poll).pk))
        url = url.replace("<int:void_id>", str(poll.invalidations.get().pk))
        if "<str:action>" in url:
            found += [url.replace("<str:action>", action) for action in ACTIONS]
        else:
            found.append(url)
    assert not [url for url in found if "<" in url or "(?" in url], found
    return found


def body(response: Any) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode("utf-8-sig")
    return response.content.decode()


@pytest.fixture
def bob() -> User:
    return organiser("bob")


@pytest.fixture
def bobs_poll(aws, bob) -> Poll:
    poll = make_poll(
        bob,
        "bobs-secret-poll",
        question="Secret question of Bob",
        categories=[("A", "Bobberries"), ("B", "Blueberries")],
        number="+447700900777",
    )
    write_totals(poll.slug, {"A": 4})
    # A void in Bob's log, so that its "Unvoid" URL is walked too.
    Invalidation.objects.create(
        poll=poll,
        action=Invalidation.Action.VOID,
        by="bob",
        reason="Bob's secret reason",
        selection={"voter_keys": ["0" * 32]},
        voter_keys=["0" * 32],
        count=1,
    )
    return poll


def snapshot(poll: Poll) -> tuple[Any, ...]:
    poll = Poll.objects.get(pk=poll.pk)
    return (
        model_to_dict(poll),
        poll.config_version,
        poll.pushed_at,
        poll.twilio_sms_url,
        list(poll.categories.values_list("code", "label")),
        Poll.objects.count(),
        list(PhoneNumber.objects.values_list("number", "owner", "twilio_sid")),
        list(poll.invalidations.values_list("action", "reason", "count")),
    )


def walk(
    client: Client, bob: User, poll: Poll, methods: tuple[str, ...] = ("GET", "POST")
) -> dict[tuple[str, str], tuple[int, str]]:
    """(method, url) -> (first status, the page shown once redirects were followed)."""
    seen = {}
    for url in urls(bob, poll):
        for method in methods:
            send = client.get if method == "GET" else client.post
            data = POST_DATA if method == "POST" else {}
            response = send(url, data, follow=True)
            first = response.redirect_chain[0][1] if response.redirect_chain else None
            seen[method, url] = (first or response.status_code, body(response))
    return seen


def test_the_owner_reaches_his_poll_on_the_walked_urls(bob, bobs_poll):
    # GET only: his own POSTs would change (and delete) his poll.
    seen = walk(logged_in(bob), bob, bobs_poll, methods=("GET",))

    assert [key for key, (status, _) in seen.items() if status >= 500] == []
    shown = {url for (_, url), (_, page) in seen.items() if any(s in page for s in SECRETS)}
    base = f"{POLLS_URL}{bobs_poll.pk}"
    assert {
        f"{base}/change/",
        f"{base}/history/",
        f"{base}/delete/",
        f"/polls/{bobs_poll.pk}/results.csv",
    } <= shown
    assert seen["GET", f"/polls/{bobs_poll.pk}/results.json"][0] == 200
    assert '"votes": 4' in seen["GET", f"/polls/{bobs_poll.pk}/results.json"][1]
    assert seen["GET", f"/polls/{bobs_poll.pk}/votes.csv"][1].startswith("received_at,")


@pytest.mark.parametrize("visitor", ["another organiser", "not logged in"])
def test_nobody_else_sees_or_changes_a_poll(bob, bobs_poll, visitor):
    if visitor == "not logged in":
        client = Client()
    else:
        alice = organiser("alice")
        make_poll(alice, "alices-poll", categories=[("A", "Apples"), ("B", "Bananas")])
        client = logged_in(alice)
    before = snapshot(bobs_poll)

    seen = walk(client, bob, bobs_poll)
    for action in ACTIONS:
        response = client.post(
            POLLS_URL,
            {"action": action, "_selected_action": [bobs_poll.pk], "index": 0, **POST_DATA},
            follow=True,
        )
        seen["POST", f"{POLLS_URL} {action}"] = (response.status_code, body(response))

    assert [key for key, (status, _) in seen.items() if status >= 500] == []
    leaks = {key: secret for key, (_, page) in seen.items() for secret in SECRETS if secret in page}
    assert leaks == {}
    bob_urls = {
        key: status
        for key, (status, _) in seen.items()
        if f"/{bobs_poll.pk}/" in key[1] and "/auth/" not in key[1]
    }
    assert bob_urls and 200 not in bob_urls.values(), bob_urls
    assert snapshot(bobs_poll) == before


def test_a_superuser_reaches_bobs_number_on_the_walked_urls(bob, bobs_poll):
    root = User.objects.create_superuser("root")

    seen = walk(logged_in(root), bob, bobs_poll, methods=("GET",))

    assert [key for key, (status, _) in seen.items() if status >= 500] == []
    number = PhoneNumber.objects.get(number=bobs_poll.number)
    listed, change = "/admin/polls/phonenumber/", f"/admin/polls/phonenumber/{number.pk}/change/"
    assert all(seen["GET", url][0] == 200 for url in (listed, change))
    assert "+447700900777" in seen["GET", change][1]
    assert "+447700900777" in seen["GET", listed][1]
    assert "Sync numbers from Twilio" in seen["GET", listed][1]
    assert seen["GET", "/admin/polls/phonenumber/sync/"][0] == 405  # a button: POST only


def test_the_owners_buttons_work_on_the_same_urls(bob, bobs_poll):
    response = logged_in(bob).post(f"{POLLS_URL}{bobs_poll.pk}/run/duplicate/")

    assert response.status_code == 302
    assert Poll.objects.filter(slug="bobs-secret-poll-copy", owner=bob).exists()

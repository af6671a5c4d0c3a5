"""The portal's voids (issue 17, section 3): the poll's page lists the log with "Void votes…"
and an "Unvoid" button per void; the void page previews how the totals would move before it
voids, with a reason; another organiser's poll is not found."""

from __future__ import annotations

import pytest

from lambdas.shared import attributes, keys
from polls.models import Invalidation
from tests.factories import change_url, logged_in, organiser, page_messages, vote_items

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(counted_poll, alice):
    counted_poll.owner = alice
    counted_poll.save(update_fields=["owner"])
    return logged_in(alice)


def apple_keys() -> list[str]:
    return sorted(
        item[keys.SORT_KEY]["S"]
        for item in vote_items()
        if item[attributes.VOTE_CATEGORY]["S"] == "A"
    )


def void_url(poll) -> str:
    return f"/admin/polls/poll/{poll.pk}/void/"


def test_the_void_page_previews_then_voids_and_the_log_unvoids(client, counted_poll):
    page = client.get(change_url(counted_poll)).content.decode()
    assert "No votes voided." in page
    assert f'href="{void_url(counted_poll)}"' in page
    form = {"reason": "bought votes", "voter_keys": "\n".join(apple_keys())}

    preview = client.post(void_url(counted_poll), {**form, "preview": "Preview"})

    assert preview.status_code == 200
    html = preview.content.decode()
    assert "Voiding would take <strong>2</strong> votes from the total." in html
    assert "<tr><td>A</td><td>-2</td></tr>" in html
    assert 'value="Void 2 votes"' in html
    assert not Invalidation.objects.exists()

    done = client.post(void_url(counted_poll), {**form, "void": "Void 2 votes"}, follow=True)

    entry = Invalidation.objects.get()
    assert done.redirect_chain[-1][0] == change_url(counted_poll)
    assert page_messages(done) == [f"Void #{entry.pk}: voided 2 votes of “{counted_poll}”."]
    assert (entry.by, entry.reason, entry.count) == ("alice", "bought votes", 2)
    unvoid_url = f"/admin/polls/poll/{counted_poll.pk}/unvoid/{entry.pk}/"
    page = done.content.decode()
    assert f'formaction="{unvoid_url}"' in page
    assert "2 voter keys" in page

    assert client.get(unvoid_url).status_code == 405
    undone = client.post(unvoid_url, follow=True)

    assert page_messages(undone) == [
        f"Unvoid #{entry.pk + 1}: the 2 votes of void #{entry.pk} count again."
    ]
    assert not any(attributes.VOTE_VOIDED in item for item in vote_items())
    assert f'formaction="{unvoid_url}"' not in undone.content.decode()
    again = client.post(unvoid_url, follow=True)
    assert page_messages(again)[0].startswith(f"Nothing unvoided: void #{entry.pk} was undone")


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"reason": "x"}, "Give voter keys, or a time window."),
        ({"reason": "x", "voter_keys": "nope"}, "&#x27;nope&#x27; is not a voter key"),
        ({"reason": "x", "voter_keys": "f" * 32, "void": "1"}, "No vote is stored under voter"),
        (
            {"reason": "x", "received_from": "2026-11-26 20:00", "received_to": "2026-11-26 19:00"},
            "The time window ends before it starts.",
        ),
    ],
)
def test_the_void_page_says_what_is_wrong(client, counted_poll, form, error):
    response = client.post(void_url(counted_poll), form)

    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Invalidation.objects.exists()


def test_another_organisers_poll_has_no_void_page(counted_poll, alice):
    counted_poll.owner = alice
    counted_poll.save(update_fields=["owner"])
    mallory = logged_in(organiser("mallory"))

    assert mallory.get(void_url(counted_poll)).status_code == 404
    assert mallory.post(f"/admin/polls/poll/{counted_poll.pk}/unvoid/1/").status_code == 404


def test_a_link_can_fill_the_void_page_with_a_slice(client, counted_poll):
    query = "?received_from=2026-11-26+20:25&received_to=2026-11-26+20:30&region=GB&channel=sms"

    html = client.get(void_url(counted_poll) + query).content.decode()

    assert 'name="received_from" value="2026-11-26 20:25"' in html
    assert 'name="region" value="GB"' in html
    assert '<option value="sms" selected>SMS</option>' in html

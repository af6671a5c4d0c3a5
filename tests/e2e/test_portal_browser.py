"""The organiser's whole path in Chromium: log in, create a poll with three categories, open
it, watch texts sent to the local webhook arrive in the results panel, download both CSVs."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from deploy.local.resources import DEMO_NUMBER, DEV_TWILIO_AUTH_TOKEN
from lambdas.shared.config_doc import PollStatus
from loadgen.twilio_webhook import post_signed
from polls.colours import PALETTE
from polls.models import Poll
from tests.browser import chromium
from tests.factories import assign_number, organiser, sms

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PASSWORD = "a-long-organiser-password"
# (body, sender, country, state)
TEXTS = [
    ("A", "+15550300001", "US", "CA"),
    ("b", "+447700900301", "GB", ""),
    ("VOTE a", "+15550300002", "US", "CA"),
    ("Cherries?", "+15550300003", "US", "NY"),
    ("C.", "+15550300004", "US", "NY"),
]


def csv_rows(path: Path) -> list[list[str]]:
    data = path.read_bytes()
    assert data.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_an_organiser_runs_a_poll_from_the_browser(backend, live_server, fast_passwords):
    assign_number(organiser("olivia", PASSWORD), DEMO_NUMBER)  # a superuser gave her the number
    with chromium() as browser:
        page = browser.new_page(accept_downloads=True)
        problems: list[str] = []
        page.on(
            "console",
            lambda m: (
                problems.append(f"{m.text} {m.location['url']}") if m.type == "error" else None
            ),
        )
        page.on("pageerror", lambda error: problems.append(str(error)))

        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", "olivia")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.click("#content-main a[href='/admin/polls/poll/']")
        page.click(".object-tools a.addlink")
        page.fill("#id_question", "Best fruit?")
        page.press("#id_question", "Tab")
        assert page.input_value("#id_slug") == "best-fruit"  # filled in from the question
        page.fill("#id_number", DEMO_NUMBER)
        for row, (code, label) in enumerate([("A", "Apples"), ("B", "Bananas"), ("C", "Cherries")]):
            page.fill(f"#id_categories-{row}-label", label)
            page.fill(f"#id_categories-{row}-code", code)
        page.fill("#id_categories-2-aliases", "cherries")
        page.click("input[name=_continue]")
        page.wait_for_selector("text=was added successfully")

        page.click("button:has-text('Open now')")
        page.wait_for_selector("text=Opened “Best fruit?” and pushed version 1 to DynamoDB.")
        assert page.inner_text(".results-total") == "0"

        for body, sender, country, state in TEXTS:
            reply = post_signed(
                backend.webhook_url,
                sms(body, sender=sender, country=country, state=state),
                DEV_TWILIO_AUTH_TOKEN,
            )
            assert reply.status == 200 and "has been counted" in reply.body, reply
        # No reload: the panel refreshes itself.
        page.wait_for_function(
            "document.querySelector('.results-total').textContent === '5'", timeout=15_000
        )
        assert page.locator(".results-panel tbody tr").all_inner_texts() == [
            "A\tApples\t2\t40.0%",
            "B\tBananas\t1\t20.0%",
            "C\tCherries\t2\t40.0%",
        ]
        assert "no votes yet" not in page.inner_text(".results-updated")
        assert page.inner_text(".results-channels") == "SMS 5 (100.0%) · WhatsApp 0 (0.0%)"

        with page.expect_download() as results_download:
            page.click("text=Results CSV")
        with page.expect_download() as votes_download:
            page.click("text=Votes CSV")
        results = csv_rows(Path(results_download.value.path()))
        votes = csv_rows(Path(votes_download.value.path()))
        assert results_download.value.suggested_filename == "best-fruit-results.csv"
        assert votes_download.value.suggested_filename == "best-fruit-votes.csv"
        assert problems == [], problems

    # (Django refuses database calls while Playwright's event loop runs, so checked here.)
    assert Poll.objects.get(slug="best-fruit").status == PollStatus.OPEN
    assert results == [
        ["code", "label", "votes", "share_percent"],
        ["A", "Apples", "2", "40.0"],
        ["B", "Bananas", "1", "20.0"],
        ["C", "Cherries", "2", "40.0"],
        ["", "Total", "5", "100.0"],
        [],
        ["region", "votes", "share_percent"],
        ["US-CA", "2", "40.0"],
        ["US-NY", "2", "40.0"],
        ["GB", "1", "20.0"],
        [],
        ["channel", "votes", "share_percent"],
        ["sms", "5", "100.0"],
        ["whatsapp", "0", "0.0"],
    ]
    assert votes[0] == [
        "received_at",
        "category",
        "label",
        "voter_key",
        "region",
        "message_sid",
        "channel",
        "voided",
    ]
    assert sorted((row[1], row[4]) for row in votes[1:]) == [
        ("A", "US-CA"),
        ("A", "US-CA"),
        ("B", "GB"),
        ("C", "US-NY"),
        ("C", "US-NY"),
    ]
    text = "\n".join(",".join(row) for row in votes)
    assert not any(sender[-10:] in text for _, sender, _, _ in TEXTS)


def test_the_add_poll_page_fits_a_1280_pixel_window_and_new_rows_take_new_colours(
    live_server, fast_passwords
):
    organiser("olivia", PASSWORD)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", "olivia")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.goto(f"{live_server.url}/admin/polls/poll/add/")

        fits = "document.documentElement.scrollWidth <= innerWidth"
        assert page.evaluate(fits), page.evaluate("document.documentElement.scrollWidth")
        # The inline's right edge, its last column included, is inside the window.
        inline = page.locator("#categories-group").bounding_box()
        assert inline["x"] + inline["width"] <= 1280

        page.click("#categories-group .add-row a")
        page.click("#categories-group .add-row a")
        colours = page.locator("#categories-group input[type=color]:not([id*=__prefix__])")
        assert [colours.nth(i).input_value() for i in range(colours.count())] == list(PALETTE)
        assert page.evaluate(fits)

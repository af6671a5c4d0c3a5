"""The published dashboard in Chromium: texts sent to the webhook show up on the page."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import Page

from deploy.local.backend import LocalBackend
from deploy.local.resources import DEMO_NUMBER, DEV_TWILIO_AUTH_TOKEN
from lambdas.shared.config_doc import PollStatus
from loadgen.twilio_webhook import post_signed
from polls.services.dashboard import publish_dashboard
from tests.browser import chromium
from tests.emulator import MOTO_ENDPOINT
from tests.factories import make_poll, sms

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"


@pytest.fixture
def dashboard_url(backend) -> str:
    poll = make_poll(
        slug="demo",
        question="Which talk should open the conference?",
        categories=[
            {"code": "A", "label": "Serverless at scale", "colour": "#3b82f6"},
            {"code": "B", "label": "Designing for SMS", "colour": "#f59e0b"},
            {"code": "C", "label": "Exactly-once counting", "colour": "#10b981"},
        ],
        push=True,
        status=PollStatus.OPEN,
    )
    return publish_dashboard(poll)


def cell_texts(page: Page, rows: str) -> list[list[str]]:
    """The text of each cell of each row `rows` selects."""
    return page.locator(rows).evaluate_all(
        "rows => rows.map(row => [...row.cells].map(cell => cell.textContent))"
    )


def vote(backend: LocalBackend, body: str, sender: str, country: str = "US") -> None:
    response = post_signed(
        backend.webhook_url, sms(body, sender=sender, country=country), DEV_TWILIO_AUTH_TOKEN
    )
    assert response.status == 200, response


def test_votes_show_up_on_the_published_dashboard_within_two_seconds(backend, dashboard_url):
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(dashboard_url)
        page.wait_for_selector("#results-body tr")
        assert page.inner_text("#total") == "0"
        assert page.inner_text("#instructions") == f"Text A, B, C to {DEMO_NUMBER}"

        for n, (code, country) in enumerate([("A", "US"), ("b", "GB"), ("VOTE A", "US")]):
            vote(backend, code, f"+1555010{n:04d}", country)
        sent = time.monotonic()
        page.wait_for_function("document.getElementById('total').textContent === '3'", timeout=2000)
        latency = time.monotonic() - sent

        assert cell_texts(page, "#results-body tr") == [
            ["A Serverless at scale", "", "2", "66.7%"],  # the bar's cell has no text
            ["B Designing for SMS", "", "1", "33.3%"],
            ["C Exactly-once counting", "", "0", "0%"],
        ]
        assert page.is_visible("#regions")
        assert cell_texts(page, "#regions-body tr") == [
            ["US-CA", "2", "66.7%"],
            ["GB-CA", "1", "33.3%"],
        ]
        assert page.locator("#timeline-chart li").count() == 30  # the last 30 minutes
        assert page.is_hidden("#stale")
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        assert problems == [], problems
        print(f"vote-to-page latency {latency:.2f} s")


def test_a_failed_refresh_shows_stale_and_recovers(backend, dashboard_url):
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
        page.goto(dashboard_url)
        page.wait_for_selector("#results-body tr")

        def fail_reads(route):
            is_read = "GetItem" in (route.request.headers.get("x-amz-target") or "")
            return route.abort() if is_read else route.continue_()

        page.route(f"{MOTO_ENDPOINT}/**", fail_reads)
        page.wait_for_selector("#stale", state="visible", timeout=5000)
        assert "retrying in" in page.inner_text("#stale")
        page.unroute(f"{MOTO_ENDPOINT}/**")
        vote(backend, "C", "+15550200001")
        page.wait_for_function("document.getElementById('total').textContent === '1'", timeout=8000)
        assert page.is_hidden("#stale")

        heading_size = "parseFloat(getComputedStyle(document.querySelector('h1')).fontSize)"
        phone_size = page.evaluate(heading_size)
        page.click("#present")
        assert page.evaluate(heading_size) > 1.5 * phone_size

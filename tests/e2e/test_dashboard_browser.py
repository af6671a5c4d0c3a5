"""The published dashboard in Chromium: texts sent to the webhook show up on the page."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from deploy.local.backend import LocalBackend
from deploy.local.resources import DEV_TWILIO_AUTH_TOKEN
from lambdas.shared.config_doc import PollStatus
from loadgen.twilio_webhook import post_signed
from polls.models import Category, Poll
from polls.services.config_push import push_config
from polls.services.dashboard import publish_dashboard
from tests.browser import chromium
from tests.emulator import MOTO_ENDPOINT
from tests.helpers import sms

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"


@pytest.fixture
def dashboard_url(backend) -> str:
    owner = User.objects.create(username="owner")
    poll = Poll.objects.create(
        owner=owner,
        slug="demo",
        question="Which talk should open the conference?",
        number="+15005550006",
        status=PollStatus.OPEN,
    )
    for order, (code, label, colour) in enumerate(
        [
            ("A", "Serverless at scale", "#3b82f6"),
            ("B", "Designing for SMS", "#f59e0b"),
            ("C", "Exactly-once counting", "#10b981"),
        ]
    ):
        Category.objects.create(poll=poll, code=code, label=label, colour=colour, order=order)
    push_config(poll)
    return publish_dashboard(poll)


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
        assert "Text A, B, C to +15005550006" in page.inner_text("#instructions")

        for n, (code, country) in enumerate([("A", "US"), ("b", "GB"), ("VOTE A", "US")]):
            vote(backend, code, f"+1555010{n:04d}", country)
        sent = time.monotonic()
        page.wait_for_function("document.getElementById('total').textContent === '3'", timeout=2000)
        latency = time.monotonic() - sent

        rows = page.locator("#results-body tr").all_inner_texts()
        assert "A Serverless at scale" in rows[0] and "2" in rows[0] and "66.7%" in rows[0]
        assert "33.3%" in rows[1]
        assert page.is_visible("#regions") and "GB" in page.inner_text("#regions-body")
        assert page.locator("#timeline-chart li").count() >= 1
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

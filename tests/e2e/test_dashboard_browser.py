"""The published dashboard in Chromium: texts sent to the webhook show up on the page."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Route

from deploy.local.backend import LocalBackend
from deploy.local.resources import DEV_TWILIO_AUTH_TOKEN
from lambdas.shared.config_doc import PollStatus
from loadgen.twilio_webhook import post_signed
from polls.services.dashboard import publish_dashboard
from tests.browser import chromium
from tests.emulator import MOTO_ENDPOINT
from tests.factories import make_poll, sms

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

# How long a test waits for what the page should show within a second or two.
LATE_MS = 20_000


DASHBOARD_SRC = Path(__file__).resolve().parents[2] / "polls" / "dashboard" / "src"


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


def script_errors(page: Page) -> list[str]:
    """Errors the page's script throws or logs, as they happen. The browser's own network log
    of an error answer ("Failed to load resource: ... status of 400") is not one of them."""
    errors: list[str] = []

    def console(message) -> None:  # playwright's ConsoleMessage
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


class FaultyEmulator:
    """The emulator as the page sees it, answering chosen operations with an error the way AWS
    does (AWS JSON protocol: status 400, x-amzn-ErrorType and a `__type` naming the
    exception: ThrottlingException, ProvisionedThroughputExceededException, ...) for their
    next `times` calls, then passing them through again. `calls` counts every call of each
    operation (GetId, GetItem, ...); `failed` those answered with an error."""

    def __init__(self, page: Page) -> None:
        self.calls: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self._failures: dict[str, tuple[str, int]] = {}
        page.route(f"{MOTO_ENDPOINT}/**", self._answer)

    def fail(self, operation: str, error: str, times: int) -> None:
        self._failures[operation] = (error, times)

    def stop_failing(self, operation: str) -> None:
        self._failures.pop(operation, None)

    def _answer(self, route: Route) -> None:
        target = route.request.headers.get("x-amz-target") or ""
        operation = target.rpartition(".")[2]  # AWSCognitoIdentityService.GetId -> GetId
        if operation:
            self.calls[operation] += 1
        error, times = self._failures.get(operation, ("", 0))
        if times == 0:
            route.continue_()
            return
        self._failures[operation] = (error, times - 1)
        self.failed[operation] += 1
        route.fulfill(
            status=400,
            headers={
                "Content-Type": "application/x-amz-json-1.1",
                "x-amzn-ErrorType": error,
                "x-amzn-RequestId": f"failed-{self.failed.total()}",
            },
            body=json.dumps(
                {"__type": f"com.amazonaws.service#{error}", "message": f"{error} (simulated)"}
            ),
        )


def total_is(votes: int) -> str:
    return f"document.getElementById('total').textContent === '{votes}'"


def test_votes_show_up_on_the_published_dashboard(backend, dashboard_url):
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.clock.install()  # time runs as usual, and the test can move it on
        page.goto(dashboard_url)
        page.wait_for_selector("#results-body tr")
        assert page.inner_text("#total") == "0"
        assert page.inner_text("#instructions") == "Text A, B, C to (500) 555-0006"

        for n, (code, country) in enumerate([("A", "US"), ("b", "GB"), ("VOTE A", "US")]):
            vote(backend, code, f"+1555010{n:04d}", country)
        sent = time.monotonic()
        # The tally publishes within a second and the page reads every second: about 1-2 s on
        # an idle machine (printed below). The test asserts that they arrive, not how fast: a
        # busy machine running the suite on every core takes longer.
        page.wait_for_function(
            "document.getElementById('total').textContent === '3'", timeout=LATE_MS
        )
        latency = time.monotonic() - sent

        assert cell_texts(page, "#results-body tr") == [
            # The bar's cell has no text; the last is the link a phone shows.
            ["A Serverless at scale Leading", "", "2", "66.7%", "Tap to vote"],
            ["B Designing for SMS ", "", "1", "33.3%", "Tap to vote"],
            ["C Exactly-once counting ", "", "0", "0%", "Tap to vote"],
        ]
        # Regions and the timeline are read every 15 s (DETAIL_REFRESH_MS), not every second.
        assert page.is_hidden("#regions")
        page.clock.run_for(16_000)
        page.wait_for_selector("#regions", state="visible", timeout=LATE_MS)
        assert cell_texts(page, "#regions-body tr") == [  # by name; the bar has no text
            ["United States (CA)", "", "2", "66.7%"],
            ["United Kingdom (CA)", "", "1", "33.3%"],
        ]
        region_bars = "[...document.querySelectorAll('#regions-body .bar')].map(b => b.style.width)"
        assert page.evaluate(region_bars) == ["100%", "50%"]  # the largest region fills its cell
        assert page.locator("#timeline-chart li").count() == 30  # the last 30 minutes
        assert page.locator("#timeline-axis span").count() == 3  # first, middle, last minute
        assert re.fullmatch(r"Most in a minute: [123]", page.inner_text("#timeline-peak"))
        assert page.is_hidden("#stale")
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
        assert page.inner_text("#stale").startswith("Retrying — showing results from ")
        page.unroute(f"{MOTO_ENDPOINT}/**")
        vote(backend, "C", "+15550200001")
        # The next attempt comes within the backoff's cap (10 s).
        page.wait_for_function(total_is(1), timeout=15000)
        assert page.is_hidden("#stale")

        # The same page on a full-HD screen: the button switches to presenter mode and back.
        page.set_viewport_size({"width": 1920, "height": 1080})
        heading_size = "parseFloat(getComputedStyle(document.querySelector('h1')).fontSize)"
        normal_size = page.evaluate(heading_size)
        page.click("#present")
        assert page.evaluate(heading_size) > 1.5 * normal_size
        assert page.get_attribute("#present", "aria-pressed") == "true"
        page.click("#present")
        assert page.evaluate(heading_size) == normal_size
        assert page.get_attribute("#present", "aria-pressed") == "false"


AGE = re.compile(r"^Retrying — showing results from (\d+) s ago$")


def test_a_throttled_page_keeps_its_last_totals_with_their_age_and_recovers(backend, dashboard_url):
    vote(backend, "A", "+15550300001")
    vote(backend, "B", "+15550300002")
    with chromium() as browser:
        page = browser.new_page()
        errors = script_errors(page)
        emulator = FaultyEmulator(page)

        # A crowd arrives: Cognito throttles the first GetId calls. The page says so and
        # still shows how to vote, then gets its identity and the totals.
        emulator.fail("GetId", "ThrottlingException", times=2)
        page.goto(dashboard_url)
        page.wait_for_selector("#stale", state="visible", timeout=10000)
        assert page.inner_text("#stale") == "Retrying — results not loaded yet"
        assert page.inner_text("#instructions") == "Text A, B, C to (500) 555-0006"
        page.wait_for_function(total_is(2), timeout=30000)
        assert page.is_hidden("#stale")
        assert emulator.failed == Counter({"GetId": 2})
        assert emulator.calls["GetId"] == 3

        # The aggregate item is throttled while a vote comes in: the page keeps the totals it
        # had, says they are getting older, then shows the new ones once reads pass again.
        emulator.fail("GetItem", "ProvisionedThroughputExceededException", times=10_000)
        vote(backend, "C", "+15550300003")
        page.wait_for_function(
            "(() => { const m = /from (\\d+) s ago$/.exec(document.getElementById('stale')"
            ".textContent); return m !== null && Number(m[1]) >= 3; })()",
            timeout=15000,
        )
        seen = page.evaluate(
            "[document.getElementById('stale').textContent, "
            "document.getElementById('total').textContent]"
        )
        assert AGE.match(seen[0]) and seen[1] == "2", seen
        assert cell_texts(page, "#results-body tr") == [
            ["A Serverless at scale Leading", "", "1", "50%", "Tap to vote"],
            ["B Designing for SMS Leading", "", "1", "50%", "Tap to vote"],
            ["C Exactly-once counting ", "", "0", "0%", "Tap to vote"],
        ]
        emulator.stop_failing("GetItem")
        page.wait_for_function(total_is(3), timeout=15000)  # within the backoff's cap (10 s)
        assert page.is_hidden("#stale")
        assert cell_texts(page, "#results-body tr")[2] == [
            "C Exactly-once counting Leading",
            "",
            "1",
            "33.3%",
            "Tap to vote",
        ]
        assert emulator.failed["GetItem"] >= 1

        # The identity id is cached: a reload asks Cognito for credentials, not for an id.
        page.reload()
        page.wait_for_function(total_is(3), timeout=10000)
        assert emulator.calls["GetId"] == 3
        assert errors == [], errors


def page_showing_results(browser: Browser, url: str) -> tuple[Page, list[str], FaultyEmulator]:
    """A page showing the dashboard at `url` after one GetId; its script errors; its emulator."""
    page = browser.new_page()
    errors = script_errors(page)
    emulator = FaultyEmulator(page)
    page.goto(url)
    page.wait_for_selector("#results-body tr", timeout=10000)
    assert emulator.calls["GetId"] == 1
    return page, errors, emulator


def test_throttled_credentials_do_not_make_the_page_forget_its_identity(backend, dashboard_url):
    with chromium() as browser:
        page, errors, emulator = page_showing_results(browser, dashboard_url)

        # More throttled answers than the SDK's own three attempts: the page's call fails.
        emulator.fail("GetCredentialsForIdentity", "TooManyRequestsException", times=3)
        page.reload()
        page.wait_for_selector("#stale", state="visible", timeout=10000)
        assert page.inner_text("#stale") == "Retrying — results not loaded yet"
        page.wait_for_selector("#results-body tr", timeout=30000)
        assert emulator.failed == Counter({"GetCredentialsForIdentity": 3})

        page.reload()
        page.wait_for_selector("#results-body tr", timeout=10000)
        assert page.is_hidden("#stale")
        assert emulator.calls["GetId"] == 1
        assert errors == [], errors


def test_an_identity_cognito_rejects_is_forgotten_and_a_new_one_fetched(backend, dashboard_url):
    with chromium() as browser:
        page, errors, emulator = page_showing_results(browser, dashboard_url)

        # The cached identity was deleted or disabled: Cognito refuses it for good.
        emulator.fail("GetCredentialsForIdentity", "NotAuthorizedException", times=1)
        page.reload()
        page.wait_for_selector("#results-body tr", timeout=30000)
        assert emulator.failed == Counter({"GetCredentialsForIdentity": 1})
        assert emulator.calls["GetId"] == 2

        page.reload()  # the new identity is the one cached
        page.wait_for_selector("#results-body tr", timeout=10000)
        assert emulator.calls["GetId"] == 2
        assert errors == [], errors


def evaluate_page_module(module: str, expression: str) -> Any:
    """`expression`'s value, evaluated by Node with polls/dashboard/src/<module>.js imported as
    `m`: the page's pure rules, checked exactly, without a browser or a clock."""
    node = shutil.which("node")
    assert node, "Node.js is missing (the dashboard's build needs it too: see the README)"
    source = (DASHBOARD_SRC / f"{module}.js").as_uri()
    script = f"import * as m from {json.dumps(source)}; console.log(JSON.stringify({expression}));"
    run = subprocess.run(
        [node, "--no-warnings", "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(run.stdout)


def test_retries_wait_a_random_time_up_to_a_window_that_doubles_up_to_ten_seconds():
    """Full jitter: after n failures in a row, a uniformly random wait in
    [0, min(10 s, 1 s * 2^n)), so a throttled crowd's retries spread out, not in waves."""
    windows = "[1, 2, 3, 4, 5, 12].map((n) => m.retryDelayMs(n, () => RANDOM))"
    assert evaluate_page_module("retry", windows.replace("RANDOM", "1")) == [
        2000,
        4000,
        8000,
        10000,
        10000,
        10000,
    ]
    assert evaluate_page_module("retry", windows.replace("RANDOM", "0.25")) == [
        500,
        1000,
        2000,
        2500,
        2500,
        2500,
    ]
    assert evaluate_page_module("retry", windows.replace("RANDOM", "0")) == [0, 0, 0, 0, 0, 0]


def test_throttling_server_errors_and_lost_connections_are_transient_rejections_are_not():
    statuses = {  # an SDK error's name and its answer's HTTP status (None: no answer came)
        "ThrottlingException": 400,
        "ProvisionedThroughputExceededException": 400,
        "TooManyRequestsException": 400,
        "InternalServerError": 500,
        "ServiceUnavailable": 503,
        "TypeError": None,
        "NotAuthorizedException": 400,
        "ResourceNotFoundException": 400,
        "AccessDeniedException": 400,
    }
    errors = [
        {"name": name} | ({"$metadata": {"httpStatusCode": status}} if status else {})
        for name, status in statuses.items()
    ]
    transient = evaluate_page_module("retry", f"{json.dumps(errors)}.map((e) => m.isTransient(e))")
    assert dict(zip(statuses, transient, strict=True)) == {
        "ThrottlingException": True,
        "ProvisionedThroughputExceededException": True,
        "TooManyRequestsException": True,
        "InternalServerError": True,
        "ServiceUnavailable": True,
        "TypeError": True,
        "NotAuthorizedException": False,
        "ResourceNotFoundException": False,
        "AccessDeniedException": False,
    }


def test_regions_are_shown_by_their_countrys_name():
    regions = ["US-CA", "GB", "", "XX", "1234"]
    names = evaluate_page_module("view", f"{json.dumps(regions)}.map(m.regionName)")
    assert names == ["United States (CA)", "United Kingdom", "Unknown", "XX", "1234"]

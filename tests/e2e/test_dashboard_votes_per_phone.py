"""The results page of a poll with several votes per phone (issue 16, section 1): the votes and
the distinct voters, in all and per choice, read from the viewer item the tally publishes, in
the normal, presenter and phone layouts and in what screen readers hear."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from deploy.local.backend import LocalBackend
from lambdas.shared.config_doc import PollStatus
from polls.services.dashboard import publish_dashboard
from tests.browser import chromium
from tests.e2e.test_dashboard_browser import (
    LATE_MS,
    cell_texts,
    evaluate_page_module,
    script_errors,
    total_is,
    vote,
)
from tests.e2e.test_dashboard_layout import LAYOUT, PHONE, SCREENS
from tests.factories import make_poll

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

CATEGORIES = [
    {"code": "A", "label": "Serverless at scale", "colour": "#3b82f6"},
    {"code": "B", "label": "Designing for SMS", "colour": "#f59e0b"},
    {"code": "C", "label": "Exactly-once counting", "colour": "#10b981"},
]
# (sender, what it texts): four phones, ten votes. A: 3 + 1 from two phones, B: 2 + 1 from
# two, C: 3 from one.
TEXTS = [
    ("+15550500001", "A 3"),
    ("+15550500002", "A"),
    ("+15550500001", "B 2"),
    ("+15550500003", "3 C"),
    ("+15550500004", "B"),
]
VOTERS = ["from 2 voters", "from 2 voters", "from 1 voter"]
ANNOUNCED = (
    "10 votes from 4 voters. Serverless at scale: 4 votes from 2 voters (40%), "
    "Designing for SMS: 3 votes from 2 voters (30%), "
    "Exactly-once counting: 3 votes from 1 voter (30%)."
)

# Each part of a choice's row and of the total that shows the voters: its text, whether it is
# on the screen, and whether it lies inside its row (nothing cut off or spilling over).
VOTERS_SHOWN = """() => {
  const shown = (line, row) => {
    const r = line.getBoundingClientRect();
    const box = row.getBoundingClientRect();
    return { text: line.textContent, visible: line.getClientRects().length > 0 && r.width > 0,
             inside: r.top >= box.top - 0.5 && r.bottom <= box.bottom + 0.5
               && r.left >= box.left - 0.5 && r.right <= box.right + 0.5
               && line.scrollWidth <= Math.ceil(r.width) };
  };
  const rows = [...document.querySelectorAll("#results-body tr")];
  const total = document.getElementById("voters");
  return {
    rows: rows.map((row) => shown(row.querySelector(".voters"), row.cells[0])),
    total: shown(total, total.closest("tr")),
  };
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with pytest.MonkeyPatch.context() as patch, chromium() as browser:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield browser


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    page = browser.new_page()
    errors = script_errors(page)
    yield page
    page.close()
    assert errors == [], errors


@pytest.fixture
def several_votes_url(backend: LocalBackend) -> str:
    """A published, open poll giving each phone 10 votes, with the TEXTS sent to its webhook."""
    url = publish_dashboard_of_an_open_poll(votes_per_phone=10)
    for sender, text in TEXTS:
        vote(backend, text, sender)
    return url


def publish_dashboard_of_an_open_poll(**fields: object) -> str:
    poll = make_poll(
        slug="demo",
        question="Which talk should open the conference?",
        categories=CATEGORIES,
        push=True,
        status=PollStatus.OPEN,
        **fields,
    )
    return publish_dashboard(poll)


def test_the_page_shows_the_votes_and_the_voters_who_cast_them(several_votes_url, page):
    page.set_viewport_size({"width": 1100, "height": 900})
    page.clock.install()  # time runs as usual, and the test can move it on
    page.goto(several_votes_url)
    page.wait_for_function(total_is(10), timeout=LATE_MS)

    assert page.inner_text("#voters") == "from 4 voters"
    assert [row[2:4] for row in cell_texts(page, "#results-body tr")] == [
        ["4", "40%"],
        ["3", "30%"],
        ["3", "30%"],
    ]
    assert page.locator("#results-body .voters").all_inner_texts() == VOTERS
    assert page.evaluate(LAYOUT)["leaders"] == ["Leading", "", ""]
    # Screen readers hear the voters too (the first totals shown may have been partial: the
    # next announcement comes 10 s after the last).
    page.clock.run_for(10_000)
    page.wait_for_function(
        f"document.getElementById('announcer').textContent === {json.dumps(ANNOUNCED)}",
        timeout=LATE_MS,
    )


def test_the_voters_show_whole_on_a_phone_and_on_each_presenter_screen(several_votes_url, page):
    for viewport, present in [(PHONE, False), *((screen, True) for screen in SCREENS)]:
        page.set_viewport_size(viewport)
        page.goto(several_votes_url + ("?present" if present else ""))
        page.wait_for_function(total_is(10), timeout=LATE_MS)
        page.wait_for_timeout(700)  # the bars' widths animate for 0.6 s

        layout = page.evaluate(LAYOUT)
        assert layout["scrollWidth"] <= layout["width"], (viewport, layout)
        if present:
            assert layout["scrollHeight"] <= layout["height"], (viewport, layout)
            assert layout["bars"] >= 0.6 * layout["height"], (viewport, layout)
        shown = page.evaluate(VOTERS_SHOWN)
        assert shown["rows"] == [
            {"text": text, "visible": True, "inside": True} for text in VOTERS
        ], (viewport, shown)
        assert shown["total"] == {"text": "from 4 voters", "visible": True, "inside": True}


def test_ten_choices_with_their_voters_fill_a_presenter_screen_without_scroll_bars(backend, page):
    poll = make_poll(
        slug="many",
        question="Which of these talks should open the conference next year, do you think?",
        categories=[(f"{n}", f"Talk number {n} with a longish title") for n in range(10)],
        push=True,
        status=PollStatus.OPEN,
        votes_per_phone=100,
    )
    url = publish_dashboard(poll) + "?present"
    for viewport in SCREENS:
        page.set_viewport_size(viewport)
        page.goto(url)
        page.wait_for_function("document.getElementById('voters')?.textContent === 'from 0 voters'")

        layout = page.evaluate(LAYOUT)
        assert layout["scrollWidth"] <= layout["width"], (viewport, layout)
        assert layout["scrollHeight"] <= layout["height"], (viewport, layout)
        assert layout["bars"] >= 0.6 * layout["height"], (viewport, layout)
        shown = page.evaluate(VOTERS_SHOWN)
        assert all(row["visible"] and row["inside"] for row in shown["rows"]), (viewport, shown)


def test_a_poll_with_one_vote_per_phone_shows_no_voters(backend, page):
    url = publish_dashboard_of_an_open_poll()
    vote(backend, "A", "+15550500001")
    page.goto(url)
    page.wait_for_function(total_is(1), timeout=LATE_MS)

    assert page.locator(".voters").count() == 0
    assert page.evaluate("document.body.classList.contains('several-votes')") is False


def test_the_voters_are_read_from_the_viewer_item_and_said_in_words():
    parsed = (
        "m.parseAggregate({total: {S: '000000000005'}, voters: {S: '000000000002'}, "
        "'n:A': {S: '000000000005'}, 'v:A': {S: '000000000002'}})"
    )
    assert evaluate_page_module("aggregate", f"[{parsed}.voters, {parsed}.votersOf]") == [
        2,
        {"A": 2},
    ]
    assert evaluate_page_module("aggregate", "[m.parseAggregate({}).voters]") == [0]

    config = {"categories": [{"code": "A", "label": "Apples"}, {"code": "B", "label": "Pears"}]}
    result = {"total": 1, "counts": {"A": 1}, "voters": 1, "votersOf": {"A": 1}}
    sentences = evaluate_page_module(
        "view",
        f"[1, 10].map((n) => m.totalsSentence({{...{json.dumps(config)}, votesPerPhone: n}}, "
        f"{json.dumps(result)}))",
    )
    assert sentences == [
        "1 votes. Apples: 1 (100%), Pears: 0 (0%).",  # one vote per phone: as before
        "1 vote from 1 voter. Apples: 1 vote from 1 voter (100%), "
        "Pears: 0 votes from 0 voters (0%).",
    ]

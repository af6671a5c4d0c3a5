"""The published demo poll in Chromium at a phone's, a laptop's, a full-HD and a 4K screen's
size, in normal and presenter mode: it fits, its colours differ, it says how to vote (the
number as its country writes it, QR codes and links that open the messaging app with the vote
filled in), it tells screen readers the totals without flooding them, and in presenter mode
it shows the votes per minute and the regions beside the bars unless told `bars-only`."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import zxingcpp
from django.core.management import call_command
from PIL import Image
from playwright.sync_api import Browser, Page

from deploy.local.backend import LocalBackend
from deploy.local.resources import DEMO_NUMBER, DEV_TWILIO_AUTH_TOKEN
from lambdas.shared.config_doc import PollStatus
from loadgen.twilio_webhook import post_signed
from polls.models import Poll
from polls.services.dashboard import publish_dashboard
from polls.services.results import read_totals
from tests.browser import chromium
from tests.factories import make_poll, sms

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

# `make screenshots` sets this to docs/ to rewrite the README's pictures of the page; any other
# run takes them into a temporary directory (and so still checks that they can be taken).
SCREENSHOTS_DIR = os.environ.get("TEXTVOTE_SCREENSHOTS_DIR")
PHONE = {"width": 390, "height": 844}
SCREENS = [
    {"width": 1280, "height": 720},
    {"width": 1920, "height": 1080},
    {"width": 3840, "height": 2160},
]
DEMO_URIS = [f"sms:{DEMO_NUMBER}?body={code}" for code in "ABC"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One browser for the module. Playwright's sync API keeps an event loop on this thread,
    which Django takes for async code: the ORM calls the tests make between page actions are
    not, so they are allowed."""
    with pytest.MonkeyPatch.context() as patch, chromium() as browser:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield browser


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    yield page
    page.close()
    assert problems == [], problems


def vote(backend: LocalBackend, body: str, sender: str) -> None:
    response = post_signed(backend.webhook_url, sms(body, sender=sender), DEV_TWILIO_AUTH_TOKEN)
    assert response.status == 200, response


@pytest.fixture
def demo_url(backend: LocalBackend) -> str:
    """The demo poll as `make run` makes it (seed_demo), published, with 3, 2 and 1 votes."""
    call_command("seed_demo", stdout=io.StringIO())
    for n, code in enumerate("AAABBC"):
        vote(backend, code, f"+1555040{n:04d}")
    # The page's first read shows all six (the tally runs behind the stream poller's thread).
    deadline = time.monotonic() + 30
    while read_totals(["demo"])["demo"] != 6:
        assert time.monotonic() < deadline, "the six votes were never published"
        time.sleep(0.1)
    return publish_dashboard(Poll.objects.get(slug="demo"))


def show(page: Page, url: str, viewport: dict[str, int], total: str = "6") -> float:
    """Load `url` at `viewport` until it shows `total` votes and its bars have stopped moving;
    the seconds from the start of the load until the totals showed."""
    page.set_viewport_size(viewport)
    started = time.monotonic()
    page.goto(url)
    page.wait_for_function(f"document.getElementById('total').textContent === '{total}'")
    first_render = time.monotonic() - started
    page.wait_for_timeout(700)  # the bars' widths animate for 0.6 s
    return first_render


LAYOUT = """() => {
  const rect = (selector) => document.querySelector(selector).getBoundingClientRect();
  const visible = (e) => e.getClientRects().length > 0
    && getComputedStyle(e).visibility !== "hidden";
  const all = (selector) => [...document.querySelectorAll(selector)];
  const root = document.documentElement;
  return {
    scrollWidth: root.scrollWidth, scrollHeight: root.scrollHeight,
    width: innerWidth, height: innerHeight,
    bars: rect("#results-body").height,
    barColours: all("#results-body .bar").map((b) => getComputedStyle(b).backgroundColor),
    number: document.querySelector("#instructions .phone-number")?.textContent ?? null,
    qrCodes: all("#qr-codes svg").filter(visible).length,
    live: document.querySelectorAll("#announcer[aria-live=polite]").length,
    leaders: all("#results-body .leader").map((leader) => leader.textContent),
    tapLinks: all(".tap-to-vote").filter(visible).map((a) => a.getAttribute("href")),
    smallTargets: all("a, button").filter(visible)
      .map((e) => e.getBoundingClientRect()).filter((r) => r.width < 44 || r.height < 44).length,
    headingSize: parseFloat(getComputedStyle(document.querySelector("h1")).fontSize),
  };
}"""


def test_the_demo_poll_fits_a_phone_in_one_column_with_a_tap_to_vote_link_per_choice(
    demo_url, page
):
    first_render = show(page, demo_url, PHONE)
    print(f"first render of the totals {first_render:.2f} s after the load began")  # reported

    layout = page.evaluate(LAYOUT)
    assert layout["scrollWidth"] <= layout["width"], layout
    assert len(set(layout["barColours"])) == 3, layout
    assert layout["number"] == "(500) 555-0006"
    assert layout["live"] == 1
    assert layout["tapLinks"] == DEMO_URIS
    assert layout["smallTargets"] == 0, layout
    assert layout["leaders"] == ["Leading", "", ""]
    # One column: each choice's bar under its label, the QR codes under the results.
    label, bar = (page.locator("#results-body tr").first.locator(s) for s in (".label", ".bar"))
    assert bar.bounding_box()["y"] >= label.bounding_box()["y"] + label.bounding_box()["height"]
    results, qr = (page.locator(s).bounding_box() for s in ("#results", "#how-to-vote"))
    assert qr["y"] >= results["y"] + results["height"]
    assert qr["x"] == results["x"]


# The timeline and the regions: where each shows on the screen, its smallest type, its text
# that lies outside it (cut off), and the regions listed, largest first, with "+N more".
DETAIL = """() => {
  const visible = (e) => e.getClientRects().length > 0
    && getComputedStyle(e).visibility !== "hidden";
  const section = (id) => {
    const element = document.getElementById(id);
    if (!visible(element)) return null;
    const box = element.getBoundingClientRect();
    const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
    const sizes = [];
    const outside = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const text = node.parentElement;
      if (!node.textContent.trim() || !visible(text)) continue;
      sizes.push(parseFloat(getComputedStyle(text).fontSize));
      // The text's own box, not its element's: text that runs out of its cell counts, except
      // where it is meant to end in "…".
      const range = document.createRange();
      range.selectNodeContents(node);
      const r = range.getBoundingClientRect();
      const cut = getComputedStyle(text).textOverflow === "ellipsis";
      if (r.top < box.top || r.bottom > box.bottom
          || (!cut && (r.left < box.left || r.right > box.right))) {
        outside.push(node.textContent.trim());
      }
    }
    return { top: box.top, left: box.left, bottom: box.bottom, right: box.right,
             smallestFont: Math.min(...sizes), outside };
  };
  const more = document.getElementById("regions-more");
  const rows = [...document.querySelectorAll("#regions-body tr")];
  return {
    timeline: section("timeline"),
    regions: section("regions"),
    timeLabels: document.querySelectorAll("#timeline-axis span").length,
    regionNames: rows.map((row) => row.cells[0].textContent),
    regionVotes: rows.map((row) => Number(row.cells[2].textContent.replace(/,/g, ""))),
    more: visible(more) ? more.textContent : null,
  };
}"""


def assert_readable_beside_the_bars(detail: dict, viewport: dict[str, int]) -> None:
    """The timeline and the regions are on the screen, beside (not under) the bars, whole,
    with type of at least 1.2 % of the screen's height."""
    for name in ("timeline", "regions"):
        box = detail[name]
        assert box is not None, (name, viewport, detail)
        assert box["left"] >= 0 and box["right"] <= viewport["width"], (name, viewport, box)
        assert box["top"] >= 0 and box["bottom"] <= viewport["height"], (name, viewport, box)
        assert box["smallestFont"] >= 0.012 * viewport["height"], (name, viewport, box)
        assert box["outside"] == [], (name, viewport, box)
    assert detail["timeLabels"] == 3


@pytest.mark.parametrize("present", [False, True], ids=["normal", "presenter"])
def test_the_demo_poll_fits_each_screen(demo_url, page, present):
    sizes = []
    for viewport in SCREENS:
        show(page, demo_url + ("?present" if present else ""), viewport)

        layout = page.evaluate(LAYOUT)
        assert layout["scrollWidth"] <= layout["width"], (viewport, layout)
        assert len(set(layout["barColours"])) == 3, layout
        assert layout["number"] == "(500) 555-0006"
        assert layout["qrCodes"] == 3
        assert layout["live"] == 1
        assert layout["tapLinks"] == []  # no phone: the QR codes say how to vote
        assert layout["leaders"] == ["Leading", "", ""]
        if present:
            assert layout["scrollHeight"] <= layout["height"], (viewport, layout)
            assert layout["bars"] >= 0.6 * layout["height"], (viewport, layout)
            detail = page.evaluate(DETAIL)
            assert_readable_beside_the_bars(detail, viewport)
            assert detail["regionNames"] == ["United States (CA)"]
            assert detail["more"] is None
        sizes.append(layout["headingSize"])
    if present:  # type grows with the screen
        assert sizes[0] < sizes[1] < sizes[2], sizes


# (choices, QR codes): a code per choice up to 6, else one for the number.
@pytest.mark.parametrize(("choices", "qr_codes"), [(6, 6), (10, 1)])
def test_up_to_ten_choices_fill_a_presenter_screen_without_scroll_bars(
    backend, page, choices, qr_codes
):
    poll = make_poll(
        slug="many",
        question="Which of these talks should open the conference next year, do you think?",
        categories=[(f"{n}", f"Talk number {n} with a longish title") for n in range(choices)],
        push=True,
        status=PollStatus.OPEN,
    )
    url = publish_dashboard(poll) + "?present"
    for viewport in SCREENS:
        show(page, url, viewport, total="0")

        layout = page.evaluate(LAYOUT)
        assert layout["scrollWidth"] <= layout["width"], (viewport, layout)
        assert layout["scrollHeight"] <= layout["height"], (viewport, layout)
        assert layout["bars"] >= 0.6 * layout["height"], (viewport, layout)
        assert layout["qrCodes"] == qr_codes


# 50 countries (Twilio's FromCountry): the first three with 4, 3 and 2 votes, the rest with one.
# fmt: off
COUNTRIES = [
    "JP", "DE", "FR", "GB", "IT", "ES", "PT", "NL", "BE", "LU",
    "IE", "DK", "NO", "SE", "FI", "IS", "EE", "LV", "LT", "PL",
    "CZ", "SK", "AT", "CH", "HU", "SI", "HR", "RS", "BA", "ME",
    "AL", "MK", "GR", "BG", "RO", "MD", "UA", "TR", "CY", "MT",
    "MX", "BR", "AR", "CL", "PE", "CO", "AU", "NZ", "ZA", "IN",
]
# fmt: on


def test_fifty_regions_and_ten_choices_fit_a_presenter_screen_with_the_largest_regions_listed(
    backend, page
):
    poll = make_poll(
        slug="many",
        question="Which of these talks should open the conference next year, do you think?",
        categories=[(f"{n}", f"Talk number {n} with a longish title") for n in range(10)],
        push=True,
        status=PollStatus.OPEN,
    )
    senders = (country for n, country in enumerate(COUNTRIES) for _ in range(max(1, 4 - n)))
    votes = 0
    for votes, country in enumerate(senders, start=1):
        params = sms(str(votes % 10), sender=f"+1555041{votes:04d}", country=country, state="")
        response = post_signed(backend.webhook_url, params, DEV_TWILIO_AUTH_TOKEN)
        assert response.status == 200, response
    url = publish_dashboard(poll) + "?present"
    show(page, url, SCREENS[0], total=str(votes))  # every vote tallied: the loads below read all

    for viewport in SCREENS:
        show(page, url, viewport, total=str(votes))

        layout = page.evaluate(LAYOUT)
        assert layout["scrollWidth"] <= layout["width"], (viewport, layout)
        assert layout["scrollHeight"] <= layout["height"], (viewport, layout)
        assert layout["bars"] >= 0.6 * layout["height"], (viewport, layout)
        detail = page.evaluate(DETAIL)
        assert_readable_beside_the_bars(detail, viewport)
        listed = len(detail["regionNames"])
        assert 5 <= listed < 50, (viewport, detail)
        assert detail["regionNames"][:3] == ["Japan", "Germany", "France"]
        assert detail["regionVotes"] == [4, 3, 2] + [1] * (listed - 3)
        assert detail["more"] == f"+{50 - listed} more"

    page.click("#present")  # a normal page lists the largest ten
    detail = page.evaluate(DETAIL)
    assert len(detail["regionNames"]) == 10
    assert detail["more"] == "+40 more"


def test_a_presenter_screen_shows_the_bars_alone_with_bars_only(demo_url, page):
    show(page, demo_url + "?present&bars-only", SCREENS[1])

    layout = page.evaluate(LAYOUT)
    assert layout["scrollHeight"] <= layout["height"], layout
    assert layout["bars"] >= 0.6 * layout["height"], layout
    assert layout["qrCodes"] == 3
    detail = page.evaluate(DETAIL)
    assert detail["timeline"] is None and detail["regions"] is None, detail
    page.click("#present")  # a normal page shows them
    detail = page.evaluate(DETAIL)
    assert detail["timeline"] is not None and detail["regions"] is not None, detail


def decoded_qr_codes(page: Page) -> list[str]:
    """What a phone's camera reads from each QR code on the screen (zxing-cpp)."""
    texts = []
    for code in page.locator("#qr-codes svg").all():
        image = Image.open(io.BytesIO(code.screenshot()))
        texts.extend(result.text for result in zxingcpp.read_barcodes(image))
    return texts


def test_the_qr_codes_open_the_messaging_app_with_each_vote_filled_in(demo_url, page):
    show(page, demo_url + "?present", SCREENS[1])

    assert decoded_qr_codes(page) == DEMO_URIS
    assert page.locator("#qr-codes figcaption").all_inner_texts() == [
        "A Serverless at scale",
        "B Designing for SMS",
        "C Exactly-once counting",
    ]


def test_a_closed_poll_shows_final_results_with_the_winner(demo_url, page):
    Poll.objects.filter(slug="demo").update(status=PollStatus.CLOSED)
    publish_dashboard(Poll.objects.get(slug="demo"))
    show(page, demo_url + "?present", SCREENS[1])

    assert page.inner_text("#status") == "Voting closed — final results"
    assert page.evaluate(LAYOUT)["leaders"] == ["Winner", "", ""]
    assert page.is_hidden("#how-to-vote")
    assert page.inner_text("#instructions") == ""


def test_the_totals_are_announced_to_screen_readers_at_most_every_ten_seconds(
    backend, demo_url, page
):
    page.clock.install()  # time runs as usual, and the test can move it on
    show(page, demo_url, SCREENS[0])
    announced = "6 votes. Serverless at scale: 3 (50%), Designing for SMS: 2 (33.3%), "
    assert page.inner_text("#announcer") == announced + "Exactly-once counting: 1 (16.7%)."

    vote(backend, "C", "+15550409999")
    page.wait_for_function("document.getElementById('total').textContent === '7'")
    assert page.inner_text("#announcer").startswith("6 votes.")  # not yet: 10 s have not passed
    page.clock.run_for(10_000)
    page.wait_for_function(
        "document.getElementById('announcer').textContent.startsWith('7 votes.')", timeout=3000
    )


def test_bars_move_smoothly_unless_the_viewer_asks_for_less_motion(demo_url, page):
    show(page, demo_url, SCREENS[0])
    transition = "getComputedStyle(document.querySelector('.bar')).transitionDuration"
    assert page.evaluate(transition) == "0.6s"
    page.emulate_media(reduced_motion="reduce")
    assert page.evaluate(transition) == "0s"


LOW_CONTRAST_TEXT = """() => {
  const rgb = (colour) => colour.match(/[\\d.]+/g).map(Number);
  const luminance = ([r, g, b]) => {
    const linear = (c) => (c /= 255) <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  };
  const background = (element) => {
    for (let e = element; e; e = e.parentElement) {
      const colour = rgb(getComputedStyle(e).backgroundColor);
      if (colour.length < 4 || colour[3] > 0) return colour;
    }
    return [255, 255, 255];
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const low = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const element = node.parentElement;
    if (!node.textContent.trim() || !element.getClientRects().length) continue;
    const a = luminance(rgb(getComputedStyle(element).color));
    const b = luminance(background(element));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) low.push(`${node.textContent.trim()}: ${ratio.toFixed(2)}`);
  }
  return low;
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_all_text_has_a_contrast_of_at_least_4_5_to_1(demo_url, page, scheme):
    page.emulate_media(color_scheme=scheme)
    for url, viewport in [(demo_url, PHONE), (demo_url + "?present", SCREENS[1])]:
        show(page, url, viewport)
        page.click("#present")  # the other mode too: normal on a full-HD screen, presenter
        assert page.evaluate(LOW_CONTRAST_TEXT) == [], (scheme, url)
        page.click("#present")
        assert page.evaluate(LOW_CONTRAST_TEXT) == [], (scheme, url)


def test_the_readmes_pictures_of_the_presenter_screen_and_the_phone(demo_url, page, tmp_path):
    directory = Path(SCREENSHOTS_DIR) if SCREENSHOTS_DIR else tmp_path
    show(page, demo_url + "?present", SCREENS[1])
    page.screenshot(path=directory / "presenter.png")
    show(page, demo_url, PHONE)
    page.screenshot(path=directory / "phone.png", full_page=True)

    presenter = Image.open(directory / "presenter.png")
    phone = Image.open(directory / "phone.png")
    assert presenter.size == (1920, 1080)
    assert phone.width == 390 and phone.height >= 844

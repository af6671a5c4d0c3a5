"""New categories take distinct colours from one palette; existing categories keep theirs."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from django.core.management import call_command

from polls.colours import PALETTE, next_colour
from polls.models import Category, Poll
from tests.factories import POLLS_URL, add_form, assign_number, change_url, logged_in, make_poll

pytestmark = pytest.mark.django_db

STYLESHEET = Path(__file__).resolve().parents[2] / "polls" / "dashboard" / "src" / "style.css"


def relative_luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    light, dark = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_next_colour_is_the_first_the_poll_does_not_use_yet():
    assert next_colour([]) == PALETTE[0]
    assert next_colour([PALETTE[0].upper(), "#123456"]) == PALETTE[1]
    assert next_colour([PALETTE[1], PALETTE[0]]) == PALETTE[2]
    # Every colour taken: round the palette again.
    assert next_colour(PALETTE) == PALETTE[0]
    assert next_colour([*PALETTE, PALETTE[0]]) == PALETTE[1]


def test_every_palette_colour_stands_out_on_the_pages_light_and_dark_backgrounds():
    """3:1, WCAG's contrast for graphics such as bars, against both themes' --bg."""
    backgrounds = re.findall(r"--bg: (#[0-9a-fA-F]{6})", STYLESHEET.read_text())
    assert len(backgrounds) == 2, backgrounds  # light, then dark
    assert len(set(PALETTE)) == len(PALETTE)
    for colour in PALETTE:
        for background in backgrounds:
            assert contrast(colour, background) >= 3, (colour, background)


def colour_inputs(html: str) -> dict[str, str]:
    """Each category colour input's name and value, in the page's order."""
    inputs = re.findall(
        r'<input type="color" name="(categories-[^"]+-colour)" value="(#\w+)"', html
    )
    return dict(inputs)


def test_the_new_rows_of_a_new_poll_suggest_the_palettes_first_colours(alice):
    html = logged_in(alice).get(f"{POLLS_URL}add/").content.decode()

    assert colour_inputs(html) == {
        "categories-0-colour": PALETTE[0],
        "categories-1-colour": PALETTE[1],
        "categories-2-colour": PALETTE[2],
        "categories-__prefix__-colour": PALETTE[3],
    }
    # The rows "Add another" makes take these in turn (category_colours.js).
    upcoming = " ".join([PALETTE[3], PALETTE[4], PALETTE[0], PALETTE[1], PALETTE[2]])
    assert f'data-upcoming="{upcoming}"' in html


def test_a_row_added_to_a_poll_suggests_a_colour_its_categories_do_not_use(alice):
    poll = make_poll(
        alice,
        categories=[
            {"code": "A", "label": "Apples", "colour": "#ff0000"},
            {"code": "B", "label": "Bananas", "colour": PALETTE[0]},
        ],
    )

    html = logged_in(alice).get(change_url(poll)).content.decode()

    assert colour_inputs(html) == {
        "categories-0-colour": "#ff0000",  # existing categories keep theirs
        "categories-1-colour": PALETTE[0],
        "categories-__prefix__-colour": PALETTE[1],
    }


def test_a_new_row_left_blank_but_for_its_suggested_colour_is_no_category(alice):
    assign_number(alice)
    form = add_form(("A", "Apples", ""), ("B", "Bananas", ""), status="draft")
    form.update(
        {
            "categories-TOTAL_FORMS": "3",
            "categories-0-colour": PALETTE[0],
            "categories-1-colour": PALETTE[1],
            # The script gave it another colour than the form suggested: still blank.
            "categories-2-colour": PALETTE[4],
            "categories-2-code": "",
            "categories-2-label": "",
            "categories-2-aliases": "",
            "categories-2-order": "0",
        }
    )

    response = logged_in(alice).post(f"{POLLS_URL}add/", form)

    assert response.status_code == 302, response.content.decode()
    poll = Poll.objects.get(slug="fruit")
    assert [(c.code, c.colour) for c in poll.categories.all()] == [
        ("A", PALETTE[0]),
        ("B", PALETTE[1]),
    ]


def test_the_demo_polls_categories_have_three_different_palette_colours(aws):
    call_command("seed_demo", stdout=io.StringIO())

    colours = [c.colour for c in Category.objects.filter(poll__slug="demo")]
    assert colours == list(PALETTE[:3])

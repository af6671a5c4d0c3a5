"""The colours a poll's categories get by default: one palette, the next unused colour each.

The palette is the four colours of Okabe and Ito's colour-blind-safe set ("Color Universal
Design", 2008) that keep a 3:1 contrast (WCAG's for graphics) against both the results page's
light and dark backgrounds, blue, vermillion, bluish green and reddish purple, followed by Paul
Tol's olive (from his "muted" scheme), which does too. Under simulated protanopia,
deuteranopia and tritanopia every two of them stay apart. Organisers can still pick any colour.
"""

from __future__ import annotations

from collections.abc import Iterable

PALETTE: tuple[str, ...] = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#999933")


def next_colour(used: Iterable[str]) -> str:
    """The first palette colour not in `used`; when every one is taken, the palette again from
    its start, one more time round for each full set used."""
    taken = [colour.lower() for colour in used]
    for colour in PALETTE:
        if colour not in taken:
            return colour
    return PALETTE[len(taken) % len(PALETTE)]

"""A small accessibility check run in the page (``page.evaluate``), for the page types the
shell renders. Not a replacement for axe or a person with a screen reader, but it catches
the regressions that matter most here (WCAG 2.1 AA, GB/T 37668):

* the document has a language, one ``h1``, headings that do not skip levels going down;
* the landmarks are there: banner, navigation, one main, contentinfo; a skip link first;
* every form control has a visible ``<label>`` (or is labelled by visible text);
* images have ``alt``; links and buttons have a name; ids are unique;
* text contrast is at least 4.5:1 (3:1 for large text);
* buttons, controls and non-inline links are at least 44 × 44 px (inline text links are
  exempt, as in WCAG 2.5.8).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHECK_JS = (Path(__file__).with_name("a11y.js")).read_text(encoding="utf-8")


def check(page: Any) -> list[str]:
    """The problems found on the page as it is now (an empty list when it passes). Waits
    for the page's ``load`` event first: sizes measured before the stylesheet applies are
    an unstyled page's (a click that navigates returns before that, and under load the gap
    is long enough to fail a touch-target check)."""
    page.wait_for_load_state("load")
    return page.evaluate(CHECK_JS)


def assert_accessible(page: Any) -> None:
    problems = check(page)
    assert not problems, f"accessibility problems on {page.url}:\n  " + "\n  ".join(problems)


def horizontal_overflow(page: Any) -> int:
    """How many pixels the page scrolls sideways (0 when it fits the viewport)."""
    page.wait_for_load_state("load")
    return page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth")

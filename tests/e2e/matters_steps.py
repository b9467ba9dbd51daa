"""Steps of the matters journeys (有事找政府) that more than one journey walks: filing a
matter — on the resident's own form or in the hotline console's slot, the same fields
under a prefix — and a department's member opening it from their list. One place, so
a change to the form or the list is made once for every journey."""

from __future__ import annotations

import re
from typing import Any

from journey_kit import Journey


def file_matter(journey: Journey, page: Any, form: Any, *, category: str, summary: str,
                location: str, department: str, prefix: str = "",
                shot: str = "filed") -> tuple[int, str]:
    """Fill ``form`` (a locator: the resident's page form, or the console's slot, whose
    fields are named ``matter-…``: ``prefix="matter-"``), send it, and check the matter's
    page: handled by ``department``, waiting to be signed for. Returns the matter's id
    and reference."""
    form.locator(f"select[name='{prefix}category']").select_option(category)
    form.locator(f"textarea[name='{prefix}summary']").fill(summary)
    form.locator(f"input[name='{prefix}location']").fill(location)
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/matters/\d+$"))
    mid = int(page.url.rsplit("/", 1)[1])
    main = page.locator("main").inner_text()
    assert department in main and "待签收" in main
    reference = page.locator("main h1").inner_text().split()[0]
    journey.shot(page, shot)
    return mid, reference


def open_from_list(journey: Journey, page: Any, mid: int, reference: str, *,
                   shot: str = "department-list") -> None:
    """A department's member finds the matter, once, in their list and opens it."""
    page.goto("/matters/")
    link = page.locator("main").get_by_role("link", name=re.compile(reference))
    assert link.count() == 1
    journey.shot(page, shot)
    link.click()
    page.wait_for_url(re.compile(rf"/matters/{mid}$"))

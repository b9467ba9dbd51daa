"""Journey "import a roster, then take it back" with the demo as shipped, on a 360 px phone,
in Chinese and in English: the demo community worker uploads a roster without a community
column (the page's community field supplies it), reads the dry run's per-row changes,
imports it, finds it in the list of imports, reverts it after the confirmation step, and
the residents it created are gone again; the list says who reverted it.

Screenshots: ``test-results/journeys/import-revert-<locale>/``."""

from __future__ import annotations

from typing import Any

import pytest
from journey_kit import Journey, journey_fixtures
from sqlalchemy import func, select

from core.registry.models import Person
from core.registry.testing import make_id

pytestmark = pytest.mark.e2e

IDS = [make_id("1991-06-01", "F", seq=81), make_id("1988-02-03", "M", seq=82)]
ROSTER = ("姓名,证件号码,联系电话\n"
          f"周小梅,{IDS[0]},13700000081\n"
          f"吴大山,{IDS[1]},13700000082\n").encode()
WORDS = {"zh": {"reverted": "撤销"}, "en": {"reverted": "Reverted by"}}


locale, app, journey, _catalogues = journey_fixtures("import-revert")


def imported(app: Any) -> int:
    with app.extensions["shequ"].db.session_scope() as db:
        return db.scalar(select(func.count()).select_from(Person)
                         .where(Person.id_number.in_(IDS)))


def test_import_a_roster_then_revert_it(app: Any, journey: Journey, locale: str) -> None:
    worker = journey.sign_in("community_worker")
    # 1. upload: a file without a community column, the community picked on the page
    worker.goto("/registry/import")
    journey.shot(worker, "upload")
    worker.locator("input[type=file][name=file]").set_input_files(
        {"name": "roster.csv", "mimeType": "text/csv", "buffer": ROSTER})
    community = worker.locator("select[name=community]")
    values = [v for v in community.locator("option").evaluate_all(
        "opts => opts.map(o => o.value)") if v]
    assert values, "the worker's communities are offered"
    community.select_option(values[0])
    worker.locator("form[enctype='multipart/form-data'] button[type=submit]").click()
    worker.wait_for_load_state("load")
    # 2. the dry run: two rows that would be created, nothing written yet
    assert worker.locator("tr.diff-create").count() == 2, worker.locator("main").inner_text()
    assert imported(app) == 0
    journey.shot(worker, "check")
    worker.locator("form[action*='/registry/import/'] button[type=submit]").click()
    worker.wait_for_load_state("load")
    assert imported(app) == 2
    journey.shot(worker, "imported")
    # 3. the list of imports, and the revert with its confirmation step
    worker.goto("/registry/imports")
    journey.shot(worker, "imports")
    worker.locator("main a[href$='/revert']").first.click()
    worker.wait_for_load_state("load")
    assert imported(app) == 2  # the confirmation page changes nothing
    journey.shot(worker, "confirm")
    worker.locator("form[action$='/revert'] button[type=submit]").click()
    worker.wait_for_load_state("load")
    assert imported(app) == 0
    assert "/registry/imports" in worker.url
    first = worker.locator("main li[data-import]").first
    assert WORDS[locale]["reverted"] in first.inner_text()
    journey.shot(worker, "reverted")

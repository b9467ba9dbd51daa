"""Journey "from an application to a decision letter anyone can verify", with the demo as
shipped plus the documents plugin, on a 360 px phone, in Chinese.

The resident (张大爷) applies for the home-care and meal subsidy; the community worker
accepts it — the resident is told a 受理回执 (acceptance receipt) is issued — and passes
the community check; the street office reviews and approves. The resident is told the
决定书 (decision letter) is issued, finds it under 我的证明文书, downloads the PDF (its
first page rendered to PNG next to the screenshots when pdftoppm is there) and opens its
verification page, which says it is valid, which key signed it and what it states, the
name masked; a bank clerk holding the paper types the full name and the name-check code
printed on it, and the page says the name matches without showing it. The worker then
revokes it (the decision was reversed): the resident is told, and the same
page says it is revoked, with the reason.

Screenshots: ``test-results/journeys/documents-zh/``."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest
from journey_kit import PHONE, ROOT, Journey, journey_fixtures

pytestmark = pytest.mark.e2e

SERVICE = "home_care_subsidy"

locale, app, journey, _catalogues = journey_fixtures(
    "documents", locales=("zh",), extra_plugins=("documents",))


def act(page: Any, action: str) -> None:
    page.locator(f"main button[name=action][value={action}]").click()
    page.wait_for_load_state("load")
    page.locator(".flash-success").wait_for()


def test_decision_letter_downloaded_and_verified(journey: Journey, locale: str, app: Any
                                                 ) -> None:
    # 1. the resident applies
    resident = journey.sign_in("resident")
    resident.goto(f"/gov-services/services/{SERVICE}/apply")
    resident.locator("select[name=f_care_level]").select_option("2")
    resident.locator("input[name=f_monthly_income]").fill("1800")
    resident.locator("main form button[type=submit]").click()
    resident.locator("#check-answers").wait_for()
    resident.locator("#send-application").click()
    resident.wait_for_url(re.compile(r"/gov-services/applications/\d+/receipt$"))
    app_id = int(resident.url.rsplit("/", 2)[1])
    reference = resident.locator("#receipt-reference").inner_text().strip()
    case = f"/gov-services/applications/{app_id}"

    # 2. the worker accepts: the resident is told the acceptance receipt is issued
    worker = journey.sign_in("community_worker")
    worker.goto(case)
    act(worker, "accept")
    journey.expect_notification(resident, "受理回执已出具")
    act(worker, "pass")
    worker.goto(case)  # the case page lists the application's documents for staff
    worker.locator("#application-documents").wait_for()
    assert "受理回执" in worker.locator("#application-documents").inner_text()
    journey.shot(worker, "staff-case-documents")

    # 3. the street office reviews and approves
    street = journey.sign_in("street_officer")
    street.goto(case)
    act(street, "pass")
    act(street, "pass")

    # 4. the resident is told, finds the letter under 我的证明文书 and downloads it
    note = journey.expect_notification(resident, "决定书已出具")
    journey.shot(resident, "notified-decision-letter")
    note.get_by_role("link").first.click()
    resident.wait_for_url(re.compile(r"/documents/[0-9A-F]{16}$"))
    main = resident.locator("main")
    assert "决定书" in resident.locator("h1").inner_text()
    assert reference in main.inner_text() and "张**" in main.inner_text()
    journey.shot(resident, "decision-letter")
    code = resident.url.rsplit("/", 1)[1]
    resident.goto("/documents/")
    items = resident.locator("#my-documents li")
    assert items.count() == 2
    assert "决定书" in items.first.inner_text() and "受理回执" in items.nth(1).inner_text()
    journey.shot(resident, "my-documents")
    with resident.expect_download() as download:
        items.first.get_by_role("link", name="下载 PDF").click()
    folder = ROOT / f"documents-{locale}"
    folder.mkdir(parents=True, exist_ok=True)
    pdf = folder / f"decision-{code}.pdf"
    download.value.save_as(str(pdf))
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and b"/FontFile2" in data
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-png", "-r", "80", "-singlefile", str(pdf),
                        str(folder / "decision-letter-page1")], check=True, timeout=60)

    # 5. the verification page the QR code opens: valid, with what it states, masked
    resident.goto(f"/documents/verify/{code}")
    status = resident.locator("#verification-status")
    assert status.get_attribute("data-status") == "valid"
    text = resident.locator("main").inner_text()
    assert reference in text and "居家养老补贴" in text and "张**" in text
    assert "张大爷" not in text
    assert resident.locator("#signing-key").get_attribute("data-current") == "yes"
    journey.shot(resident, "verified")

    # 5b. a bank clerk with the paper checks the full name: the name-check code is printed
    #     on the PDF only; the page answers "matches" and never shows the name
    import pypdf

    printed = pypdf.PdfReader(str(pdf)).pages[0].extract_text()
    salt = re.search(r"Name-check code：\s*([0-9a-f]{4}(?: [0-9a-f]{4}){7})\n",
                     printed).group(1)
    assert salt not in text
    full_name = _registry_name(app, code)
    ctx = journey.chromium.new_context(viewport=PHONE, base_url=journey.base_url)
    ctx.add_cookies([{"name": "shequ_lang", "value": locale, "url": journey.base_url}])
    journey.contexts.append(ctx)  # closed with the journey's
    clerk = ctx.new_page()
    clerk.goto(f"/documents/verify/{code}")
    clerk.locator("#name").fill(full_name)
    clerk.locator("#salt").fill(salt)
    clerk.locator("#name-check button[type=submit]").click()
    clerk.wait_for_load_state("load")
    assert clerk.locator("#name-check-result").get_attribute("data-matches") == "yes"
    assert full_name not in clerk.content()
    journey.shot(clerk, "name-checked")

    # 6. the decision is reversed: the worker revokes the letter with a reason; the
    #    resident is told, and the same verification page now says it is revoked
    worker.goto(f"/documents/{code}")
    worker.locator("#reason").fill("复核后撤销原决定")
    journey.shot(worker, "revoke")
    worker.locator("#revoke button[type=submit]").click()
    worker.locator(".flash-success").wait_for()
    journey.expect_notification(resident, "决定书已撤销")
    resident.goto(f"/documents/verify/{code}")
    assert resident.locator("#verification-status").get_attribute("data-status") == "revoked"
    assert "复核后撤销原决定" in resident.locator("main").inner_text()
    journey.shot(resident, "verified-revoked")


def _registry_name(app: Any, code: str) -> str:
    """The resident's full name as the registry has it (what the paper's holder says)."""
    from sqlalchemy import select

    from core.toolkit import kernel_of, registry_reader
    from plugins.documents.models import Document

    kernel = kernel_of(app)
    with app.app_context(), kernel.db.session_scope() as db:
        person_id = db.scalar(select(Document.person_id).where(Document.code == code))
        person = registry_reader(db, "documents", purpose="journey test",
                                 enforce_place=False).person(person_id)
        return person["name"]

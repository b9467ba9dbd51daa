"""documents: issuing on gov_services' application events (idempotent, one per
application and kind), the signed statement, the PDF (parses, embeds the font, its QR code
decodes to the verification page), verification (valid / tampered / revoked / unknown,
logged), revocation, access rules and the API fuzzer. One module-scoped app with
gov_services and documents; events are published on its bus as gov_services would."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from itertools import count
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from core.testing import (
    C1,
    C2,
    TEST_PASSWORD,
    RegistryData,
    assert_api_fuzzes,
    build_test_app,
    csrf_token,
    deliver_events,
    ensure_user,
)
from core.toolkit import kernel_of
from plugins.documents.models import Document
from plugins.documents.services.limits import allow
from plugins.documents.services.signing import _load, canonical
from plugins.documents.services.templates import OUTCOMES, render, section_for, template_for

API = "/api/v1/documents"
APP_IDS = count(9000)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app, cleanup = build_test_app(
        tmp_path_factory.mktemp("documents"), plugins=["gov_services", "documents"],
        config={"plugins": {"documents": {"verify_per_minute": 1000}}},
    )
    yield app
    cleanup()


@pytest.fixture(scope="module")
def world(app):
    """A resident (bound to 张小明 in C1), another resident (李四, C1), a worker over C1,
    a worker over C2 only."""
    from core.identity.models import User, UserScope
    from core.identity.services import bind_person

    data = RegistryData(app)
    me = data.person("张小明")
    other = data.person("李四", dwelling="d2")
    kernel = kernel_of(app)
    users = {}
    for username, person in (("doc_me", me), ("doc_other", other)):
        u = ensure_user(app, "resident", username=username)
        with app.app_context(), kernel.db.session_scope() as db:
            user = db.get(User, u.id)
            bind_person(db, user, person, method="in_person", by=None)
            user.locale = "en" if username == "doc_other" else "zh"
        users[username] = u.id
    for username, code in (("doc_worker", C1), ("doc_far", C2)):
        u = ensure_user(app, "community_worker", username=username)
        with kernel.db.session_scope() as db:
            user = db.get(User, u.id)
            user.scopes.append(UserScope(kind="community", code=code))
        users[username] = u.id
    data.deliver()
    return SimpleNamespace(me=me, other=other, users=users, kernel=kernel)


def signed_in(app, username: str):
    c = app.test_client()
    page = c.get("/account/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    resp = c.post("/account/login", data={"username": username, "password": TEST_PASSWORD,
                                          "csrf_token": token})
    assert resp.status_code == 302, username
    return c


def publish(app, event: str, *, application_id: int, person_id: int, state: str,
            service: str = "senior_card", reason: str | None = None, full: bool = True) -> None:
    """An application event as gov_services publishes it (with the optional catalogue
    fields, or without them when ``full`` is false: an older publisher)."""
    payload = {"application_id": application_id, "service_code": service,
               "person_id": person_id, "community": C1, "state": state, "reason": reason}
    if full:
        payload.update(reference=f"GS2026{application_id:06d}", service_name="老年人优待证",
                       service_name_en="Senior privilege card", office="service_centre",
                       office_name="和平街道便民服务中心",
                       office_name_en="Heping Street service centre",
                       due_on="2026-12-20", at="2026-12-07T08:00:00+00:00")
    kernel = kernel_of(app)
    with app.app_context(), kernel.db.session_scope() as db:
        kernel.bus.publish(db, f"gov_services.application.{event}", payload)
    deliver_events(app)


def docs_of(app, application_id: int) -> list[Document]:
    with kernel_of(app).db.session_scope() as db:
        rows = list(db.scalars(select(Document).where(Document.application_id == application_id)
                               .order_by(Document.id)))
        db.expunge_all()
    return rows


@pytest.fixture
def decided(app, world):
    """An application of 张小明's, accepted and approved: a receipt and a certificate."""
    aid = next(APP_IDS)
    publish(app, "accepted", application_id=aid, person_id=world.me, state="review")
    publish(app, "approved", application_id=aid, person_id=world.me, state="approved")
    return {d.kind: d for d in docs_of(app, aid)}


def notifications(app, user_id: int) -> list[str]:
    from core.identity.models import Notification

    with kernel_of(app).db.session_scope() as db:
        return [n.title for n in db.scalars(select(Notification).where(
            Notification.user_id == user_id).order_by(Notification.id))]


# ------------------------------------------------------------------------------ issuing


def test_events_issue_one_document_per_application_and_kind(app, world):
    aid = next(APP_IDS)
    before = len(notifications(app, world.users["doc_me"]))
    publish(app, "accepted", application_id=aid, person_id=world.me, state="review")
    publish(app, "accepted", application_id=aid, person_id=world.me, state="review")  # again
    publish(app, "approved", application_id=aid, person_id=world.me, state="approved")
    publish(app, "completed", application_id=aid, person_id=world.me, state="completed")
    docs = docs_of(app, aid)
    assert [d.kind for d in docs] == ["receipt", "certificate"]  # senior_card: a 证明
    receipt = json.loads(docs[0].statement)
    assert receipt["due_on"] == "2026-12-20" and receipt["issued_on"] == "2026-12-07"
    assert receipt["office"]["zh"] == "和平街道便民服务中心"
    assert "applicant" not in receipt and "张" not in docs[0].statement  # no name stored
    titles = notifications(app, world.users["doc_me"])[before:]
    assert len(titles) == 2 and "受理回执" in titles[0] and "证明" in titles[1]


def test_the_resident_is_told_in_their_own_language(app, world):
    aid = next(APP_IDS)
    publish(app, "accepted", application_id=aid, person_id=world.other, state="review")
    assert notifications(app, world.users["doc_other"])[-1] == (
        "Acceptance receipt issued: Senior privilege card")
    other = signed_in(app, "doc_other")
    empty = other.post(f"{API}/verify", json={},
                       headers={"X-CSRFToken": csrf_token(other, "/documents/")})
    assert empty.status_code == 409 and "code" in empty.json["error"]["fields"]


def test_refusal_and_older_payloads(app, world):
    aid = next(APP_IDS)
    publish(app, "rejected", application_id=aid, person_id=world.me, state="not_accepted",
            service="longevity_allowance", reason="材料不全", full=False)
    (doc,) = docs_of(app, aid)
    statement = json.loads(doc.statement)
    assert (doc.kind, statement["section"], statement["reason"]) == (
        "decision", "refusal", "材料不全")
    assert statement["reference"] == f"#{aid}"  # no reference in an older event
    texts = render(dict(statement, applicant="张**"))
    assert "不予受理" in "".join(texts["zh"]["body"]) and "材料不全" in texts["zh"]["body"][2]
    # a person the registry does not know (any more): issued without a name, verifies
    aid = next(APP_IDS)
    publish(app, "approved", application_id=aid, person_id=999999, state="approved")
    (doc,) = docs_of(app, aid)
    result = app.test_client().get(f"{API}/verify/{doc.code}").json
    assert result["status"] == "valid" and result["statement"]["applicant"] == ""


def test_templates_as_data():
    assert section_for("approved", "residence_permit") == ("certificate", "certificate")
    assert section_for("approved", "unemployment_benefit") == ("decision", "decision")
    assert section_for("accepted", "residence_permit") == ("receipt", "receipt")
    assert template_for("longevity_allowance")["decision"]["title"]["zh"].startswith("高龄津贴")
    base = {"code": "X", "reference": "GS1", "service": {"zh": "归侨", "en": "Status"},
            "office": {"zh": "侨联", "en": "Federation"}, "issued_on": "2026-12-07",
            "outcome": "approved", "service_code": "overseas_chinese_status",
            "section": "certificate", "applicant": "王*"}
    texts = render(base)
    assert texts["en"] is None and "王*" in texts["zh"]["body"][0]  # zh only
    assert set(OUTCOMES) >= {"accepted", "approved", "rejected", "not_accepted", "completed"}


def test_gov_services_payload_carries_the_catalogue_fields(app):
    from plugins.gov_services.services.context import gov
    from plugins.gov_services.services.workflow import _payload

    with app.app_context():
        g = gov(kernel_of(app))
        fake = SimpleNamespace(id=7, service_code="senior_card", person_id=1, community=C1,
                               state="review", reference="GS2026000007", due_on=None)
        out = _payload(fake, g, reason=None)
        kernel_of(app).bus.types["gov_services.application.accepted"].schema(unknown="raise").load(out)
    assert out["service_name"] == "老年人优待证" and out["office"] == "service_centre"
    assert out["office_name_en"] and out["at"] and out["due_on"] is None


# ------------------------------------------------------------------------------ PDF


def test_pdf_parses_embeds_the_font_and_its_qr_decodes(app, world, decided, tmp_path):
    me = signed_in(app, "doc_me")
    doc = decided["certificate"]
    resp = me.get(f"/documents/{doc.code}/pdf")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    pdf = resp.data
    assert pdf.startswith(b"%PDF-") and b"/FontFile2" in pdf  # the TrueType font, embedded
    pypdf = pytest.importorskip("pypdf")
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    assert doc.code in text and "证明" in text and "张**" in text
    assert reader.metadata.subject.startswith("SHEQU-DOC:")
    url = f"http://localhost/documents/verify/{doc.code}"
    assert url in text
    if shutil.which("pdftoppm") and shutil.which("zbarimg"):
        (tmp_path / "doc.pdf").write_bytes(pdf)
        subprocess.run(["pdftoppm", "-png", "-r", "100", "-singlefile", str(tmp_path / "doc.pdf"),
                        str(tmp_path / "page")], check=True, timeout=30)
        out = subprocess.run(["zbarimg", "-q", "--raw", str(tmp_path / "page.png")],
                             capture_output=True, text=True, timeout=30)
        assert out.stdout.strip() == url
    # the API serves the same file; another resident gets 404
    assert me.get(f"{API}/{doc.code}/pdf").data[:5] == b"%PDF-"
    other = signed_in(app, "doc_other")
    assert other.get(f"/documents/{doc.code}/pdf").status_code == 404
    assert other.get(f"{API}/{doc.code}/pdf").status_code == 404


def test_a_missing_font_is_a_clear_503(app, world, decided):
    settings = kernel_of(app).plugins.settings("documents")
    saved = settings["font_path"]
    settings["font_path"] = "/nonexistent/font.ttc"
    try:
        me = signed_in(app, "doc_me")
        page = me.get(f"/documents/{decided['receipt'].code}/pdf")
        assert page.status_code == 503 and "fonts-wqy-microhei" in page.get_data(as_text=True)
        api = me.get(f"{API}/{decided['receipt'].code}/pdf")
        assert api.status_code == 503 and "font" in api.json["error"]["message"]
    finally:
        settings["font_path"] = saved


# ------------------------------------------------------------------------------ verifying


def test_verification_valid_then_tampered_then_revoked(app, world, decided):
    from core.testing import access_count

    doc = decided["certificate"]
    anon = app.test_client()
    before = access_count(app, world.me, via="documents")
    page = anon.get(f"/documents/verify/{doc.code}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-status="valid"' in html and "张**" in html
    assert "张小明" not in html and "老年人优待证" in html
    assert access_count(app, world.me, via="documents") > before  # the masked name, logged
    api = anon.get(f"{API}/verify/{doc.code}").json
    assert api["status"] == "valid" and api["statement"]["applicant"] == "张**"

    # a verifier pastes the statement: as issued it is valid, changed it is not
    signed = {"statement": api["statement"], "signature": _signature(app, doc.code)}
    assert anon.post(f"{API}/verify", json=signed).json["status"] == "valid"
    forged = dict(signed, statement=dict(api["statement"], outcome="rejected"))
    assert anon.post(f"{API}/verify", json=forged).json["status"] == "tampered"
    assert anon.post(f"{API}/verify", json={"code": "0" * 16}).json["status"] == "unknown"

    # the row changed in the database: its signature no longer matches
    with kernel_of(app).db.session_scope() as db:
        row = db.scalar(select(Document).where(Document.code == doc.code))
        original = row.statement
        row.statement = original.replace("和平街道", "幸福街道")
    tampered = anon.get(f"{API}/verify/{doc.code}").json
    assert tampered["status"] == "tampered" and tampered["statement"] is None
    assert "幸福街道" not in anon.get(f"/documents/verify/{doc.code}").get_data(as_text=True)
    with kernel_of(app).db.session_scope() as db:
        db.scalar(select(Document).where(Document.code == doc.code)).statement = original

    # revoked by the worker: verification says so, with reason and date; resident told
    worker = signed_in(app, "doc_worker")
    token = csrf_token(worker, f"/documents/{doc.code}")
    blank = worker.post(f"/documents/{doc.code}/revoke", data={"csrf_token": token})
    assert blank.status_code == 400 and "reason-error" in blank.get_data(as_text=True)
    done = worker.post(f"/documents/{doc.code}/revoke",
                       data={"csrf_token": token, "reason": "决定已撤销"})
    assert done.status_code == 302
    result = anon.get(f"{API}/verify/{doc.code}").json
    assert result["status"] == "revoked" and result["revoked_reason"] == "决定已撤销"
    assert anon.post(f"{API}/verify", json=signed).json["status"] == "revoked"
    assert 'data-status="revoked"' in anon.get(f"/documents/verify/{doc.code}").get_data(
        as_text=True)
    assert "撤销" in notifications(app, world.users["doc_me"])[-1]
    again = worker.post(f"{API}/{doc.code}/revoke", json={"reason": "x"},
                        headers={"X-CSRFToken": token})
    assert again.status_code == 409

    from core.audit.models import AuditEntry

    with kernel_of(app).db.session_scope() as db:
        actions = {a.action for a in db.scalars(select(AuditEntry).where(
            AuditEntry.target_id == doc.code))}
    assert {"documents.document.verified", "documents.document.revoked"} <= actions


def _signature(app, code: str) -> str:
    with kernel_of(app).db.session_scope() as db:
        return db.scalar(select(Document.signature).where(Document.code == code))


def test_the_verify_form_takes_a_code_a_statement_or_the_pdf(app, world, decided):
    doc = decided["receipt"]
    me = signed_in(app, "doc_me")
    pdf = me.get(f"/documents/{doc.code}/pdf").data
    anon = app.test_client()
    token = csrf_token(anon, "/documents/verify")
    up = anon.post("/documents/verify", data={"csrf_token": token,
                                              "pdf": (io.BytesIO(pdf), "doc.pdf")},
                   content_type="multipart/form-data")
    assert up.status_code == 200 and 'data-status="valid"' in up.get_data(as_text=True)
    bad = anon.post("/documents/verify", data={"csrf_token": token,
                                               "pdf": (io.BytesIO(b"%PDF-1.4 x"), "x.pdf")},
                    content_type="multipart/form-data")
    assert bad.status_code == 400
    page = anon.get(f"/documents/verify/{doc.code}").get_data(as_text=True)
    pasted = re.search(r'<pre class="table-wrap" id="signed-statement">(.*?)</pre>', page, re.S)
    import html as htmllib

    text = htmllib.unescape(pasted.group(1))
    ok = anon.post("/documents/verify", data={"csrf_token": token, "statement": text})
    assert 'data-status="valid"' in ok.get_data(as_text=True)
    changed = text.replace(doc.reference, "GS2026999999")
    no = anon.post("/documents/verify", data={"csrf_token": token, "statement": changed})
    assert 'data-status="tampered"' in no.get_data(as_text=True)
    typed = anon.post("/documents/verify", data={"csrf_token": token, "code": doc.code.lower()})
    assert typed.status_code == 302 and typed.headers["Location"].endswith(doc.code)
    empty = anon.post("/documents/verify", data={"csrf_token": token})
    assert empty.status_code == 400 and "error-summary" in empty.get_data(as_text=True)


def test_verification_is_rate_limited(app, world, decided):
    kernel = kernel_of(app)
    with app.app_context():
        while not allow("127.0.0.1", kernel=kernel):
            pass
    anon = app.test_client()
    refused = anon.get(f"{API}/verify/{decided['receipt'].code}")
    assert refused.status_code == 429 and refused.headers.get("Retry-After")
    assert anon.get(f"/documents/verify/{decided['receipt'].code}").status_code == 429
    kernel.state("documents")["limit_hits"].clear()
    assert anon.get(f"{API}/verify/{decided['receipt'].code}").status_code == 200


def test_signing_key_from_a_file(tmp_path, app):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    path = tmp_path / "key.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    loaded = _load({"key_file": str(path)}, kernel_of(app))
    assert loaded.sign(b"x") == key.sign(b"x")
    from plugins.documents.services.signing import KeyFileError

    with pytest.raises(KeyFileError, match="key_file"):
        _load({"key_file": str(tmp_path / "missing.pem")}, kernel_of(app))
    assert canonical({"b": 1, "a": "张"}) == '{"a":"张","b":1}'.encode()
    pem = app.test_client().get(f"{API}/key").json
    assert pem["algorithm"] == "Ed25519" and "BEGIN PUBLIC KEY" in pem["public_key_pem"]


# ------------------------------------------------------------------------------ access


def test_residents_and_staff_see_what_they_may(app, world, decided):
    me, other = signed_in(app, "doc_me"), signed_in(app, "doc_other")
    page = me.get("/documents/").get_data(as_text=True)
    assert "我的证明文书" in page and decided["certificate"].code in page
    assert decided["certificate"].code not in other.get("/documents/").get_data(as_text=True)
    mine = me.get(f"{API}/mine").json
    assert {d["code"] for d in mine["items"]} >= {d.code for d in decided.values()}
    assert other.get(f"{API}/{decided['receipt'].code}").status_code == 404
    assert me.get(f"/documents/{decided['receipt'].code}").status_code == 200

    aid = decided["receipt"].application_id
    worker, far = signed_in(app, "doc_worker"), signed_in(app, "doc_far")
    listed = worker.get(f"{API}/applications/{aid}")
    assert listed.status_code == 200 and len(listed.json["items"]) == 2
    assert far.get(f"{API}/applications/{aid}").status_code == 404  # not their place
    assert far.get(f"/documents/{decided['receipt'].code}").status_code == 404
    assert worker.get(f"/documents/applications/{aid}").status_code == 200
    assert me.get(f"{API}/applications/{aid}").status_code == 403  # residents: no
    assert far.post(f"{API}/{decided['receipt'].code}/revoke", json={"reason": "x"},
                    headers={"X-CSRFToken": csrf_token(far, "/documents/")}).status_code == 404
    token = csrf_token(me, "/documents/")
    assert me.post(f"/documents/{decided['receipt'].code}/revoke",
                   data={"csrf_token": token, "reason": "x"}).status_code == 403
    # the staff view of a document shows the masked name: in the person's access log
    from core.testing import access_count

    before = access_count(app, world.me, via="documents")
    assert "张**" in worker.get(f"/documents/{decided['receipt'].code}").get_data(as_text=True)
    assert access_count(app, world.me, via="documents") > before


def test_signed_out(app, decided):
    anon = app.test_client()
    assert anon.get("/documents/").status_code in (302, 401)
    assert anon.get(f"{API}/mine").status_code == 401
    assert anon.get(f"/documents/{decided['receipt'].code}/pdf").status_code in (302, 401)
    assert anon.get("/documents/verify").status_code == 200


def test_revoke_api_rules(app, world, decided):
    worker = signed_in(app, "doc_worker")
    code = decided["receipt"].code
    headers = {"X-CSRFToken": csrf_token(worker, "/documents/")}
    assert worker.post(f"{API}/{code}/revoke", json={}, headers=headers).status_code == 422
    blank = worker.post(f"{API}/{code}/revoke", json={"reason": "   "}, headers=headers)
    assert blank.status_code == 409 and "reason" in blank.json["error"]["fields"]
    ok = worker.post(f"{API}/{code}/revoke", json={"reason": "开错了"}, headers=headers)
    assert ok.status_code == 200 and ok.json["status"] == "revoked"
    assert worker.post(f"{API}/{'F' * 16}/revoke", json={"reason": "x"},
                       headers=headers).status_code == 404


def test_api_survives_the_fuzzer(app, world):
    assert_api_fuzzes(app, API)

"""documents: issuing on gov_services' application events (idempotent, one per
application and kind), the signed statement, the PDF (parses, embeds the font, its QR code
decodes to the verification page), verification (valid / tampered / revoked / unknown,
logged), revocation, access rules and the API fuzzer. One module-scoped app with
gov_services and documents; events are published on its bus as gov_services would."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import uuid
from itertools import count
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from core.testing import (
    C1,
    C2,
    RegistryData,
    assert_api_fuzzes,
    build_test_app,
    csrf_token,
    deliver_events,
    ensure_user,
    sign_in,
)
from core.toolkit import kernel_of
from plugins.documents.models import Document
from plugins.documents.services.signing import _load, canonical, signer
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
    return sign_in(app.test_client(), username)


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


UNKNOWN = "0" * 16


def limited_app(make_app, limits: dict | None = None, database: str | None = None):
    """An app with gov_services and documents allowing 3 verifications a minute."""
    config: dict = {"plugins": {"documents": {"verify_per_minute": 3}}}
    if limits:
        config["limits"] = limits
    if database:
        config["database"] = {"url": database}
    return make_app(plugins=["gov_services", "documents"], config=config,
                    migrate=database is None)


def test_verification_is_rate_limited_pages_and_api_together(make_app):
    """Through HTTP, on the app's limiter storage (memory:// in tests): three a minute
    per address, page and API counted together; the API answers 429 with Retry-After and
    the page says how long to wait. Another address is not affected."""
    app = limited_app(make_app)
    anon = app.test_client()
    assert anon.get(f"{API}/verify/{UNKNOWN}").status_code == 200
    assert anon.get(f"/documents/verify/{UNKNOWN}").status_code == 200
    assert anon.post(f"{API}/verify", json={"code": UNKNOWN}).status_code == 200
    refused = anon.get(f"{API}/verify/{UNKNOWN}")
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
    page = anon.get(f"/documents/verify/{UNKNOWN}")
    assert page.status_code == 429 and page.headers.get("Retry-After")
    wait = page.headers["Retry-After"]
    assert f"Try again in {wait} seconds" in page.get_data(as_text=True) or (
        f"{wait} 秒后再试" in page.get_data(as_text=True))
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.9.8.7"
    assert other.get(f"{API}/verify/{UNKNOWN}").status_code == 200


def test_the_verification_limit_holds_across_two_workers(make_app):
    """Two app instances — two gunicorn workers — on one Redis share one count."""
    try:
        import redis

        store = redis.Redis.from_url("redis://127.0.0.1:6379/2", socket_connect_timeout=1)
        store.ping()
    except Exception as exc:  # not installed, not running
        pytest.skip(f"Redis is not reachable at 127.0.0.1:6379/2 ({exc.__class__.__name__})")
    prefix = f"shequ-test-docs-{uuid.uuid4().hex[:12]}"
    limits = {"storage_uri": "redis://127.0.0.1:6379/2", "key_prefix": prefix}
    try:
        first = limited_app(make_app, limits)
        url = kernel_of(first).config.database["url"]
        second = limited_app(make_app, limits, database=url)
        workers = [first.test_client(), second.test_client()]
        for n in range(3):  # two on one worker, one on the other
            assert workers[n % 2].get(f"{API}/verify/{UNKNOWN}").status_code == 200
        for worker in workers:  # the fourth is refused wherever it lands
            assert worker.get(f"{API}/verify/{UNKNOWN}").status_code == 429
            assert worker.get(f"/documents/verify/{UNKNOWN}").status_code == 429
        assert store.keys(f"*{prefix}*")
    finally:
        for key in store.scan_iter(f"*{prefix}*"):
            store.delete(key)


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


# ------------------------------------------------------------------------------ key rotation


def _private_pem(path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return str(path)


def test_a_rotated_key_keeps_old_documents_valid(app, world, tmp_path):
    kernel = kernel_of(app)
    settings = kernel.plugins.settings("documents")
    saved = {k: settings[k] for k in ("key_file", "retired_keys", "key_valid_from")}
    anon = app.test_client()
    aid = next(APP_IDS)
    publish(app, "accepted", application_id=aid, person_id=world.me, state="review")
    (old_doc,) = docs_of(app, aid)
    old_key = anon.get(f"{API}/key").json
    assert old_doc.key_id == old_key["key_id"]
    # the operator kept only the public key the API published, then rotated
    public_file = tmp_path / "old-public.pem"
    public_file.write_text(old_key["public_key_pem"])
    try:
        settings.update(key_file=_private_pem(tmp_path / "new.pem"), key_valid_from="2026-12-08",
                        retired_keys=[{"file": str(public_file), "valid_from": None,
                                       "retired_at": "2026-12-07"}])
        kernel.state("documents").pop("keys", None)
        listed = anon.get(f"{API}/keys")
        assert listed.status_code == 200
        items = listed.json["items"]
        assert [k["current"] for k in items] == [True, False]
        assert items[1]["key_id"] == old_key["key_id"]
        assert items[1]["retired_at"] == "2026-12-07" and items[0]["valid_from"] == "2026-12-08"
        assert items[1]["public_key_pem"] == old_key["public_key_pem"]
        assert all(k["algorithm"] == "Ed25519" and len(k["public_key_raw"]) == 44 for k in items)

        aid2 = next(APP_IDS)
        publish(app, "accepted", application_id=aid2, person_id=world.me, state="review")
        (new_doc,) = docs_of(app, aid2)
        assert new_doc.key_id == items[0]["key_id"] != old_doc.key_id
        new = anon.get(f"{API}/verify/{new_doc.code}").json
        assert new["status"] == "valid" and new["key_id"] == new_doc.key_id
        old = anon.get(f"{API}/verify/{old_doc.code}").json
        assert old["status"] == "valid" and old["key_id"] == old_doc.key_id
        page = anon.get(f"/documents/verify/{old_doc.code}").get_data(as_text=True)
        assert 'data-status="valid"' in page and f'data-key-id="{old_doc.key_id}"' in page
        assert 'data-current="no"' in page and "2026-12-07" in page
        assert 'data-current="yes"' in anon.get(
            f"/documents/verify/{new_doc.code}").get_data(as_text=True)
        # the statement and signature a verifier brings, signed by the retired key
        brought = {"statement": old["statement"], "signature": old_doc.signature}
        assert anon.post(f"{API}/verify", json=brought).json["status"] == "valid"

        # without the retired key listed, the old document no longer verifies
        settings["retired_keys"] = []
        kernel.state("documents").pop("keys", None)
        assert anon.get(f"{API}/verify/{old_doc.code}").json["status"] == "tampered"
        assert len(anon.get(f"{API}/keys").json["items"]) == 1
    finally:
        settings.update(saved)
        kernel.state("documents").pop("keys", None)
    assert anon.get(f"{API}/verify/{old_doc.code}").json["status"] == "valid"


def test_retired_key_settings_are_validated():
    from plugins.documents import DocumentsConfig

    loaded = DocumentsConfig().load({"retired_keys": [{"file": "/k/old.pem",
                                                       "retired_at": "2026-06-30"}]})
    assert loaded["retired_keys"][0]["valid_from"] is None
    from marshmallow import ValidationError

    with pytest.raises(ValidationError):
        DocumentsConfig().load({"retired_keys": [{"retired_at": "2026-06-30"}]})
    with pytest.raises(ValidationError):
        DocumentsConfig().load({"retired_keys": [{"file": "x", "retired_at": "June"}]})


# ------------------------------------------------------------------------------ name check


def _salt(app, code: str) -> str:
    with kernel_of(app).db.session_scope() as db:
        return db.scalar(select(Document.name_salt).where(Document.code == code))


def test_the_name_commitment_lets_a_clerk_check_the_full_name(app, world, decided):
    from core.testing import access_count

    doc = decided["certificate"]
    salt = _salt(app, doc.code)
    assert re.fullmatch(r"[0-9a-f]{32}", salt)
    anon = app.test_client()
    api = anon.get(f"{API}/verify/{doc.code}").json
    statement = api["statement"]
    assert statement["v"] == 2 and api["name_matches"] is None
    assert statement["name_commitment"] == hashlib.sha256(
        (salt + "张小明").encode()).hexdigest()
    assert salt not in json.dumps(api)  # the salt is only on the paper
    # the PDF prints the name-check code (grouped by four)
    me = signed_in(app, "doc_me")
    pypdf = pytest.importorskip("pypdf")
    text = pypdf.PdfReader(io.BytesIO(me.get(f"/documents/{doc.code}/pdf").data)
                           ).pages[0].extract_text()
    assert salt[:4] + " " + salt[4:8] in text

    page = anon.get(f"/documents/verify/{doc.code}").get_data(as_text=True)
    assert 'id="name-check"' in page and salt not in page
    token = csrf_token(anon, f"/documents/verify/{doc.code}")
    grouped = " ".join(salt[i:i + 4] for i in range(0, 32, 4)).upper()
    before = access_count(app, world.me, via="documents")
    yes = anon.post(f"/documents/verify/{doc.code}",
                    data={"csrf_token": token, "name": " 张 小明 ", "salt": grouped})
    html = yes.get_data(as_text=True)
    assert yes.status_code == 200 and 'data-matches="yes"' in html
    assert "张小明" not in html and 'data-status="valid"' in html
    assert access_count(app, world.me, via="documents") > before  # logged as today
    no = anon.post(f"/documents/verify/{doc.code}",
                   data={"csrf_token": token, "name": "张小红", "salt": salt})
    assert 'data-matches="no"' in no.get_data(as_text=True)
    assert "张小红" not in no.get_data(as_text=True)  # what was typed is not echoed
    wrong_salt = anon.post(f"/documents/verify/{doc.code}",
                           data={"csrf_token": token, "name": "张小明", "salt": "f" * 32})
    assert 'data-matches="no"' in wrong_salt.get_data(as_text=True)
    bad = anon.post(f"/documents/verify/{doc.code}",
                    data={"csrf_token": token, "name": "张小明", "salt": "12"})
    assert bad.status_code == 400 and "salt-error" in bad.get_data(as_text=True)
    blank = anon.post(f"/documents/verify/{doc.code}", data={"csrf_token": token})
    assert blank.status_code == 400 and "name-error" in blank.get_data(as_text=True)

    # the API: with a code or with the brought statement
    ok = anon.post(f"{API}/verify", json={"code": doc.code, "name": "张小明", "salt": salt})
    assert ok.status_code == 200 and ok.json["name_matches"] is True
    assert "张小明" not in ok.get_data(as_text=True)
    brought = {"statement": statement, "signature": _signature(app, doc.code),
               "name": "李四", "salt": salt}
    assert anon.post(f"{API}/verify", json=brought).json["name_matches"] is False
    missing = anon.post(f"{API}/verify", json={"code": doc.code, "name": "张小明"})
    assert missing.status_code == 409 and "salt" in missing.json["error"]["fields"]

    from core.audit.models import AuditEntry

    with kernel_of(app).db.session_scope() as db:
        checks = [a.detail.get("name_check") for a in db.scalars(select(AuditEntry).where(
            AuditEntry.target_id == doc.code,
            AuditEntry.action == "documents.document.verified"))]
    assert "match" in checks and "mismatch" in checks


def test_v1_statements_still_verify(app, world, decided):
    """A document issued before the name commitment (v1, no salt) verifies as before and
    offers no name check."""
    doc = decided["receipt"]
    kernel = kernel_of(app)
    with app.app_context(), kernel.db.session_scope() as db:
        row = db.scalar(select(Document).where(Document.code == doc.code))
        stored = dict(json.loads(row.statement), v=1)
        row.statement = json.dumps(stored, ensure_ascii=False, sort_keys=True)
        row.name_salt = None
        row.signature = signer(kernel).sign(dict(stored, applicant="张**"))
    anon = app.test_client()
    result = anon.get(f"{API}/verify/{doc.code}").json
    assert result["status"] == "valid" and "name_commitment" not in result["statement"]
    assert result["statement"]["v"] == 1
    page = anon.get(f"/documents/verify/{doc.code}").get_data(as_text=True)
    assert 'data-status="valid"' in page and 'id="name-check"' not in page
    asked = anon.post(f"{API}/verify", json={"code": doc.code, "name": "张小明",
                                             "salt": "a" * 32})
    assert asked.json["status"] == "valid" and asked.json["name_matches"] is None
    me = signed_in(app, "doc_me")
    assert me.get(f"/documents/{doc.code}/pdf").status_code == 200


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


def test_the_migrations_yield_exactly_the_models(app):
    """The name_salt migration matches the model (the core test enables other plugins)."""
    from core import migrate

    kernel = kernel_of(app)
    for tree in migrate.trees_for(kernel.plugins):
        assert migrate.schema_diff(kernel.db.engine, tree) == [], tree.owner

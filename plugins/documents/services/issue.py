"""Issuing, listing, revoking and verifying documents: plain functions over a session (no
Flask request needed, no commit). The page, the API, the tests and the event handler all
call these."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.toolkit import (
    N_,
    Bilingual,
    Message,
    RegistryError,
    RuleError,
    ScopeError,
    accounts_for_person,
    can_access,
    current_kernel,
    local_zone,
    log_audit,
    log_person_access,
    mask_name,
    notify,
    registry_reader,
    utcnow,
)
from plugins.documents import GOV_READ, REVOKE
from plugins.documents.models import Document
from plugins.documents.services.signing import (
    PLUGIN,
    Signer,
    key_by_id,
    key_that_signed,
    signer,
)
from plugins.documents.services.templates import section_for

#: The application events that issue a document, and the outcome each states.
EVENTS = ("accepted", "approved", "rejected", "completed")
KIND_LABELS = {"receipt": N_("Acceptance receipt"), "decision": N_("Decision letter"),
               "certificate": N_("Certificate")}


class DocumentError(RuleError):
    """A rule refused the request (409: the document's state does not allow it)."""

    status = 409


def local_date(at: datetime, kernel: Any = None) -> str:
    """The day of ``at`` where the office is (``app.timezone``), ISO."""
    return at.astimezone(local_zone(kernel)).date().isoformat()


#: The statement version new documents state: 2 adds the name commitment.
VERSION = 2


def applicant_name(session: Session, person_id: int, *, purpose: str) -> str:
    """The applicant's full name, read through the registry reader — never stored in
    this plugin's tables, never shown: it is masked, or hashed into the commitment. The
    reader's own log entry is the system's (the read is the plugin's); a display is
    logged by the caller under the real viewer."""
    try:
        person = registry_reader(session, PLUGIN, actor=None, purpose=purpose,
                                 enforce_place=False).person(person_id)
    except (ScopeError, RegistryError, LookupError):
        return ""
    return (person.get("name") or "") if person else ""


def masked_applicant(session: Session, person_id: int, *, purpose: str) -> str:
    """The applicant's name, masked (张**)."""
    return mask_name(applicant_name(session, person_id, purpose=purpose))


def normalise_name(name: str) -> str:
    """A name as committed to and as compared: NFKC (full-width letters fold), no
    whitespace at all — so "张 小明" typed by a clerk matches 张小明."""
    return "".join(unicodedata.normalize("NFKC", name or "").split())


def parse_salt(text: str) -> str | None:
    """The 32 hex digits of a printed name-check code (spaces and dashes between the
    groups allowed, any case), or None when it is not one."""
    raw = re.sub(r"[\s\-]", "", text or "").lower()
    return raw if re.fullmatch(r"[0-9a-f]{32}", raw) else None


def name_commitment(salt: str, name: str) -> str:
    """``sha256(salt || name)``, hex: SHA-256 over the UTF-8 bytes of the salt's 32 hex
    digits followed by the normalised full name. Without the salt (only on the paper) the
    commitment in the public statement cannot be tested against guessed names."""
    return hashlib.sha256((salt + normalise_name(name)).encode("utf-8")).hexdigest()


def log_display(session: Session, doc: Document, purpose: str, actor: Any = None) -> None:
    """The masked name was shown to someone: the person's access log says so (nothing is
    written when the person looks at their own document)."""
    log_person_access(session, person_id=doc.person_id, fields=["name"], purpose=purpose,
                      plugin=PLUGIN, actor=actor, masked=True)


def _with_name(statement: dict[str, Any], name: str, salt: str | None) -> dict[str, Any]:
    statement["applicant"] = mask_name(name)
    if statement.get("v", 1) >= 2:
        statement["name_commitment"] = name_commitment(salt, name) if name and salt else ""
    return statement


def full_statement(session: Session, doc: Document, *, purpose: str) -> dict[str, Any]:
    """The statement the signature covers: the stored one plus the applicant's masked
    name and (v2) the name commitment, both computed now from the registry's name."""
    name = applicant_name(session, doc.person_id, purpose=purpose)
    return _with_name(json.loads(doc.statement), name, doc.name_salt)


def _new_code(session: Session) -> str:
    while True:
        code = secrets.token_hex(8).upper()  # 16 hex digits: 64 random bits
        if session.scalar(select(Document.id).where(Document.code == code)) is None:
            return code


def outcome_of(event: str, state: str) -> str:
    """What the document states was decided, from the event's name (the payload's state
    is the application's state then: the first review stage for ``accepted``)."""
    if event == "rejected":
        return state if state in ("rejected", "not_accepted") else "rejected"
    return event


def issue(session: Session, payload: dict[str, Any], *, event: str = "accepted",
          kernel: Any = None) -> Document | None:
    """Issue the document an application event calls for, once per application and kind
    (an event delivered twice, or approved then completed, issues one). Returns the new
    document, or None when it existed already."""
    kernel = kernel if kernel is not None else current_kernel()
    outcome = outcome_of(event, payload["state"])
    kind, section = section_for(outcome, payload["service_code"])
    found = session.scalar(select(Document).where(
        Document.application_id == payload["application_id"], Document.kind == kind))
    if found is not None:
        return None
    at = datetime.fromisoformat(payload["at"]) if payload.get("at") else utcnow()
    code = _new_code(session)
    service_zh = payload.get("service_name") or payload["service_code"]
    office_zh = payload.get("office_name") or payload.get("office") or ""
    statement: dict[str, Any] = {
        "v": VERSION,
        "code": code,
        "kind": kind,
        "section": section,
        "outcome": outcome,
        "reference": payload.get("reference") or f"#{payload['application_id']}",
        "service_code": payload["service_code"],
        "service": {"zh": service_zh, "en": payload.get("service_name_en") or service_zh},
        "office": {"zh": office_zh, "en": payload.get("office_name_en") or office_zh},
        "issued_on": local_date(at, kernel),
        "due_on": payload.get("due_on") if kind == "receipt" else None,
        "reason": payload.get("reason") if section == "refusal" else None,
    }
    salt = secrets.token_hex(16)
    full = _with_name(dict(statement), applicant_name(
        session, payload["person_id"], purpose=f"document {code}"), salt)
    key = signer(kernel)
    doc = Document(
        code=code, kind=kind, application_id=payload["application_id"], outcome=outcome,
        service_code=payload["service_code"], reference=statement["reference"],
        person_id=payload["person_id"], community=payload.get("community"),
        statement=json.dumps(statement, ensure_ascii=False, sort_keys=True),
        signature=key.sign(full), key_id=key.key_id, issued_at=at, name_salt=salt,
    )
    try:
        with session.begin_nested():
            session.add(doc)
            session.flush()
    except IntegrityError:
        return None  # issued by a parallel delivery meanwhile
    _tell(session, doc, N_("%(kind)s issued: %(service)s"),
          N_("Reference %(ref)s. Open it to download the PDF; anyone can check it with its "
             "QR code."))
    return doc


def on_application_event(event: Any, session: Session) -> None:
    """``gov_services.application.accepted|approved|rejected|completed``: issue the
    receipt, the decision letter or the certificate. Idempotent."""
    issue(session, event.payload, event=event.name.rsplit(".", 1)[1])


def _tell(session: Session, doc: Document, title: str, body: str) -> None:
    """Tell every account of the person, in the language each reads it in (the service's
    name from the statement, kept in both languages)."""
    statement = json.loads(doc.statement)
    names = statement["service"]
    service = Bilingual(names.get("en") or "", names.get("zh") or "")
    for account in accounts_for_person(session, doc.person_id):
        if not account.is_active:
            continue
        notify(session, None, user_id=account.id,
               title=Message(title, kind=Message(KIND_LABELS[doc.kind]), service=service),
               body=Message(body, ref=doc.reference), link=f"/documents/{doc.code}",
               kind="info", source=PLUGIN)


# ------------------------------------------------------------------------------ reading


def by_code(session: Session, code: str) -> Document | None:
    code = (code or "").strip().upper()
    if not code or len(code) > 32:
        return None
    return session.scalar(select(Document).where(Document.code == code))


def may_see(user: Any, doc: Document) -> bool:
    """The person's own document, or staff with gov_services' read permission whose
    places cover the document's community."""
    return can_access(user, person_id=doc.person_id, permission=GOV_READ,
                      community=doc.community)


def may_revoke(user: Any, doc: Document) -> bool:
    return can_access(user, permission=REVOKE, community=doc.community)


def own_query(person_id: int | None) -> Select:
    return (select(Document).where(Document.person_id == (person_id or -1))
            .order_by(Document.id.desc()))


def application_query(application_id: int) -> Select:
    return (select(Document).where(Document.application_id == application_id)
            .order_by(Document.id))


def for_application(session: Session, user: Any, application_id: int) -> list[Document]:
    """The documents of one application the user may see."""
    return [d for d in session.scalars(application_query(application_id)) if may_see(user, d)]


# ------------------------------------------------------------------------------ revoking


def revoke(session: Session, doc: Document, *, reason: str, actor: Any) -> Document:
    """Revoke a document (its decision was reversed, it was issued in error): the reason
    is required, the act audited, and the resident told. Verification then answers
    "revoked" with the reason and the date."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise RuleError(N_("Give the reason."), "reason")
    if len(reason) > 500:
        raise RuleError(N_("At most %(n)s characters."), "reason", n=500)
    if doc.revoked_at is not None:
        raise DocumentError(N_("This document is already revoked."), "reason")
    doc.revoked_at = utcnow()
    doc.revoked_reason = reason
    real = getattr(actor, "actor", None) or actor
    doc.revoked_by_id = getattr(real, "id", None)
    session.flush()
    log_audit(session, "documents.document.revoked", actor=real, target_type="document",
              target_id=doc.code, detail={"kind": doc.kind, "application": doc.application_id})
    _tell(session, doc, N_("%(kind)s revoked: %(service)s"),
          N_("Reference %(ref)s. It no longer verifies; ask the office if you have questions."))
    return doc


# ------------------------------------------------------------------------------ verifying


@dataclass
class Verification:
    """What a check found: ``valid``, ``revoked``, ``tampered`` or ``unknown``."""

    status: str
    document: Document | None = None
    statement: dict[str, Any] | None = None
    revoked_on: str = ""
    revoked_reason: str = ""
    #: The key of the ring that signed it (current or retired), when the signature is ours.
    key: Signer | None = None
    #: The outcome of a name check: True (matches), False, or None (none asked or none
    #: possible: a v1 document, or one not shown).
    name_matches: bool | None = None

    @property
    def shown(self) -> bool:
        """Whether what the document states may be shown: ours, unchanged."""
        return self.document is not None and self.status in ("valid", "revoked")

    @property
    def can_check_name(self) -> bool:
        return self.shown and bool((self.statement or {}).get("name_commitment"))


def _result(session: Session, doc: Document, statement: dict[str, Any],
            key: Signer | None) -> Verification:
    if key is None:
        return Verification("tampered", doc, statement)
    if doc.revoked_at is not None:
        return Verification("revoked", doc, statement, local_date(doc.revoked_at),
                            doc.revoked_reason, key=key)
    return Verification("valid", doc, statement, key=key)


def verify_code(session: Session, code: str) -> Verification:
    """Check the document behind ``code``: recompute its statement, check the signature."""
    doc = by_code(session, code)
    if doc is None:
        return Verification("unknown")
    statement = full_statement(session, doc, purpose=f"verification of document {doc.code}")
    key = key_by_id(doc.key_id)  # the current key, or a retired one: old documents verify
    ok = key is not None and key.verify(statement, doc.signature)
    return _result(session, doc, statement, key if ok else None)


def verify_signed(session: Session, statement: Any, signature: Any) -> Verification:
    """Check a statement a verifier brings (pasted, or from an uploaded PDF): the
    signature must be ours over exactly that statement, and the statement must be the
    one on record (so a revoked document, or one we never issued, is not valid)."""
    if not isinstance(statement, dict) or not isinstance(signature, str):
        return Verification("tampered")
    key = key_that_signed(statement, signature)
    if key is None:
        return Verification("tampered", None, statement)
    doc = by_code(session, str(statement.get("code", "")))
    if doc is None:
        return Verification("unknown", None, statement)
    on_record = full_statement(session, doc, purpose=f"verification of document {doc.code}")
    same = on_record == statement and signature == doc.signature and key.key_id == doc.key_id
    return _result(session, doc, on_record, key if same else None)


def check_name(result: Verification, name: str, salt: str) -> Verification:
    """Whether ``name`` (the full name a verifier typed, from the paper) is the one the
    document committed to, using the salt printed on it: the answer is yes or no, the
    name is never shown. Only for a document that verified and has a commitment (v2)."""
    if not result.can_check_name or not (name or "").strip():
        return result
    typed = name_commitment(salt, name)
    result.name_matches = hmac.compare_digest(
        typed, str((result.statement or {}).get("name_commitment") or ""))
    return result


def record_verification(session: Session, result: Verification, *, via: str) -> None:
    """Every verification is audited; one that showed the masked name (or answered a name
    check) is also in the person's access log."""
    code = result.document.code if result.document else ""
    detail: dict[str, Any] = {"status": result.status, "via": via}
    if result.key is not None:
        detail["key"] = result.key.key_id
    if result.name_matches is not None:
        detail["name_check"] = "match" if result.name_matches else "mismatch"
    log_audit(session, "documents.document.verified", target_type="document", target_id=code,
              outcome="ok" if result.status == "valid" else result.status, detail=detail)
    if result.shown and result.document is not None:
        purpose = f"verification of document {code}"
        if result.name_matches is not None:
            purpose = f"name check on verification of document {code}"
        log_display(session, result.document, purpose)

"""Correction requests: a resident asks to correct a field of their own registry record,
with a reason; a community worker (``registry.correction.review``, within their place
scope) approves or refuses it with a reason; an approved correction is applied through
:func:`core.registry.services.update_person` (history, ``registry.person.updated``), and
the resident is notified either way.

Why a request and not an edit: the register is what services rely on ("ask only what is
missing", docs/requirements.md UI 2), so a resident never retypes it; they point at what is
wrong and a worker checks it against the documents. Sensitive requested values (ID
numbers, phones) are kept in full only while the request is pending — the reviewer needs
them — and masked once it is decided, so this table does not become a second copy of every
number a person ever had (the same rule as ``registry_change``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.audit.services import log_audit
from core.db import Base, UTCDateTime, utcnow
from core.identity.notifications import Bilingual, Message
from core.registry import codes
from core.registry.errors import NotFound, RegistryError
from core.registry.models import Person
from core.registry.search import place_filter
from core.registry.validation import mask_id_number, mask_phone
from core.rules import N_

#: Fields a resident may ask to correct (their place changes by moving, their household
#: through the household services: those are not "corrections").
CORRECTABLE = (
    "name",
    "id_number",
    "sex",
    "birth_date",
    "phone",
    "ethnicity",
    "nationality",
    "hukou_place",
)
#: Fields whose requested value may be empty (asking to remove it).
MAY_BE_EMPTY = frozenset({"phone", "nationality", "hukou_place", "ethnicity"})
STATUSES = ("pending", "approved", "refused")
REASON_MIN, REASON_MAX = 4, 500


class Correction(Base):
    """One resident's request to correct one field of their record, and its answer."""

    __tablename__ = "registry_correction"
    __table_args__ = (Index("ix_registry_correction_status", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("registry_person.id"), index=True)
    #: The account that asked (``identity_user.id``; no foreign key, like ``actor_id``
    #: in ``registry_change``), and who really typed it (the agent in the assisted channel).
    requested_by_id: Mapped[int | None] = mapped_column(Integer)
    requested_by_name: Mapped[str] = mapped_column(String(64), default="")
    field: Mapped[str] = mapped_column(String(24))
    #: The value in the register when asked, as the resident saw it (masked if sensitive).
    current_value: Mapped[str] = mapped_column(String(200), default="")
    #: The value asked for, normalised; masked once decided when sensitive.
    new_value: Mapped[str] = mapped_column(String(200), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    #: pending | approved | refused
    status: Mapped[str] = mapped_column(String(12), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(Integer)
    decided_by_name: Mapped[str] = mapped_column(String(64), default="")
    decision_reason: Mapped[str] = mapped_column(Text, default="")


# ------------------------------------------------------------------------------ values


def value_text(field: str, value: Any) -> str:
    """A field's value as stored in the request (dates ISO, codes as codes)."""
    if value is None:
        return ""
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def masked_text(field: str, value: str) -> str:
    """The value as the register masks it by default."""
    if not value:
        return ""
    if field == "id_number":
        return mask_id_number(value)
    if field == "phone":
        return mask_phone(value)
    if field == "birth_date":
        return f"{value[:4]}-**-**"
    if field == "hukou_place":
        return "****"
    return value


def display_value(field: str, value: str, lang: str = "zh") -> str:
    """A stored code as its label (sex, ethnicity); other values as they are."""
    if not value or "*" in value:
        return value
    if field == "sex":
        return codes.label(codes.SEXES, value, lang) or value
    if field == "ethnicity":
        return codes.ethnicity_label(value, lang)
    return value


def _who(actor: Any) -> tuple[int | None, str]:
    real = getattr(actor, "actor", None) or actor
    return getattr(real, "id", None), (getattr(real, "username", "") or "")[:64]


# ------------------------------------------------------------------------------ asking


def request_correction(
    session: Session,
    *,
    person_id: int,
    field: str,
    value: Any,
    reason: str,
    actor: Any,
) -> Correction:
    """A resident's request to change ``field`` of their record to ``value``. The value
    is checked with the register's own rules (:func:`services.clean_person` on the record
    as it would become), so an impossible ID number is refused now, not weeks later.
    Raises :class:`RegistryError` naming ``field``, ``value`` or ``reason``."""
    from core.registry.services import PERSON_FIELDS, clean_person

    person = session.get(Person, person_id)
    if person is None or person.status == "merged":
        raise NotFound(N_("No such %(what)s."), "person", what="person")
    errors: dict[str, str] = {}
    if field not in CORRECTABLE:
        errors["field"] = N_("Choose what should be corrected.")
    text = str(value or "").strip()
    reason = (reason or "").strip()
    if not text and field not in MAY_BE_EMPTY:
        errors["value"] = N_("Enter the correct value.")
    if len(reason) < REASON_MIN:
        errors["reason"] = N_("Say why the register is wrong, for example which document "
                              "shows the right value.")
    elif len(reason) > REASON_MAX:
        errors["reason"] = N_("Keep the reason under 500 characters.")
    new = None
    if not errors.keys() & {"field", "value"}:
        merged = {f: getattr(person, f) for f in PERSON_FIELDS} | {field: text or None}
        try:
            clean = clean_person(merged)
        except RegistryError as exc:
            message = exc.errors.get(field) or next(iter(exc.errors.values()), str(exc))
            errors["value"] = message
        else:
            new = value_text(field, clean[field])
            if new == value_text(field, getattr(person, field)):
                errors["value"] = N_("This is what the register has already.")
    if errors:
        first = next(iter(errors))
        raise RegistryError(errors[first], first, errors=errors)
    pending = session.scalar(select(Correction.id).where(
        Correction.person_id == person.id, Correction.field == field,
        Correction.status == "pending"))
    if pending is not None:
        raise RegistryError(N_("You have asked to correct this already; the answer will come "
                               "as a notification."), "field")
    uid, uname = _who(actor)
    correction = Correction(
        person_id=person.id, requested_by_id=uid, requested_by_name=uname, field=field,
        current_value=masked_text(field, value_text(field, getattr(person, field))),
        new_value=new or "", reason=reason, status="pending",
    )
    session.add(correction)
    session.flush()
    log_audit(session, "registry.correction.requested", actor=getattr(actor, "actor", None)
              or actor, target_type="registry_correction", target_id=correction.id,
              detail={"person_id": person.id, "field": field})
    return correction


# ------------------------------------------------------------------------------ deciding


def decide_correction(
    session: Session,
    correction_id: int,
    *,
    approve: bool,
    reason: str,
    actor: Any,
    bus: Any,
    expected_version: int | None = None,
    link: str = "",
    notice: Any = None,
) -> Correction:
    """Approve (apply through :func:`services.update_person`, ``via="correction"``) or
    refuse a pending request; the resident is notified either way. ``expected_version``
    is the person's version the reviewer saw: if the record changed since, the
    :class:`ConflictError` (409) asks them to look again. ``notice(correction)`` returns
    the notification's ``(title, body)`` (default: :func:`default_notice`'s Messages, told
    in the language the resident reads them in)."""
    from core.identity.notifications import notify
    from core.registry.services import update_person

    correction = session.get(Correction, correction_id)
    if correction is None:
        raise NotFound(N_("No such %(what)s."), "correction", what="correction")
    if correction.status != "pending":
        raise RegistryError(N_("This request has been answered already."), "status")
    reason = (reason or "").strip()
    if not approve and len(reason) < REASON_MIN:
        raise RegistryError(N_("Say why the request is refused; the resident will read it."),
                            "reason")
    if len(reason) > REASON_MAX:
        raise RegistryError(N_("Keep the reason under 500 characters."), "reason")
    person = session.get(Person, correction.person_id)
    if approve:
        if person is None or person.status in ("deceased", "merged"):
            raise RegistryError(N_("This record is closed; the correction cannot be applied."),
                                "status")
        update_person(
            session, person.id, {correction.field: correction.new_value or None},
            expected_version=expected_version if expected_version is not None
            else person.version,
            bus=bus, actor=actor, via="correction",
        )
    uid, uname = _who(actor)
    correction.status = "approved" if approve else "refused"
    correction.decided_at = utcnow()
    correction.decided_by_id, correction.decided_by_name = uid, uname
    correction.decision_reason = reason
    correction.new_value = masked_text(correction.field, correction.new_value) if \
        correction.field in ("id_number", "phone", "birth_date", "hukou_place") else \
        correction.new_value
    log_audit(session, "registry.correction.decided", actor=getattr(actor, "actor", None)
              or actor, target_type="registry_correction", target_id=correction.id,
              detail={"person_id": correction.person_id, "field": correction.field,
                      "outcome": correction.status, "reason": reason})
    if correction.requested_by_id is not None:
        title, body = (notice or default_notice)(correction)
        notify(session, bus, user_id=correction.requested_by_id, title=title, body=body,
               link=link, kind=f"correction_{correction.status}", source="core")
    session.flush()
    return correction


#: How a correctable field is named in the resident's notice (the pages' labels, as msgids).
FIELD_LABELS = {
    "name": N_("Full name"),
    "id_number": N_("ID number"),
    "sex": N_("Sex"),
    "birth_date": N_("Date of birth"),
    "phone": N_("Phone number"),
    "ethnicity": N_("Ethnic group"),
    "nationality": N_("Nationality"),
    "hukou_place": N_("Hukou place"),
}


def default_notice(correction: Correction) -> tuple[Message, Message]:
    """The decision's notification: the outcome, and for a refusal the reason the reviewer
    wrote (shown as written). Core's messages, rendered when read, so the resident reads
    them in their language whatever the reviewer's. The field's name is a label in both
    languages, lower-cased in English ("your phone number", not "your Phone number")."""
    label = FIELD_LABELS.get(correction.field, correction.field)
    zh = Message(label, domain="core").render("zh")
    field = Bilingual(label[:1].lower() + label[1:], zh)
    if correction.status == "approved":
        return (Message("Your correction was approved", domain="core"),
                Message("Your %(field)s in the community register has been corrected.",
                        domain="core", field=field))
    return (Message("Your correction was refused", domain="core"),
            Message("Your request to correct your %(field)s was refused: %(reason)s",
                    domain="core", field=field, reason=correction.decision_reason))


# ------------------------------------------------------------------------------ reading


def corrections_of(session: Session, person_id: int) -> list[Correction]:
    """A person's requests, newest first."""
    return list(session.scalars(
        select(Correction).where(Correction.person_id == person_id)
        .order_by(Correction.created_at.desc(), Correction.id.desc())
    ))


@dataclass
class CorrectionRow:
    correction: Correction
    person_name: str
    community_id: int | None


def review_queue(session: Session, actor: Any, *, status: str = "pending", page: int = 1,
                 per_page: int = 20) -> tuple[list[CorrectionRow], int]:
    """Requests about persons within the reviewer's place scope (oldest pending first),
    and how many there are."""
    query = (select(Correction, Person.name, Person.community_id)
             .join(Person, Person.id == Correction.person_id)
             .where(Correction.status == status))
    staff = place_filter(session, actor)
    if staff is not None:
        query = query.where(staff)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    order = (Correction.created_at, Correction.id) if status == "pending" else (
        Correction.decided_at.desc(), Correction.id.desc())
    rows = session.execute(query.order_by(*order).limit(per_page)
                           .offset((max(page, 1) - 1) * per_page))
    return [CorrectionRow(c, name, cid) for c, name, cid in rows], total or 0


def reviewable(session: Session, actor: Any, correction_id: int) -> Correction | None:
    """The request, when it concerns a person within the reviewer's place scope."""
    query = (select(Correction).join(Person, Person.id == Correction.person_id)
             .where(Correction.id == correction_id))
    staff = place_filter(session, actor)
    if staff is not None:
        query = query.where(staff)
    return session.scalar(query)

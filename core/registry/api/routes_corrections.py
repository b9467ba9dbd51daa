"""``/me/corrections`` and ``/corrections``: a resident's correction requests, and the
review of them by community workers within their places.

The same services as the pages (``core.registry.corrections``): the resident asks
(verified, their own record only), the reviewer (``registry.correction.review``) sees
requests about persons within their communities and grids (others answer 404), decides
with a reason, and the resident is told in their own language. Every name and value a
reviewer is shown is written to that person's access log, as on the review pages.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from flask import abort
from flask.views import MethodView
from flask_login import current_user

from core.api.blueprint import ApiBlueprint
from core.api.endpoints import endpoint
from core.audit.web import request_facts
from core.current import current_kernel
from core.db import current_session
from core.identity import require_verified
from core.registry.api.common import (
    lang,
    log_names,
    refuse,
    set_page_header,
)
from core.registry.api.schemas_reviews import (
    REVIEW,
    CorrectionQuery,
    CorrectionRequest,
    DecisionRequest,
    OwnCorrectionList,
    OwnCorrectionSchema,
    ReviewItemSchema,
    ReviewPage,
)
from core.registry.corrections import (
    Correction,
    corrections_of,
    decide_correction,
    display_value,
    masked_text,
    request_correction,
    review_queue,
    reviewable,
    value_text,
)
from core.registry.errors import ConflictError, RegistryError
from core.registry.models import Person
from core.registry.present import display_entry, log_displays
from core.rules import MAX_ID

corrections = ApiBlueprint(
    "registry_corrections", __name__,
    description="Correction requests: a resident asks, a community worker decides",
)

#: The purpose the review operations log (the same msgid as the review pages).
PURPOSE = "Reviewing a correction request"
MY_RECORD = "/registry/me"


def _own_person_id() -> int:
    if not current_user.person_id:
        abort(404)
    return int(current_user.person_id)


def _own(correction_id: int) -> Correction:
    found = current_session().get(Correction, correction_id) if 0 < correction_id <= MAX_ID \
        else None
    if found is None or found.person_id != current_user.person_id:
        abort(404)
    return found


def _reviewed(correction_id: int) -> Correction:
    found = reviewable(current_session(), current_user, correction_id) \
        if 0 < correction_id <= MAX_ID else None
    if found is None:
        abort(404)
    return found


def _row(c: Correction, person_name: str) -> dict[str, Any]:
    return {"id": c.id, "person_id": c.person_id, "person_name": person_name,
            "field": c.field, "status": c.status, "reason": c.reason,
            "created_at": c.created_at, "decided_at": c.decided_at,
            "decided_by": c.decided_by_name or "", "decision_reason": c.decision_reason}


# ------------------------------------------------------------------------------ resident


@corrections.route("/me/corrections")
class OwnCorrections(MethodView):
    @endpoint(corrections, require_verified, errors=(404,), descriptions={
        403: "Not a verified resident", 404: "Your account names no registry record"})
    @corrections.response(200, OwnCorrectionList)
    def get(self):
        """Your own correction requests, newest first, with their answers."""
        session = current_session()
        return {"items": corrections_of(session, _own_person_id())}

    @endpoint(corrections, require_verified, errors=(404, 409, 422), descriptions={
        403: "Not a verified resident",
        404: "Your account names no registry record",
        409: "The register's rules refuse the value, it is what the register has already, "
             "the reason is too short, or this field has a pending request (fields say which)",
    })
    @corrections.arguments(CorrectionRequest)
    @corrections.response(201, OwnCorrectionSchema)
    def post(self, data):
        """Ask to correct one field of your own record, with a reason. The value is
        checked by the register's rules now; a community worker checks it against your
        documents and you are notified of the answer."""
        session = current_session()
        person_id = _own_person_id()
        try:
            made = request_correction(session, person_id=person_id, field=data["field"],
                                      value=data.get("value", ""), reason=data["reason"],
                                      actor=current_user)
        except RegistryError as exc:
            refuse(session, exc)
        session.commit()
        return made, 201


@corrections.route("/me/corrections/<int:correction_id>")
class OwnCorrectionItem(MethodView):
    @endpoint(corrections, require_verified, errors=(404,), descriptions={
        403: "Not a verified resident", 404: "Not one of your requests"})
    @corrections.response(200, OwnCorrectionSchema)
    def get(self, correction_id: int):
        """One of your requests and its answer."""
        return _own(correction_id)


# ------------------------------------------------------------------------------ review


@corrections.route("/corrections")
class Corrections(MethodView):
    @endpoint(corrections, REVIEW, errors=(422,), descriptions={422: "Invalid status or page"})
    @corrections.arguments(CorrectionQuery, location="query")
    @corrections.response(200, ReviewPage)
    def get(self, args):
        """Requests about persons within your places: pending ones oldest first, decided
        ones newest first. Each person named is in their access log (masked: the name)."""
        session = current_session()
        page, size = args["page"], args["page_size"]
        rows, total = review_queue(session, current_user, status=args["status"], page=page,
                                   per_page=size)
        log_names(session, [SimpleNamespace(id=r.correction.person_id, name=r.person_name)
                            for r in rows], purpose=PURPOSE)
        session.commit()
        meta = set_page_header(page, size, total)
        return {"items": [_row(r.correction, r.person_name) for r in rows], **meta}


@corrections.route("/corrections/<int:correction_id>")
class CorrectionItem(MethodView):
    @endpoint(corrections, REVIEW, errors=(404,), descriptions={
        404: "No such request about a person within your places"})
    @corrections.response(200, ReviewItemSchema)
    def get(self, correction_id: int):
        """One request as the review page shows it: the register's value now (masked)
        and the value asked for in full while pending. Logged in the person's access log
        with the field under review, as the page logs it."""
        session = current_session()
        found = _reviewed(correction_id)
        person = session.get(Person, found.person_id)
        current = getattr(person, found.field, None) if person is not None else None
        out = _row(found, person.name if person is not None else "")
        out["current_value"] = display_value(
            found.field, masked_text(found.field, value_text(found.field, current)), lang())
        out["requested_value"] = display_value(found.field, found.new_value, lang())
        out["person_version"] = person.version if person is not None else None
        if person is not None:
            log_displays(session, [display_entry(
                current_user, person, fields=(), revealed=sorted({"name", found.field}),
                purpose=PURPOSE, via="core", facts=request_facts())])
            session.commit()
        return out


@corrections.route("/corrections/<int:correction_id>/decision")
class CorrectionDecision(MethodView):
    @endpoint(corrections, REVIEW, errors=(404, 409, 422), descriptions={
        404: "No such request about a person within your places",
        409: "Answered already, a refusal without its reason, the record is closed, or it "
             "changed since `version` (fields say which)",
    })
    @corrections.arguments(DecisionRequest)
    @corrections.response(200, ReviewItemSchema)
    def post(self, data, correction_id: int):
        """Approve (the register is corrected through its services, with history and
        the ``registry.person.updated`` event) or refuse with a reason. The resident is
        notified either way, in their own language."""
        session = current_session()
        found = _reviewed(correction_id)
        try:
            decide_correction(
                session, found.id, approve=data["decision"] == "approve",
                reason=data.get("reason", ""), actor=current_user, bus=current_kernel().bus,
                expected_version=data.get("version"), link=MY_RECORD)
        except (ConflictError, RegistryError) as exc:
            refuse(session, exc)
        session.commit()
        person = session.get(Person, found.person_id)
        out = _row(found, person.name if person is not None else "")
        out["current_value"] = ""
        out["requested_value"] = display_value(found.field, found.new_value, lang())
        out["person_version"] = person.version if person is not None else None
        if person is not None:
            log_names(session, [person], purpose=PURPOSE)
            session.commit()
        return out

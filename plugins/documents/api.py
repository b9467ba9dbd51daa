"""The JSON API, mounted by core at ``/api/v1/documents``. ``endpoint`` goes outermost: it
checks the permission before the body is read and documents 401, 403 and the errors
listed, with core's "Error" schema. The rules are in ``services``; each operation has the
same checks as its page."""

from __future__ import annotations

import json
from typing import Any

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort
from werkzeug.exceptions import TooManyRequests

from core.toolkit import (
    MAX_ID,
    N_,
    ApiBlueprint,
    PageArgs,
    RuleError,
    current_session,
    endpoint,
    paginate,
    refuse,
    require_login,
)
from plugins.documents import GOV_READ, OWN, REVOKE
from plugins.documents.models import Document
from plugins.documents.schemas import (
    DocumentsDocument,
    DocumentsKey,
    DocumentsKeys,
    DocumentsList,
    DocumentsPage,
    DocumentsRevokeIn,
    DocumentsVerification,
    DocumentsVerifyIn,
)
from plugins.documents.services import issue as svc
from plugins.documents.services.limits import verify_wait
from plugins.documents.services.pdf import FontMissing
from plugins.documents.services.signing import ALGORITHM, Signer, keys, signer
from plugins.documents.views import client_address, pdf_response, unpack_signed

blp = ApiBlueprint("documents_api", __name__,
                   description="Documents: receipts, decision letters and certificates")


def document_out(doc: Document) -> dict[str, Any]:
    statement = json.loads(doc.statement)
    return {
        "code": doc.code, "kind": doc.kind, "outcome": doc.outcome,
        "application_id": doc.application_id, "reference": doc.reference,
        "service_code": doc.service_code, "service": statement["service"],
        "office": statement["office"], "issued_at": doc.issued_at,
        "issued_on": statement["issued_on"],
        "status": "revoked" if doc.revoked_at else "valid",
        "revoked_at": doc.revoked_at, "revoked_reason": doc.revoked_reason or None,
        "pdf_url": f"/api/v1/documents/{doc.code}/pdf",
        "verify_url": f"/documents/verify/{doc.code}",
    }


def _visible(code: str) -> Document:
    doc = svc.by_code(current_session(), code)
    if doc is None or not svc.may_see(current_user, doc):
        abort(404, message="No such document.")
    return doc


def _limit() -> None:
    wait = verify_wait(client_address())
    if wait:
        raise TooManyRequests(f"Too many verifications; try again in {wait} seconds.",
                              retry_after=wait)


def verification_out(result: svc.Verification) -> dict[str, Any]:
    return {
        "status": result.status,
        "code": result.document.code if result.document else None,
        # what a document states is shown only when it is ours and unchanged
        "statement": result.statement if result.status in ("valid", "revoked") else None,
        "revoked_on": result.revoked_on or None,
        "revoked_reason": result.revoked_reason or None,
        "key_id": result.key.key_id if result.key else None,
        "name_matches": result.name_matches,
    }


def key_out(key: Signer) -> dict[str, Any]:
    return {"key_id": key.key_id, "algorithm": ALGORITHM, "public_key_pem": key.public_pem(),
            "public_key_raw": key.public_raw(), "current": key.current,
            "valid_from": key.valid_from, "retired_at": key.retired_at}


@blp.route("/mine")
class Mine(MethodView):
    @endpoint(blp, require_login(OWN), errors=(422,))
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, DocumentsPage)
    def get(self, args):
        """The signed-in resident's own documents, newest first (paginated)."""
        page = paginate(current_session(), svc.own_query(current_user.person_id), args)
        page["items"] = [document_out(d) for d in page["items"]]
        return page


@blp.route("/applications/<int:doc_application_id>")
class ByApplication(MethodView):
    @endpoint(blp, GOV_READ, errors=(404,))
    @blp.response(200, DocumentsList)
    def get(self, doc_application_id):
        """An application's documents, for staff with gov_services' read permission whose
        places cover it (none visible: 404)."""
        if doc_application_id > MAX_ID:
            abort(404, message="No such application.")
        docs = svc.for_application(current_session(), current_user, doc_application_id)
        if not docs:
            abort(404, message="No documents for this application.")
        return {"items": [document_out(d) for d in docs]}


@blp.route("/key")
class Key(MethodView):
    @endpoint(blp)
    @blp.response(200, DocumentsKey)
    def get(self):
        """The public key the documents are signed with (Ed25519), for offline checks."""
        key = signer()
        return {"key_id": key.key_id, "algorithm": ALGORITHM, "public_key_pem": key.public_pem()}


@blp.route("/keys")
class Keys(MethodView):
    @endpoint(blp)
    @blp.response(200, DocumentsKeys)
    def get(self):
        """Every public verification key of the deployment: the current one first, then the
        retired ones (documents they signed still verify). Public, for offline checks."""
        return {"items": [key_out(k) for k in keys()]}


@blp.route("/verify/<doc_code>")
class VerifyCode(MethodView):
    @endpoint(blp, errors=(429,))
    @blp.response(200, DocumentsVerification)
    def get(self, doc_code):
        """Verify a document by its code (public; rate limited per client). Logged."""
        _limit()
        session = current_session()
        result = svc.verify_code(session, doc_code)
        svc.record_verification(session, result, via="api")
        out = verification_out(result)
        session.commit()
        return out


@blp.route("/verify")
class VerifyStatement(MethodView):
    @endpoint(blp, errors=(409, 422, 429),
              descriptions={409: "Neither a code, a statement with signature, nor signed; "
                                 "or a name without a valid name-check code"})
    @blp.arguments(DocumentsVerifyIn)
    @blp.response(200, DocumentsVerification)
    def post(self, data):
        """Verify a code, a statement with its signature, or the ``SHEQU-DOC:`` token from
        a PDF (public; rate limited). A changed statement answers ``tampered``. With
        ``name`` and ``salt`` (the name-check code printed on the paper) it also answers
        whether that full name is the one a v2 document committed to (``name_matches``),
        never returning the name."""
        salt = None
        if "name" in data:
            salt = svc.parse_salt(data.get("salt", ""))
            if salt is None:
                refuse(RuleError(N_("The name-check code is the 32 digits and letters printed "
                                    "next to the name."), "salt"), status=409)
        _limit()
        session = current_session()
        if "code" in data:
            result = svc.verify_code(session, data["code"])
        elif "signed" not in data and not ("statement" in data and "signature" in data):
            refuse(RuleError(N_("Give code, statement with signature, or signed."), "code"),
                   status=409)
        elif "signed" in data:
            statement, signature = unpack_signed(data["signed"])
            result = svc.verify_signed(session, statement, signature)
        else:
            result = svc.verify_signed(session, data["statement"], data["signature"])
        if salt is not None:
            svc.check_name(result, data["name"], salt)
        svc.record_verification(session, result, via="api")
        out = verification_out(result)
        session.commit()
        return out


@blp.route("/<string(length=16):doc_code>")  # a code, never "verify" or "keys"
class One(MethodView):
    @endpoint(blp, require_login(OWN), errors=(404,))
    @blp.response(200, DocumentsDocument)
    def get(self, doc_code):
        """One document: the person's own, or staff's within their places."""
        return document_out(_visible(doc_code))


@blp.route("/<string(length=16):doc_code>/pdf")
class Pdf(MethodView):
    @endpoint(blp, require_login(OWN), errors=(404, 503),
              descriptions={503: "The PDF font is not installed"})
    @blp.response(200, description="The PDF (application/pdf)", content_type="application/pdf")
    def get(self, doc_code):
        """The document's PDF (the QR code points to its verification page)."""
        doc = _visible(doc_code)
        try:
            return pdf_response(current_session(), doc)
        except FontMissing as exc:
            refuse(exc)


@blp.route("/<string(length=16):doc_code>/revoke")
class Revoke(MethodView):
    @endpoint(blp, REVOKE, errors=(404, 409, 422))
    @blp.arguments(DocumentsRevokeIn)
    @blp.response(200, DocumentsDocument)
    def post(self, data, doc_code):
        """Revoke a document (reason required); the resident is told. Staff whose places
        cover the document only."""
        session = current_session()
        doc = svc.by_code(session, doc_code)
        if doc is None or not svc.may_revoke(current_user, doc):
            abort(404, message="No such document.")
        try:
            svc.revoke(session, doc, reason=data["reason"], actor=current_user)
        except RuleError as exc:
            refuse(exc, status=409)
        session.commit()
        return document_out(doc)


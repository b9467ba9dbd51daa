"""Pages, mounted by core at ``/documents``. Thin: the rules are in ``services``.

* ``/documents/`` — 我的证明文书: the resident's own documents;
* ``/documents/<code>`` — one document (owner, or staff within their places), its PDF at
  ``/documents/<code>/pdf``, and the revoke form for staff who may;
* ``/documents/applications/<id>`` — an application's documents, for staff;
* ``/documents/verify/<code>`` and ``/documents/verify`` — the public verification page
  (from the QR code) and the form for a code, a pasted statement or an uploaded PDF.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy.orm import Session
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Optional

from core.toolkit import (
    MAX_ID,
    Length,
    RuleError,
    current_session,
    paginate,
    plugin_settings,
    require,
    require_login,
)
from plugins.documents import GOV_READ, OWN, REVOKE, info
from plugins.documents.models import Document
from plugins.documents.services import issue as svc
from plugins.documents.services.limits import verify_wait
from plugins.documents.services.pdf import MARK, FontMissing, draw_pdf
from plugins.documents.services.templates import render

bp = Blueprint("documents", __name__, template_folder="templates")

STATUS_LABELS = {
    "valid": _l("Valid"),
    "revoked": _l("Revoked"),
    "tampered": _l("Not genuine: the document was changed or not signed by us"),
    "unknown": _l("Unknown: no document has this code"),
}
KIND_LABELS = {k: _l(v) for k, v in svc.KIND_LABELS.items()}


class RevokeForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=500)])


class VerifyForm(FlaskForm):
    code = StringField(_l("Document code"), validators=[Optional(), Length(max=32)])
    statement = TextAreaField(_l("Statement and signature (as shown on a verification page)"),
                              validators=[Optional(), Length(max=20000)])
    pdf = FileField(_l("Or upload the PDF"))


class NameCheckForm(FlaskForm):
    """A verifier holding the paper checks the full name printed on it, with the
    name-check code printed next to it: the page answers match or no match."""

    name = StringField(_l("Full name as printed on the document"),
                       validators=[DataRequired(), Length(max=100)])
    salt = StringField(_l("Name-check code printed on the document"),
                       validators=[DataRequired(), Length(max=80)])


def client_address() -> str:
    return request.remote_addr or "-"


def lang() -> str:
    from flask_babel import get_locale

    return "en" if str(get_locale() or "zh").startswith("en") else "zh"


def _viewer_is_owner(doc: Document) -> bool:
    return getattr(current_user, "person_id", None) == doc.person_id


def verify_url(code: str) -> str:
    base = plugin_settings(info.id)["public_url"] or request.host_url
    return f"{base.rstrip('/')}/documents/verify/{code}"


def pdf_response(session: Session, doc: Document) -> Response:
    """The PDF, drawn now from the signed statement; a display to anyone but the person
    is written to the person's access log."""
    purpose = f"download of document {doc.code}"
    statement = svc.full_statement(session, doc, purpose=purpose)
    revoked = ({"on": svc.local_date(doc.revoked_at), "reason": doc.revoked_reason}
               if doc.revoked_at else None)
    data = draw_pdf(statement, doc.signature, verify_url=verify_url(doc.code), revoked=revoked,
                    name_salt=doc.name_salt or "")
    if not _viewer_is_owner(doc):
        svc.log_display(session, doc, purpose)
        session.commit()
    return Response(data, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{doc.kind}-{doc.code}.pdf"',
        "Cache-Control": "private, no-store",
    })


def unpack_signed(text: str) -> tuple[Any, Any]:
    """``(statement, signature)`` from the ``SHEQU-DOC:`` token, or from pasted JSON
    ``{"statement": ..., "signature": ...}``; ``(None, None)`` when it is neither."""
    text = (text or "").strip()
    found = re.search(re.escape(MARK) + r"([A-Za-z0-9_\-=]+)", text)
    try:
        raw = base64.urlsafe_b64decode(found.group(1)).decode("utf-8") if found else text
        data = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    return data.get("statement"), data.get("signature")


def _from_pdf(upload: Any) -> str:
    """The signed token from an uploaded PDF's metadata (bytes are searched, not parsed:
    our PDFs keep the token as one ASCII string)."""
    raw = upload.read(5 * 1024 * 1024 + 1)
    if len(raw) > 5 * 1024 * 1024:
        return ""
    found = re.search(re.escape(MARK).encode() + rb"[A-Za-z0-9_\-=]+", raw)
    return found.group(0).decode("ascii") if found else ""


def _texts(doc: Document, statement: dict[str, Any]) -> dict[str, Any]:
    texts = render(statement)
    return texts.get(lang()) or texts["zh"]


# ------------------------------------------------------------------------------ resident


@bp.route("/")
@require_login(OWN)
def mine():
    session = current_session()
    size = plugin_settings(info.id)["page_size"]
    page = paginate(session, svc.own_query(current_user.person_id),
                    {"page": min(max(request.args.get("page", 1, type=int) or 1, 1), 10000),
                     "page_size": size})
    return render_template("documents/mine.html", page=page, kinds=KIND_LABELS,
                           names=_names(page["items"]), lang=lang())


def _names(docs: list[Document]) -> dict[str, str]:
    out = {}
    for d in docs:
        statement = json.loads(d.statement)
        out[d.code] = statement["service"].get(lang()) or statement["service"]["zh"]
    return out


def _visible(code: str) -> Document:
    doc = svc.by_code(current_session(), code)
    if doc is None or not svc.may_see(current_user, doc):
        abort(404)
    return doc


@bp.route("/<doc_code>", methods=["GET"])
@require_login(OWN)
def document(doc_code: str):
    return _document_page(_visible(doc_code), RevokeForm())


def _document_page(doc: Document, form: RevokeForm, status: int = 200):
    session = current_session()
    purpose = f"document {doc.code}"
    statement = svc.full_statement(session, doc, purpose=purpose)
    if not _viewer_is_owner(doc):
        svc.log_display(session, doc, purpose)
        session.commit()
    return render_template(
        "documents/document.html", doc=doc, statement=statement,
        texts=_texts(doc, statement), kinds=KIND_LABELS, form=form,
        may_revoke=svc.may_revoke(current_user, doc) and doc.revoked_at is None,
        revoked_on=svc.local_date(doc.revoked_at) if doc.revoked_at else "",
    ), status


@bp.route("/<doc_code>/pdf")
@require_login(OWN)
def download(doc_code: str):
    doc = _visible(doc_code)
    try:
        return pdf_response(current_session(), doc)
    except FontMissing as exc:
        return render_template("documents/font_missing.html", message=exc.text()), 503


@bp.route("/<doc_code>/revoke", methods=["POST"])
@require(REVOKE)
def revoke(doc_code: str):
    session = current_session()
    doc = svc.by_code(session, doc_code)
    if doc is None or not svc.may_revoke(current_user, doc):
        abort(404)
    form = RevokeForm()
    if form.validate_on_submit():
        try:
            svc.revoke(session, doc, reason=form.reason.data, actor=current_user)
        except RuleError as exc:
            form.reason.errors = [*form.reason.errors, exc.text()]
        else:
            session.commit()
            flash(_("The document is revoked; the resident is told."), "success")
            return redirect(url_for("documents.document", doc_code=doc.code))
    elif not form.reason.errors:
        form.reason.errors = [_("Give the reason.")]
    return _document_page(doc, form, 400)


# ------------------------------------------------------------------------------ staff


@bp.route("/applications/<int:doc_application_id>")
@require(GOV_READ)
def application(doc_application_id: int):
    if doc_application_id > MAX_ID:
        abort(404)
    docs = svc.for_application(current_session(), current_user, doc_application_id)
    if not docs:
        abort(404)
    return render_template("documents/application.html", docs=docs, kinds=KIND_LABELS,
                           names=_names(docs), application_id=doc_application_id)


def application_slot(application_id: Any) -> str | None:
    """The list on gov_services' application page: only the documents this viewer may see."""
    if not isinstance(application_id, int) or not getattr(current_user, "is_authenticated",
                                                          False):
        return None
    docs = svc.for_application(current_session(), current_user, application_id)
    if not docs:
        return None
    return render_template("documents/_slot.html", docs=docs, kinds=KIND_LABELS)


# ------------------------------------------------------------------------------ public


def _limited() -> Any:
    wait = verify_wait(client_address())
    if not wait:
        return None
    return render_template("documents/verify.html", result=None, form=VerifyForm(),
                           limited=wait, labels=STATUS_LABELS), 429, {"Retry-After": str(wait)}


def _verification_page(result: svc.Verification, form: VerifyForm, status: int = 200,
                       name_form: NameCheckForm | None = None):
    session = current_session()
    svc.record_verification(session, result, via="page")
    session.commit()
    texts = _texts(result.document, result.statement) if (
        result.document is not None and result.statement and result.status != "tampered"
    ) else None
    pasted = None
    if result.shown and result.document is not None:
        pasted = json.dumps({"statement": result.statement,
                             "signature": result.document.signature},
                            ensure_ascii=False, sort_keys=True)
    name_form = name_form or NameCheckForm(formdata=None)
    name_form.name.data = ""  # what was typed is not echoed back: the page never shows a name
    if result.name_matches is not None:
        name_form.salt.data = ""
    return render_template("documents/verify.html", result=result, texts=texts, form=form,
                           labels=STATUS_LABELS, kinds=KIND_LABELS, pasted=pasted,
                           limited=0, name_form=name_form), status


@bp.route("/verify/<doc_code>", methods=["GET", "POST"])
def verify(doc_code: str):
    """The page the QR code opens: public, rate limited, logged. A POST is a name check:
    the full name and the name-check code from the paper; the page says whether the name
    matches, never what it is."""
    refused = _limited()
    if refused:
        return refused
    result = svc.verify_code(current_session(), doc_code)
    name_form = None
    if request.method == "POST":
        name_form = NameCheckForm()
        if not name_form.validate_on_submit():
            return _verification_page(result, VerifyForm(), 400, name_form)
        salt = svc.parse_salt(name_form.salt.data)
        if salt is None:
            name_form.salt.errors = [_("The name-check code is the 32 digits and letters "
                                       "printed next to the name.")]
            return _verification_page(result, VerifyForm(), 400, name_form)
        svc.check_name(result, name_form.name.data, salt)
    return _verification_page(result, VerifyForm(), name_form=name_form)


@bp.route("/verify", methods=["GET", "POST"])
def verify_form():
    """A verifier types the code, pastes the statement, or uploads the PDF."""
    form = VerifyForm()
    if request.method == "GET":
        return render_template("documents/verify.html", result=None, form=form,
                               labels=STATUS_LABELS, limited=0)
    if not form.validate_on_submit():
        return render_template("documents/verify.html", result=None, form=form,
                               labels=STATUS_LABELS, limited=0), 400
    refused = _limited()
    if refused:
        return refused
    session = current_session()
    upload = form.pdf.data if getattr(form.pdf.data, "filename", "") else None
    if upload is not None:
        token = _from_pdf(upload)
        if not token:
            form.pdf.errors = [_("This PDF holds no signed statement of ours.")]
            return render_template("documents/verify.html", result=None, form=form,
                                   labels=STATUS_LABELS, limited=0), 400
        result = svc.verify_signed(session, *unpack_signed(token))
    elif (form.statement.data or "").strip():
        statement, signature = unpack_signed(form.statement.data)
        if statement is None:
            form.statement.errors = [_("Paste the statement and signature as shown.")]
            return render_template("documents/verify.html", result=None, form=form,
                                   labels=STATUS_LABELS, limited=0), 400
        result = svc.verify_signed(session, statement, signature)
    elif (form.code.data or "").strip():
        return redirect(url_for("documents.verify", doc_code=form.code.data.strip().upper()))
    else:
        form.code.errors = [_("Enter the document code, paste its statement or upload the PDF.")]
        return render_template("documents/verify.html", result=None, form=form,
                               labels=STATUS_LABELS, limited=0), 400
    return _verification_page(result, form)

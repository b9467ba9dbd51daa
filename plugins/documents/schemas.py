"""marshmallow schemas: the API's input and output. OpenAPI component names are global,
so they are prefixed with the plugin."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.toolkit import Pattern, Strict, Text, page_schema

KINDS = ("receipt", "decision", "certificate")
STATUSES = ("valid", "revoked", "tampered", "unknown")


class DocumentsNames(Schema):
    zh = fields.String(required=True)
    en = fields.String(required=True)


class DocumentsDocument(Schema):
    """A document as its owner or staff see it (no personal data: the masked name is on
    the PDF and the verification page)."""

    code = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    outcome = fields.String(required=True)
    application_id = fields.Integer(required=True)
    reference = fields.String(required=True)
    service_code = fields.String(required=True)
    service = fields.Nested(DocumentsNames, required=True)
    office = fields.Nested(DocumentsNames, required=True)
    issued_at = fields.DateTime(required=True)
    issued_on = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(("valid", "revoked")))
    revoked_at = fields.DateTime(allow_none=True)
    revoked_reason = fields.String(allow_none=True)
    pdf_url = fields.String(required=True)
    verify_url = fields.String(required=True)


DocumentsPage = page_schema(DocumentsDocument, "DocumentsPage")


class DocumentsList(Schema):
    items = fields.List(fields.Nested(DocumentsDocument), required=True)


class DocumentsRevokeIn(Strict):
    reason = Text(required=True, validate=validate.Length(1, 500))


class DocumentsVerifyIn(Strict):
    """One of: ``code``; ``statement`` with ``signature`` (as the verification page or the
    PDF gives them); or ``signed``, the ``SHEQU-DOC:…`` token in the PDF's metadata."""

    code = fields.String(validate=Pattern(r"^[0-9A-Fa-f]{16}$"))
    statement = fields.Dict(keys=fields.String())
    signature = fields.String(validate=validate.Length(1, 200))
    signed = fields.String(validate=validate.Length(1, 20000))
    #: A name check (v2 documents): the full name as printed on the paper and the 32-hex
    #: name-check code printed next to it (spaces or dashes between groups allowed).
    name = fields.String(validate=validate.Length(1, 100))
    salt = fields.String(validate=validate.Length(1, 80))


class DocumentsVerification(Schema):
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    code = fields.String(allow_none=True)
    #: What the document states (the applicant's name masked), when it is known.
    statement = fields.Dict(allow_none=True)
    revoked_on = fields.String(allow_none=True)
    revoked_reason = fields.String(allow_none=True)
    #: The id of the key that signed it (see ``GET /keys``), when the signature is ours.
    key_id = fields.String(allow_none=True)
    #: The name check's answer: true (the name typed matches), false, or null (none asked,
    #: or the document has no name commitment: v1). The name is never returned.
    name_matches = fields.Boolean(allow_none=True)


class DocumentsKey(Schema):
    key_id = fields.String(required=True)
    algorithm = fields.String(required=True)
    public_key_pem = fields.String(required=True)


class DocumentsKeyItem(Schema):
    """One public verification key of the deployment, current or retired."""

    key_id = fields.String(required=True)
    algorithm = fields.String(required=True)
    public_key_pem = fields.String(required=True)
    #: The raw 32-byte Ed25519 public key, base64.
    public_key_raw = fields.String(required=True)
    current = fields.Boolean(required=True)
    #: YYYY-MM-DD as the deployment configured them (null when not given).
    valid_from = fields.String(allow_none=True)
    retired_at = fields.String(allow_none=True)


class DocumentsKeys(Schema):
    items = fields.List(fields.Nested(DocumentsKeyItem), required=True)

"""marshmallow schemas: the API's input and output and the events' payloads. OpenAPI
component names are global, so they start with ``Matters``."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.toolkit import Id, Strict, page_schema
from plugins.matters.services import CATEGORIES, RATINGS, STATES

CATEGORY = validate.OneOf(sorted(CATEGORIES))
# Stated in the schema, so the OpenAPI document says what is accepted: some visible
# text; no control characters (line breaks allowed in TEXT).
_CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
_CONTROL_LINE = r"\x00-\x1f\x7f"
TEXT = rf"^[^{_CONTROL}]*[^\s{_CONTROL}][^{_CONTROL}]*$"
OPT_LINE = rf"^[^{_CONTROL_LINE}]*$"


def _text(n: int) -> fields.String:
    return fields.String(required=True, validate=[validate.Length(1, n), validate.Regexp(TEXT)])


def _opt_line(n: int) -> fields.String:
    return fields.String(load_default="", validate=[validate.Length(0, n),
                                                    validate.Regexp(OPT_LINE)])


class MatterEvent(Schema):
    """``matters.matter.filed`` / ``answered`` / ``closed``: ids and codes only."""

    matter_id = fields.Integer(required=True)
    reference = fields.String(required=True)
    community = fields.String(allow_none=True, load_default=None)
    department = fields.String(required=True)
    category = fields.String(required=True)
    source = fields.String(required=True, validate=validate.OneOf(["hotline", "web", "grid"]))
    source_id = fields.Integer(allow_none=True, load_default=None)
    person_id = fields.Integer(allow_none=True, load_default=None)
    state = fields.String(required=True)


class MattersListArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(1, 100000))
    page_size = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    state = fields.String(validate=validate.OneOf(sorted(STATES)))
    overdue = fields.Boolean()


class MattersFileIn(Strict):
    """A resident files their own matter on the web."""

    category = fields.String(required=True, validate=CATEGORY)
    summary = _text(2000)
    location = _opt_line(200)
    community = fields.String(load_default=None, allow_none=True,
                              validate=validate.Regexp(r"^\d{12}$"))
    caller_name = _opt_line(50)
    caller_phone = fields.String(load_default="", validate=[validate.Length(0, 30),
                                                       validate.Regexp(r"^[0-9+\- ]*$")])


class MattersHotlineIn(MattersFileIn):
    """The operator files a caller's matter: a registry person, or the caller's own
    details when the registry does not hold them."""

    person_id = Id(load_default=None, allow_none=True)


class MattersTransferIn(Strict):
    department = fields.String(required=True, validate=validate.Length(1, 40))
    reason = _text(500)


class MattersAnswerIn(Strict):
    answer = _text(4000)


class MattersRateIn(Strict):
    rating = fields.String(required=True, validate=validate.OneOf(sorted(RATINGS)))


class MattersMemberIn(Strict):
    user_id = Id(required=True)


class MattersStep(Schema):
    kind = fields.String(required=True)
    at = fields.DateTime(required=True)
    department = fields.String(required=True)
    note = fields.String(required=True)


class MattersMatter(Schema):
    id = fields.Integer(required=True)
    reference = fields.String(required=True)
    source = fields.String(required=True)
    source_id = fields.Integer(allow_none=True)
    category = fields.String(required=True)
    summary = fields.String(required=True)
    location = fields.String(required=True)
    community = fields.String(allow_none=True)
    department = fields.String(required=True)
    state = fields.String(required=True)
    filed_at = fields.DateTime(required=True)
    sign_due = fields.Date(required=True)
    answer_due = fields.Date(required=True)
    signed_at = fields.DateTime(allow_none=True)
    answered_at = fields.DateTime(allow_none=True)
    answer = fields.String(required=True)
    replied_via = fields.String(required=True)
    rating = fields.String(allow_none=True)
    escalated = fields.Boolean(required=True)
    overdue = fields.Boolean(required=True)
    person_id = fields.Integer(allow_none=True)
    caller = fields.String(allow_none=True, metadata={"description": "masked"})


class MattersMatterDetail(MattersMatter):
    steps = fields.List(fields.Nested(MattersStep), required=True)


MattersMatterPage = page_schema(MattersMatter, "MattersMatterPage")


class MattersDepartment(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    name_en = fields.String(required=True)
    kind = fields.String(required=True)
    community = fields.String(allow_none=True)
    active = fields.Boolean(required=True)


class MattersDepartmentList(Schema):
    items = fields.List(fields.Nested(MattersDepartment), required=True)


class MattersMembers(Schema):
    department = fields.String(required=True)
    user_ids = fields.List(fields.Integer(), required=True)


class MattersStatsRow(Schema):
    department = fields.String(required=True)
    received = fields.Integer(required=True)
    signed_on_time = fields.Integer(required=True)
    answered_on_time = fields.Integer(required=True)
    overdue = fields.Integer(required=True)
    rated = fields.Integer(required=True)
    satisfaction = fields.Float(allow_none=True)


class MattersStats(Schema):
    items = fields.List(fields.Nested(MattersStatsRow), required=True)

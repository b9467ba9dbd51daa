"""Schemas of the registry's correction, dashboard and export operations
(``routes_corrections``, ``routes_reports``)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.api.fields import Id, JsonBoolean, Pattern, Strict, Text
from core.api.pagination import PageArgs
from core.registry import codes
from core.registry.corrections import CORRECTABLE, REASON_MAX, STATUSES

REVIEW = "registry.correction.review"
DASHBOARD = "registry.dashboard.read"
EXPORT = "registry.export"
COMMUNITY_CODE = Pattern(r"^[0-9]{12}$", error="A community code is 12 digits.")


class CorrectionRequest(Strict):
    field = fields.String(required=True, validate=validate.OneOf(CORRECTABLE), metadata={
        "description": "The field of your record that is wrong"})
    value = Text(load_default="", validate=validate.Length(max=200), one_line=True, metadata={
        "description": "What it should be, as on your documents (dates as 1950-03-21, "
                       "sex as M or F); empty to remove a phone, nationality, hukou place "
                       "or ethnic group"})
    reason = Text(required=True, validate=validate.Length(min=1, max=REASON_MAX), metadata={
        "description": "Why the register is wrong (at least 4 characters): which document "
                       "shows the right value"})


class OwnCorrectionSchema(Schema):
    """A resident's own request, as their record page shows it."""

    id = fields.Integer(required=True)
    field = fields.String(required=True)
    current_value = fields.String(required=True, metadata={
        "description": "The register's value when asked, masked when sensitive"})
    new_value = fields.String(required=True, metadata={
        "description": "The value asked for (masked once decided, when sensitive)"})
    reason = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": list(STATUSES)})
    created_at = fields.DateTime(required=True)
    decided_at = fields.DateTime(allow_none=True)
    decision_reason = fields.String(required=True)


class OwnCorrectionList(Schema):
    items = fields.List(fields.Nested(OwnCorrectionSchema), required=True)


class CorrectionQuery(PageArgs):
    status = fields.String(load_default="pending", validate=validate.OneOf(STATUSES))


class ReviewRowSchema(Schema):
    """A request in the review queue: the person named (masked entry in their access log)."""

    id = fields.Integer(required=True)
    person_id = fields.Integer(required=True)
    person_name = fields.String(required=True)
    field = fields.String(required=True)
    status = fields.String(required=True)
    reason = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    decided_at = fields.DateTime(allow_none=True)
    decided_by = fields.String(required=True)
    decision_reason = fields.String(required=True)


class ReviewPage(Schema):
    items = fields.List(fields.Nested(ReviewRowSchema), required=True)
    page = fields.Integer(required=True)
    page_size = fields.Integer(required=True)
    total = fields.Integer(required=True)
    pages = fields.Integer(required=True)


class ReviewItemSchema(ReviewRowSchema):
    """One request as the reviewer decides it: the register's value now (masked) and the
    value asked for in full while pending — both written to the person's access log."""

    current_value = fields.String(required=True)
    requested_value = fields.String(required=True)
    person_version = fields.Integer(allow_none=True, metadata={
        "description": "Send it back as `version`: a record changed since is a 409"})


class DecisionRequest(Strict):
    decision = fields.String(required=True, validate=validate.OneOf(("approve", "refuse")))
    reason = Text(load_default="", validate=validate.Length(max=REASON_MAX), metadata={
        "description": "The resident reads it; needed (4+ characters) to refuse"})
    version = Id(metadata={"description": "The person's version you saw"})


class DashboardQuery(Schema):
    community = fields.String(validate=COMMUNITY_CODE, metadata={
        "description": "One of your communities; all of them when left out"})


class DashboardRow(Schema):
    key = fields.String(required=True)
    label = fields.String(required=True)
    count = fields.Integer(required=True)
    share = fields.Float(required=True, metadata={"description": "count / total, 0 to 1"})


class DashboardSchema(Schema):
    """The population dashboard's numbers (the page draws the same as charts)."""

    total = fields.Integer(required=True)
    community = fields.String(allow_none=True)
    by_community = fields.List(fields.Nested(DashboardRow), required=True)
    by_age = fields.List(fields.Nested(DashboardRow), required=True)
    by_sex = fields.List(fields.Nested(DashboardRow), required=True)
    by_hukou = fields.List(fields.Nested(DashboardRow), required=True)


class ExportRequest(Strict):
    community = fields.String(validate=COMMUNITY_CODE, metadata={
        "description": "One of your communities; all of them when left out"})
    status = fields.String(load_default="active", validate=validate.OneOf(
        (*codes.STATUSES, "any")))
    lang = fields.String(load_default="zh", validate=validate.OneOf(("zh", "en")),
                         metadata={"description": "The column headings' language"})
    reveal = JsonBoolean(load_default=False, metadata={
        "description": "Full ID numbers, phones, birth dates and addresses: needs "
                       "registry.person.reveal and a purpose"})
    purpose = Text(load_default="", validate=validate.Length(max=500), metadata={
        "description": "Why the full values are needed (4+ characters when `reveal`); "
                       "written to every exported person's access log"})

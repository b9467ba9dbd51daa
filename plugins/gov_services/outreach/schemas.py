"""API schemas of the offers and the outreach list. Bodies are strict (unknown fields
refused); a person appears by id and masked name only."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.toolkit import PageArgs, Pattern, Strict, Text, page_schema

CODE = r"^[a-z][a-z0-9_]{0,59}$"


class OutreachArgs(PageArgs):
    community = fields.String(load_default=None, validate=Pattern(r"^\d{12}$"))
    grid = fields.String(load_default=None, validate=Pattern(r"^\d{15}$"))
    service = fields.String(load_default=None, validate=Pattern(CODE))
    due = fields.Boolean(load_default=False, metadata={"description": "only those due today"})


class OutreachContactOut(Schema):
    outcome = fields.String(required=True)
    method = fields.String(required=True)
    note = fields.String(required=True)
    follow_up_on = fields.Date(allow_none=True)
    at = fields.DateTime(required=True)


class OutreachItemOut(Schema):
    id = fields.Integer(required=True)
    person_id = fields.Integer(required=True)
    name = fields.String(allow_none=True, metadata={"description": "masked (张**)"})
    service_code = fields.String(required=True)
    service_name = fields.String(required=True)
    community = fields.String(allow_none=True)
    grid = fields.String(allow_none=True)
    channel = fields.String(required=True, metadata={"description": "notification | outreach"})
    source = fields.String(required=True, metadata={"description": "rules | grid | workflow"})
    state = fields.String(required=True)
    note = fields.String(required=True)
    follow_up_on = fields.Date(allow_none=True)
    offered_at = fields.DateTime(required=True)
    finding_id = fields.Integer(allow_none=True)
    person_url = fields.String(
        required=True,
        metadata={"description": "the person's record, where the phone is revealed with a "
                                 "purpose (POST /api/v1/registry/persons/<id>/reveal)"},
    )
    contacts = fields.List(fields.Nested(OutreachContactOut), required=True)


OutreachPage = page_schema(OutreachItemOut, "GovOutreachPage")


class OutcomeIn(Strict):
    outcome = fields.String(
        required=True, validate=validate.OneOf(["reached", "applied", "declined", "unreachable"])
    )
    method = fields.String(load_default="call", validate=validate.OneOf(["call", "visit"]))
    note = Text(load_default="", validate=validate.Length(max=500))
    follow_up_on = fields.Date(load_default=None, allow_none=True)


class OfferOut(Schema):
    id = fields.Integer(required=True)
    service_code = fields.String(required=True)
    service_name = fields.String(required=True)
    state = fields.String(required=True)
    offered_at = fields.DateTime(required=True)
    apply_url = fields.String(required=True)


class OfferList(Schema):
    items = fields.List(fields.Nested(OfferOut), required=True)


class DeclineIn(Strict):
    note = Text(load_default="", validate=validate.Length(max=500))


class ServiceOffersOut(Schema):
    made = fields.Integer(required=True)
    reached = fields.Integer(required=True)
    applied = fields.Integer(required=True)
    outreach = fields.Integer(required=True)


class OfferStatsOut(ServiceOffersOut):
    per_service = fields.Dict(keys=fields.String(), values=fields.Nested(ServiceOffersOut),
                              required=True)

"""marshmallow schemas: the API's input and output, and the events' payloads."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.toolkit import MAX_ID, OPT_TEXT, TEXT, Pattern, page_schema

CODE = r"^[a-z][a-z0-9_]{1,59}$"


class ApplicationEvent(Schema):
    """Payload of ``gov_services.application.*``: ids and codes only, never personal data."""

    application_id = fields.Integer(required=True)
    service_code = fields.String(required=True)
    person_id = fields.Integer(required=True)
    community = fields.String(required=True, allow_none=True)
    state = fields.String(required=True)
    reason = fields.String(load_default=None, allow_none=True)
    # Public catalogue data for consumers (documents): optional, absent in older events.
    reference = fields.String(load_default=None, allow_none=True)
    service_name = fields.String(load_default=None, allow_none=True)
    service_name_en = fields.String(load_default=None, allow_none=True)
    office = fields.String(load_default=None, allow_none=True)
    office_name = fields.String(load_default=None, allow_none=True)
    office_name_en = fields.String(load_default=None, allow_none=True)
    due_on = fields.String(load_default=None, allow_none=True)
    at = fields.String(load_default=None, allow_none=True)


class MembershipChanged(Schema):
    """Payload of ``gov_services.membership.changed``."""

    membership_id = fields.Integer(required=True)
    person_id = fields.Integer(required=True)
    database = fields.String(required=True)
    change = fields.String(required=True, validate=validate.OneOf(["added", "ended"]))
    service_code = fields.String(required=True)
    reason = fields.String(required=True, allow_none=True)


class GovServiceOut(Schema):
    code = fields.String(required=True)
    name_zh = fields.String(required=True)
    name_en = fields.String(required=True)
    department = fields.String(required=True)
    database = fields.String(required=True)
    stages = fields.List(fields.String(), required=True)
    public_notice_days = fields.Integer(required=True)
    time_limits = fields.Dict(keys=fields.String(), values=fields.Integer())
    fields_ = fields.List(fields.Dict(), data_key="fields")
    documents = fields.List(fields.Dict())
    eligibility = fields.List(fields.Dict())
    params = fields.Dict()
    source = fields.String()
    summary_zh = fields.String(metadata={"description": "What it is for, in plain words"})
    summary_en = fields.String()
    life_events = fields.List(fields.String(), metadata={"description": "Life-event codes"})


class GovServiceList(Schema):
    items = fields.List(fields.Nested(GovServiceOut), required=True)


class GovServiceQuery(Schema):
    q = fields.String(
        load_default="",
        validate=[validate.Length(max=50), Pattern(OPT_TEXT)],
        metadata={"description": "Words in Chinese or English, full pinyin or initials "
                  "(老人, 证明, gaoling, gljt): matched against names, summaries, keywords "
                  "and life events; the matches come best first"},
    )
    life_event = fields.String(
        load_default=None,
        validate=Pattern(CODE),
        metadata={"description": "Only the services of this life event (elderly, birth…)"},
    )


class GovPrefillOut(Schema):
    person = fields.Dict(required=True)
    eligible = fields.Boolean(required=True)
    reasons = fields.List(fields.String(), required=True)


class GovApplicationIn(Schema):
    service_code = fields.String(required=True, validate=Pattern(CODE))
    answers = fields.Dict(keys=fields.String(), load_default=dict)
    #: Staff filing at the counter for a resident (needs gov_services.application.handle).
    person_id = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(1, MAX_ID)
    )
    comment = fields.String(
        load_default="", validate=[validate.Length(max=2000), Pattern(OPT_TEXT)]
    )


class GovCounterApplicationIn(GovApplicationIn):
    """At the counter the worker must name the person they file for."""

    person_id = fields.Integer(required=True, validate=validate.Range(1, MAX_ID))


class GovStepOut(Schema):
    action = fields.String(required=True)
    from_state = fields.String(allow_none=True)
    to_state = fields.String(required=True)
    actor_name = fields.String()
    comment = fields.String()
    at = fields.DateTime(required=True)


class GovApplicationOut(Schema):
    id = fields.Integer(required=True)
    reference = fields.String(required=True)
    service_code = fields.String(required=True)
    person_id = fields.Integer(required=True)
    channel = fields.String()
    community = fields.String(allow_none=True)
    grid = fields.String(allow_none=True)
    state = fields.String(required=True)
    #: Sensitive answers are masked (bank card: last four; ID numbers, phones and names
    #: of others as the registry masks them); ``masked`` names them, ``revealed`` those
    #: shown in full by ``/reveal``.
    answers = fields.Dict()
    masked = fields.List(fields.String())
    revealed = fields.List(fields.String())
    missing = fields.List(fields.String())
    decision_reason = fields.String()
    due_on = fields.Date(allow_none=True)
    review_flag = fields.String()
    rating = fields.Integer(allow_none=True)
    submitted_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)
    steps = fields.List(fields.Nested(GovStepOut))


GovApplicationPage = page_schema(GovApplicationOut, "GovApplicationPage")


class GovQueueArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(1, 100000))
    page_size = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    state = fields.String(load_default=None, validate=Pattern(CODE))
    service = fields.String(load_default=None, validate=Pattern(CODE))
    community = fields.String(load_default=None, validate=Pattern(r"^\d{12}$"))
    overdue = fields.Boolean(load_default=False)


class GovActionIn(Schema):
    action = fields.String(required=True, validate=Pattern(CODE))
    comment = fields.String(
        load_default="", validate=[validate.Length(max=2000), Pattern(OPT_TEXT)]
    )
    #: request_material: the complete list at once (一次性告知) — codes of the service's
    #: own documents, and a short description (at most 50 characters) for anything else.
    missing = fields.List(
        fields.String(validate=[validate.Length(1, 200), Pattern(OPT_TEXT)]),
        load_default=list,
        validate=validate.Length(max=30),
        metadata={"description": "For request_material: codes of the service's documents "
                                 "and descriptions of anything else, all at once"},
    )


class GovRevealIn(Schema):
    """Show masked answers in full: why (goes to the applicant's access log) and which
    (default: all the application holds)."""

    purpose = fields.String(
        required=True, validate=[validate.Length(1, 200), Pattern(TEXT)]
    )
    fields_ = fields.List(
        fields.String(validate=Pattern(CODE)),
        data_key="fields",
        attribute="fields",
        load_default=None,
        validate=validate.Length(max=30),
    )


class GovRatingIn(Schema):
    rating = fields.Integer(required=True, validate=validate.Range(1, 5))
    comment = fields.String(
        load_default="", validate=[validate.Length(max=1000), Pattern(OPT_TEXT)]
    )


class GovMembershipOut(Schema):
    id = fields.Integer(required=True)
    person_id = fields.Integer(required=True)
    database = fields.String(required=True)
    service_code = fields.String(required=True)
    community = fields.String(allow_none=True)
    grid = fields.String(allow_none=True)
    started_on = fields.Date(required=True)
    ended_on = fields.Date(allow_none=True)
    end_reason = fields.String()
    review_flag = fields.String()


GovMembershipPage = page_schema(GovMembershipOut, "GovMembershipPage")


class GovMembershipArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(1, 100000))
    page_size = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    database = fields.String(load_default=None, validate=Pattern(CODE))
    community = fields.String(load_default=None, validate=Pattern(r"^\d{12}$"))
    active = fields.Boolean(load_default=True)


class GovEndMembershipIn(Schema):
    reason = fields.String(
        required=True, validate=[validate.Length(1, 200), Pattern(TEXT)]
    )


class GovSettingIn(Schema):
    enabled = fields.Boolean(required=True)
    params = fields.Dict(keys=fields.String(), load_default=dict)


class GovSettingOut(Schema):
    community = fields.String(required=True)
    service_code = fields.String(required=True)
    enabled = fields.Boolean(required=True)
    params = fields.Dict()


class GovStatsOut(Schema):
    total = fields.Integer(required=True)
    per_service = fields.Dict(keys=fields.String(), values=fields.Integer())
    per_state = fields.Dict(keys=fields.String(), values=fields.Integer())
    average_days = fields.Float(allow_none=True)
    open = fields.Integer()
    overdue = fields.Integer()
    overdue_rate = fields.Float()
    average_rating = fields.Float(allow_none=True)


class GovGroupOut(Schema):
    group = fields.String(required=True)
    total = fields.Integer(required=True)
    total_capped = fields.Boolean(
        required=True,
        metadata={"description": "Always false: a group's count is exact (never capped like "
                                 "a registry search's)"},
    )

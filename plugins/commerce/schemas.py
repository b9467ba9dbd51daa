"""marshmallow schemas: the API's input and output, and the events' payloads."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.toolkit import LINE, OPT_LINE, OPT_TEXT, TEXT, Id, JsonBoolean, Pattern, page_schema
from plugins.commerce.services import CATEGORIES

CATEGORY = validate.OneOf(list(CATEGORIES))
COMMUNITY = Pattern(r"^[0-9]{12}$")


def _field(n: int, required: bool, rx: str) -> fields.String:
    checks = [validate.Length(1 if required else 0, n), Pattern(rx)]
    if required:
        return fields.String(required=True, validate=checks)
    return fields.String(load_default="", validate=checks)


def _line(n: int, *, required: bool = True) -> fields.String:
    return _field(n, required, LINE if required else OPT_LINE)


def _text(n: int, *, required: bool = True) -> fields.String:
    return _field(n, required, TEXT if required else OPT_TEXT)


# ---------------------------------------------------------------------------- input


PHONE = [validate.Length(0, 30), Pattern(r"^[0-9+\- ]*$")]


class CommerceTicketIn(Schema):
    """A resident files a ticket for themselves. The address and phone are their registry
    record's unless given (then they are kept as the caller's own copy: masked, shown in
    full only to the merchant holding the ticket open, erased after the retention
    period)."""

    category = fields.String(required=True, validate=CATEGORY)
    description = _text(2000)
    service_address = _line(300, required=False)
    contact_phone = fields.String(load_default="", validate=PHONE)
    public_area = JsonBoolean(load_default=False)


class CommerceHotlineTicketIn(CommerceTicketIn):
    """The operator opens a ticket for a caller: one found in the registry
    (``person_id``; address and phone only if other than the registered ones), or a
    caller who is not registered (no ``person_id``: ``caller_name``, ``contact_phone``,
    ``service_address`` and ``community`` are needed)."""

    person_id = Id(load_default=None, allow_none=True, strict=False)  # as before: "12" is read
    caller_name = _line(50, required=False)
    community = fields.String(load_default=None, allow_none=True, validate=COMMUNITY)


class CommerceDispatchIn(Schema):
    merchant_id = Id(load_default=None, allow_none=True, strict=False)  # as before: "12" is read


class CommerceDeclineIn(Schema):
    reason = _line(500, required=False)


class CommerceCompleteIn(Schema):
    #: Yuan; stored to the fen (two places).
    final_price = fields.Float(required=True, allow_nan=False, validate=validate.Range(0, 1000000))
    note = _text(500, required=False)


class CommerceRateIn(Schema):
    rating = fields.Integer(required=True, validate=validate.Range(1, 5))
    comment = _text(500, required=False)


class CommerceComplaintIn(Schema):
    text = _text(1000)


class CommerceApplyIn(Schema):
    credit_code = fields.String(
        required=True, validate=[validate.Length(18, 18), Pattern(r"^[0-9A-Za-z]{18}$")]
    )
    name = _line(100)
    categories = fields.List(
        fields.String(validate=CATEGORY),
        required=True,
        validate=validate.Length(1, len(CATEGORIES)),
    )
    communities = fields.List(
        fields.String(validate=COMMUNITY), required=True, validate=validate.Length(1, 50)
    )
    opening_hours = _line(200, required=False)
    price_list = _text(2000, required=False)
    phone = fields.String(
        load_default="", validate=[validate.Length(0, 30), Pattern(r"^[0-9+\- ]*$")]
    )


class CommerceDecisionIn(Schema):
    action = fields.String(
        required=True, validate=validate.OneOf(["approve", "suspend", "revoke", "warn"])
    )
    reason = _text(500)


class CommerceComplaintDecisionIn(Schema):
    action = fields.String(required=True, validate=validate.OneOf(["dismiss", "warn", "suspend"]))
    note = _text(500)


class CommerceDirectoryArgs(Schema):
    category = fields.String(load_default=None, validate=CATEGORY)
    community = fields.String(load_default=None, validate=COMMUNITY)


class CommerceTicketArgs(Schema):
    state = fields.String(
        load_default=None,
        validate=validate.OneOf(
            [
                "callback",
                "received",
                "dispatched",
                "accepted",
                "in_progress",
                "completed",
                "confirmed",
                "rated",
                "cancelled",
            ]
        ),
    )
    overdue = fields.Boolean(load_default=False)
    page = fields.Integer(load_default=1, validate=validate.Range(1, 10000))
    page_size = fields.Integer(load_default=20, validate=validate.Range(1, 100))


# ---------------------------------------------------------------------------- output


class CommerceScorecard(Schema):
    completed = fields.Integer()
    rated = fields.Integer()
    avg_rating = fields.Float(allow_none=True)
    on_time_rate = fields.Float(allow_none=True)
    complaint_rate = fields.Float(allow_none=True)
    complaints = fields.Integer()
    load = fields.Integer()
    score = fields.Float()
    flagged = fields.Boolean()


class CommerceMerchant(Schema):
    id = fields.Integer(required=True)
    organisation_id = fields.Integer()
    name = fields.String()
    categories = fields.List(fields.String())
    communities = fields.List(fields.String())
    opening_hours = fields.String()
    price_list = fields.String()
    phone = fields.String()
    status = fields.String()
    status_reason = fields.String()
    warnings = fields.Integer()
    scorecard = fields.Nested(CommerceScorecard)


class CommerceMerchantList(Schema):
    items = fields.List(fields.Nested(CommerceMerchant))


class CommerceTimelineItem(Schema):
    kind = fields.String()
    note = fields.String()
    actor_name = fields.String()
    at = fields.DateTime()


_FULL_DOC = "which of contact_name, contact_phone, service_address are shown unmasked"


class CommerceTicket(Schema):
    """A ticket as staff and the resident see it (a merchant sees ``merchant_view``). The
    contact fields are read from the registry (or the caller's own copy) for this viewer
    and step, masked unless ``contact_full`` lists them; each display is logged."""

    id = fields.Integer(required=True)
    channel = fields.String()
    state = fields.String()
    category = fields.String(allow_none=True)
    description = fields.String()
    community = fields.String(allow_none=True)
    person_id = fields.Integer(allow_none=True)
    service_address = fields.String()
    contact_name = fields.String()
    contact_phone = fields.String()
    contact_full = fields.List(fields.String(), metadata={"description": _FULL_DOC})
    caller_in_registry = fields.Boolean()
    caller_data_erased = fields.Boolean()
    public_area = fields.Boolean()
    elderly_alone = fields.Boolean()
    merchant_id = fields.Integer(allow_none=True)
    accept_by = fields.DateTime(allow_none=True)
    response_due = fields.DateTime(allow_none=True)
    completion_due = fields.DateTime(allow_none=True)
    accepted_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    final_price = fields.String(allow_none=True)  # yuan, two places: "120.00"
    rating = fields.Integer(allow_none=True)
    rating_comment = fields.String()
    flag = fields.String()
    created_at = fields.DateTime()
    timeline = fields.List(fields.Nested(CommerceTimelineItem))


class CommerceMerchantTicket(Schema):
    """A ticket as the merchant holding it sees it: the job, no registry data."""

    id = fields.Integer(required=True)
    state = fields.String()
    category = fields.String(allow_none=True)
    description = fields.String()
    community = fields.String(allow_none=True)
    public_area = fields.Boolean()
    service_address = fields.String()
    contact_name = fields.String()
    contact_phone = fields.String()
    contact_full = fields.List(fields.String(), metadata={"description": _FULL_DOC})
    accept_by = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    completion_due = fields.DateTime(allow_none=True)
    final_price = fields.String(allow_none=True)  # yuan, two places: "120.00"
    rating = fields.Integer(allow_none=True)


CommerceTicketPage = page_schema(CommerceTicket, "CommerceTicketPage")
CommerceMerchantTicketPage = page_schema(CommerceMerchantTicket, "CommerceMerchantTicketPage")


class CommerceComplaint(Schema):
    id = fields.Integer(required=True)
    ticket_id = fields.Integer()
    merchant_id = fields.Integer()
    text = fields.String()
    status = fields.String()
    decision_note = fields.String()
    created_at = fields.DateTime()


class CommerceCount(Schema):
    key = fields.String()
    count = fields.Integer()


class CommerceCategoryTimes(Schema):
    key = fields.String()
    avg_response_hours = fields.Float(allow_none=True)
    avg_completion_hours = fields.Float(allow_none=True)
    avg_rating = fields.Float(allow_none=True)


class CommerceStats(Schema):
    total = fields.Integer()
    by_category = fields.List(fields.Nested(CommerceCount))
    by_state = fields.List(fields.Nested(CommerceCount))
    ratings = fields.List(fields.Nested(CommerceCount))
    avg_response_hours = fields.Float(allow_none=True)
    avg_completion_hours = fields.Float(allow_none=True)
    avg_rating = fields.Float(allow_none=True)
    overdue = fields.Integer()
    by_category_times = fields.List(fields.Nested(CommerceCategoryTimes))


# ---------------------------------------------------------------------------- events


class TicketCreatedEvent(Schema):
    ticket_id = fields.Integer(required=True)
    channel = fields.String(required=True)
    category = fields.String(required=True, allow_none=True)
    community = fields.String(required=True, allow_none=True)
    person_id = fields.Integer(required=True, allow_none=True)


class TicketDispatchedEvent(Schema):
    ticket_id = fields.Integer(required=True)
    merchant_id = fields.Integer(required=True)
    mode = fields.String(required=True)
    accept_by = fields.String(required=True)


class TicketAcceptedEvent(Schema):
    ticket_id = fields.Integer(required=True)
    merchant_id = fields.Integer(required=True)


class TicketCompletedEvent(Schema):
    ticket_id = fields.Integer(required=True)
    merchant_id = fields.Integer(required=True)
    final_price = fields.String(required=True)
    on_time = fields.Boolean(required=True)


class TicketRatedEvent(Schema):
    ticket_id = fields.Integer(required=True)
    merchant_id = fields.Integer(required=True, allow_none=True)
    rating = fields.Integer(required=True)
    via = fields.String(required=True)


class MerchantSuspendedEvent(Schema):
    merchant_id = fields.Integer(required=True)
    organisation_id = fields.Integer(required=True)
    reason = fields.String(required=True)
    complaint_id = fields.Integer(required=True, allow_none=True)


class PublicWorksCompletedEvent(Schema):
    """The contract self_governance subscribes to: exactly these five fields."""

    ticket_id = fields.Integer(required=True)
    community_id = fields.Integer(required=True, allow_none=True)
    title = fields.String(required=True)
    title_zh = fields.String(required=True)
    body = fields.String(required=True)

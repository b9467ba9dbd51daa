"""The hotline's rules: plain functions over a session, no Flask. Pages, the API, the CLI,
the demo seeder and the event handlers all call these; they flush, never commit.

One module per seam, so each can be read on its own: :mod:`.common` (vocabularies,
:class:`CommerceError`, the timeline), :mod:`.merchants` (applying, vetting, the
directory), :mod:`.scorecards`, :mod:`.tickets` (filing), :mod:`.dispatch` (offers and
the one accept that wins), :mod:`.work` (start, complete, confirm, rate, cancel),
:mod:`.complaints`, :mod:`.queries`, :mod:`.privacy` (who sees a caller's contact, and
its erasure), :mod:`.stats` and :mod:`.handlers` (registry events). Callers keep
importing from ``plugins.commerce.services``; every name they use is re-exported here.
"""

from __future__ import annotations

from core.toolkit import N_, mask_phone, utcnow
from plugins.commerce.models import Complaint, Merchant
from plugins.commerce.services.common import (
    CATEGORIES,
    CHANNELS,
    DECISIONS,
    DEFAULTS,
    DONE_STATES,
    ELDER_BANDS,
    LOAD_STATES,
    MERCHANT_STATES,
    OPEN_STATES,
    STATES,
    CommerceError,
    fetch,
    get_ticket,
    label,
    log_event,
    same_phone,
)
from plugins.commerce.services.complaints import complain, decide_complaint
from plugins.commerce.services.dispatch import (
    accept,
    decline,
    dispatch,
    rank_merchants,
    redispatch_expired,
)
from plugins.commerce.services.handlers import on_person_deceased, on_person_moved
from plugins.commerce.services.merchants import (
    apply_merchant,
    bind_staff,
    decide_merchant,
    directory,
    flagged_merchants,
    merchant_for_user,
    merchant_log,
    merchants_query,
)
from plugins.commerce.services.privacy import (
    CALL_STEPS,
    CONTACT_FIELDS,
    HELD_STATES,
    ReaderFor,
    contact_policy,
    contact_view,
    erase_caller_data,
    mask_free_address,
    staff_role,
    ticket_in_place,
    viewer_communities,
)
from plugins.commerce.services.queries import (
    counts_by_state,
    dispatch_log,
    is_overdue,
    merchant_view,
    tickets_by_merchant,
    tickets_query,
    timeline,
)
from plugins.commerce.services.scorecards import Scorecard, scorecard, scorecards
from plugins.commerce.services.stats import Stats, hours_between, statistics
from plugins.commerce.services.tickets import (
    caller_facts,
    complete_callback,
    create_ticket,
    lookup_caller,
    one_key_call,
)
from plugins.commerce.services.work import (
    cancel,
    complete,
    confirm,
    parse_price,
    public_works_payload,
    rate,
    start_work,
)

__all__ = [
    "CALL_STEPS",
    "CATEGORIES",
    "CHANNELS",
    "CONTACT_FIELDS",
    "DECISIONS",
    "DEFAULTS",
    "DONE_STATES",
    "ELDER_BANDS",
    "HELD_STATES",
    "LOAD_STATES",
    "MERCHANT_STATES",
    "N_",
    "OPEN_STATES",
    "STATES",
    "CommerceError",
    "Complaint",
    "Merchant",
    "ReaderFor",
    "Scorecard",
    "Stats",
    "accept",
    "apply_merchant",
    "bind_staff",
    "caller_facts",
    "cancel",
    "complain",
    "complete",
    "complete_callback",
    "confirm",
    "contact_policy",
    "contact_view",
    "counts_by_state",
    "create_ticket",
    "decide_complaint",
    "decide_merchant",
    "decline",
    "directory",
    "dispatch",
    "dispatch_log",
    "erase_caller_data",
    "fetch",
    "flagged_merchants",
    "get_ticket",
    "hours_between",
    "is_overdue",
    "label",
    "log_event",
    "lookup_caller",
    "mask_free_address",
    "mask_phone",
    "merchant_for_user",
    "merchant_log",
    "merchant_view",
    "merchants_query",
    "on_person_deceased",
    "on_person_moved",
    "one_key_call",
    "parse_price",
    "public_works_payload",
    "rank_merchants",
    "rate",
    "redispatch_expired",
    "same_phone",
    "scorecard",
    "scorecards",
    "staff_role",
    "start_work",
    "statistics",
    "ticket_in_place",
    "tickets_by_merchant",
    "tickets_query",
    "timeline",
    "utcnow",
    "viewer_communities",
]

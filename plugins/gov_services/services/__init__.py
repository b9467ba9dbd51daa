"""The rules of gov_services: applications and their workflow, eligibility, prefill from the
registry, attachments, thematic databases, proactive offers and the registry-event
handlers. Plain functions over a session; they flush, the caller commits (a request, a
command, the demo seeder, an event delivery), so events published here exist exactly when
the change does.

One package, one module per seam (the module docstrings say why each is there):
:mod:`.vocabulary` (permissions, states, errors), :mod:`.context` (the per-app ``Gov``),
:mod:`.eligibility`, :mod:`.answers` (masking and display), :mod:`.workflow`,
:mod:`.queries`, :mod:`.attachments`, :mod:`.thematic`, :mod:`.proactive` and
:mod:`.handlers`. Callers import from here, so the split is not part of anyone's contract.
"""

from __future__ import annotations

from core.toolkit import N_
from plugins.gov_services.services.answers import (
    HIDDEN,
    REVEAL_STATES,
    application_view,
    log_display,
    mask_answer,
    may_reveal,
    reveal_answers,
    sensitive_of,
)
from plugins.gov_services.services.attachments import (
    ALLOWED_TYPES,
    EXTENSIONS,
    add_attachment,
    attachment_dir,
)
from plugins.gov_services.services.context import Gov, gov, reader_for
from plugins.gov_services.services.eligibility import (
    check_eligibility,
    clean_answers,
    prefill,
    service_enabled,
    service_params,
    set_service,
)
from plugins.gov_services.services.handlers import handler_for
from plugins.gov_services.services.material import (
    OTHER_PREFIX,
    document_label,
    material_items,
)
from plugins.gov_services.services.proactive import (
    deadline_warnings,
    offer_service,
    proactive_longevity,
)
from plugins.gov_services.services.queries import (
    deadline_status,
    my_applications,
    notice_started,
    public_notices,
    queue_query,
    scope_filter,
    statistics,
)
from plugins.gov_services.services.thematic import (
    add_membership,
    derived_group,
    end_membership,
    group_count,
    membership_counts,
    memberships_query,
)
from plugins.gov_services.services.vocabulary import (
    ACTION_LABELS,
    ACTIONS,
    APPLY,
    APPROVE,
    CLOSED_STATES,
    DECIDED_STATES,
    HANDLE,
    MANAGE,
    OPEN_STATES,
    PLUGIN,
    READ,
    REVIEW,
    STAGE_PERMISSION,
    STATE_LABELS,
    STATES,
    STEP_LABELS,
    STEP_SHOWS_STATE,
    THEMATIC_EXPORT,
    THEMATIC_READ,
    GovError,
    RoleError,
    TransitionError,
    UnknownService,
    lang,
)
from plugins.gov_services.services.workflow import (
    action_permission,
    available_actions,
    check_application,
    rate,
    submit_application,
    transition,
)

__all__ = [
    "ACTIONS",
    "ACTION_LABELS",
    "ALLOWED_TYPES",
    "APPLY",
    "APPROVE",
    "CLOSED_STATES",
    "DECIDED_STATES",
    "EXTENSIONS",
    "HANDLE",
    "HIDDEN",
    "MANAGE",
    "N_",
    "OPEN_STATES",
    "OTHER_PREFIX",
    "PLUGIN",
    "READ",
    "REVEAL_STATES",
    "REVIEW",
    "STAGE_PERMISSION",
    "STATES",
    "STATE_LABELS",
    "STEP_LABELS",
    "STEP_SHOWS_STATE",
    "THEMATIC_EXPORT",
    "THEMATIC_READ",
    "Gov",
    "GovError",
    "RoleError",
    "TransitionError",
    "UnknownService",
    "action_permission",
    "add_attachment",
    "add_membership",
    "application_view",
    "attachment_dir",
    "available_actions",
    "check_application",
    "check_eligibility",
    "clean_answers",
    "deadline_status",
    "deadline_warnings",
    "derived_group",
    "document_label",
    "end_membership",
    "gov",
    "group_count",
    "handler_for",
    "lang",
    "log_display",
    "mask_answer",
    "material_items",
    "may_reveal",
    "membership_counts",
    "memberships_query",
    "my_applications",
    "notice_started",
    "offer_service",
    "prefill",
    "proactive_longevity",
    "public_notices",
    "queue_query",
    "rate",
    "reader_for",
    "reveal_answers",
    "scope_filter",
    "sensitive_of",
    "service_enabled",
    "service_params",
    "set_service",
    "statistics",
    "submit_application",
    "transition",
]

"""The registry's pages under ``/registry``: the staff search, a person (masked, with a
reveal form, history, household, residence timeline and plugins' panels), households,
buildings, organisations, import (upload → check → confirm → result), export, the
population dashboard and the correction requests; and the resident's own record with
their correction requests.

Thin, like the API (``core.registry.api``, whose helpers these pages share): every rule is
in the data layer, and every page works without JavaScript.

**Personal data never lands in a URL** (security.md R26). The search form is a POST form:
a name or pinyin query is redirected to a bookmarkable ``GET`` address, but an ID number,
a phone, the last four digits or an address is answered directly from the POST (its
"next page" buttons post again), and a ``GET`` carrying one is refused.

**The resident's own record** is masked on first view, like every record: a phone held
up on a bus shows no ID number. One button ("Show my full details") shows their own values
in full; it is their own data, so it needs no purpose and is not written to the access
log — that log tells residents who *else* looked. Household members stay masked (name,
relation, age band): their data is theirs.


A package along the pages' seams (issue 21); every name callers used from the former
``views`` module is re-exported here (``bp``, ``registry_nav``, ``PER_PAGE`` …).
"""

from __future__ import annotations

from core.registry.views.common import (
    AGE_BAND_LABELS,
    CODE_TABLES,
    CORRECTION_STATUS,
    DASHBOARD,
    DATA_LAYER_MESSAGES,
    EXPORT,
    FIELD_LABELS,
    HISTORY_LIMIT,
    IMPORT,
    IMPORT_TTL,
    MATCH_LABELS,
    ORG_READ,
    PER_PAGE,
    READ,
    REVEAL,
    REVIEW,
    SENSITIVE_KINDS,
    STAFF_NAV,
    STATUS_TAGS,
    TOKEN_RE,
    WRITE,
    Pager,
    bp,
    field_errors,
    field_label,
    lang,
    message,
    number,
    page_size,
    percent,
    put_errors,
    refusal,
    registry_label,
    registry_nav,
    registry_status_tag,
    scope_communities,
)
from core.registry.views.corrections import (
    CorrectionForm,
    DecisionForm,
    correction,
    corrections,
    my_correction,
    my_correction_sent,
    my_record,
)
from core.registry.views.dashboard import (
    DashboardForm,
    dashboard,
)
from core.registry.views.imports import (
    ExportForm,
    export,
    import_check,
    import_confirm,
    import_history,
    import_rejected,
    import_revert,
    import_start,
    import_template,
)
from core.registry.views.persons import (
    FILTERS,
    RevealForm,
    SearchForm,
    history_value,
    person,
    person_reveal,
    resident_ref,
    search,
)
from core.registry.views.places import (
    OrgSearch,
    building,
    household,
    organisation,
    organisations,
)

__all__ = [
    "AGE_BAND_LABELS",
    "CODE_TABLES",
    "CORRECTION_STATUS",
    "DASHBOARD",
    "DATA_LAYER_MESSAGES",
    "EXPORT",
    "FIELD_LABELS",
    "FILTERS",
    "HISTORY_LIMIT",
    "IMPORT",
    "IMPORT_TTL",
    "MATCH_LABELS",
    "ORG_READ",
    "PER_PAGE",
    "READ",
    "REVEAL",
    "REVIEW",
    "SENSITIVE_KINDS",
    "STAFF_NAV",
    "STATUS_TAGS",
    "TOKEN_RE",
    "WRITE",
    "CorrectionForm",
    "DashboardForm",
    "DecisionForm",
    "ExportForm",
    "OrgSearch",
    "Pager",
    "RevealForm",
    "SearchForm",
    "bp",
    "building",
    "correction",
    "corrections",
    "dashboard",
    "export",
    "field_errors",
    "field_label",
    "history_value",
    "household",
    "import_check",
    "import_confirm",
    "import_history",
    "import_rejected",
    "import_revert",
    "import_start",
    "import_template",
    "lang",
    "message",
    "my_correction",
    "my_correction_sent",
    "my_record",
    "number",
    "organisation",
    "organisations",
    "page_size",
    "percent",
    "person",
    "person_reveal",
    "put_errors",
    "refusal",
    "registry_label",
    "registry_nav",
    "registry_status_tag",
    "resident_ref",
    "scope_communities",
    "search",
]

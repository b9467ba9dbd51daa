"""The rules of government matters, as plain functions over a session: no Flask request,
no commit. The pages, the API, the jobs, the CLI and the event handler all call these."""

from plugins.matters.services import configure, queries, rules  # noqa: F401
from plugins.matters.services.configure import (  # noqa: F401
    add_member,
    close_department,
    create_department,
    delete_route,
    get_route,
    lookup_department,
    open_matters,
    remove_member,
    rename_department,
    reopen_department,
    routes,
    set_route,
)
from plugins.matters.services.queries import (  # noqa: F401
    can_handle,
    can_see,
    department_map,
    departments,
    get_matter,
    member_departments,
    members,
    statistics,
    steps,
    visible_query,
)
from plugins.matters.services.rules import (  # noqa: F401
    CATEGORIES,
    RATINGS,
    SOURCES,
    STATES,
    MatterError,
    answer,
    close,
    erase_caller_data,
    escalate_overdue,
    file_matter,
    is_overdue,
    label,
    local_today,
    on_finding_referred,
    rate,
    route,
    sign,
    transfer,
)
from plugins.matters.services.setup import load_routing, street_routing  # noqa: F401

"""Matters (有事找政府): matters for the government — a broken street lamp, a complaint
about a service, a question about a policy — taken on the hotline console, on the web
and from grid workers' findings, routed to the responsible department or community
office, signed, answered, rated, escalated when overdue.

Everything from core comes from ``core.toolkit`` and ``core.hookspecs``."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from core.hookspecs import DemoContext, NavItem, Permission, PluginInfo, hookimpl


class MattersConfig(Schema):
    """``[plugins.matters]`` in the config file; validated at start-up."""

    page_size = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    #: Working days to sign for (签收) a matter.
    sign_days = fields.Integer(load_default=1, validate=validate.Range(1, 10))
    #: Working days to answer, per category code (the defaults are in services.CATEGORIES).
    answer_days = fields.Dict(keys=fields.String(), values=fields.Integer(
        validate=validate.Range(1, 60)), load_default=dict)
    #: Times an unsatisfied rating reopens a matter before it closes as unsatisfied.
    max_reopen = fields.Integer(load_default=1, validate=validate.Range(0, 5))
    #: Days after closing that a caller's own name and phone (not in the registry) are kept.
    caller_data_retention_days = fields.Integer(load_default=180,
                                                validate=validate.Range(1, 3650))


info = PluginInfo(
    id="matters",
    version="0.1.0",
    title="Government matters",
    title_zh="有事找政府",
    description="Matters for the government from the hotline, the web and grid workers: "
                "routed, signed, answered, rated, escalated when overdue.",
    requires_core=">=1.1,<2",
    data_scopes=("registry.person.basic", "registry.grid"),
    config_schema=MattersConfig,
)

#: Permission names are ``<id>.<thing>.<action>``.
OWN = "matters.own.file"
FILE = "matters.matter.file"
HANDLE = "matters.matter.handle"
SUPERVISE = "matters.matter.supervise"
STATS = "matters.stats.read"
MANAGE = "matters.department.manage"

#: The role of a department's staff (membership decides which department).
DEPARTMENT_STAFF = "department_staff"


@hookimpl
def register_blueprints(app: Any) -> list[Any]:
    from plugins.matters.views import bp

    return [bp]


@hookimpl
def register_api(api: Any) -> list[Any]:
    from plugins.matters.api import blp

    return [blp]


@hookimpl
def register_event_types(bus: Any) -> None:
    from plugins.matters.schemas import MatterEvent

    bus.declare("matters.matter.filed", MatterEvent,
                "A matter for the government was filed and routed to a department.")
    bus.declare("matters.matter.answered", MatterEvent,
                "A department answered a matter; the resident is told or called back.")
    bus.declare("matters.matter.closed", MatterEvent,
                "A matter was closed after the resident's rating.")


@hookimpl
def register_event_handlers(bus: Any) -> None:
    from plugins.matters.services import on_finding_referred

    bus.subscribe("grid.finding.referred", on_finding_referred, name="finding_referred")


@hookimpl
def register_jobs(app: Any) -> list[Any]:
    from core.toolkit import Job
    from plugins.matters.jobs import erase_caller_data, escalate

    return [
        Job("matters.escalate", 900, escalate,
            "overdue matters are escalated to the supervisors once"),
        Job("matters.erase_caller_data", 3600, erase_caller_data,
            "erase callers' own names and phones after the retention period"),
    ]


@hookimpl
def register_commands(cli: Any) -> None:
    from plugins.matters.cli import matters

    cli.add_command(matters)


@hookimpl
def register_permissions() -> list[Permission]:
    return [
        Permission(OWN, "File and rate one's own matters for the government",
                   "提交并评价自己的诉求"),
        Permission(FILE, "File matters for callers on the hotline", "热线受理诉求"),
        Permission(HANDLE, "Sign, transfer and answer one's department's matters",
                   "签收、转办、答复本部门诉求"),
        Permission(SUPERVISE, "Supervise every matter within one's places",
                   "督办辖区内的诉求"),
        Permission(STATS, "See matters statistics per department", "查看诉求统计"),
        Permission(MANAGE, "Manage departments, routing and members", "管理部门、派发规则与成员"),
    ]


@hookimpl
def default_roles() -> dict[str, list[str]]:
    return {
        "resident": [OWN],
        "hotline_operator": [FILE],
        "community_worker": [HANDLE],
        DEPARTMENT_STAFF: [HANDLE, STATS],
        "street_officer": [SUPERVISE, STATS],
        "auditor": [STATS],
    }


@hookimpl
def nav_items(user: Any) -> list[NavItem]:
    from core.toolkit import has_permission

    if has_permission(user, OWN) and getattr(user, "kind", "") == "resident":
        return [NavItem(label="My matters", label_zh="我的诉求", url="/matters/", order=45)]
    if any(has_permission(user, p) for p in (FILE, HANDLE, SUPERVISE, STATS)):
        return [NavItem(label=info.title, label_zh=info.title_zh, url="/matters/", order=45)]
    return []


@hookimpl
def template_slot(name: str, context: Any) -> str | None:
    """The hotline console offers a matter for the government beside a merchant ticket:
    a small form that posts to this plugin (commerce never imports it)."""
    if name != "commerce.console.after_caller":
        return None
    from core.toolkit import has_permission

    if not has_permission(context["user"], FILE):
        return None
    from plugins.matters.views import console_slot

    return console_slot(context.get("person_id"), context.get("community"))


@hookimpl
def seed_demo_data(session: Any, demo: DemoContext) -> None:
    from plugins.matters.demo import seed

    seed(session, demo)

"""Grid (网格化管理): the grid worker's visits and patrols, and their supervisor's coverage.

Who is due a visit is data (``data/rules.json`` plus ``[plugins.grid] rules`` overrides),
computed from the registry through the toolkit and from events; the plugin keeps person
ids and place codes only. A finding is referred onward in one step by publishing
``grid.finding.referred``; the onward status comes back on ``matters.matter.*``.
Everything from core comes from ``core.toolkit`` and ``core.hookspecs``.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates

from core.hookspecs import NavItem, Permission, PluginInfo, hookimpl

RULE_KEYS = {"enabled", "interval_days", "age_min", "window_days", "database", "alone"}


class GridConfig(Schema):
    """``[plugins.grid]`` in the config file; validated at start-up."""

    page_size = fields.Integer(load_default=20, validate=validate.Range(1, 200))
    #: Days before the due date from which a visit shows on the task list.
    lookahead_days = fields.Integer(load_default=7, validate=validate.Range(0, 60))
    #: Days after recording in which the worker who recorded a visit or patrol may
    #: correct it (a supervisor may at any time); 0: only supervisors.
    correction_days = fields.Integer(load_default=7, validate=validate.Range(0, 90))
    #: Per rule code, keys overriding data/rules.json: ``{elderly_alone = {age_min = 80}}``.
    rules = fields.Dict(keys=fields.String(), values=fields.Dict(), load_default=dict)

    @validates("rules")
    def _rules(self, value: dict[str, Any], **_: Any) -> None:
        from plugins.grid.services.rules import shipped_codes

        for code, over in value.items():
            if code not in shipped_codes():
                raise ValidationError(f"unknown visit rule '{code}'")
            unknown = set(over) - RULE_KEYS
            if unknown:
                raise ValidationError(f"rule '{code}': unknown key(s) {sorted(unknown)}")
            days = over.get("interval_days")
            if days is not None and (not isinstance(days, int) or not 1 <= days <= 3650):
                raise ValidationError(f"rule '{code}': interval_days must be 1-3650")


info = PluginInfo(
    id="grid",
    version="0.2.0",
    title="Grid work",
    title_zh="网格工作",
    description="Grid workers' visits and patrols, referrals and coverage.",
    requires_core=">=1.1,<2",
    config_schema=GridConfig,
    data_scopes=("registry.person.basic", "registry.person.identity", "registry.household",
                 "registry.dwelling", "registry.grid"),
)

#: Permission names are ``<id>.<thing>.<action>``, lowercase (checked at start-up).
WORK = "grid.visit.record"
SUPERVISE = "grid.coverage.read"


@hookimpl
def register_blueprints(app: Any) -> list[Any]:
    from plugins.grid.views import bp

    return [bp]  # mounted at /grid/


@hookimpl
def register_api(api: Any) -> list[Any]:
    from plugins.grid.api import blp

    return [blp]  # mounted at /api/v1/grid/


@hookimpl
def register_event_types(bus: Any) -> None:
    from plugins.grid.schemas import FindingReferred

    bus.declare(
        "grid.finding.referred", FindingReferred,
        "A grid worker referred a finding onward as a government matter, a safety "
        "incident or a service offer; consumers act on their own kind, once per finding_id.",
    )


@hookimpl
def register_event_handlers(bus: Any) -> None:
    from plugins.grid.services import handlers, recompute

    bus.subscribe("registry.person.registered", handlers.on_registered, name="arrival_registered")
    bus.subscribe("registry.person.moved", handlers.on_moved, name="arrival_moved")
    bus.subscribe("registry.person.deceased", handlers.on_deceased, name="end_on_death")
    bus.subscribe("gov_services.membership.changed", handlers.on_membership,
                  name="follow_membership")
    bus.subscribe("matters.matter.*", handlers.on_matter, name="follow_matter")
    # Who lives where changed: recompute the registry rules (living alone) for those
    # touched now; the hourly job stays the backstop (services/recompute.py).
    bus.subscribe("registry.person.moved", recompute.on_moved, name="recompute_moved")
    bus.subscribe("registry.person.registered", recompute.on_registered,
                  name="recompute_registered")
    bus.subscribe("registry.person.deceased", recompute.on_deceased,
                  name="recompute_deceased")
    bus.subscribe("registry.person.updated", recompute.on_updated, name="recompute_updated")
    bus.subscribe("registry.household.changed", recompute.on_household,
                  name="recompute_household")


@hookimpl
def register_jobs(app: Any) -> list[Any]:
    from core.toolkit import Job
    from plugins.grid.services.subjects import refresh_job

    return [Job("grid.refresh_subjects", 3600, refresh_job,
                "Recompute who the registry-based visit rules select (elderly living alone).")]


@hookimpl
def register_permissions() -> list[Permission]:
    return [
        Permission(WORK, "Visit and patrol in one's grids, refer findings",
                   "在本网格走访巡查、转办发现的问题"),
        Permission(SUPERVISE, "See visit coverage per grid", "查看各网格走访覆盖情况"),
    ]


@hookimpl
def default_roles() -> dict[str, list[str]]:
    return {"grid_worker": [WORK], "community_worker": [WORK, SUPERVISE],
            "street_officer": [SUPERVISE]}


@hookimpl
def nav_items(user: Any) -> list[NavItem]:
    from core.toolkit import has_permission

    items = []
    if has_permission(user, WORK):
        items.append(NavItem(label="Grid visits", label_zh="网格走访", url="/grid/", order=95))
    if has_permission(user, SUPERVISE):
        items.append(NavItem(label="Visit coverage", label_zh="走访覆盖", url="/grid/coverage",
                             order=96))
    return items


@hookimpl
def seed_demo_data(session: Any, demo: Any) -> None:
    from plugins.grid.demo import seed

    seed(session, demo)

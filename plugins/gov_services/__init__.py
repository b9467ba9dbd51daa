"""Public services (政务服务): one-stop public services on the shared registry.

Residents apply online for any of the 27 services in the catalogue (``data/services.json``,
extendable by other plugins through the ``gov_services_service_types`` hook this plugin
declares), prefilled from the registry; staff move each case through its workflow with
time limits in working days; approvals fill the thematic databases. See
docs/plugins/gov_services.md.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from marshmallow import Schema, ValidationError, fields, validate, validates

from core.hookspecs import DemoContext, NavItem, Panel, Permission, PluginInfo, hookimpl
from core.toolkit import (
    Job,
    SearchResult,
    can_access,
    current_kernel,
    current_session,
    has_permission,
    log_person_access,
)
from plugins.gov_services import hookspecs as _hookspecs


class GovServicesConfig(Schema):
    """``[plugins.gov_services]``: validated at start-up."""

    #: Public holidays (ISO dates) that are not working days.
    holidays = fields.List(fields.String(), load_default=list)
    #: Weekend days that are working days (调休).
    workdays = fields.List(fields.String(), load_default=list)
    #: Staff are warned this many working days before a deadline.
    warn_days = fields.Integer(load_default=1, validate=validate.Range(0, 30))
    #: A declined, applied-for or completed offer is not made again for this many days.
    offer_repeat_days = fields.Integer(load_default=365, validate=validate.Range(1, 3650))
    #: Largest attachment, in KB.
    max_attachment_kb = fields.Integer(load_default=5120, validate=validate.Range(1, 51200))
    #: The offices' names, addresses, hours and phones, overriding the catalogue's field by
    #: field: ``[plugins.gov_services.offices.<office>]`` (docs/plugins/gov_services.md).
    offices = fields.Dict(
        keys=fields.String(validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,59}$")),
        values=fields.Dict(
            keys=fields.String(validate=validate.OneOf(
                ["name_zh", "name_en", "address_zh", "address_en", "hours_zh", "hours_en",
                 "phone"])),
            values=fields.String(validate=validate.Length(max=200)),
        ),
        load_default=dict,
    )

    @validates("holidays")
    def _holidays(self, value: list[str], **_: Any) -> None:
        _dates(value)

    @validates("workdays")
    def _workdays(self, value: list[str], **_: Any) -> None:
        _dates(value)


def _dates(values: list[str]) -> None:
    from datetime import date

    for v in values:
        try:
            date.fromisoformat(v)
        except ValueError:
            raise ValidationError(f"not an ISO date: {v!r}") from None


info = PluginInfo(
    id="gov_services",
    version="0.2.0",
    title="Public services",
    title_zh="政务服务",
    description="One-stop public services: apply online, prefilled from the resident registry, tracked to the end.",
    requires_core=">=1.0,<2",
    data_scopes=(
        "registry.person.basic",
        "registry.person.identity",
        "registry.household",
        "registry.dwelling",
        "registry.grid",
    ),
    config_schema=GovServicesConfig,
    hookspecs=_hookspecs,
)

APPLY = "gov_services.application.apply"
READ = "gov_services.application.read"
HANDLE = "gov_services.application.handle"
REVIEW = "gov_services.application.review"
APPROVE = "gov_services.application.approve"
THEMATIC_READ = "gov_services.thematic.read"
THEMATIC_EXPORT = "gov_services.thematic.export"
MANAGE = "gov_services.catalogue.manage"
APPT_HANDLE = "gov_services.appointment.handle"  # appointments desk (appointments/)
APPT_MANAGE = "gov_services.appointment.manage"  # counters, hours, slots
OUTREACH = "gov_services.outreach.work"  # proactive offers: the outreach list

#: The role of the street office's reviewer/approver (街道审核、审批), which no core role
#: covers: community workers handle the first stages, the street office the last ones.
STREET_OFFICER = "street_officer"

EVENTS = ("submitted", "accepted", "approved", "rejected", "completed")
#: ``gov_services.appointment.<verb>``, published by appointments/services.py.
APPOINTMENT_EVENTS = {
    "booked": "A resident booked a time for a counter service (the slot is theirs).",
    "changed": "A booking moved to another time; `previous_*` is the slot it left.",
    "cancelled": "A booking was cancelled before the cut-off; its place is free again.",
    "checked_in": "The resident came and was checked in at the desk, with `queue_number`.",
    "no_show": "Nobody checked in by the slot's end: a missed appointment (desk or sweep).",
}


# ----------------------------------------------------------------------------- start-up


@hookimpl
def shequ_startup(app: Any) -> None:
    """Build the catalogue once, into the kernel's state for this plugin (a malformed
    service type from another plugin stops start-up here)."""
    from plugins.gov_services.services import gov

    with app.app_context():
        gov(current_kernel())


@hookimpl
def register_blueprints(app: Any) -> list[Any]:
    from plugins.gov_services import staff_views  # noqa: F401  (its routes are on bp)
    from plugins.gov_services.appointments.views import bp as appointments_bp
    from plugins.gov_services.outreach.views import bp as outreach_bp
    from plugins.gov_services.views import bp

    return [bp, outreach_bp, appointments_bp]


@hookimpl
def register_api(api: Any) -> list[Any]:
    from plugins.gov_services.api import blp
    from plugins.gov_services.appointments.api import blp as appointments_blp
    from plugins.gov_services.outreach.api import blp as outreach_blp

    return [blp, outreach_blp, appointments_blp]


@hookimpl
def register_commands(cli: Any) -> None:
    from plugins.gov_services.cli import gov_services

    cli.add_command(gov_services)


@hookimpl
def register_event_types(bus: Any) -> None:
    from plugins.gov_services.schemas import ApplicationEvent, MembershipChanged

    docs = {
        "submitted": "An application was filed (online, assisted or at the counter).",
        "accepted": "A community worker accepted an application for review.",
        "approved": "An application was approved; the person joined the service's database.",
        "rejected": "An application was not accepted or was rejected; `reason` says why.",
        "completed": "An approved application was completed (办结).",
    }
    for name in EVENTS:
        bus.declare(f"gov_services.application.{name}", ApplicationEvent, docs[name])
    bus.declare(
        "gov_services.membership.changed",
        MembershipChanged,
        "A person joined (`added`) or left (`ended`, with a reason) a thematic "
        "database; ended memberships are kept as history.",
    )
    from plugins.gov_services.appointments.schemas import AppointmentEvent

    for name, doc in APPOINTMENT_EVENTS.items():
        bus.declare(f"gov_services.appointment.{name}", AppointmentEvent, doc)


@hookimpl
def register_event_handlers(bus: Any) -> None:
    from plugins.gov_services.services import handler_for

    bus.subscribe("registry.person.moved", handler_for("moved"), name="flag_moved")
    bus.subscribe("registry.person.deceased", handler_for("deceased"), name="flag_deceased")
    bus.subscribe("registry.person.registered", handler_for("person"), name="offer_on_register")
    bus.subscribe("registry.person.updated", handler_for("person"), name="offer_on_update")
    from plugins.gov_services.outreach.handlers import register as register_offer_handlers

    register_offer_handlers(bus)  # proactive offers: registry changes, grid findings


# ----------------------------------------------------------------------------- access


@hookimpl
def register_jobs(app: Any) -> list[Any]:
    from plugins.gov_services.appointments import jobs as appointment_jobs
    from plugins.gov_services.jobs import deadlines, proactive

    return [
        Job("gov_services.proactive", 86400, proactive,
            "proactive offers: the catalogue's rules over the whole registry"),
        Job("gov_services.deadlines", 3600, deadlines, "warnings for cases due soon or overdue"),
        Job("gov_services.appointment_reminders", 3600, appointment_jobs.reminders,
            "reminders of tomorrow's appointments"),
        Job("gov_services.appointment_no_shows", 900, appointment_jobs.no_shows,
            "missed appointments after their slot"),
    ]


@hookimpl
def register_permissions() -> list[Permission]:
    return [
        Permission(APPLY, "Apply for public services", "申请政务服务"),
        Permission(READ, "See applications in one's communities", "查看所辖社区的申请"),
        Permission(
            HANDLE,
            "Accept applications, do the community check, file at the counter",
            "受理申请、社区初审、窗口代办",
        ),
        Permission(REVIEW, "Street review of applications", "街道审核"),
        Permission(APPROVE, "Approve or reject applications", "审批申请"),
        Permission(THEMATIC_READ, "See the thematic databases", "查看专题库"),
        Permission(THEMATIC_EXPORT, "Export the thematic databases (masked)", "导出专题库（脱敏）"),
        Permission(MANAGE, "Enable services and set local thresholds", "配置服务事项与本地标准"),
        Permission(APPT_HANDLE, "Appointments desk: check in, call, served, missed",
                   "预约窗口：签到取号、叫号、办结、爽约"),
        Permission(APPT_MANAGE, "Set counters, hours and appointment slots",
                   "设置窗口、办公时间和预约时段"),
        Permission(OUTREACH, "Work the outreach list: call or visit residents offered a service",
                   "主动服务外呼/走访：联系可享受服务的居民并记录结果"),
    ]


@hookimpl
def default_roles() -> dict[str, list[str]]:
    return {
        "resident": [APPLY],
        "community_worker": [READ, HANDLE, THEMATIC_READ, THEMATIC_EXPORT, OUTREACH,
                             APPT_HANDLE],
        "committee_member": [READ, THEMATIC_READ],
        "auditor": [READ, THEMATIC_READ],
        # the street office (街道): the review and approval stages of the workflow
        STREET_OFFICER: [READ, REVIEW, APPROVE, THEMATIC_READ, APPT_HANDLE, APPT_MANAGE],
    }


# ----------------------------------------------------------------------------- UI slots


@hookimpl
def nav_items(user: Any) -> list[NavItem]:
    items = [NavItem(label=info.title, label_zh=info.title_zh, url="/gov-services/", order=10)]
    if getattr(user, "person_id", None) and has_permission(user, APPLY):
        # services the registry shows the resident qualifies for (proactive offers)
        items.append(NavItem(label="My offers", label_zh="我可享受的服务",
                             url="/gov-services/offers", order=11))
    if has_permission(user, READ):
        items.append(
            NavItem(
                label="Service queue",
                label_zh="办件队列",
                url="/gov-services/queue",
                order=20,
                section="staff",
            )
        )
    if has_permission(user, APPT_HANDLE):
        items.append(
            NavItem(
                label="Appointments desk",
                label_zh="预约窗口",
                url="/gov-services/appointments/desk",
                order=23,
                section="staff",
            )
        )
    if has_permission(user, OUTREACH):
        items.append(
            NavItem(
                label="Outreach list",
                label_zh="主动服务名单",
                url="/gov-services/outreach/",
                order=22,
                section="staff",
            )
        )
    if has_permission(user, THEMATIC_READ):
        items.append(
            NavItem(
                label="Thematic databases",
                label_zh="专题库",
                url="/gov-services/thematic",
                order=21,
                section="staff",
            )
        )
    return items


@hookimpl
def dashboard_widgets(user: Any) -> list[Panel]:
    if not has_permission(user, READ):
        return []
    from flask import render_template

    from plugins.gov_services.services import statistics

    stats = statistics(current_session(), user)
    html = render_template("gov_services/widget.html", stats=stats)
    return [Panel(title=_("Public services"), html=html, order=10)]


@hookimpl
def search(query: str, user: Any) -> list[Any]:
    """Services by name for everyone; an application by its reference for staff of its
    place."""
    from plugins.gov_services.services import gov, lang

    q = (query or "").strip()
    if not q:
        return []
    out = []
    for s in gov().catalogue.services.values():
        if q.lower() in s.name_zh.lower() or q.lower() in s.name_en.lower():
            out.append(
                SearchResult(
                    title=s.name(lang()),
                    url=f"/gov-services/services/{s.code}",
                    kind="service",
                    score=0.5,
                )
            )
    if q.upper().startswith("GS") and q[2:].isdigit():
        from sqlalchemy import select

        from plugins.gov_services.models import Application

        app = current_session().scalar(
            select(Application).where(Application.reference == q.upper())
        )
        if app is not None and can_access(
            user, person_id=app.person_id, permission=READ, community=app.community, grid=app.grid
        ):
            out.append(
                SearchResult(
                    title=app.reference,
                    url=f"/gov-services/applications/{app.id}",
                    kind="application",
                    score=1.0,
                )
            )
    return out[:10]


@hookimpl
def resident_profile_panels(resident: Any, viewer: Any) -> list[Panel]:
    """The person's applications and thematic-database memberships on their registry
    page; shown to staff, the display is in the person's access log."""
    person_id = getattr(resident, "id", None)
    if isinstance(resident, dict):
        person_id = resident.get("id")
    if person_id is None or not (
        has_permission(viewer, READ)
        or has_permission(viewer, THEMATIC_READ)
        or can_access(viewer, person_id=person_id)
    ):
        return []
    from flask import render_template
    from sqlalchemy import select

    from plugins.gov_services.models import Application, Membership
    from plugins.gov_services.services import gov

    session = current_session()
    apps = list(
        session.scalars(
            select(Application)
            .where(Application.person_id == person_id)
            .order_by(Application.id.desc())
            .limit(20)
        )
    )
    members = list(
        session.scalars(
            select(Membership).where(Membership.person_id == person_id).order_by(Membership.id)
        )
    )
    html = render_template(
        "gov_services/panel.html",
        apps=apps,
        memberships=members,
        g=gov(),
    )
    if apps or members:
        log_person_access(
            session,
            person_id=person_id,
            fields=[*(["applications"] if apps else []), *(["memberships"] if members else [])],
            purpose="person record: public services panel",
            plugin="gov_services",
            actor=viewer,
            masked=True,
        )
        session.commit()  # a GET page: the entry must outlive the request
    return [Panel(title=_("Public services"), html=html, order=10)]


# ----------------------------------------------------------------------------- data


@hookimpl
def seed_demo_data(session: Any, demo: DemoContext) -> None:
    from plugins.gov_services.appointments.demo import seed as seed_appointments
    from plugins.gov_services.demo import seed

    seed(session, demo)
    seed_appointments(session, demo)

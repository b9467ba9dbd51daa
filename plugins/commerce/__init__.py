"""Service hotline (便民服务): the community service hotline and vetted local merchants
(mode 2, 商业服务). See docs/plugins/commerce.md.

A resident calls (or files on the web, or presses the one-key call button); the hotline
turns it into a ticket referring to the caller's registry record, dispatches it to a vetted merchant
of the right category serving the resident's community, follows it to completion and the
follow-up rating, and regulates the merchants (complaints, warnings, suspension).
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from core.hookspecs import DemoContext, NavItem, Panel, Permission, PluginInfo, hookimpl


class CommerceConfig(Schema):
    """``[plugins.commerce]``; validated at start-up."""

    #: Minutes a merchant has to accept an offer before it goes to the next one.
    accept_timeout_minutes = fields.Integer(load_default=30, validate=validate.Range(1, 1440))
    #: SLA: hours from the call to a merchant accepting.
    response_hours = fields.Float(load_default=2.0, validate=validate.Range(0.1, 720))
    #: SLA: hours from the call to the work being completed.
    completion_hours = fields.Float(load_default=48.0, validate=validate.Range(0.1, 2160))
    #: Offer new tickets to the best-ranked merchant at once (else the operator does).
    auto_dispatch = fields.Boolean(load_default=True)
    #: Merchants scoring below this (1–5) are flagged for the regulator's review ...
    review_score = fields.Float(load_default=3.0, validate=validate.Range(1, 5))
    #: ... once the score rests on at least this many ratings.
    review_min_ratings = fields.Integer(load_default=3, validate=validate.Range(1, 1000))
    #: The score of a merchant nobody has rated yet.
    default_score = fields.Float(load_default=4.0, validate=validate.Range(1, 5))
    #: Days after a case closes (work completed or cancelled) before what the caller told
    #: the hotline that the registry does not hold (a phone, an address, the name of a
    #: caller who is not registered) is erased by the ``commerce.erase_caller_data`` job.
    caller_data_retention_days = fields.Integer(
        load_default=30, validate=validate.Range(1, 3650)
    )


info = PluginInfo(
    id="commerce",
    version="0.2.0",
    title="Service hotline",
    title_zh="便民服务",
    description="The community service hotline and vetted local merchants.",
    requires_core=">=1.0,<2",
    data_scopes=(
        "registry.person.basic",
        "registry.person.contact",
        "registry.household",
        "registry.dwelling",
        "registry.organisation",
        "registry.grid",
    ),
    config_schema=CommerceConfig,
)

FILE = "commerce.ticket.file"
READ = "commerce.ticket.read"
DISPATCH = "commerce.ticket.dispatch"
VET = "commerce.merchant.vet"
PORTAL = "commerce.merchant.portal"
APPLY = "commerce.merchant.apply"
STATS = "commerce.stats.read"


# ----------------------------------------------------------------------------- start-up


@hookimpl
def register_blueprints(app: Any) -> list[Any]:
    from plugins.commerce.views import bp

    return [bp]


@hookimpl
def register_api(api: Any) -> list[Any]:
    from plugins.commerce.api import blp

    return [blp]


@hookimpl
def register_commands(cli: Any) -> None:
    from plugins.commerce.cli import commerce

    cli.add_command(commerce)


@hookimpl
def register_event_types(bus: Any) -> None:
    from plugins.commerce import schemas as s

    bus.declare(
        "commerce.ticket.created",
        s.TicketCreatedEvent,
        "A ticket was opened (hotline call, web, one-key call).",
    )
    bus.declare(
        "commerce.ticket.dispatched",
        s.TicketDispatchedEvent,
        "A ticket was offered to a merchant (auto, manual or re-dispatch).",
    )
    bus.declare(
        "commerce.ticket.accepted",
        s.TicketAcceptedEvent,
        "A merchant accepted a ticket; it holds it exclusively.",
    )
    bus.declare(
        "commerce.ticket.completed",
        s.TicketCompletedEvent,
        "A merchant reported a ticket's work done, with the final price.",
    )
    bus.declare(
        "commerce.ticket.rated",
        s.TicketRatedEvent,
        "The follow-up (回访) rating of a ticket was recorded.",
    )
    bus.declare(
        "commerce.merchant.suspended",
        s.MerchantSuspendedEvent,
        "A regulator suspended a merchant; it gets no more tickets.",
    )
    bus.declare(
        "commerce.public_works.completed",
        s.PublicWorksCompletedEvent,
        "Work in a public area (公共区域) was completed; a notice may be published.",
    )


@hookimpl
def register_event_handlers(bus: Any) -> None:
    from plugins.commerce.services import on_person_deceased, on_person_moved

    bus.subscribe("registry.person.moved", on_person_moved, name="flag_moved")
    bus.subscribe("registry.person.deceased", on_person_deceased, name="flag_deceased")

    from plugins.commerce.services import notices

    bus.subscribe("commerce.ticket.dispatched", notices.on_ticket_dispatched,
                  name="tell_dispatched")
    bus.subscribe("commerce.ticket.accepted", notices.on_ticket_accepted, name="tell_accepted")
    bus.subscribe("commerce.ticket.completed", notices.on_ticket_completed,
                  name="tell_completed")


# ----------------------------------------------------------------------------- access


@hookimpl
def register_jobs(app: Any) -> list[Any]:
    from core.toolkit import Job
    from plugins.commerce.jobs import erase_caller_data, redispatch

    return [
        Job(
            "commerce.redispatch",
            60,
            redispatch,
            "offers not accepted in time go to the next merchant",
        ),
        Job(
            "commerce.erase_caller_data",
            3600,
            erase_caller_data,
            "erase callers' own phone numbers and addresses once the retention period "
            "after the case closed has passed",
        ),
    ]


@hookimpl
def register_permissions() -> list[Permission]:
    return [
        Permission(FILE, "File service tickets for oneself", "为自己提交服务工单"),
        Permission(READ, "See all service tickets", "查看服务工单"),
        Permission(DISPATCH, "Take hotline calls and dispatch tickets", "受理热线并派单"),
        Permission(VET, "Vet, warn and suspend merchants; review complaints", "审核与监管商户"),
        Permission(PORTAL, "Work tickets as a merchant's staff", "商户接单服务"),
        Permission(APPLY, "Apply to become a hotline merchant", "申请成为加盟商户"),
        Permission(STATS, "See hotline statistics", "查看热线统计"),
    ]


@hookimpl
def default_roles() -> dict[str, list[str]]:
    return {
        "resident": [FILE],
        "hotline_operator": [READ, DISPATCH, STATS],
        "community_worker": [READ, VET, STATS],
        "merchant": [PORTAL, APPLY],
        "auditor": [READ, STATS],
    }


# ----------------------------------------------------------------------------- UI slots


@hookimpl
def nav_items(user: Any) -> list[NavItem]:
    from core.toolkit import has_permission

    items = [NavItem(label=info.title, label_zh=info.title_zh, url="/commerce/", order=20)]
    if has_permission(user, DISPATCH):
        items.append(
            NavItem(
                label="Hotline console",
                label_zh="热线受理",
                url="/commerce/console",
                order=20,
                section="staff",
            )
        )
    if has_permission(user, READ):
        items.append(
            NavItem(
                label="Service tickets",
                label_zh="服务工单",
                url="/commerce/tickets",
                order=21,
                section="staff",
            )
        )
    if has_permission(user, VET):
        items.append(
            NavItem(
                label="Merchant regulation",
                label_zh="商户监管",
                url="/commerce/regulator/merchants",
                order=22,
                section="staff",
            )
        )
    if has_permission(user, PORTAL):
        items.append(
            NavItem(
                label="Merchant portal",
                label_zh="商户工作台",
                url="/commerce/portal",
                order=23,
                section="staff",
            )
        )
    return items


@hookimpl
def dashboard_widgets(user: Any) -> list[Panel]:
    """The one-key call (一键呼叫) button for residents who can file tickets, first on
    their home page (order 1, as UI.md asks for elder mode); for operators, what waits
    for them (call-backs, tickets to dispatch by hand, overdue)."""
    from flask import render_template
    from flask_babel import gettext as _

    from core.toolkit import has_permission

    panels = []
    if has_permission(user, FILE):
        html = render_template("commerce/widget_one_key.html")
        panels.append(Panel(title=_("One-key call"), html=html, order=1))
    if has_permission(user, DISPATCH):
        from sqlalchemy import func, select

        from core.toolkit import current_session
        from plugins.commerce.services import tickets_query

        session = current_session()

        def count(query: Any) -> int:
            sub = query.order_by(None).subquery()
            return session.scalar(select(func.count()).select_from(sub)) or 0

        html = render_template(
            "commerce/widget_operator.html",
            waiting=count(tickets_query(state="callback")),
            received=count(tickets_query(state="received")),
            overdue=count(tickets_query(overdue=True)),
        )
        panels.append(Panel(title=_("Hotline"), html=html, order=20))
    return panels


@hookimpl
def resident_profile_panels(resident: Any, viewer: Any) -> list[Panel]:
    """A person's hotline tickets, on their registry page, for staff who see tickets."""
    from core.toolkit import has_permission

    if not has_permission(viewer, READ):
        return []
    from flask import render_template
    from flask_babel import gettext as _

    from core.toolkit import current_session
    from plugins.commerce.services import tickets_query

    rows = list(current_session().scalars(tickets_query(person_id=resident.id).limit(20)))
    return [
        Panel(
            title=_("Service tickets"),
            html=render_template("commerce/panel_tickets.html", tickets=rows),
            order=40,
        )
    ]


# ----------------------------------------------------------------------------- data


@hookimpl
def seed_demo_data(session: Any, demo: DemoContext) -> None:
    from plugins.commerce.demo import seed

    seed(session, demo)

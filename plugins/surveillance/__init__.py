"""Safety (平安社区): cameras, incidents and early warning, with privacy built in.

Mode 1 of community informatization (治安管理). The platform manages cameras, incidents
and alerts; it never processes video. PIPL Art. 26 shapes the rules: cameras are listed
for residents with where they are and what they are for (never their streams), footage
references are opened only for an open incident whose time of occurrence the clip covers,
with a stated purpose (and a second officer's approval when the asker raised the incident
themself), every attempt logged, and clip references, photos and the reporter's link are
erased after a retention period unless an open incident holds them. Reporters are account
and person references, named masked except to the officer sent to the scene, every
display logged in their access log. See docs/plugins/surveillance.md.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from core.hookspecs import DemoContext, NavItem, Panel, Permission, PluginInfo, hookimpl
from core.toolkit import plugin_settings
from plugins.surveillance.frigate.config import FrigateConfig, default_frigate


class SurveillanceConfig(Schema):
    """``[plugins.surveillance]``; validated at start-up."""

    offline_after_minutes = fields.Integer(load_default=10, validate=validate.Range(1, 10080))
    retention_days = fields.Integer(load_default=30, validate=validate.Range(1, 3650))
    photo_max_bytes = fields.Integer(
        load_default=5 * 1024 * 1024, validate=validate.Range(1024, 50 * 1024 * 1024)
    )
    media_dir = fields.String(load_default="")
    jobs_interval_seconds = fields.Integer(load_default=60, validate=validate.Range(5, 86400))
    #: How far around an incident's time of occurrence footage may be opened for it: a
    #: clip must overlap [occurred_at - margin, occurred_at + margin] (finding 4).
    footage_margin_minutes = fields.Integer(load_default=30, validate=validate.Range(1, 1440))
    #: ``[plugins.surveillance.frigate]``: the MQTT worker (plugins/surveillance/frigate/).
    frigate = fields.Nested(FrigateConfig, load_default=default_frigate)


info = PluginInfo(
    id="surveillance",
    version="0.2.0",
    title="Safety",
    title_zh="平安社区",
    description="Report a safety concern; cameras, incidents and early warning with privacy controls.",
    requires_core=">=1.1,<2",
    # contact: the officer sent to a resident's report calls the reporter back (reporters.py)
    data_scopes=("registry.person.basic", "registry.person.contact", "registry.grid"),
    config_schema=SurveillanceConfig,
)

CAMERA_READ = "surveillance.camera.read"
CAMERA_MANAGE = "surveillance.camera.manage"
INCIDENT_READ = "surveillance.incident.read"
INCIDENT_HANDLE = "surveillance.incident.handle"
RULE_MANAGE = "surveillance.rule.manage"
FOOTAGE_VIEW = "surveillance.footage.view"
FOOTAGE_APPROVE = "surveillance.footage.approve"
FOOTAGE_LOG = "surveillance.footage.log_read"
RETENTION_READ = "surveillance.retention.read"
HEARTBEAT = "surveillance.device.heartbeat"
INGEST = "surveillance.incident.ingest"

PUBLIC_ALERT = "surveillance.public_alert.published"


# ----------------------------------------------------------------------------- start-up


@hookimpl
def register_blueprints(app: Any) -> list[Any]:
    from plugins.surveillance.views import bp

    return [bp]


@hookimpl
def register_api(api: Any) -> list[Any]:
    from plugins.surveillance import api_admin  # noqa: F401 - its routes, on the same blp
    from plugins.surveillance.api import blp

    return [blp]


@hookimpl
def register_commands(cli: Any) -> None:
    from plugins.surveillance.cli import surveillance

    cli.add_command(surveillance)


@hookimpl
def register_event_types(bus: Any) -> None:
    from plugins.surveillance import schemas

    bus.declare(
        "surveillance.incident.raised",
        schemas.IncidentRaisedEvent,
        "An incident was raised (staff, resident or analytics).",
    )
    bus.declare(
        "surveillance.incident.resolved",
        schemas.IncidentResolvedEvent,
        "An incident was closed: outcome 'resolved' or 'false_alarm'.",
    )
    bus.declare(
        "surveillance.alert.raised",
        schemas.AlertRaisedEvent,
        "An early-warning alert was raised (once per rule, place and window).",
    )
    doc = (
        "An alert was marked public for residents: payload exactly alert_id, "
        "community_id, title, title_zh, body, severity."
    )
    bus.declare(PUBLIC_ALERT, schemas.PublicAlertEvent, doc)


@hookimpl
def register_event_handlers(bus: Any) -> None:
    from plugins.surveillance.services import on_incident_raised, on_person_merged
    from plugins.surveillance.services.grid import on_finding_referred

    bus.subscribe("surveillance.incident.raised", on_incident_raised, name="evaluate_rules")
    bus.subscribe("registry.person.merged", on_person_merged, name="follow_merge")
    # a grid worker's finding referred as a safety incident (declared by the grid plugin)
    bus.subscribe("grid.finding.referred", on_finding_referred, name="grid_finding")


# ----------------------------------------------------------------------------- access


def _settings(app: Any) -> dict[str, Any]:
    return plugin_settings(info.id, app)


@hookimpl
def register_jobs(app: Any) -> list[Any]:
    from core.toolkit import Job
    from plugins.surveillance.jobs import check, purge
    from plugins.surveillance.services.retention import PURGE_INTERVAL_SECONDS

    return [
        Job("surveillance.check", _settings(app)["jobs_interval_seconds"], check, "cameras silent too long; time-based alert rules"),
        Job("surveillance.purge", PURGE_INTERVAL_SECONDS, purge, "footage references and photos past retention"),
    ]


@hookimpl
def register_permissions() -> list[Permission]:
    return [
        Permission(CAMERA_READ, "See cameras and their stream addresses", "查看摄像头及视频流地址"),
        Permission(CAMERA_MANAGE, "Manage the camera inventory", "管理摄像头"),
        Permission(INCIDENT_READ, "See incidents and alerts", "查看事件和预警"),
        Permission(
            INCIDENT_HANDLE,
            "Acknowledge, dispatch and resolve incidents and alerts",
            "处置事件和预警",
        ),
        Permission(RULE_MANAGE, "Configure early-warning rules", "配置预警规则"),
        Permission(
            FOOTAGE_VIEW,
            "Open footage for an open incident, with a purpose",
            "为未结事件说明用途后调阅录像",
        ),
        Permission(
            FOOTAGE_APPROVE,
            "Approve or refuse another officer's footage request for an incident they raised",
            "审批其他治安人员就其本人上报事件提出的录像调阅申请",
        ),
        Permission(FOOTAGE_LOG, "Read the footage-access log", "查看录像调阅记录"),
        Permission(RETENTION_READ, "See the retention report", "查看保存期限报告"),
        Permission(HEARTBEAT, "Send camera heartbeats (devices, VMS)", "上报摄像头心跳"),
        Permission(INGEST, "Send incidents from video analytics", "视频分析上报事件"),
    ]


@hookimpl
def default_roles() -> dict[str, list[str]]:
    return {
        "security_officer": [
            CAMERA_READ,
            CAMERA_MANAGE,
            INCIDENT_READ,
            INCIDENT_HANDLE,
            FOOTAGE_VIEW,
            FOOTAGE_APPROVE,
            RETENTION_READ,
            HEARTBEAT,
            INGEST,
        ],
        "auditor": [FOOTAGE_LOG, RETENTION_READ],
    }


# ----------------------------------------------------------------------------- UI slots


@hookimpl
def nav_items(user: Any) -> list[NavItem]:
    from core.toolkit import has_permission

    items = [NavItem(label=info.title, label_zh=info.title_zh, url="/surveillance/", order=40)]
    if has_permission(user, INCIDENT_READ):
        items.append(
            NavItem(
                label="Security desk",
                label_zh="治安工作台",
                url="/surveillance/desk",
                order=40,
                section="staff",
            )
        )
    elif has_permission(user, FOOTAGE_LOG):
        items.append(
            NavItem(
                label="Footage log",
                label_zh="录像调阅记录",
                url="/surveillance/footage-log",
                order=40,
                section="staff",
            )
        )
    return items


@hookimpl
def dashboard_widgets(user: Any) -> list[Panel]:
    from core.toolkit import has_permission

    if not has_permission(user, INCIDENT_READ):
        return []
    from flask import render_template

    from core.toolkit import current_session, localized
    from plugins.surveillance.services import dashboard_numbers

    numbers = dashboard_numbers(current_session(), user)
    return [
        Panel(
            title=localized(info.title, info.title_zh),
            order=40,
            html=render_template("surveillance/widget.html", n=numbers),
        )
    ]


# ----------------------------------------------------------------------------- data


@hookimpl
def seed_demo_data(session: Any, demo: DemoContext) -> None:
    from plugins.surveillance.demo import seed

    seed(session, demo)

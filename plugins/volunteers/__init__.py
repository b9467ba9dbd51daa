"""Volunteers and activities (志愿服务): the residents' committee runs community
activities with a sign-up limit and a waiting list, checks volunteers in on the day,
credits their hours to a ledger, and sums the year up per community.

Everything from core comes from ``core.toolkit`` and ``core.hookspecs``; volunteers are
registry persons by id, read through the scoped reader (masked, access-logged) when a
roster or an export shows them. See docs/plugins/volunteers.md.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from core.hookspecs import DemoContext, NavItem, Permission, PluginInfo, hookimpl


class VolunteersConfig(Schema):
    """``[plugins.volunteers]`` in the config file; validated at start-up."""

    page_size = fields.Integer(load_default=20, validate=validate.Range(1, 100))


info = PluginInfo(
    id="volunteers",
    version="0.1.0",
    title="Volunteering",
    title_zh="志愿服务",
    description="Community activities, sign-up with a limit and a waiting list, attendance, "
                "volunteer hours and yearly summaries.",
    requires_core=">=1.1,<2",
    data_scopes=("registry.person.basic", "registry.grid"),
    config_schema=VolunteersConfig,
)

#: Permission names are ``<id>.<thing>.<action>``.
READ = "volunteers.activity.read"
MANAGE = "volunteers.activity.manage"
SIGNUP = "volunteers.signup.own"
STATS = "volunteers.summary.read"


@hookimpl
def register_blueprints(app: Any) -> list[Any]:
    from plugins.volunteers.views import bp

    return [bp]  # mounted at /volunteers/


@hookimpl
def register_api(api: Any) -> list[Any]:
    from plugins.volunteers.api import blp

    return [blp]  # mounted at /api/v1/volunteers/


@hookimpl
def register_permissions() -> list[Permission]:
    return [
        Permission(READ, "See volunteer activities", "查看志愿活动"),
        Permission(MANAGE, "Run volunteer activities: create, edit, cancel, check in, "
                   "correct hours", "组织志愿活动：发布、修改、取消、签到、更正时长"),
        Permission(SIGNUP, "Sign up for volunteer activities", "报名志愿活动"),
        Permission(STATS, "See and export the yearly volunteer summary",
                   "查看和导出志愿服务年度汇总"),
    ]


@hookimpl
def default_roles() -> dict[str, list[str]]:
    return {
        "resident": [READ, SIGNUP],
        "community_worker": [READ, MANAGE, STATS],
        "committee_member": [READ, MANAGE, STATS],
        "auditor": [READ],
    }


@hookimpl
def nav_items(user: Any) -> list[NavItem]:
    from core.toolkit import has_permission

    if not has_permission(user, READ):
        return []
    return [NavItem(label=info.title, label_zh=info.title_zh, url="/volunteers/", order=70)]


@hookimpl
def seed_demo_data(session: Any, demo: DemoContext) -> None:
    from plugins.volunteers.demo import seed

    seed(session, demo)

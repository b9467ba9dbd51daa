"""Volunteers: the plugin's manifest and its hook implementations.

Everything from core comes from ``core.toolkit`` and ``core.hookspecs`` (and, in tests,
``core.testing``): nothing else in core is public.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from core.hookspecs import NavItem, Permission, PluginInfo, hookimpl


class VolunteersConfig(Schema):
    """``[plugins.volunteers]`` in the config file; validated at start-up."""

    page_size = fields.Integer(load_default=20, validate=validate.Range(1, 100))


info = PluginInfo(
    id="volunteers",
    version="0.1.0",
    title="Volunteers",
    title_zh="Volunteers",
    description="Volunteers: a Shequ plugin.",
    requires_core=">=1.1,<2",
    config_schema=VolunteersConfig,
)

#: Permission names are ``<id>.<thing>.<action>``, lowercase (checked at start-up).
READ = "volunteers.item.read"
MANAGE = "volunteers.item.manage"


@hookimpl
def register_blueprints(app: Any) -> list[Any]:
    from plugins.volunteers.views import bp

    return [bp]  # mounted at /volunteers/


@hookimpl
def register_api(api: Any) -> list[Any]:
    from plugins.volunteers.api import blp

    return [blp]  # mounted at /api/v1/volunteers/


@hookimpl
def register_event_handlers(bus: Any) -> None:
    from plugins.volunteers.services import follow_move

    bus.subscribe("registry.person.moved", follow_move, name="follow_move")


@hookimpl
def register_permissions() -> list[Permission]:
    return [
        Permission(READ, "See items", "查看条目"),
        Permission(MANAGE, "Add items", "添加条目"),
    ]


@hookimpl
def default_roles() -> dict[str, list[str]]:
    return {"resident": [READ], "community_worker": [READ, MANAGE], "auditor": [READ]}


@hookimpl
def nav_items(user: Any) -> list[NavItem]:
    from core.toolkit import has_permission

    if not has_permission(user, READ):
        return []
    return [NavItem(label=info.title, label_zh=info.title_zh, url="/volunteers/", order=95)]

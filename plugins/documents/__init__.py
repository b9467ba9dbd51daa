"""Documents: the plugin's manifest and its hook implementations.

Everything from core comes from ``core.toolkit`` and ``core.hookspecs`` (and, in tests,
``core.testing``): nothing else in core is public.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from core.hookspecs import NavItem, Permission, PluginInfo, hookimpl


class DocumentsConfig(Schema):
    """``[plugins.documents]`` in the config file; validated at start-up."""

    page_size = fields.Integer(load_default=20, validate=validate.Range(1, 100))


info = PluginInfo(
    id="documents",
    version="0.1.0",
    title="Documents",
    title_zh="Documents",
    description="Documents: a Shequ plugin.",
    requires_core=">=1.1,<2",
    config_schema=DocumentsConfig,
)

#: Permission names are ``<id>.<thing>.<action>``, lowercase (checked at start-up).
READ = "documents.item.read"
MANAGE = "documents.item.manage"


@hookimpl
def register_blueprints(app: Any) -> list[Any]:
    from plugins.documents.views import bp

    return [bp]  # mounted at /documents/


@hookimpl
def register_api(api: Any) -> list[Any]:
    from plugins.documents.api import blp

    return [blp]  # mounted at /api/v1/documents/


@hookimpl
def register_event_handlers(bus: Any) -> None:
    from plugins.documents.services import follow_move

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
    return [NavItem(label=info.title, label_zh=info.title_zh, url="/documents/", order=95)]

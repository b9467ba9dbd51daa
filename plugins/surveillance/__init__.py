"""Safety (平安社区): Report a safety concern; cameras, incidents and early warning with privacy controls."""

from __future__ import annotations

from typing import Any

from core.hookspecs import NavItem, Permission, PluginInfo, hookimpl

info = PluginInfo(
    id="surveillance",
    version="0.1.0",
    title="Safety",
    title_zh="平安社区",
    description="Report a safety concern; cameras, incidents and early warning with privacy controls.",
    requires_core=">=1.0,<2",
    data_scopes=("registry.person.basic", "registry.dwelling"),
)


@hookimpl
def register_blueprints(app: Any) -> list[Any]:
    from plugins.surveillance.views import bp

    return [bp]


@hookimpl
def register_permissions() -> list[Permission]:
    return [
        Permission("surveillance.incident.read", "See incidents", "查看事件"),
        Permission(
            "surveillance.incident.handle",
            "Acknowledge, dispatch and resolve incidents",
            "处置事件",
        ),
        Permission("surveillance.camera.manage", "Manage the camera inventory", "管理摄像头"),
    ]


@hookimpl
def default_roles() -> dict[str, list[str]]:
    return {
        "security_officer": [
            "surveillance.incident.read",
            "surveillance.incident.handle",
            "surveillance.camera.manage",
        ],
    }


@hookimpl
def nav_items(user: Any) -> list[NavItem]:
    return [NavItem(label=info.title, label_zh=info.title_zh, url="/surveillance/", order=40)]

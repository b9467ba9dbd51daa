"""Service hotline (便民服务): The community service hotline and vetted local merchants."""

from __future__ import annotations

from typing import Any

from core.hookspecs import NavItem, Permission, PluginInfo, hookimpl

info = PluginInfo(
    id="commerce",
    version="0.1.0",
    title="Service hotline",
    title_zh="便民服务",
    description="The community service hotline and vetted local merchants.",
    requires_core=">=1.0,<2",
    data_scopes=("registry.person.basic", "registry.person.contact", "registry.organisation"),
)


@hookimpl
def register_blueprints(app: Any) -> list[Any]:
    from plugins.commerce.views import bp

    return [bp]


@hookimpl
def register_permissions() -> list[Permission]:
    return [
        Permission("commerce.ticket.read", "See service tickets", "查看服务工单"),
        Permission("commerce.ticket.dispatch", "Dispatch tickets to merchants", "派发服务工单"),
        Permission("commerce.merchant.vet", "Vet and suspend merchants", "审核商户"),
    ]


@hookimpl
def default_roles() -> dict[str, list[str]]:
    return {
        "hotline_operator": ["commerce.ticket.read", "commerce.ticket.dispatch"],
        "community_worker": ["commerce.merchant.vet", "commerce.ticket.read"],
        "merchant": ["commerce.ticket.read"],
    }


@hookimpl
def nav_items(user: Any) -> list[NavItem]:
    return [NavItem(label=info.title, label_zh=info.title_zh, url="/commerce/", order=20)]

"""Public services (政务服务): One-stop public services: apply online, prefilled from the resident registry, tracked to the end."""

from __future__ import annotations

from typing import Any

from core.hookspecs import NavItem, Permission, PluginInfo, hookimpl

info = PluginInfo(
    id="gov_services",
    version="0.1.0",
    title="Public services",
    title_zh="政务服务",
    description="One-stop public services: apply online, prefilled from the resident registry, tracked to the end.",
    requires_core=">=1.0,<2",
    data_scopes=(
        "registry.person.basic",
        "registry.person.identity",
        "registry.household",
        "registry.dwelling",
    ),
)


@hookimpl
def register_blueprints(app: Any) -> list[Any]:
    from plugins.gov_services.views import bp

    return [bp]


@hookimpl
def register_permissions() -> list[Permission]:
    return [
        Permission(
            "gov_services.application.read",
            "See applications in one's communities",
            "查看所辖社区的申请",
        ),
        Permission(
            "gov_services.application.approve", "Approve or reject applications", "审批申请"
        ),
    ]


@hookimpl
def default_roles() -> dict[str, list[str]]:
    return {
        "community_worker": ["gov_services.application.read", "gov_services.application.approve"],
        "auditor": ["gov_services.application.read"],
    }


@hookimpl
def nav_items(user: Any) -> list[NavItem]:
    return [NavItem(label=info.title, label_zh=info.title_zh, url="/gov-services/", order=10)]

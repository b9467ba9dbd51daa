"""Community affairs (居民自治): Notices, the residents' forum, proposals, votes and supervision of the committee."""

from __future__ import annotations

from typing import Any

from core.hookspecs import NavItem, Permission, PluginInfo, hookimpl

info = PluginInfo(
    id="self_governance",
    version="0.1.0",
    title="Community affairs",
    title_zh="居民自治",
    description="Notices, the residents' forum, proposals, votes and supervision of the committee.",
    requires_core=">=1.0,<2",
    data_scopes=("registry.person.basic", "registry.household"),
)


@hookimpl
def register_blueprints(app: Any) -> list[Any]:
    from plugins.self_governance.views import bp

    return [bp]


@hookimpl
def register_permissions() -> list[Permission]:
    return [
        Permission("self_governance.notice.publish", "Publish notices", "发布公告"),
        Permission("self_governance.forum.moderate", "Moderate the forum", "管理论坛"),
    ]


@hookimpl
def default_roles() -> dict[str, list[str]]:
    return {
        "committee_member": ["self_governance.notice.publish", "self_governance.forum.moderate"],
    }


@hookimpl
def nav_items(user: Any) -> list[NavItem]:
    return [NavItem(label=info.title, label_zh=info.title_zh, url="/self-governance/", order=30)]

"""Core's own permissions and the roles every deployment starts with.

Plugins add theirs through the ``register_permissions`` and ``default_roles`` hooks; the
merged table lives on the kernel (``kernel.permissions``, ``kernel.roles``)."""

from __future__ import annotations

from core.hookspecs import Permission

#: Roles exist even before any plugin grants them anything, so demo accounts and the
#: permission matrix have a fixed vocabulary.
ROLES = (
    "resident",
    "community_worker",
    "committee_member",
    "hotline_operator",
    "merchant",
    "security_officer",
    "auditor",
    "admin",
)

CORE_PERMISSIONS = (
    Permission("core.plugins.read", "See installed plugins and their status", "查看插件及其状态"),
    Permission(
        "core.config.read", "See the effective configuration (secrets redacted)", "查看生效配置"
    ),
    Permission("core.events.read", "See event deliveries and dead letters", "查看事件投递与死信"),
    Permission("core.events.retry", "Redeliver dead-lettered events", "重新投递死信事件"),
    Permission("identity.user.read", "See accounts", "查看账户"),
    Permission("identity.user.manage", "Create, disable and change accounts", "管理账户"),
    Permission("identity.token.create", "Create personal API tokens", "创建个人 API 令牌"),
)

CORE_ROLE_GRANTS: dict[str, list[str]] = {
    "admin": [p.name for p in CORE_PERMISSIONS],
    "auditor": ["core.plugins.read", "core.events.read", "identity.user.read"],
    "community_worker": ["identity.token.create"],
    "hotline_operator": ["identity.token.create"],
    "security_officer": ["identity.token.create"],
}

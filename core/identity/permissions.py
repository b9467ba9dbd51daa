"""Core's own permissions and the roles every deployment starts with.

Plugins add theirs through the ``register_permissions`` and ``default_roles`` hooks; the
merged table lives on the kernel (``kernel.permissions``, ``kernel.roles``), and
administrators' overrides are applied on top (``identity_role_permission``).

Own-account permissions (``identity.own.*``) name what someone does with their own
account — see who they are, read their notifications and access log, list and end their
sessions, list and revoke their tokens, change their password, verify. Every role has them
(:func:`core.identity.init_app` adds them to plugin roles too). They exist so that an API
token can be given them or not: a token narrowed to ``surveillance.device.heartbeat``
reaches nothing else, its owner's sessions and tokens included. A signed-in browser session
always reaches its own account (a person must always be able to end a session or revoke a
token), so the gates check these names on token requests only; see
:func:`core.identity.require_login`.

``PERSONAL_PERMISSIONS`` are never exercised in the assisted channel: a worker acting for
a resident cannot create or revoke the resident's tokens, end their sessions, change their
password, verify them or assist someone else from inside the session.
"""

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

P = Permission
CORE_PERMISSIONS = (
    P("core.plugins.read", "See installed plugins and their status", "查看插件及其状态"),
    P("core.config.read", "See the effective configuration (secrets redacted)", "查看生效配置"),
    P("core.events.read", "See event deliveries and dead letters", "查看事件投递与死信"),
    P("core.events.retry", "Redeliver dead-lettered events", "重新投递死信事件"),
    P(
        "core.messages.read",
        "See SMS and e-mail messages recorded for sending",
        "查看待发短信与邮件",
    ),
    P("identity.user.read", "See accounts", "查看账户"),
    P(
        "identity.user.manage",
        "Create, disable and reset accounts; assign roles and scopes",
        "管理账户、角色与范围",
    ),
    P("identity.role.manage", "Change which permissions each role has", "调整角色权限"),
    P("identity.token.create", "Create personal API tokens", "创建个人 API 令牌"),
    P("identity.assist", "Act for a resident at the counter or on the phone", "为居民代办"),
    P("identity.verify", "Verify a resident's account in person", "当面为居民办理实名认证"),
    P("audit.log.read", "Search the audit log", "查询审计日志"),
    P("audit.access.read", "Search the personal-data access log", "查询个人信息访问记录"),
    P(
        "registry.person.read",
        "Find and read persons (ID numbers and phones masked)",
        "查询人员（证件号、电话脱敏）",
    ),
    P(
        "registry.person.reveal",
        "Reveal a full ID number or phone for a stated purpose",
        "说明用途后查看完整证件号或电话",
    ),
    P(
        "registry.person.write",
        "Register and change persons, moves and deaths",
        "登记和变更人员、迁移、死亡",
    ),
    P("registry.household.write", "Change households and their members", "变更户及成员"),
    P("registry.org.read", "Read organisations", "查看单位"),
    P("registry.org.write", "Register and change organisations", "登记和变更单位"),
    P("registry.import", "Import persons from spreadsheets", "从表格导入人员"),
    P("registry.export", "Export persons (masked by default)", "导出人员（默认脱敏）"),
    P(
        "registry.correction.review",
        "Approve or refuse residents' correction requests",
        "审核居民的信息更正申请",
    ),
    P("registry.dashboard.read", "See population statistics", "查看人口统计"),
    P("notices.send", "Send notices to the residents of places within my assignment",
      "向负责区域内的居民发送通知"),
    P("notices.read", "See notices and their delivery reports", "查看通知及送达情况"),
    # what everyone does with their own account (granted to every role; see above)
    P("identity.own.profile", "See my own account and its permissions", "查看本人账户及权限"),
    P("identity.own.notifications", "Read my notifications and mark them read",
      "查看本人通知并标为已读"),
    P("identity.own.access_log", "See who accessed my personal data", "查看谁访问了本人信息"),
    P("identity.own.sessions", "List my sign-in sessions and end them", "查看并结束本人登录会话"),
    P("identity.own.tokens", "List my API tokens and revoke them", "查看并撤销本人 API 令牌"),
    P("identity.own.password", "Change my password", "修改本人密码"),
    P("identity.own.verification", "Verify my account against the register",
      "本人实名认证（与居民登记比对）"),
)

#: Own-account permissions: every role holds them.
OWN_PERMISSIONS = tuple(p.name for p in CORE_PERMISSIONS if p.name.startswith("identity.own."))

#: Acts on an account that only its holder performs, never a worker acting for them.
PERSONAL_PERMISSIONS = frozenset(
    {
        "identity.assist",
        "identity.own.password",
        "identity.own.sessions",
        "identity.own.tokens",
        "identity.own.verification",
        "identity.token.create",
    }
)

_WORKER_REGISTRY = [
    "registry.person.read",
    "registry.person.reveal",
    "registry.person.write",
    "registry.household.write",
    "registry.org.read",
    "registry.org.write",
    "registry.import",
    "registry.export",
    "registry.correction.review",
    "registry.dashboard.read",
]

CORE_ROLE_GRANTS: dict[str, list[str]] = {
    **{role: list(OWN_PERMISSIONS) for role in ROLES},
    "community_worker": [
        *OWN_PERMISSIONS,
        "identity.token.create",
        "identity.assist",
        "identity.verify",
        *_WORKER_REGISTRY,
        "notices.send",
        "notices.read",
    ],
    "hotline_operator": [
        *OWN_PERMISSIONS, "identity.token.create", "identity.assist", "registry.person.read"
    ],
    "committee_member": [*OWN_PERMISSIONS, "registry.dashboard.read"],
    "security_officer": [*OWN_PERMISSIONS, "identity.token.create", "registry.person.read"],
    "auditor": [
        *OWN_PERMISSIONS,
        "core.plugins.read",
        "core.events.read",
        "core.messages.read",
        "identity.user.read",
        "audit.log.read",
        "audit.access.read",
    ],
    # admin: every permission, assigned in core.identity.init_app
}

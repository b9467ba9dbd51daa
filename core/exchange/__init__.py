"""Interoperability: the published data standard, clients, signed webhooks, the pull feed.

Other departments' systems connect here, and only here: an administrator registers each
as a client with the event types and registry scopes it may receive (minimum necessary),
every webhook is signed (HMAC-SHA256 over "timestamp.body") and delivered through the
outbox, and every disclosure of a person's data is written to that person's access log.
See docs/exchange.md and docs/data-standard.md.
"""

from __future__ import annotations

import time
from typing import Any

from core.hookspecs import Permission

PERMISSIONS = (
    Permission(
        "core.exchange.read",
        "See exchange clients and their deliveries",
        "查看数据交换客户端及投递记录",
    ),
    Permission(
        "core.exchange.manage",
        "Register, change, suspend exchange clients; rotate secrets; redeliver",
        "登记、变更、暂停数据交换客户端，轮换密钥，重新投递",
    ),
)
#: Roles granted these permissions by default (admin gets every permission anyway).
ROLE_GRANTS = {"auditor": ["core.exchange.read"]}
#: How often a web process looks for a first client registered by another process.
RECHECK_SECONDS = 30.0


def _has_clients(kernel: Any) -> bool:
    """Whether any client exists; False before the database is migrated."""
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from core.exchange.models import ExchangeClient

    try:
        with kernel.db.Session() as session:
            return session.scalar(select(ExchangeClient.id).limit(1)) is not None
    except SQLAlchemyError:
        return False


def init_app(app: Any, kernel: Any) -> None:
    """Declare the internal webhook event, add the exchange permissions to the kernel's
    tables (after identity built them), register the admin pages, set the callback
    network policy from ``[exchange]``, and subscribe the webhook handlers when this
    installation has clients."""
    from core.exchange import netguard, services
    from core.exchange.views import bp

    services.set_network_policy(kernel.bus, netguard.policy_from_config(kernel.config))
    if services.QUEUED_EVENT not in kernel.bus.types:
        kernel.bus.declare(
            services.QUEUED_EVENT,
            services.WebhookQueued,
            "Internal: one webhook to one exchange client is waiting to be sent.",
        )
    for perm in PERMISSIONS:
        kernel.permissions.setdefault(perm.name, perm)
        kernel.roles.setdefault("admin", set()).add(perm.name)
    for role, names in ROLE_GRANTS.items():
        kernel.roles.setdefault(role, set()).update(names)
    if "exchange_admin" not in app.blueprints:
        app.register_blueprint(bp)

    if _has_clients(kernel):
        services.ensure_subscribed(kernel.bus)
        return
    state = {"at": time.monotonic()}

    @app.before_request
    def _exchange_recheck() -> None:
        """A client registered by another process: subscribe here too (within 30 s)."""
        bus = kernel.bus
        if services.WEBHOOK_SUBSCRIBER_ID in bus.subscribers:
            return
        if time.monotonic() - state["at"] < RECHECK_SECONDS:
            return
        state["at"] = time.monotonic()
        if _has_clients(kernel):
            services.ensure_subscribed(bus)

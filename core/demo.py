"""Demo data: one account per role, then every enabled plugin's ``seed_demo_data``.

Idempotent, so ``make run`` can call it every time. Refused in production (config
validation already forbids ``demo_data`` there)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from sqlalchemy import select

from core.current import kernel_of
from core.hookspecs import DemoContext
from core.identity.models import User
from core.identity.services import create_user

#: role → (username, password). The passwords are public on purpose: they exist only
#: where ``app.demo_data`` is on, and the README lists them.
DEMO_ACCOUNTS: dict[str, tuple[str, str]] = {
    "admin": ("admin", "jade-lantern-41"),
    "community_worker": ("worker", "plum-garden-52"),
    "committee_member": ("committee", "bamboo-bridge-63"),
    "hotline_operator": ("operator", "river-kite-74"),
    "merchant": ("merchant", "tea-house-85"),
    "security_officer": ("security", "stone-lion-96"),
    "auditor": ("auditor", "ledger-cloud-17"),
    "resident": ("resident", "morning-tea-28"),
    "street_officer": ("street", "willow-gate-39"),
    "department_staff": ("dept", "lamp-post-50"),  # matters: a department's staff
}
DISPLAY_NAMES = {
    "admin": "系统管理员",
    "community_worker": "王社工",
    "committee_member": "李委员",
    "hotline_operator": "赵话务",
    "merchant": "陈师傅",
    "security_officer": "周保安",
    "auditor": "孙审计",
    "resident": "张大爷",
    "street_officer": "吴科长",
    "department_staff": "刘科员",
}


def seed(app: Flask, echo: Callable[[str], None] = print) -> dict[str, tuple[str, str]]:
    kernel = kernel_of(app)
    if kernel.config.is_production:
        raise RuntimeError("demo data is refused in production")
    hasher = app.extensions["shequ.hasher"]
    demo = DemoContext(bus=kernel.bus)
    with kernel.db.session_scope() as session:
        created = 0
        for role, (username, password) in DEMO_ACCOUNTS.items():
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                user = create_user(
                    session,
                    hasher,
                    username=username,
                    password=password,
                    kind="resident" if role == "resident" else "staff",
                    roles=[role],
                    display_name=DISPLAY_NAMES[role],
                    bus=kernel.bus,
                )
                created += 1
            if user.phone and user.phone_verified_at is None:
                # shipped accounts count as having proved their phone (issue 17)
                from core.db import utcnow

                user.phone_verified_at = utcnow()
            demo.users[role] = user
        echo(f"demo accounts: {created} created, {len(DEMO_ACCOUNTS) - created} already there")
        from core.registry.demo import seed_registry

        seed_registry(session, demo, bus=kernel.bus, echo=echo)
        for pid, call in kernel.plugins.each_impl("seed_demo_data"):
            echo(f"demo data: {pid} ...")
            call(session=session, demo=demo)
    return dict(DEMO_ACCOUNTS)

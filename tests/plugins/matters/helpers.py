"""Shared set-up of the matters tests: the routing of the test street (core.testing's
places: street 110105001, communities C1 and C2) and department members."""

from __future__ import annotations

from core.testing import C1, C2, ensure_user
from core.toolkit import kernel_of
from plugins.matters import services as svc

STREET = C1[:9]


def load_routing(app) -> None:
    kernel = kernel_of(app)
    with app.app_context(), kernel.db.session_scope() as session:
        depts, routes = svc.street_routing(STREET, {C1: "和平里社区", C2: "安康社区"})
        svc.load_routing(session, depts, routes)


def member(app, role: str, department: str):
    user = ensure_user(app, role)
    kernel = kernel_of(app)
    with app.app_context(), kernel.db.session_scope() as session:
        svc.add_member(session, department, user.id)
    return user


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

"""A small registry world for the commerce tests: places, residents, organisations,
merchants and accounts (imported by the test modules next to it)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from core.identity.models import User
from core.identity.services import bind_person, create_user
from core.registry import services as rs
from core.registry.reader import RegistryReader
from core.registry.testing import C1, C2, make_credit_code, make_id, make_places
from core.testing import TEST_PASSWORD

PHONE_ELDER = "13800138000"


def account(
    app: Any, session: Any, username: str, role: str, *, person_id: int | None = None
) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        user = create_user(
            session,
            app.extensions["shequ.hasher"],
            username=username,
            password=TEST_PASSWORD,
            roles=[role],
            kind="resident" if role == "resident" else "staff",
            display_name=f"测试{username}",
        )
        session.flush()
        if person_id is not None:
            bind_person(session, user, person_id, method="in_person", by=None)
    return user


def build_world(
    app: Any,
    *,
    merchants: tuple = (
        ("甲维修", ["repairs"], [C1]),
        ("乙维修", ["repairs"], [C1]),
        ("丙维修", ["repairs"], [C2]),
        ("丁家政", ["housekeeping"], [C1]),
    ),
    approve: bool = True,
) -> SimpleNamespace:
    """Places C1/C2; an elderly man living alone in C1 (d1), a couple in C1 (d2), a young
    woman in C2 (d3); one organisation and merchant per ``merchants`` row (approved), a
    staff account per merchant (``m0``, ``m1`` …), a resident account bound to each
    person, an operator and a community worker."""
    from plugins.commerce import info
    from plugins.commerce import services as svc

    kernel = app.extensions["shequ"]
    bus = kernel.bus
    w = SimpleNamespace(merchants=[], staff=[])
    with kernel.db.session_scope() as session:
        places = make_places(session)
        w.elder = rs.register_person(
            session,
            {
                "name": "张大爷",
                "id_number": make_id("1940-05-01", "M", seq=11),
                "phone": PHONE_ELDER,
            },
            bus=bus,
            dwelling_id=places.d1.id,
        )
        w.husband = rs.register_person(
            session,
            {
                "name": "李明",
                "id_number": make_id("1980-02-02", "M", seq=12),
                "phone": "13900139000",
            },
            bus=bus,
            dwelling_id=places.d2.id,
        )
        w.wife = rs.register_person(
            session,
            {
                "name": "王芳",
                "id_number": make_id("1982-03-03", "F", seq=13),
                "phone": "13900139001",
            },
            bus=bus,
            dwelling_id=places.d2.id,
        )
        w.other = rs.register_person(
            session,
            {
                "name": "赵敏",
                "id_number": make_id("1990-04-04", "F", seq=14),
                "phone": "13700137000",
            },
            bus=bus,
            dwelling_id=places.d3.id,
        )
        reader = RegistryReader(session, plugin="commerce", scopes=info.data_scopes, purpose="test")
        for i, (name, cats, comms) in enumerate(merchants):
            code = make_credit_code(f"91110105MA0{i:02d}ABC")
            rs.register_organisation(
                session, {"name": f"{name}有限公司", "credit_code": code, "community": C1}, bus=bus
            )
            staff = account(app, session, f"merch{i}", "merchant")
            m = svc.apply_merchant(
                session,
                reader,
                credit_code=code,
                name=name,
                categories=cats,
                communities=comms,
                user=staff,
            )
            if approve:
                svc.decide_merchant(session, bus, m.id, action="approve", reason="ok", actor=None)
            w.merchants.append(m.id)
            w.staff.append(staff.id)
        w.resident = account(app, session, "elder", "resident", person_id=w.elder.id).id
        w.resident_other = account(app, session, "other", "resident", person_id=w.other.id).id
        w.operator = account(app, session, "oper", "hotline_operator").id
        w.worker = account(app, session, "cworker", "community_worker").id
        w.places = SimpleNamespace(d1=places.d1.id, d2=places.d2.id, d3=places.d3.id)
        for key in ("elder", "husband", "wife", "other"):
            setattr(w, key, getattr(w, key).id)
    return w


def sign_in(app: Any, username: str) -> Any:
    """A test client signed in through the real form as ``username``."""
    import re

    client = app.test_client()
    page = client.get("/account/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page).group(1)
    resp = client.post(
        "/account/login",
        data={"username": username, "password": TEST_PASSWORD, "csrf_token": token},
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    return client


def token(app: Any, username: str) -> dict[str, str]:
    from core.identity.services import create_token, resolve_permissions

    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as session:
        u = session.scalar(select(User).where(User.username == username))
        _, plain = create_token(
            session,
            u,
            name="t",
            permissions=None,
            expires_days=None,
            granted=set(resolve_permissions(u.role_names, kernel.roles)),
        )
    return {"Authorization": f"Bearer {plain}"}


def form_token(client: Any, path: str) -> str:
    from core.testing import csrf_token

    return csrf_token(client, path)

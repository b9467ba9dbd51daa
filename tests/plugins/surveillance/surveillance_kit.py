"""One migrated app per test module for the safety plugin's tests (small data, fast):
two communities from core's registry helpers, three scoped security officers (two in C1,
one in C2), two residents,
an auditor and an admin, each with a signed-in client; helpers for tokens."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from core.testing import TEST_PASSWORD, build_test_app

STREAM = "rtsp://secret-vms.internal/stream-"


def make_user(app: Any, username: str, role: str, scopes: list[tuple[str, str]] = ()) -> Any:
    from core.identity.models import User
    from core.identity.services import create_user, set_scopes

    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            user = create_user(
                session,
                app.extensions["shequ.hasher"],
                username=username,
                password=TEST_PASSWORD,
                roles=[role],
                display_name=username,
                kind="resident" if role == "resident" else "staff",
            )
            session.flush()
            if scopes:
                set_scopes(session, user, scopes, admin=user)
        session.flush()
        session.expunge(user)
    return user


def sign_in(app: Any, username: str) -> Any:
    client = app.test_client()
    page = client.get("/account/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page).group(1)
    resp = client.post(
        "/account/login",
        data={"username": username, "password": TEST_PASSWORD, "csrf_token": token},
    )
    assert resp.status_code == 302, username
    return client


def token(app: Any, user: Any, permissions: list[str] | None = None) -> str:
    from core.identity.models import User
    from core.identity.services import create_token, resolve_permissions

    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as session:
        u = session.get(User, user.id)
        _, plaintext = create_token(
            session,
            u,
            name="test",
            permissions=permissions,
            expires_days=None,
            granted=set(resolve_permissions(u.role_names, kernel.roles)),
        )
    return plaintext


def csrf(client: Any, path: str = "/surveillance/report") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page).group(1)


def bearer(value: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}", **extra}


@pytest.fixture(scope="module")
def sv(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from core.registry.testing import C1, C2, G1, make_places

    app, cleanup = build_test_app(tmp_path_factory.mktemp("sv"), plugins=["surveillance"])
    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as session:
        make_places(session)
    ns = SimpleNamespace(app=app, kernel=kernel, C1=C1, C2=C2, G1=G1)
    ns.officer = make_user(app, "officer1", "security_officer", [("community", C1)])
    ns.officer2 = make_user(app, "officer2", "security_officer", [("community", C2)])
    # a second officer in C1: the one who approves footage officer1 asks for
    ns.officer3 = make_user(app, "officer3", "security_officer", [("community", C1)])
    ns.worker = make_user(app, "gridworker", "community_worker", [("community", C1)])
    ns.resident = make_user(app, "resident1", "resident")
    ns.resident2 = make_user(app, "resident2", "resident")
    ns.auditor = make_user(app, "auditor1", "auditor")
    ns.admin = make_user(app, "admin1", "admin")
    ns.client = {
        name: sign_in(app, getattr(ns, name).username)
        for name in (
            "officer", "officer2", "officer3", "resident", "resident2", "auditor", "admin"
        )
    }
    ns.token = lambda who, perms=None: token(app, getattr(ns, who), perms)
    yield ns
    cleanup()


def add_camera(sv: Any, code: str, community: str | None = None, **extra: Any) -> Any:
    from plugins.surveillance.services import create_camera

    with sv.kernel.db.session_scope() as session:
        camera = create_camera(
            session,
            None,
            code=code,
            name=f"Camera {code}",
            community_code=community or sv.C1,
            location="East gate",
            place_kind="entrance",
            purpose="Gate safety",
            signage_confirmed=True,
            stream_url=STREAM + code,
            **extra,
        )
        session.flush()
        session.expunge(camera)
    return camera


_seq = iter(range(500, 10_000))


def resident_with_person(sv: Any, username: str, name: str) -> Any:
    """A resident account bound (verified) to a registry person named ``name`` in C1:
    the reporter whose access log the tests read."""
    from core.db import utcnow
    from core.identity.models import User
    from core.registry import services as reg
    from core.registry.testing import make_id

    user = make_user(sv.app, username, "resident")
    with sv.kernel.db.session_scope() as session:
        person = reg.register_person(
            session,
            {"name": name, "id_number": make_id(seq=next(_seq)), "phone": "13800138000"},
            bus=sv.kernel.bus,
            community=sv.C1,
        )
        session.flush()
        account = session.get(User, user.id)
        account.person_id = person.id
        account.verified_at = utcnow()
        account.display_name = name
        user.person_id = person.id
    return user


def open_incident(sv: Any, who: str, camera_code: str, **extra: Any) -> int:
    """Raise an incident on ``camera_code`` through the API as ``who``; its id."""
    body = {"kind": "theft", "location": "Gate", "camera_code": camera_code,
            "description": "Bike stolen", **extra}
    resp = sv.app.test_client().post(
        "/api/v1/surveillance/incidents", json=body, headers=bearer(sv.token(who))
    )
    assert resp.status_code == 201, resp.json
    return resp.json["id"]


def add_clip(sv: Any, incident_id: int, camera_id: int, starts_at: Any, ends_at: Any,
             reference: str = "VMS-REF") -> int:
    from plugins.surveillance import services as svc
    from plugins.surveillance.models import Camera, Incident

    with sv.kernel.db.session_scope() as session:
        clip = svc.add_clip(
            session,
            None,
            session.get(Incident, incident_id),
            camera=session.get(Camera, camera_id),
            starts_at=starts_at,
            ends_at=ends_at,
            reference=reference,
        )
        session.flush()
        return clip.id

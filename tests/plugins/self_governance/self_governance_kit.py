"""Fixtures for the self_governance tests: one migrated app per module (the plugin only,
on SQLite or on ``SHEQU_TEST_DATABASE_URL``), and a small generated registry:

* community C1: household H1 at d1 (head 66, spouse 64, daughter 20, son 17),
  household H2 at d2 (two adults), one adult without a household at d2, and a former
  resident who moved out (own household H4);
* community C2: household H3 at d3 (one adult).

So in C1: 6 adults (every-adult mode), 3 households + 1 household of one (household mode:
H1, H2, the adult without a household; H4 has no active adult), 2 dwellings.
"""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from core.identity.models import User, UserScope
from core.identity.services import bind_person
from core.registry import services as rs
from core.registry.testing import ensure_registry, make_places
from core.testing import TEST_PASSWORD, app_today, build_test_app, ensure_user


def years_ago(n: int, days: int = 0) -> str:
    today = app_today()  # the app's day (Asia/Shanghai), not the server's
    try:
        born = today.replace(year=today.year - n)
    except ValueError:  # 29 February
        born = today.replace(year=today.year - n, day=28)
    return (born - timedelta(days=days)).isoformat()


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app, cleanup = build_test_app(tmp_path_factory.mktemp("sg"), plugins=["self_governance"])
    yield app
    cleanup()


def build_world(app) -> SimpleNamespace:
    kernel = ensure_registry(app)
    bus = kernel.bus
    with kernel.db.session_scope() as db:
        places = make_places(db)

        def person(name, born, dwelling, role="other"):
            return rs.register_person(
                db, {"name": name, "birth_date": born}, bus=bus, dwelling_id=dwelling.id, role=role
            )

        head = person("王建国", years_ago(66), places.d1, "owner")
        spouse = person("李芳", years_ago(64), places.d1)
        daughter = person("王小丽", years_ago(20), places.d1)
        son = person("王小明", years_ago(17), places.d1)  # a minor
        h1 = rs.create_household(db, head_id=head.id, bus=bus, number="SG-H1")
        for p, rel in ((spouse, "10"), (daughter, "30"), (son, "20")):
            rs.add_member(db, h1.id, p.id, rel, bus=bus)
        h2_head = person("赵强", years_ago(40), places.d2, "owner")
        h2_wife = person("孙丽", years_ago(38), places.d2)
        h2 = rs.create_household(db, head_id=h2_head.id, bus=bus, number="SG-H2")
        rs.add_member(db, h2.id, h2_wife.id, "10", bus=bus)
        lodger = person("周租客", years_ago(30), places.d2, "tenant")  # no household
        # just turned 18 today? No: 18 and one day (the edge is tested in services)
        mover = person("钱搬走", years_ago(50), places.d2)
        h4 = rs.create_household(db, head_id=mover.id, bus=bus, number="SG-H4")
        rs.move_person(db, mover.id, to_dwelling_id=None, bus=bus)
        other = person("赵四", years_ago(45), places.d3)
        h3 = rs.create_household(db, head_id=other.id, bus=bus, number="SG-H3")
        ids = SimpleNamespace(
            head=head.id,
            spouse=spouse.id,
            daughter=daughter.id,
            son=son.id,
            h2_head=h2_head.id,
            h2_wife=h2_wife.id,
            lodger=lodger.id,
            mover=mover.id,
            other=other.id,
            h1=h1.id,
            h2=h2.id,
            h3=h3.id,
            h4=h4.id,
            d1=places.d1.id,
            d2=places.d2.id,
            d3=places.d3.id,
        )
    return SimpleNamespace(kernel=kernel, ids=ids, c1=places.c1.code, c2=places.c2.code)


@pytest.fixture(scope="module")
def world(app):
    return build_world(app)


def resident(app, username: str, person_id: int | None) -> User:
    """A resident account (verified in person when ``person_id`` is given)."""
    user = ensure_user(app, "resident", username=username)
    if person_id is not None:
        kernel = app.extensions["shequ"]
        with kernel.db.session_scope() as db:
            u = db.get(User, user.id)
            if u.person_id is None:
                bind_person(db, u, person_id, method="in_person", by=None)
    return user


def committee(app, username: str, *communities: str) -> User:
    """A committee member assigned to ``communities`` (deny by default: a member with no
    assignment acts for none)."""
    user = ensure_user(app, "committee_member", username=username)
    with app.extensions["shequ"].db.session_scope() as db:
        u = db.get(User, user.id)
        have = {(s.kind, s.code) for s in u.scopes}
        for code in communities:
            if ("community", code) not in have:
                u.scopes.append(UserScope(kind="community", code=code))
    return user


def sign_in(app, username: str):
    client = app.test_client()
    client.set_cookie("shequ_lang", "en")
    page = client.get("/account/login").get_data(as_text=True)
    tok = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page).group(1)
    resp = client.post(
        "/account/login", data={"username": username, "password": TEST_PASSWORD, "csrf_token": tok}
    )
    assert resp.status_code == 302, resp.status_code
    return client


def csrf(client, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def user_id(app, username: str) -> int:
    with app.extensions["shequ"].db.session_scope() as db:
        return db.scalar(select(User.id).where(User.username == username))

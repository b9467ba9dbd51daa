"""Issue 15, finding 1: the assisted channel never widens power.

As the hotline operator (no reveal permission, no place scope), assisting a resident used
to show ``/registry/me?show=1`` with the full ID number and phone, and nothing reached the
resident's access log; a community worker could assist a resident of another community.
Now the session represents the resident for "my things" but the worker is the viewer:
personal acts are refused, data is checked against the agent, starting a session is
refused outside the agent's places (the hotline may assist any caller), and every start
and stop is audited with the agent named."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from test_registry_api import HEAD_ID, build_world, sign_in, staff

from core.audit.models import AuditEntry
from core.identity import assisted_permissions
from core.identity.permissions import PERSONAL_PERMISSIONS
from core.registry.testing import C1
from core.testing import access_log, csrf_token, ensure_user, login

pytestmark = pytest.mark.with_plugins()

HEAD_PHONE = "13800000001"


@pytest.fixture
def world(app):
    return build_world(app)


def signed_in(app, role: str, username: str | None = None):
    """A client signed in as ``test_<role>``, or as ``username`` (created with ``role``)."""
    if username is None:
        client = app.test_client()
        login(client, app, role)
        return client
    ensure_user(app, role, username=username)
    return sign_in(app, username)


def start(client, resident: str, reason: str = "电话代办：居民来电咨询"):
    return client.post("/account/assist", data={
        "csrf_token": csrf_token(client, "/account/assist"), "resident": resident,
        "reason": reason, "minutes": "15"})


def audit(app, action: str):
    with app.extensions["shequ"].db.session_scope() as db:
        return [(e.actor_name, e.outcome, e.on_behalf_of_id, e.target_id, e.detail)
                for e in db.scalars(select(AuditEntry).where(AuditEntry.action == action)
                                    .order_by(AuditEntry.id))]


def test_hotline_assisting_a_resident_sees_the_record_masked(app, world):
    """The finding, as the issue describes it. ``/registry/me?show=1`` is the resident's
    own "show my numbers" page; in an assisted session the hotline operator is looking,
    and the operator may not reveal, so the numbers stay masked."""
    operator = signed_in(app, "hotline_operator")
    assert start(operator, "res_a").status_code == 302
    page = operator.get("/registry/me?show=1")
    assert page.status_code in (200, 403)
    text = page.get_data(as_text=True)
    assert HEAD_ID not in text and HEAD_PHONE not in text
    if page.status_code == 200:
        assert "王建国" in text  # the resident's own record, masked


def test_reads_in_an_assisted_session_reach_the_residents_log(app, world):
    operator = signed_in(app, "hotline_operator")
    assert start(operator, "res_a").status_code == 302
    assert operator.get("/registry/me").status_code in (200, 403)
    entries = access_log(app, world.ids.head)
    assert entries, "the assisted read is not in the resident's access log"
    assert entries[0]["actor"] == "test_hotline_operator"


def test_the_principal_represents_the_resident_but_the_agent_acts(app, world):
    operator = signed_in(app, "hotline_operator")
    assert start(operator, "res_a").status_code == 302
    me = operator.get("/api/v1/identity/me").get_json()
    assert me["id"] == world.res_a.id and me["username"] == "res_a"  # "my things" work
    perms = set(me["permissions"])
    assert not perms & PERSONAL_PERMISSIONS
    # nothing the resident lacks: the operator's registry reading is not lent to the
    # resident's session, and the resident's rights do not become the operator's
    assert "registry.person.read" not in perms and "identity.assist" not in perms
    # the audit trail names the operator acting for the resident
    started = audit(app, "identity.assist.started")
    assert started[-1][0] == "test_hotline_operator"
    assert started[-1][2] == world.res_a.id and started[-1][3] == str(world.res_a.id)


def test_personal_acts_are_refused_in_an_assisted_session(app, world):
    operator = signed_in(app, "hotline_operator")
    assert start(operator, "res_a").status_code == 302
    for path in ("/account/password", "/account/verify", "/account/sessions",
                 "/account/tokens"):
        resp = operator.get(path)
        assert resp.status_code == 302 and resp.headers["Location"].endswith("/account/"), path
    token = csrf_token(operator, "/account/")
    assert operator.post("/account/sessions/end-others",
                         data={"csrf_token": token}).status_code == 302
    for method, path in (("get", "/api/v1/identity/sessions"),
                         ("get", "/api/v1/identity/tokens"),
                         ("post", "/api/v1/identity/tokens")):
        kwargs = {"json": {"name": "mine now"}} if method == "post" else {}
        resp = getattr(operator, method)(path, headers={"X-CSRFToken": token}, **kwargs)
        assert resp.status_code == 403, (method, path, resp.status_code)
    denied = audit(app, "auth.denied")
    assert len(denied) >= 8
    assert all(d[0] == "test_hotline_operator" and d[2] == world.res_a.id for d in denied)
    # the resident's own sessions were not touched
    resident = signed_in(app, "resident", "res_a")
    assert resident.get("/account/sessions").status_code == 200


def test_assisting_is_refused_outside_the_agents_places(app, world):
    """A community worker assists residents of their own community only; the refusal is
    audited and names no community. The hotline may assist any caller."""
    other = signed_in(app, "community_worker", "wk2")  # C2
    resp = start(other, "res_a")  # res_a lives in C1
    assert resp.status_code == 400
    page = resp.get_data(as_text=True)
    assert "assist-banner" not in other.get("/").get_data(as_text=True)
    assert C1 not in page and HEAD_ID not in page
    assert "只能为您负责的辖区内的居民代办" in page  # what to do instead, in Chinese
    refused = audit(app, "identity.assist.refused")
    assert refused and refused[-1][0] == "wk2" and refused[-1][1] == "denied"
    assert refused[-1][3] == str(world.res_a.id)
    assert audit(app, "identity.assist.started") == []

    own = signed_in(app, "community_worker", "wk1")  # C1
    assert start(own, "res_a").status_code == 302
    assert start(signed_in(app, "hotline_operator"), "res_b").status_code == 302


def test_an_unplaced_resident_is_nobodys_to_assist_but_the_hotlines(app, world):
    ensure_user(app, "resident", username="not_verified")
    everywhere = staff(app, "district", everywhere=True)
    assert everywhere
    assert start(signed_in(app, "community_worker", "wk1"), "not_verified").status_code == 400
    assert start(signed_in(app, "community_worker", "district"),
                 "not_verified").status_code == 400
    assert start(signed_in(app, "hotline_operator"), "not_verified").status_code == 302


def test_start_and_stop_are_audited_with_the_agent(app, world):
    worker = signed_in(app, "community_worker", "wk1")
    assert start(worker, "res_a").status_code == 302
    resp = worker.post("/account/assist/stop", data={"csrf_token": csrf_token(worker, "/")})
    assert resp.status_code == 302
    for action in ("identity.assist.started", "identity.assist.ended"):
        entry = audit(app, action)[-1]
        assert entry[0] == "wk1" and entry[2] == world.res_a.id, action


def test_assisted_permissions_never_widen():
    ordinary = {"commerce.ticket.file", "identity.own.profile", "identity.own.tokens"}
    resident = frozenset(ordinary | {"self_governance.notice.publish"})  # also on a committee
    agent = frozenset({"registry.person.read", "identity.assist", "commerce.ticket.read"})
    got = assisted_permissions(resident, agent, ordinary)
    assert got == {"commerce.ticket.file", "identity.own.profile"}
    # the committee power is lent only to an agent who holds it too
    assert "self_governance.notice.publish" in assisted_permissions(
        resident, agent | {"self_governance.notice.publish"}, ordinary)
    assert not assisted_permissions(frozenset(), agent, ordinary)

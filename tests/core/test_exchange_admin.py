"""Exchange administration through the pages and the ``shequ exchange`` commands, and the
resident's view of what left: their access log names the receiving department."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from core.cli import AppContext
from core.db import utcnow
from core.events.delivery import deliver_pending
from core.exchange import services as ex
from core.exchange import standard
from core.exchange.cli import exchange
from core.exchange.models import ExchangeClient, ExchangeDelivery
from core.registry import services as reg
from core.registry.testing import make_id, make_places
from core.testing import build_test_app, csrf_token, ensure_user, login


@pytest.fixture(scope="module")
def aapp(tmp_path_factory):
    # The CLI test's callback is a closed port on 127.0.0.1: a test app may list loopback.
    app, cleanup = build_test_app(
        tmp_path_factory.mktemp("exchange_admin"),
        config={"exchange": {"allowed_networks": ["127.0.0.0/8"]}},
    )
    yield app
    cleanup()


def run(app, *args):
    ctx = AppContext()
    ctx._app = app
    return CliRunner().invoke(exchange, list(args), obj=ctx, catch_exceptions=False)


def test_admin_registers_a_client_and_sees_its_credentials_once(aapp):
    admin = aapp.test_client()
    login(admin, aapp, "admin")
    page = admin.get("/admin/exchange/new")
    assert page.status_code == 200 and "registry.person.moved" in page.get_data(as_text=True)
    token = csrf_token(admin, "/admin/exchange/new")
    blank = admin.post("/admin/exchange/new", data={"csrf_token": token})
    assert blank.status_code == 400 and "error-summary" in blank.get_data(as_text=True)
    bad = admin.post(
        "/admin/exchange/new",
        data={"csrf_token": token, "name": "民政局", "callback_url": "ftp://x"},
    )
    assert bad.status_code == 400
    made = admin.post(
        "/admin/exchange/new",
        data={
            "csrf_token": token,
            "name": "民政局",
            "contact": "王科长",
            "callback_url": "https://mz.example.gov.cn/hook",
            "event_types": ["registry.person.moved", "registry.person.deceased"],
            "scopes": ["registry.person.basic"],
        },
    )
    assert made.status_code == 201
    html = made.get_data(as_text=True)
    secret = re.search(r"(whsec_[\w-]+)", html).group(1)
    feed_token = re.search(r"(shx_[\w-]+)", html).group(1)
    kernel = aapp.extensions["shequ"]
    with kernel.db.session_scope() as session:
        client = ex.client_by_name(session, "民政局")
        assert client.secret == secret and ex.client_for_token(session, feed_token).id == client.id
        assert feed_token not in repr(client.__dict__)  # only its digest is stored
        cid = client.id
    detail = admin.get(f"/admin/exchange/{cid}").get_data(as_text=True)
    assert "registry.person.deceased" in detail and secret not in detail
    assert feed_token not in detail
    # Listing, then suspending at once (with a reason) and resuming.
    assert "民政局" in admin.get("/admin/exchange").get_data(as_text=True)
    token = csrf_token(admin, f"/admin/exchange/{cid}")
    assert (
        admin.post(f"/admin/exchange/{cid}/suspend", data={"csrf_token": token}).status_code == 302
    )
    with kernel.db.session_scope() as session:
        assert session.get(ExchangeClient, cid).status == "active"  # no reason, no change
    admin.post(f"/admin/exchange/{cid}/suspend", data={"csrf_token": token, "reason": "审计"})
    with kernel.db.session_scope() as session:
        assert session.get(ExchangeClient, cid).status == "suspended"
        assert ex.client_for_token(session, feed_token) is None
    admin.post(f"/admin/exchange/{cid}/resume", data={"csrf_token": token})
    rotated = admin.post(
        f"/admin/exchange/{cid}/rotate", data={"csrf_token": token, "what": "secret"}
    )
    new_secret = re.search(r"(whsec_[\w-]+)", rotated.get_data(as_text=True)).group(1)
    with kernel.db.session_scope() as session:
        client = session.get(ExchangeClient, cid)
        assert client.status == "active" and client.secret == new_secret != secret
    # Narrowing what it receives.
    edit = admin.post(
        f"/admin/exchange/{cid}/edit",
        data={
            "csrf_token": token,
            "name": "民政局",
            "event_types": ["registry.person.moved"],
            "scopes": ["registry.person.basic"],
            "callback_url": "",
        },
    )
    assert edit.status_code == 302
    with kernel.db.session_scope() as session:
        client = session.get(ExchangeClient, cid)
        assert client.event_types == ["registry.person.moved"] and client.callback_url is None


def test_auditors_read_but_do_not_manage(aapp):
    auditor = aapp.test_client()
    login(auditor, aapp, "auditor")
    assert auditor.get("/admin/exchange").status_code == 200
    assert auditor.get("/admin/exchange/new").status_code == 403
    worker = aapp.test_client()
    login(worker, aapp, "community_worker")
    assert worker.get("/admin/exchange").status_code == 403


def test_cli_adds_rotates_suspends_replays_and_prints_the_standard(aapp):
    added = run(
        aapp,
        "add-client",
        "人社局",
        "--event",
        "registry.person.registered",
        "--scope",
        "registry.person.basic",
        "--callback",
        "http://127.0.0.1:9/hook",
    )
    assert added.exit_code == 0, added.output
    assert "secret: whsec_" in added.output and "token:  shx_" in added.output
    again = run(aapp, "add-client", "人社局")
    assert again.exit_code != 0 and "exists already" in again.output
    assert "人社局" in run(aapp, "list").output
    rotated = run(aapp, "rotate-secret", "人社局")
    assert rotated.exit_code == 0 and "secret: whsec_" in rotated.output
    assert run(aapp, "rotate-secret", "nobody").exit_code != 0

    kernel = aapp.extensions["shequ"]
    with kernel.db.session_scope() as session:
        places = make_places(session)
        person = reg.register_person(
            session,
            {"name": "陈五", "id_number": make_id(seq=77)},
            bus=kernel.bus,
            dwelling_id=places.d1.id,
        )
        pid = person.id
    deliver_pending(aapp)  # the receiver at port 9 is not there: retrying
    with kernel.db.session_scope() as session:
        first = session.scalars(select(ExchangeDelivery)).all()
        assert len(first) == 1 and first[0].status == "queued"
        event_id = first[0].event_id
    replayed = run(aapp, "replay", "人社局", "--from", str(event_id), "--to", str(event_id))
    assert replayed.exit_code == 0 and "1 webhooks queued" in replayed.output
    listing = run(aapp, "deliveries", "--client", "人社局")
    assert "registry.person.registered" in listing.output and ex.NETWORK_ERROR in listing.output
    assert run(aapp, "suspend", "人社局", "--reason", "停用").exit_code == 0
    deliver_pending(aapp, now=utcnow() + timedelta(minutes=10))
    with kernel.db.session_scope() as session:
        statuses = sorted(d.status for d in session.scalars(select(ExchangeDelivery)))
    assert statuses == ["cancelled", "cancelled"]  # suspended: nothing more is sent
    assert pid > 0

    out = run(aapp, "standard")
    assert out.output.startswith("# Shequ data standard")
    assert "event.registry.person.moved" in out.output
    assert standard.STANDARD_VERSION in run(aapp, "standard", "--json").output


def test_the_residents_access_log_names_the_receiving_department(aapp, tmp_path):
    from core.identity.models import User
    from core.identity.services import bind_person

    kernel = aapp.extensions["shequ"]
    resident = ensure_user(aapp, "resident")
    with kernel.db.session_scope() as session:
        _client, _, token = ex.create_client(
            session,
            kernel.bus,
            name="卫健委",
            event_types=["registry.person.updated"],
            scopes=["registry.person.basic"],
        )
        person = reg.register_person(
            session, {"name": "林六", "id_number": make_id(seq=88)}, bus=kernel.bus
        )
        bind_person(session, session.get(User, resident.id), person.id, method="in_person", by=None)
        session.flush()
        reg.update_person(
            session,
            person.id,
            {"hukou_type": "floating"},
            expected_version=person.version,
            bus=kernel.bus,
        )
    http = aapp.test_client()
    feed = http.get(
        "/api/v1/exchange/events", headers={"Authorization": f"Exchange {token}"}
    ).get_json()
    assert [e["type"] for e in feed["events"]] == ["registry.person.updated"]
    page = aapp.test_client()
    login(page, aapp, "resident")
    html = page.get("/account/access-log").get_data(as_text=True)
    assert "卫健委" in html and "registry.person.updated" in html

"""Data exchange end to end: signed, scoped webhooks to a real receiver over HTTP, retries
while it is down, dead letters and redelivery, suspension, the pull feed, fact queries,
and the residents' access log.

The reference receiver below is what a department's system is expected to do (and what
docs/exchange.md shows): verify the HMAC-SHA256 signature over "timestamp.body", refuse a
timestamp outside five minutes, refuse a request it has seen (replay), and de-duplicate on
the event id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from flask import Flask, jsonify, redirect, request
from sqlalchemy import select
from werkzeug.serving import make_server

from core.audit.models import AccessEntry
from core.db import utcnow
from core.events.delivery import deliver_pending, run_once
from core.exchange import scoping
from core.exchange import services as ex
from core.exchange.models import ExchangeDelivery
from core.registry import services as reg
from core.registry.testing import C1, C2, make_id, make_places
from core.testing import build_test_app

# ---------------------------------------------------------------------------- receiver


class Receiver:
    """A department's system: a small Flask app on 127.0.0.1, started in a thread."""

    TOLERANCE = 300

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}  # path → secret
        self.received: dict[str, list[dict]] = {}
        self.requests: list[SimpleNamespace] = []  # raw, for replay tests
        self.seen_signatures: set[str] = set()
        self.seen_events: dict[str, set[int]] = {}
        self.failing: set[str] = set()
        self.port = 0
        self.server = None
        self.thread = None
        self.app = self._build()

    def _build(self) -> Flask:
        app = Flask("receiver")

        @app.post("/hook/<name>")
        def hook(name: str):
            body = request.get_data()
            ts = request.headers.get("X-Shequ-Timestamp", "")
            sig = request.headers.get("X-Shequ-Signature", "")
            self.requests.append(
                SimpleNamespace(name=name, body=body, headers=dict(request.headers))
            )
            secret = self.secrets.get(name, "")
            expected = (
                "sha256="
                + hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
            )
            # During a secret rotation the header carries two signatures: accept either.
            if not secret or not any(
                hmac.compare_digest(expected, one.strip()) for one in sig.split(",")
            ):
                return jsonify(error="bad signature"), 401
            if not ts.isdigit() or abs(time.time() - int(ts)) > self.TOLERANCE:
                return jsonify(error="stale timestamp"), 400
            if sig in self.seen_signatures:
                return jsonify(error="replay"), 409
            if name in self.failing:
                return jsonify(error="down for maintenance"), 503
            self.seen_signatures.add(sig)
            envelope = json.loads(body)
            seen = self.seen_events.setdefault(name, set())
            if envelope["id"] not in seen:  # de-duplicate on the event id
                seen.add(envelope["id"])
                self.received.setdefault(name, []).append(envelope)
            return jsonify(ok=True)

        @app.post("/moved/<name>")
        def moved(name: str):
            return redirect("https://elsewhere.example/hook", code=307)

        return app

    def start(self) -> None:
        self.server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/hook/{name}"

    def got(self, name: str) -> list[dict]:
        return self.received.get(name, [])


# ---------------------------------------------------------------------------- fixtures

LOOPBACK = ["127.0.0.0/8"]


@pytest.fixture(scope="module")
def xapp(tmp_path_factory):
    # The receivers run on 127.0.0.1: only a test app (env "test") may list loopback.
    app, cleanup = build_test_app(
        tmp_path_factory.mktemp("exchange"),
        config={"events": {"max_attempts": 3}, "exchange": {"allowed_networks": LOOPBACK}},
    )
    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as session:
        places = make_places(session)
        ids = SimpleNamespace(d1=places.d1.id, d2=places.d2.id, d3=places.d3.id)
    app.places = ids
    yield app
    cleanup()


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    r.start()
    yield r
    r.stop()


_seq = iter(range(100, 10_000))


def register(app, name="张三", dwelling="d1"):
    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as session:
        person = reg.register_person(
            session,
            {"name": name, "id_number": make_id(seq=next(_seq)), "phone": "13800138000"},
            bus=kernel.bus,
            dwelling_id=getattr(app.places, dwelling),
        )
        return person.id


def add_client(app, receiver, name, *, events, scopes, webhook=True):
    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as session:
        client, secret, token = ex.create_client(
            session,
            kernel.bus,
            name=name,
            contact="0571-0000",
            event_types=events,
            scopes=scopes,
            callback_url=receiver.url(name) if webhook else None,
        )
        cid = client.id
    receiver.secrets[name] = secret
    return SimpleNamespace(id=cid, name=name, secret=secret, token=token)


def access_by(app, client_name):
    """(person, via, purpose) for each disclosure to the client (an aggregated entry's
    count repeats it), the viewer being ``exchange:<client name>``."""
    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as session:
        return [
            (e.subject_person_id, e.via, e.purpose)
            for e in session.scalars(
                select(AccessEntry)
                .where(AccessEntry.actor_name == f"exchange:{client_name}")
                .order_by(AccessEntry.id)
            )
            for _ in range(getattr(e, "count", None) or 1)
        ]


def deliveries(app, client_id):
    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as session:
        return ex.list_deliveries(session, client_id=client_id, limit=1000)


def later(minutes=10):
    return utcnow() + timedelta(minutes=minutes)


PERSON_EVENTS = ["registry.person.registered", "registry.person.moved"]

# ---------------------------------------------------------------------------- webhooks


def test_signed_scoped_webhooks_reach_the_receiver_and_the_access_log(xapp, receiver):
    civil = add_client(
        xapp, receiver, "civil", events=[*PERSON_EVENTS], scopes=["registry.person.basic"]
    )
    pid = register(xapp)
    kernel = xapp.extensions["shequ"]
    with kernel.db.session_scope() as session:
        reg.move_person(session, pid, to_dwelling_id=xapp.places.d3, bus=kernel.bus)
    deliver_pending(xapp)

    got = [e for e in receiver.got("civil") if e["data"].get("person_id") == pid]
    assert [e["type"] for e in got] == PERSON_EVENTS
    moved = got[1]["data"]
    # Dwelling ids are outside "registry.person.basic": removed; communities stay.
    assert "to_dwelling_id" not in moved and "from_dwelling_id" not in moved
    assert moved["to_community"] == C2 and moved["from_community"] == C1
    assert got[0]["standard_version"] and got[0]["id"] > 0
    # Headers: event id for de-duplication, timestamp for replay protection.
    raw = [r for r in receiver.requests if r.name == "civil"][-1]
    assert raw.headers["X-Shequ-Event-Id"] == str(got[1]["id"])
    assert raw.headers["X-Shequ-Event-Type"] == "registry.person.moved"
    assert ex.verify(
        civil.secret, raw.headers["X-Shequ-Timestamp"], raw.body, raw.headers["X-Shequ-Signature"]
    )
    # Every delivery is in the person's access log, under the client's name.
    log = [entry for entry in access_by(xapp, "civil") if entry[0] == pid]
    assert len(log) == 2 and {v for _, v, _ in log} == {"exchange"}
    assert any("registry.person.moved" in purpose and "webhook" in purpose for _, _, purpose in log)
    rows = deliveries(xapp, civil.id)
    assert {d.status for d in rows} == {"delivered"} and all(d.response_status == 200 for d in rows)


def test_receiver_rejects_replays_and_forged_signatures(xapp, receiver):
    import urllib.request

    captured = next(r for r in receiver.requests if r.name == "civil")
    headers = {
        k: v for k, v in captured.headers.items() if k.startswith("X-Shequ") or k == "Content-Type"
    }

    def post(body, hdrs):
        req = urllib.request.Request(receiver.url("civil"), data=body, headers=hdrs, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code

    assert post(captured.body, headers) == 409  # the same request again: a replay
    forged = captured.body.replace(b'"person_id":', b'"person_id":9')
    assert post(forged, headers) == 401
    stale = str(int(time.time()) - 3600)
    assert (
        post(
            captured.body,
            {
                **headers,
                "X-Shequ-Timestamp": stale,
                "X-Shequ-Signature": ex.sign(receiver.secrets["civil"], stale, captured.body),
            },
        )
        == 400
    )
    # The library check agrees: a wrong secret or an old timestamp fails.
    ts = captured.headers["X-Shequ-Timestamp"]
    assert not ex.verify("whsec_wrong", ts, captured.body, captured.headers["X-Shequ-Signature"])
    assert not ex.verify(
        receiver.secrets["civil"],
        ts,
        captured.body,
        captured.headers["X-Shequ-Signature"],
        now=int(ts) + 301,
    )


def test_deliveries_retry_while_the_receiver_is_down_and_complete_when_it_is_back(xapp, receiver):
    hr = add_client(
        xapp,
        receiver,
        "hr",
        events=["registry.person.registered"],
        scopes=["registry.person.basic"],
    )
    port = receiver.port
    receiver.stop()
    try:
        pid = register(xapp, name="李四")
        deliver_pending(xapp)
        deliver_pending(xapp, now=later(1))
        rows = deliveries(xapp, hr.id)
        assert [(d.status, d.attempts) for d in rows] == [("retrying", 2)]
        assert rows[0].last_error.endswith(ex.NETWORK_ERROR)
        assert access_by(xapp, "hr") == []  # nothing left, nothing logged
    finally:
        receiver.port = port
        receiver.start()
    deliver_pending(xapp, now=later(30))
    assert [e["data"]["person_id"] for e in receiver.got("hr")] == [pid]
    rows = deliveries(xapp, hr.id)
    assert [(d.status, d.attempts) for d in rows] == [("delivered", 3)]
    assert [p for p, _, _ in access_by(xapp, "hr")] == [pid]


def test_dead_letters_are_listed_and_redelivered_on_request(xapp, receiver):
    police = add_client(
        xapp,
        receiver,
        "police",
        events=["registry.person.registered"],
        scopes=["registry.person.basic"],
    )
    receiver.failing.add("police")
    pid = register(xapp, name="王五")
    for minutes in (0, 10, 20, 30):
        deliver_pending(xapp, now=later(minutes))
    kernel = xapp.extensions["shequ"]
    with kernel.db.session_scope() as session:
        dead = ex.list_deliveries(session, status="dead", client_id=police.id)
        assert [(d.status, d.attempts) for d in dead] == [("dead", 3)]
        assert "503" in dead[0].last_error
    receiver.failing.discard("police")
    with kernel.db.session_scope() as session:
        assert ex.redeliver(session, kernel.bus, dead[0].id) == "retried"
    deliver_pending(xapp)
    assert [e["data"]["person_id"] for e in receiver.got("police")] == [pid]
    # A delivered webhook can be sent again on request (a new delivery, same event id).
    with kernel.db.session_scope() as session:
        assert ex.redeliver(session, kernel.bus, dead[0].id) == "queued"
    deliver_pending(xapp)
    rows = deliveries(xapp, police.id)
    assert [d.status for d in rows] == ["delivered", "delivered"]
    assert rows[0].replay_of == dead[0].id
    assert len(receiver.got("police")) == 1  # the receiver de-duplicated on the event id


def test_a_suspended_client_receives_nothing(xapp, receiver):
    gone = add_client(
        xapp,
        receiver,
        "suspended",
        events=["registry.person.registered"],
        scopes=["registry.person.basic"],
    )
    kernel = xapp.extensions["shequ"]
    register(xapp, name="赵六")
    with xapp.app_context():
        run_once(kernel.db, kernel.bus)  # fanned out: the webhook is queued ...
    assert [d.status for d in deliveries(xapp, gone.id)] == ["queued"]
    with kernel.db.session_scope() as session:
        ex.suspend_client(session, session.get(ex.ExchangeClient, gone.id), reason="audit")
    deliver_pending(xapp)  # ... and cancelled when its turn came
    register(xapp, name="钱七")  # after it: never queued
    deliver_pending(xapp)
    assert receiver.got("suspended") == []
    assert [d.status for d in deliveries(xapp, gone.id)] == ["cancelled"]
    assert access_by(xapp, "suspended") == []
    resp = xapp.test_client().get(
        "/api/v1/exchange/events", headers={"Authorization": f"Exchange {gone.token}"}
    )
    assert resp.status_code == 401


def test_no_event_outside_a_clients_scopes_ever_leaves(xapp, receiver):
    everything = ex.offered_event_types(xapp.extensions["shequ"].bus)
    narrow = add_client(xapp, receiver, "narrow", events=everything, scopes=["registry.household"])
    pid = register(xapp, name="孙八")
    kernel = xapp.extensions["shequ"]
    with kernel.db.session_scope() as session:
        reg.create_household(session, head_id=pid, bus=kernel.bus)
        reg.move_person(session, pid, to_dwelling_id=xapp.places.d2, bus=kernel.bus)
    deliver_pending(xapp)
    # Every event here names a person, and "narrow" may not see persons: nothing leaves.
    assert receiver.got("narrow") == []
    assert deliveries(xapp, narrow.id) == []
    # And across every client: each field that left was within that client's scopes.
    with kernel.db.session_scope() as session:
        grants = {c.name: set(c.scopes) for c in ex.list_clients(session)}
    for name, envelopes in receiver.received.items():
        for env in envelopes:
            need = scoping.required_scope(env["data"])
            assert need is None or need in grants[name], (name, env)
            for key in env["data"]:
                assert scoping.field_scope(key) in (None, *grants[name]), (name, key)


# ---------------------------------------------------------------------------- pull feed


def test_pull_feed_is_cursor_paged_scoped_and_logged(xapp, receiver):
    feed = add_client(
        xapp,
        receiver,
        "feed",
        events=["registry.person.moved"],
        scopes=["registry.person.basic", "registry.dwelling"],
        webhook=False,
    )
    kernel = xapp.extensions["shequ"]
    pids = [register(xapp, name=n) for n in ("周一", "吴二", "郑三")]
    with kernel.db.session_scope() as session:
        for pid in pids:
            reg.move_person(session, pid, to_dwelling_id=xapp.places.d3, bus=kernel.bus)
    deliver_pending(xapp)
    assert deliveries(xapp, feed.id) == []  # feed-only: no webhooks

    http = xapp.test_client()
    auth = {"Authorization": f"Exchange {feed.token}"}
    seen, after = [], 0
    for _ in range(10):
        resp = http.get(f"/api/v1/exchange/events?after={after}&limit=2", headers=auth)
        assert resp.status_code == 200, resp.get_json()
        page = resp.get_json()
        if not page["events"]:
            break
        assert len(page["events"]) <= 2
        seen += page["events"]
        after = page["next"]
    mine = [e for e in seen if e["data"]["person_id"] in pids]
    assert [e["data"]["person_id"] for e in mine] == pids
    assert {e["type"] for e in seen} == {"registry.person.moved"}
    assert mine[0]["data"]["to_dwelling_id"] == xapp.places.d3  # dwelling scope granted
    assert {p for p, _, purpose in access_by(xapp, "feed") if "(feed)" in purpose} >= set(pids)

    assert http.get("/api/v1/exchange/events").status_code == 401
    bad = {"Authorization": "Exchange shx_nope"}
    assert http.get("/api/v1/exchange/events", headers=bad).status_code == 401
    assert http.get("/api/v1/exchange/events?after=-1", headers=auth).status_code == 422
    # A rotated token stops working at once.
    with kernel.db.session_scope() as session:
        new = ex.rotate_token(session, session.get(ex.ExchangeClient, feed.id))
    assert http.get("/api/v1/exchange/events", headers=auth).status_code == 401
    ok = http.get("/api/v1/exchange/events", headers={"Authorization": f"Exchange {new}"})
    assert ok.status_code == 200


def test_fact_queries_answer_yes_or_no_and_are_logged(xapp, receiver):
    facts = add_client(
        xapp,
        receiver,
        "allowance",
        events=[],
        scopes=["registry.person.identity", "registry.person.basic"],
        webhook=False,
    )
    plain = add_client(
        xapp, receiver, "plain", events=[], scopes=["registry.person.basic"], webhook=False
    )
    pid = register(xapp, name="冯四")
    kernel = xapp.extensions["shequ"]
    with kernel.db.session_scope() as session:
        number = session.get(reg.Person, pid).id_number
    http = xapp.test_client()
    auth = {"Authorization": f"Exchange {facts.token}"}

    def ask(body, headers=auth):
        return http.post("/api/v1/exchange/facts", json=body, headers=headers)

    yes = ask({"fact": "person.registered", "id_number": number})
    assert yes.status_code == 200 and yes.get_json()["answer"] is True
    assert set(yes.get_json()) == {"fact", "answer", "standard_version"}  # nothing more
    assert (
        ask({"fact": "person.registered", "id_number": make_id(seq=9999)}).get_json()["answer"]
        is False
    )
    assert (
        ask({"fact": "person.in_community", "id_number": number, "community": C1}).get_json()[
            "answer"
        ]
        is True
    )
    assert (
        ask({"fact": "person.in_community", "id_number": number, "community": C2}).get_json()[
            "answer"
        ]
        is False
    )
    assert ask({"fact": "person.in_community", "id_number": number}).status_code == 422
    assert ask({"fact": "anything", "id_number": number}).status_code == 422
    refused = ask(
        {"fact": "person.registered", "id_number": number},
        {"Authorization": f"Exchange {plain.token}"},
    )
    assert refused.status_code == 403
    assert ask({"fact": "person.registered", "id_number": number}, {}).status_code == 401
    log = [entry for entry in access_by(xapp, "allowance") if entry[0] == pid]
    assert len(log) == 3 and all("fact" in purpose for _, _, purpose in log)
    from core.audit.models import AuditEntry

    with kernel.db.session_scope() as session:
        asked = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "exchange.fact.answered",
                AuditEntry.actor_name == "exchange:allowance",
            )
        ).all()
        assert [a.detail["found"] for a in asked] == [True, False, True, True]
    assert access_by(xapp, "plain") == []


def test_client_rules_refuse_unknown_grants_and_bad_addresses(xapp):
    kernel = xapp.extensions["shequ"]
    with kernel.db.session_scope() as session:
        for kwargs, field in [
            ({"event_types": ["registry.person.exploded"]}, "event_types"),
            ({"event_types": ["core.webhook.queued"]}, "event_types"),
            ({"scopes": ["registry.everything"]}, "scopes"),
            ({"callback_url": "file:///etc/passwd"}, "callback_url"),
            ({"name": " "}, "name"),
        ]:
            with pytest.raises(ex.ExchangeError) as err:
                ex.create_client(session, kernel.bus, **{"name": "x", **kwargs})
            assert err.value.field == field
    assert ExchangeDelivery.__tablename__.startswith("core_")


def test_each_client_has_a_request_budget(xapp, receiver, monkeypatch):
    from core.exchange import api as exchange_api

    quick = add_client(
        xapp, receiver, "quick", events=[], webhook=False, scopes=["registry.person.identity"]
    )
    monkeypatch.setitem(exchange_api.RATE_LIMITS, "facts", "2/minute")
    http = xapp.test_client()
    auth = {"Authorization": f"Exchange {quick.token}"}
    body = {"fact": "person.registered", "id_number": make_id(seq=4242)}
    assert [
        http.post("/api/v1/exchange/facts", json=body, headers=auth).status_code for _ in range(2)
    ] == [200, 200]
    refused = http.post("/api/v1/exchange/facts", json=body, headers=auth)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert refused.get_json()["error"]["status"] == 429
    # Another client's budget is its own.
    other = add_client(
        xapp, receiver, "other", events=[], webhook=False, scopes=["registry.person.identity"]
    )
    ok = http.post(
        "/api/v1/exchange/facts", json=body, headers={"Authorization": f"Exchange {other.token}"}
    )
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("field", "scope"),
    [
        ("person_id", scoping.BASIC),
        ("reporter_person_id", scoping.BASIC),
        ("household_id", scoping.HOUSEHOLD),
        ("relation", scoping.HOUSEHOLD),
        ("to_dwelling_id", scoping.DWELLING),
        ("address", scoping.DWELLING),
        ("organisation_id", scoping.ORGANISATION),
        ("id_number", scoping.IDENTITY),
        ("birth_date", scoping.IDENTITY),
        ("contact_phone", scoping.CONTACT),
        ("community", None),
        ("via", None),
        ("ticket_id", None),
    ],
)
def test_payload_fields_are_classified_by_scope(field, scope):
    assert scoping.field_scope(field) == scope


def test_filtering_keeps_only_granted_fields():
    payload = {"person_id": 1, "to_dwelling_id": 2, "phone": "13800138000", "via": "core"}
    assert scoping.filter_payload(payload, []) is None
    assert scoping.filter_payload(payload, [scoping.BASIC]) == {"person_id": 1, "via": "core"}
    assert scoping.filter_payload({"organisation_id": 3}, [scoping.BASIC]) is None
    assert scoping.filter_payload({"vote_id": 3}, []) == {"vote_id": 3}


def test_a_rotated_secret_overlaps_with_the_old_one_for_the_grace_period(xapp, receiver):
    kernel = xapp.extensions["shequ"]
    deliver_pending(xapp)  # earlier tests' events are out of the way
    rot = add_client(
        xapp,
        receiver,
        "rotating",
        events=["registry.person.registered"],
        scopes=["registry.person.basic"],
    )
    with kernel.db.session_scope() as session:
        new_secret = ex.rotate_secret(session, session.get(ex.ExchangeClient, rot.id))
    # The receiver still has the old secret: the second signature lets it through.
    first = register(xapp, name="韩九")
    deliver_pending(xapp)
    assert [e["data"]["person_id"] for e in receiver.got("rotating")] == [first]
    raw = [r for r in receiver.requests if r.name == "rotating"][-1]
    ts, sig = raw.headers["X-Shequ-Timestamp"], raw.headers["X-Shequ-Signature"]
    assert sig.count("sha256=") == 2
    assert ex.verify(new_secret, ts, raw.body, sig) and ex.verify(rot.secret, ts, raw.body, sig)
    # Rotating again with no grace (a leak): only the newest secret signs.
    with kernel.db.session_scope() as session:
        newest = ex.rotate_secret(session, session.get(ex.ExchangeClient, rot.id), grace_hours=0)
    second = register(xapp, name="杨十")
    deliver_pending(xapp)
    assert [e["data"]["person_id"] for e in receiver.got("rotating")] == [first]  # refused
    receiver.secrets["rotating"] = newest
    deliver_pending(xapp, now=later(5))
    assert [e["data"]["person_id"] for e in receiver.got("rotating")] == [first, second]
    raw = [r for r in receiver.requests if r.name == "rotating"][-1]
    assert raw.headers["X-Shequ-Signature"].count("sha256=") == 1


def test_a_redirecting_receiver_has_not_taken_the_webhook(xapp, receiver):
    kernel = xapp.extensions["shequ"]
    deliver_pending(xapp)
    with kernel.db.session_scope() as session:
        client, _secret, _token = ex.create_client(
            session,
            kernel.bus,
            name="moved",
            event_types=["registry.person.registered"],
            scopes=["registry.person.basic"],
            callback_url=f"http://127.0.0.1:{receiver.port}/moved/x",
        )
        cid = client.id
    register(xapp, name="许一")
    deliver_pending(xapp)
    rows = deliveries(xapp, cid)
    assert [(d.status, d.attempts) for d in rows] == [("retrying", 1)]
    assert "HTTP 307" in rows[0].last_error


def test_every_delivery_is_in_the_persons_access_log_with_the_client_as_viewer(
    xapp, receiver
):
    """Push and pull alike: viewer ``exchange:<client>``, via ``exchange``, the purpose
    naming the client, the event type and the channel, the fields that were sent, in
    full; nothing for a person the client did not receive."""
    from core.testing import access_log

    push = add_client(
        xapp, receiver, "民政局", events=["registry.person.moved"],
        scopes=["registry.person.basic", "registry.dwelling"],
    )
    pull = add_client(
        xapp, receiver, "人社局", events=["registry.person.moved"],
        scopes=["registry.person.basic"], webhook=False,
    )
    kernel = xapp.extensions["shequ"]
    pid, untouched = register(xapp, name="冯四"), register(xapp, name="陈五")
    with kernel.db.session_scope() as session:
        reg.move_person(session, pid, to_dwelling_id=xapp.places.d3, bus=kernel.bus)
    deliver_pending(xapp)
    assert [e["data"]["person_id"] for e in receiver.got("民政局")] == [pid]
    (pushed,) = access_log(xapp, pid, actor="exchange:民政局")
    assert (pushed["via"], pushed["masked"], pushed["purpose"]) == (
        "exchange", False, "民政局: registry.person.moved (webhook)")
    sent = receiver.got("民政局")[0]["data"]
    assert set(pushed["fields"]) == {k for k in sent if scoping.field_scope(k)}
    assert {"person_id", "to_dwelling_id"} <= set(pushed["fields"])

    http = xapp.test_client()
    page = http.get(
        "/api/v1/exchange/events?after=0&limit=200",
        headers={"Authorization": f"Exchange {pull.token}"},
    ).get_json()
    served = [e for e in page["events"] if e["data"]["person_id"] == pid]
    assert served and "to_dwelling_id" not in served[0]["data"]  # no dwelling scope
    (pulled,) = access_log(xapp, pid, actor="exchange:人社局")
    assert (pulled["via"], pulled["masked"], pulled["purpose"]) == (
        "exchange", False, "人社局: registry.person.moved (feed)")
    assert "to_dwelling_id" not in pulled["fields"] and "person_id" in pulled["fields"]
    for name in ("民政局", "人社局"):  # 陈五 did not move: neither received him
        assert access_log(xapp, untouched, actor=f"exchange:{name}") == []
    assert push.id != pull.id


# ---------------------------------------------------------------------------- start


def test_a_new_client_starts_at_its_registration_unless_backfill_is_granted(xapp, receiver):
    """Issue 18 item 6: no history before the registration — not in the feed (even with
    cursor 0), not as webhooks for older events still in the queue, not by replay — until
    a logged backfill grant (``shequ exchange backfill``) moves the start back."""
    from click.testing import CliRunner

    from core.audit.models import AuditEntry
    from core.cli import AppContext
    from core.events.models import OutboxEvent
    from core.exchange.cli import exchange

    kernel = xapp.extensions["shequ"]
    old = [register(xapp, name=n) for n in ("冯旧", "陈旧")]
    with kernel.db.session_scope() as session:
        for pid in old:
            reg.move_person(session, pid, to_dwelling_id=xapp.places.d3, bus=kernel.bus)
        first_old = session.scalar(select(OutboxEvent.id).where(
            OutboxEvent.name == "registry.person.moved").order_by(OutboxEvent.id.desc())
            .limit(2).offset(1))
    # registered while the old events are not yet fanned out
    late = add_client(xapp, receiver, "late", events=["registry.person.moved"],
                      scopes=["registry.person.basic"])
    feed = add_client(xapp, receiver, "late-feed", events=["registry.person.moved"],
                      scopes=["registry.person.basic"], webhook=False)
    new = register(xapp, name="褚新")
    with kernel.db.session_scope() as session:
        reg.move_person(session, new, to_dwelling_id=xapp.places.d3, bus=kernel.bus)
    deliver_pending(xapp)
    pushed = deliveries(xapp, late.id)
    assert len(pushed) == 1 and pushed[0].event_id > first_old

    http = xapp.test_client()
    auth = {"Authorization": f"Exchange {feed.token}"}

    def pulled():
        page = http.get("/api/v1/exchange/events?after=0&limit=100", headers=auth).get_json()
        return [e["data"]["person_id"] for e in page["events"]]

    assert pulled() == [new]
    with kernel.db.session_scope() as session:
        client = session.get(ex.ExchangeClient, late.id)
        assert ex.replay(session, kernel.bus, client, from_id=1, to_id=10**9) == 1

    ctx = AppContext()
    ctx._app = xapp
    result = CliRunner().invoke(exchange, ["backfill", "late-feed", "--since", str(first_old),
                                           "--reason", "初始同步"], obj=ctx)
    assert result.exit_code == 0, result.output
    assert pulled() == [*old, new]
    with kernel.db.session_scope() as session:
        entry = session.scalar(select(AuditEntry).where(
            AuditEntry.action == "exchange.client.backfill_granted",
            AuditEntry.target_id == str(feed.id)))
        assert entry is not None and entry.detail["reason"] == "初始同步"
        assert entry.detail["to_event"] == first_old - 1
        # by date: from the start of today, every event of today
        start = ex.grant_backfill(session, session.get(ex.ExchangeClient, late.id),
                                  since=utcnow().date())
        assert start < first_old
    bad = CliRunner().invoke(exchange, ["backfill", "late-feed", "--since", "yesterday"],
                             obj=ctx)
    assert bad.exit_code != 0

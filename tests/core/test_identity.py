"""Identity rules at the service level: hashing, sessions, verification revocation,
notifications and their channels, object-level access, log retention."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from core.audit.models import AccessEntry, AuditEntry
from core.audit.services import log_access, log_audit, purge_expired
from core.db import utcnow
from core.events.delivery import deliver_pending
from core.hookspecs import PluginInfo, hookimpl
from core.identity import can_access
from core.identity.events import revoke_on_death, revoke_on_move
from core.identity.models import Notification, OutboundMessage, User, UserSession
from core.identity.notifications import mark_read, notify, unread_count
from core.identity.passwords import make_hasher
from core.identity.services import (
    IdentityError,
    SessionPolicy,
    authenticate,
    bind_person,
    create_user,
    end_session,
    load_session,
    start_session,
)
from core.testing import ensure_user

POLICY = SessionPolicy(idle_resident=timedelta(hours=2), idle_staff=timedelta(minutes=30),
                       absolute=timedelta(hours=12))


def test_production_hashes_are_argon2id_with_library_parameters(db_session):
    hasher = make_hasher("production")
    user = create_user(db_session, hasher, username="zhangsan", password="plum blossom river")
    assert user.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert "plum blossom river" not in user.password_hash


def test_weaker_hash_is_upgraded_at_sign_in(app, db_session):
    cheap = make_hasher("test")
    create_user(db_session, cheap, username="lisi", password="plum blossom river")
    db_session.commit()
    strong = make_hasher("production")
    user = authenticate(db_session, strong, "lisi", "plum blossom river")
    assert user is not None and user.password_hash.startswith("$argon2id$v=19$m=65536")


def test_password_never_stored_in_plaintext(app, db_session):
    create_user(db_session, make_hasher("test"), username="wangwu",
                password="canary-password-7731")
    db_session.commit()
    rows = db_session.execute(text("SELECT * FROM identity_user")).all()
    assert "canary-password-7731" not in repr(rows)


@pytest.mark.parametrize("password, message", [
    ("short", "Use at least 8 characters."),
    ("x" * 129, "Use at most 128 characters."),
    ("password123", "This password is too common"),
    ("qwertyuiop", "This password is too common"),
    ("zhaoliu-garden", "Do not use your username"),
])
def test_password_policy(db_session, password, message):
    with pytest.raises(IdentityError) as err:
        create_user(db_session, make_hasher("test"), username="zhaoliu", password=password)
    assert str(err.value).startswith(message)
    assert err.value.field == "password"


def test_login_names_are_case_insensitive_and_phones_work(db_session):
    hasher = make_hasher("test")
    create_user(db_session, hasher, username="13812345678", password="river lantern 9")
    create_user(db_session, hasher, username="ZhouQi", password="river lantern 9")
    assert authenticate(db_session, hasher, "13812345678", "river lantern 9") is not None
    assert authenticate(db_session, hasher, "zhouqi", "river lantern 9") is not None
    with pytest.raises(IdentityError, match="taken"):
        create_user(db_session, hasher, username="zhouqi", password="river lantern 9")
    assert authenticate(db_session, hasher, "nobody", "river lantern 9") is None


def test_sessions_expire_when_idle_or_too_old(app, db_session):
    user = db_session.get(User, ensure_user(app, "resident").id)
    staff = db_session.get(User, ensure_user(app, "community_worker").id)
    _, token = start_session(db_session, user)
    _, staff_token = start_session(db_session, staff)
    db_session.commit()
    now = utcnow()
    assert load_session(db_session, token, POLICY, now=now + timedelta(minutes=90)) is not None
    # staff idle limit is shorter than residents'
    assert load_session(db_session, staff_token, POLICY, now=now + timedelta(minutes=45)) is None
    # the resident was seen at +90 min, so +3 h is only 90 min idle, but the absolute
    # lifetime still ends the session at 12 h
    assert load_session(db_session, token, POLICY, now=now + timedelta(hours=3)) is not None
    assert load_session(db_session, token, POLICY, now=now + timedelta(hours=13)) is None
    row = db_session.scalar(select(UserSession).where(UserSession.user_id == user.id))
    assert row.revoke_reason == "expired"


def test_ended_session_cookie_replay_is_refused(app):
    client = app.test_client()
    from core.testing import login

    login(client, app, "resident")
    cookie = client.get_cookie("shequ_session").value
    assert client.get("/account/password").status_code == 200
    from core.testing import csrf_token

    client.post("/account/logout", data={"csrf_token": csrf_token(client, "/")})
    thief = app.test_client()
    thief.set_cookie("shequ_session", cookie)
    resp = thief.get("/account/password")
    assert resp.status_code == 302 and "/account/login" in resp.headers["Location"]


def test_end_session_is_idempotent(app, db_session):
    user = db_session.get(User, ensure_user(app, "resident").id)
    row, token = start_session(db_session, user)
    end_session(db_session, row)
    first = row.revoked_at
    end_session(db_session, row, "again")
    assert row.revoked_at == first and row.revoke_reason == "logout"
    assert load_session(db_session, token, POLICY) is None


def test_verification_is_revoked_when_the_person_leaves_or_dies(app, db_session):
    user = db_session.get(User, ensure_user(app, "resident").id)
    bind_person(db_session, user, 4242, method="in_person", by=None)
    db_session.commit()
    assert user.is_verified
    moved_within = SimpleNamespace(payload={"person_id": 4242, "from_community": "110105001001",
                                            "to_community": "110105001001"})
    with app.app_context():  # as event delivery runs it: the catalogues are there
        revoke_on_move(moved_within, db_session)
        assert user.is_verified
        moved_out = SimpleNamespace(payload={"person_id": 4242, "from_community": "110105001001",
                                             "to_community": None})
        revoke_on_move(moved_out, db_session)
        assert not user.is_verified and user.person_id is None
        told = db_session.scalars(select(Notification).where(
            Notification.user_id == user.id)).all()
        assert [n.link for n in told] == ["/account/verify"]  # told, in the account's language
        assert told[0].title == "您的账户已取消实名认证"
        bind_person(db_session, user, 4243, method="self", by=None)
        revoke_on_death(SimpleNamespace(payload={"person_id": 4243}), db_session)
    assert not user.is_verified
    actions = db_session.scalars(select(AuditEntry.action).where(
        AuditEntry.target_id == str(user.id))).all()
    assert actions.count("identity.verification.revoked") == 2
    # nobody is written to about a death
    assert db_session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user.id)) == 1


def test_a_person_binds_to_one_account_only(app, db_session):
    a = db_session.get(User, ensure_user(app, "resident").id)
    b = db_session.get(User, ensure_user(app, "resident", username="other_resident").id)
    bind_person(db_session, a, 77, method="self", by=None)
    with pytest.raises(IdentityError, match="already bound"):
        bind_person(db_session, b, 77, method="self", by=None)


class Gateway:
    info = PluginInfo(id="gateway", version="1.0", title="SMS gateway")
    sent: list

    def __init__(self):
        self.sent = []

    @hookimpl
    def send_message(self, channel, recipient, subject, body):
        if channel != "sms":
            return None
        self.sent.append((recipient, body))
        return True


def test_notifications_and_sms_through_a_gateway_plugin(make_app):
    gateway = Gateway()
    # the `hook` channel hands SMS to the plugins' send_message (the default, `console`,
    # writes them to the log)
    app = make_app(plugins=["gateway"], extra={"gateway": gateway},
                   config={"messaging": {"sms": "hook"}})
    kernel = app.extensions["shequ"]
    user = ensure_user(app, "resident")
    with kernel.db.session_scope() as s:
        s.get(User, user.id).phone = "13900001111"
    with kernel.db.session_scope() as s:
        notify(s, kernel.bus, user_id=user.id, title="Your application was approved",
               channels=["sms"])
        notify(s, kernel.bus, user_id=user.id, title="Second")
    with kernel.db.session_scope() as s:
        assert unread_count(s, user.id) == 2
    deliver_pending(app)
    assert gateway.sent == [("13900001111", "Your application was approved")]
    with kernel.db.session_scope() as s:
        msg = s.scalar(select(OutboundMessage))
        assert (msg.status, msg.sent_by) == ("sent", "gateway")
        assert mark_read(s, user.id) == 2
        assert unread_count(s, user.id) == 0


@pytest.mark.shequ_config({"messaging": {"sms": "hook"}})
def test_without_a_gateway_messages_are_recorded_not_lost(app):
    kernel = app.extensions["shequ"]
    user = ensure_user(app, "resident")
    with kernel.db.session_scope() as s:
        s.get(User, user.id).phone = "13900002222"
        notify(s, kernel.bus, user_id=user.id, title="Notice", channels=["sms"])
    deliver_pending(app)
    with kernel.db.session_scope() as s:
        assert s.scalar(select(OutboundMessage.status)) == "recorded"


def test_marking_read_ignores_other_users_notifications(app):
    kernel = app.extensions["shequ"]
    a = ensure_user(app, "resident")
    b = ensure_user(app, "resident", username="neighbour")
    with kernel.db.session_scope() as s:
        note = notify(s, kernel.bus, user_id=b.id, title="for b")
        s.flush()
        assert mark_read(s, a.id, [note.id]) == 0
        assert unread_count(s, b.id) == 1


def test_object_level_access_rule():
    resident = SimpleNamespace(is_authenticated=True, id=1, person_id=10, permissions=frozenset(),
                               scopes=[])
    worker = SimpleNamespace(is_authenticated=True, id=2, person_id=None,
                             permissions=frozenset({"registry.person.read"}),
                             scopes=[SimpleNamespace(kind="community", code="110105001001")])
    assert can_access(resident, owner_id=1)
    assert can_access(resident, person_id=10)
    assert not can_access(resident, owner_id=3)
    assert not can_access(resident, person_id=11, permission="registry.person.read")
    assert can_access(worker, permission="registry.person.read", community="110105001001")
    assert not can_access(worker, permission="registry.person.read", community="110105001002")
    assert not can_access(worker, permission="registry.person.write", community="110105001001")
    assert not can_access(SimpleNamespace(is_authenticated=False), owner_id=1)


def test_logs_are_append_only_and_purged_only_past_the_floors(app):
    kernel = app.extensions["shequ"]
    actor = ensure_user(app, "admin")
    with kernel.db.session_scope() as s:
        log_audit(s, "test.event", actor=actor, detail={"password": "x", "note": "a\nb"})
        log_access(s, actor=actor, person_id=5, fields=["id_number"], purpose="counter check")
        s.add(AuditEntry(action="old", at=utcnow() - timedelta(days=400)))
        s.add(AccessEntry(actor_name="x", subject_person_id=5, fields=["phone"], purpose="p",
                          at=utcnow() - timedelta(days=2000)))
    with kernel.db.session_scope() as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "test.event"))
        assert entry.detail == {"note": "a\\nb"}  # no secret keys, no raw newlines
    with pytest.raises(DBAPIError), kernel.db.session_scope() as s:
        s.execute(text("UPDATE audit_entry SET action = 'forged'"))
    with pytest.raises(DBAPIError), kernel.db.session_scope() as s:
        s.execute(text("DELETE FROM audit_access"))
    with kernel.db.session_scope() as s:
        assert purge_expired(s, audit_days=30, access_days=30) == (1, 1)  # floors apply
    with kernel.db.session_scope() as s:
        assert s.scalar(select(AuditEntry.action).where(AuditEntry.action == "test.event"))
    with pytest.raises(ValueError, match="purpose"), kernel.db.session_scope() as s:
        log_access(s, actor=actor, person_id=5, fields=["id_number"], purpose="  ")



def test_moving_out_revokes_verification_through_the_event_bus(app, events):
    """The whole path: a registry move publishes an event, delivery runs identity's
    subscriber, the account loses verification and identity says so with its own event."""
    from core.registry import services as registry
    from core.registry.testing import make_id, make_places

    kernel = app.extensions["shequ"]
    user = ensure_user(app, "resident")
    with kernel.db.session_scope() as s:
        places = make_places(s)
        person = registry.register_person(
            s, {"name": "张三", "id_number": make_id(), "hukou_type": "local"},
            bus=kernel.bus, dwelling_id=places.d1.id)
        bind_person(s, s.get(User, user.id), person.id, method="in_person", by=None)
        person_id, d3 = person.id, places.d3.id
    with kernel.db.session_scope() as s:
        registry.move_person(s, person_id, to_dwelling_id=d3, bus=kernel.bus)
    deliver_pending(app)
    with kernel.db.session_scope() as s:
        assert not s.get(User, user.id).is_verified
    deliver_pending(app)
    assert "identity.verification.revoked" in events.names()

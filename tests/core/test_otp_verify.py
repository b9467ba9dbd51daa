"""Issue 17: self-service verification sends the code to the phone ON THE REGISTRY RECORD,
never to one typed, so knowing a neighbour's name, ID number and phone is not enough; a
mismatch, a person bound elsewhere and a record without a phone answer like a match."""

from __future__ import annotations

import base64
import re

import pytest
from sqlalchemy import select

from core.audit.models import AuditEntry
from core.identity.models import OneTimeCode, OutboundMessage, User
from core.identity.services import bind_person, open_person_ref, seal_person_ref
from core.testing import csrf_token, ensure_user, last_code, login
from core.web.i18n import compile_catalogues

ID_NUMBER = "11010519491231002X"
PHONE = "13800138000"
TYPED = "13911112222"


@pytest.fixture(scope="module", autouse=True)
def _catalogues() -> None:
    compile_catalogues()


@pytest.fixture
def app(request, make_app):
    marker = request.node.get_closest_marker("shequ_config")
    return make_app(plugins=[], config=marker.args[0] if marker else None)


def db(app):
    return app.extensions["shequ"].db.session_scope()


def register(app, name="王秀英", id_number=ID_NUMBER, phone=PHONE) -> int:
    from core.registry.services import register_person

    worker = ensure_user(app, "community_worker")
    data = {"name": name, "id_number": id_number}
    if phone:
        data["phone"] = phone
    with db(app) as s:
        person = register_person(s, data, bus=app.extensions["shequ"].bus,
                                 actor=s.get(User, worker.id))
        s.flush()
        return person.id


@pytest.fixture
def resident(app):
    """A signed-in, unverified resident (English pages)."""
    c = app.test_client()
    c.set_cookie("shequ_lang", "en")
    login(c, app, "resident")
    return c


def html(resp) -> str:
    return resp.get_data(as_text=True)


def post(client, data):
    return client.post("/account/verify",
                       data={"csrf_token": csrf_token(client, "/account/verify"), **data})


def step_one(client, name="王秀英", id_number=ID_NUMBER, **extra):
    return post(client, {"name": name, "id_number": id_number, **extra})


def enter(client, code):
    return post(client, {"step": "code", "code": code})


def main(client) -> str:
    page = html(client.get("/account/verify")).split("<main", 1)[1].split("</main>", 1)[0]
    page = re.sub(r"\d+ seconds", "N seconds", page)
    return re.sub(r'value="[^"]{40,}"', "", page)  # CSRF tokens


def verified(app) -> bool:
    with db(app) as s:
        return s.scalar(select(User).where(User.username == "test_resident")).is_verified


def reasons(app) -> list:
    with db(app) as s:
        return [(e.outcome, (e.detail or {}).get("reason")) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.action == "identity.verification.attempted")
            .order_by(AuditEntry.id))]


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def test_the_form_asks_no_phone(app, resident):
    page = html(resident.get("/account/verify"))
    assert 'name="name"' in page and 'name="id_number"' in page
    assert 'name="phone"' not in page
    assert "community office" in page  # the way for a record without a number


def test_the_code_goes_to_the_records_phone_and_binds(app, resident, events):
    person_id = register(app)
    resp = step_one(resident, phone=TYPED)  # a typed phone is ignored
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/account/verify")
    assert last_code(app, TYPED) is None
    code = last_code(app, PHONE, "verify")
    assert code
    page = main(resident)
    assert "If these details match the community register" in page
    assert "138****8000" not in page and PHONE not in page and ID_NUMBER not in page
    assert not verified(app)
    resp = enter(resident, code)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/account/")
    with db(app) as s:
        user = s.scalar(select(User).where(User.username == "test_resident"))
        assert user.person_id == person_id and user.verification_method == "self"
        assert s.scalar(select(OneTimeCode.user_id)) == user.id
    assert ("identity.user.verified", {"user_id": user.id, "person_id": person_id,
                                       "method": "self"}) in events.published
    assert reasons(app) == [("pending", "code_sent"), ("ok", None)]


def test_right_name_id_and_phone_are_not_enough_without_the_code(app, resident):
    """The issue's attack: everything a neighbour knows, but not the record's phone."""
    register(app)
    step_one(resident, phone=PHONE)
    real = last_code(app, PHONE, "verify")
    resp = enter(resident, wrong(real))
    assert resp.status_code == 422
    assert '<a href="#code">This code is not right. 4 tries left.</a>' in html(resp)
    assert not verified(app)
    assert reasons(app)[-1] == ("failed", "wrong_code")


def test_a_mismatch_answers_like_a_match(app, resident):
    register(app)
    other = app.test_client()
    other.set_cookie("shequ_lang", "en")
    login(other, app, "community_worker")  # any account may verify itself
    step_one(resident)
    step_one(other, name="王秀")  # the name differs
    assert main(resident) == main(other)
    with db(app) as s:
        assert [m.recipient for m in s.scalars(select(OutboundMessage))] == [PHONE]
    real = last_code(app, PHONE, "verify")
    a, b = enter(resident, wrong(real)), enter(other, wrong(real))
    assert a.status_code == b.status_code == 422

    def summary(r):
        return html(r).split('class="error-summary"', 1)[1].split("</div>", 1)[0]

    assert summary(a) == summary(b)
    for _ in range(4):
        b = enter(other, real)  # even the right code of someone else
    assert "Too many wrong codes" in html(b)
    assert "not valid any more" in html(enter(other, real))


def test_a_person_bound_elsewhere_answers_like_a_match(app, resident):
    person_id = register(app)
    owner = ensure_user(app, "resident", username="first_owner")
    with db(app) as s:
        bind_person(s, s.get(User, owner.id), person_id, method="in_person", by=None)
    fresh = register(app, name="李四", id_number="110105195001010012", phone="13700137000")
    assert fresh
    step_one(resident)
    bound = main(resident)
    assert last_code(app, PHONE) is None  # nothing sent to the owner's phone
    post(resident, {"step": "restart"})
    step_one(resident, name="李四", id_number="110105195001010012")
    assert main(resident) == bound
    assert [r[1] for r in reasons(app)] == ["bound_elsewhere", "code_sent"]


def test_a_record_without_a_phone_sends_nothing_and_says_where_to_go(app, resident):
    register(app, phone=None)
    step_one(resident)
    page = main(resident)
    assert "community office" in page and "in person" in page
    with db(app) as s:
        assert s.scalar(select(OutboundMessage)) is None
    assert reasons(app) == [("failed", "no_phone")]
    resp = enter(resident, "123456")
    assert resp.status_code == 422 and "This code is not right" in html(resp)


def test_an_id_number_typo_costs_no_attempt(app, resident):
    resp = step_one(resident, id_number="110105194912310021")  # wrong check digit
    assert resp.status_code == 400
    assert '<a href="#id_number">This ID number is not right' in html(resp)
    assert ID_NUMBER not in html(resp) and "110105194912310021" not in html(resp)
    assert reasons(app) == []


@pytest.mark.shequ_config({"identity": {"verification_attempts": "2 per hour"}})
def test_attempts_are_throttled_per_account(app, resident):
    register(app)
    for _ in range(2):
        step_one(resident, name="王秀")
        post(resident, {"step": "restart"})
    resp = step_one(resident)
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 0
    assert "community office" in html(resp)
    assert last_code(app, PHONE) is None
    assert [r[0] for r in reasons(app)] == ["failed", "failed", "throttled"]


def test_send_again_waits_then_sends_to_the_record(app, resident):
    register(app)
    step_one(resident)
    resp = post(resident, {"step": "resend"})
    assert resp.status_code == 429 and "Ask again in" in html(resp)
    assert int(resp.headers["Retry-After"]) > 0
    # the wait is over: move the pending step back in time, and clear the number's window
    with resident.session_transaction() as cookie:
        cookie["verify_pending"] = {**cookie["verify_pending"],
                                    "at": cookie["verify_pending"]["at"] - 61}
    app.extensions["shequ.limits"]["_storage"].reset()
    resp = post(resident, {"step": "resend"})
    assert resp.status_code == 200 and "we sent a new code" in html(resp)
    with db(app) as s:
        assert len(s.scalars(select(OneTimeCode)).all()) == 2
    assert enter(resident, last_code(app, PHONE, "verify")).status_code == 302


def test_the_pending_step_keeps_no_person_id_in_clear(app):
    from core.current import kernel_of

    kernel = kernel_of(app)
    ref = seal_person_ref(kernel, 7, 4242)
    nobody = seal_person_ref(kernel, 7, None)
    assert len(ref) == len(nobody)
    assert b"4242" not in base64.urlsafe_b64decode(ref)
    assert open_person_ref(kernel, 7, ref) == 4242
    assert open_person_ref(kernel, 8, ref) is None  # another account's reference
    assert open_person_ref(kernel, 7, nobody) is None
    assert open_person_ref(kernel, 7, "garbage") is None


def test_verified_accounts_have_nothing_to_do(app, resident):
    register(app)
    step_one(resident)
    enter(resident, last_code(app, PHONE, "verify"))
    page = html(resident.get("/account/verify"))
    assert "already verified" in page and 'name="code"' not in page


def test_the_assisted_channel_cannot_verify(app):
    ensure_user(app, "resident")
    worker = app.test_client()
    login(worker, app, "hotline_operator")
    resp = worker.post("/account/assist", data={
        "csrf_token": csrf_token(worker, "/account/assist"), "resident": "test_resident",
        "reason": "电话代办", "minutes": "10"})
    assert resp.status_code == 302
    assert worker.get("/account/verify").status_code == 302

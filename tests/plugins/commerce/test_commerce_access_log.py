"""The access-log walk: every commerce staff page and API that shows a person writes an
entry in that person's access log, and the auditor never gets a full phone number.

For each view that shows a resident (the ticket queue and page, the ticket API list and
item, the operator console's caller lookup and call-back list, the merchant portal list
and ticket page and their API), the view is opened as the staff account that uses it and
``access_count(app, person_id, via="commerce")`` must have grown. The hotline plugin
writes no export or CSV file, so there is none to walk. A caller who is not in the
registry has no access log: their displays are audit entries naming the ticket."""

from __future__ import annotations

import re
from typing import Any

import pytest
from commerce_kit import PHONE_ELDER, account, build_world, form_token, sign_in, token
from sqlalchemy import select

from core.audit.models import AuditEntry
from core.identity.models import User
from core.identity.services import set_scopes
from core.registry.testing import C1
from core.testing import access_count, access_log, build_test_app
from plugins.commerce import services as svc

API = "/api/v1/commerce"
#: Every full phone number in the world, and the rooms (addresses below the building).
PHONES = ("13800138000", "13900139000", "13900139001", "13700137000", "13555556666",
          "13911112222")
ROOMS = ("1502", "1601", "101室", "5栋302")
STRANGER_PHONE = "13911112222"
OTHER_PHONE = "13555556666"


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> Any:
    app, cleanup = build_test_app(tmp_path_factory.mktemp("walk"), plugins=["commerce"])
    w = build_world(app)
    w.app, w.kernel = app, app.extensions["shequ"]
    with w.kernel.db.session_scope() as s:
        aud = account(app, s, "aud", "auditor")
        account(app, s, "aud0", "auditor")  # no assignment: sees nothing
        worker = s.get(User, w.worker)
        set_scopes(s, worker, [("community", C1)], admin=worker)
        set_scopes(s, aud, [("community", C1)], admin=aud)
    w.api = app.test_client()
    w.op_c = sign_in(app, "oper")
    w.worker_c = sign_in(app, "cworker")
    w.aud_c = sign_in(app, "aud")
    w.elder_h = token(app, "elder")
    # T1: the elder files on the web; the holder accepts (theirs and open)
    created = w.api.post(f"{API}/tickets", headers=w.elder_h,
                         json={"category": "repairs", "description": "灯不亮"})
    assert created.status_code == 201, created.json
    w.t1, holder = created.json["id"], created.json["merchant_id"]
    w.holder = f"merch{w.merchants.index(holder)}"
    w.holder_c, w.holder_h = sign_in(app, w.holder), token(app, w.holder)
    assert w.api.post(f"{API}/portal/tickets/{w.t1}/accept",
                      headers=w.holder_h).status_code == 200
    # T2: the elder's one-key call, waiting for the call-back
    assert w.api.post(f"{API}/one-key", headers=w.elder_h).status_code == 201
    # T3: a caller who is not in the registry; T4: the husband, with another phone
    op_h = token(app, "oper")
    stranger = w.api.post(f"{API}/tickets/hotline", headers=op_h, json={
        "caller_name": "钱先生", "contact_phone": STRANGER_PHONE, "community": C1,
        "service_address": "和平路90号 5栋302", "category": "housekeeping",
        "description": "打扫"})
    assert stranger.status_code == 201, stranger.json
    w.t3 = stranger.json["id"]
    husband = w.api.post(f"{API}/tickets/hotline", headers=op_h, json={
        "person_id": w.husband, "contact_phone": OTHER_PHONE, "category": "housekeeping",
        "description": "擦窗"})
    assert husband.status_code == 201, husband.json
    w.t4 = husband.json["id"]
    yield w
    cleanup()


def grows(w: Any, person_id: int, view: Any, **filters: Any) -> Any:
    before = access_count(w.app, person_id, via="commerce", **filters)
    resp = view()
    assert resp.status_code in (200, 201), (resp.status_code, resp.get_data(as_text=True)[:500])
    after = access_count(w.app, person_id, via="commerce", **filters)
    assert after > before, f"the display was not logged ({before} → {after})"
    return resp


def staff_views(w: Any) -> list[tuple[str, Any, Any]]:
    """(name, client or None, request) for each staff view showing the elder."""
    op_h, worker_h = token(w.app, "oper"), token(w.app, "cworker")
    return [
        ("ticket page (operator)", lambda: w.op_c.get(f"/commerce/tickets/{w.t1}"), "oper"),
        ("ticket queue (operator)", lambda: w.op_c.get("/commerce/tickets"), "oper"),
        ("ticket API list (operator)",
         lambda: w.api.get(f"{API}/tickets", headers=op_h), "oper"),
        ("ticket API item (operator)",
         lambda: w.api.get(f"{API}/tickets/{w.t1}", headers=op_h), "oper"),
        ("console call-back list", lambda: w.op_c.get("/commerce/console"), "oper"),
        ("console caller lookup",
         lambda: w.op_c.post("/commerce/console", data={
             "csrf_token": form_token(w.op_c, "/commerce/console"), "phone": PHONE_ELDER}),
         "oper"),
        ("ticket page (community worker)",
         lambda: w.worker_c.get(f"/commerce/tickets/{w.t1}"), "cworker"),
        ("ticket queue (community worker)", lambda: w.worker_c.get("/commerce/tickets"),
         "cworker"),
        ("ticket API list (community worker)",
         lambda: w.api.get(f"{API}/tickets", headers=worker_h), "cworker"),
        ("ticket API item (community worker)",
         lambda: w.api.get(f"{API}/tickets/{w.t1}", headers=worker_h), "cworker"),
        ("merchant portal", lambda: w.holder_c.get("/commerce/portal"), w.holder),
        ("merchant portal ticket",
         lambda: w.holder_c.get(f"/commerce/portal/tickets/{w.t1}"), w.holder),
        ("merchant portal API list",
         lambda: w.api.get(f"{API}/portal/tickets", headers=w.holder_h), w.holder),
        ("merchant portal API item",
         lambda: w.api.get(f"{API}/portal/tickets/{w.t1}", headers=w.holder_h), w.holder),
        ("ticket page (auditor)", lambda: w.aud_c.get(f"/commerce/tickets/{w.t1}"), "aud"),
        ("ticket API list (auditor)",
         lambda: w.api.get(f"{API}/tickets", headers=token(w.app, "aud")), "aud"),
    ]


@pytest.mark.parametrize("index", range(16))
def test_every_staff_view_of_a_person_is_in_their_access_log(w, index):
    views = staff_views(w)
    assert len(views) == 16
    name, view, viewer = views[index]
    resp = grows(w, w.elder, view, actor=viewer)
    assert resp is not None, name


def test_the_merchant_holding_the_ticket_is_logged_in_full(w):
    w.holder_c.get(f"/commerce/portal/tickets/{w.t1}")
    full = [e for e in access_log(w.app, w.elder, via="commerce", actor=w.holder)
            if not e["masked"]]
    assert full and {"phone", "address"} <= set(full[0]["fields"])
    assert full[0]["purpose"] == f"ticket {w.t1}"


def test_a_callers_own_phone_copy_is_logged_in_their_access_log(w):
    resp = grows(w, w.husband, lambda: w.op_c.get(f"/commerce/tickets/{w.t4}"), actor="oper")
    page = resp.get_data(as_text=True)
    assert OTHER_PHONE not in page and svc.mask_phone(OTHER_PHONE) in page
    entries = access_log(w.app, w.husband, via="commerce", actor="oper")
    assert any("phone" in e["fields"] and e["masked"] for e in entries)


def test_a_caller_not_in_the_registry_is_audited_by_ticket(w):
    def shown() -> int:
        with w.kernel.db.session_scope() as s:
            return len(s.scalars(select(AuditEntry).where(
                AuditEntry.action == "commerce.caller_data.shown",
                AuditEntry.target_id == str(w.t3))).all())

    before = shown()
    page = w.op_c.get(f"/commerce/tickets/{w.t3}").get_data(as_text=True)
    assert STRANGER_PHONE not in page and svc.mask_phone(STRANGER_PHONE) in page
    assert "钱先生" in page and "5栋302" not in page  # the name as staff see names
    assert shown() == before + 1
    listed = w.api.get(f"{API}/tickets", headers=token(w.app, "oper")).json["items"]
    assert STRANGER_PHONE not in str(listed) and shown() == before + 2


@pytest.mark.parametrize("path", ["/commerce/tickets", f"{API}/tickets", "ticket", "api-ticket"])
def test_the_auditor_never_gets_a_full_phone_or_a_room(w, path):
    h = token(w.app, "aud")
    views = {
        "/commerce/tickets": lambda: w.aud_c.get("/commerce/tickets"),
        f"{API}/tickets": lambda: w.api.get(f"{API}/tickets?page_size=100", headers=h),
        "ticket": lambda: w.aud_c.get(f"/commerce/tickets/{w.t1}"),
        "api-ticket": lambda: w.api.get(f"{API}/tickets/{w.t4}", headers=h),
    }
    resp = views[path]()
    assert resp.status_code == 200
    text = resp.get_data(as_text=True)
    assert "和平路88号" in text or "****" in text  # the tickets are there, masked
    for secret in (*PHONES, *ROOMS):
        # as a number of its own: "1601" inside a timestamp's microseconds is not a room
        assert not re.search(rf"(?<!\d){re.escape(secret)}(?!\d)", text), secret

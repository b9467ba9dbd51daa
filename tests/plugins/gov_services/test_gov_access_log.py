"""gov_services at the boundary: every staff page, API and export that shows an applicant
or a person writes that person's access log (``via="gov_services"``); sensitive answers
(bank cards, ID numbers of others, account numbers) are masked everywhere and shown in
full only to the handler at the step that needs them, with a purpose, and logged; the
auditor never sees a full ID number or bank card; the thematic CSV cannot carry a formula.

One module-scoped registry: places C1 (the staff's community) and C2; an 81-year-old who
applies online with a bank card, a woman the worker files for at the counter (her spouse's
ID number is an answer), a resident the worker assists, and a person registered as
``=HYPERLINK("http://x","y")``.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from types import SimpleNamespace

import pytest

from core.testing import (
    TEST_PASSWORD,
    access_count,
    access_log,
    app_today,
    build_test_app,
    csrf_token,
    ensure_user,
)

API = "/api/v1/gov-services"
CARD = "6222020200001234567"
HYPER = '=HYPERLINK("http://x","y")'


def born(age: int, days: int = 20) -> date:
    today = app_today()
    try:
        d = today.replace(year=today.year - age)
    except ValueError:
        d = today.replace(year=today.year - age, day=28)
    return d - timedelta(days=days)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app, cleanup = build_test_app(tmp_path_factory.mktemp("gsal"), plugins=["gov_services"])
    yield app
    cleanup()


@pytest.fixture(scope="module")
def world(app):
    from core.identity.models import User, UserScope
    from core.identity.services import bind_person
    from core.registry import services as rs
    from core.registry.testing import C1, ensure_registry, make_id, make_places

    kernel = ensure_registry(app)
    spec = {
        "elder": ("李大爷", born(81), "M", 1),
        "mother": ("王芳", born(30), "F", 2),
        "assisted": ("孙大爷", born(70), "M", 3),
        "hyper": (HYPER, born(85), "M", 4),
        "probe": ("钱探针", born(40), "M", 5),
    }
    people, ids = {}, {}
    with kernel.db.session_scope() as db:
        places = make_places(db)
        for key, (name, birth, sex, seq) in spec.items():
            ids[key] = make_id(birth, sex, seq=seq + 120)
            p = rs.register_person(
                db,
                {"name": name, "id_number": ids[key], "hukou_type": "local"},
                bus=kernel.bus,
                dwelling_id=places.d1.id,
            )
            people[key] = p.id
    accounts = {"elder": "gsal_elder", "assisted": "gsal_assisted"}
    for key, username in accounts.items():
        u = ensure_user(app, "resident", username=username)
        with kernel.db.session_scope() as db:
            bind_person(db, db.get(User, u.id), people[key], method="in_person", by=None)
    worker = ensure_user(app, "community_worker")
    admin = ensure_user(app, "admin")
    auditor = ensure_user(app, "auditor")
    with kernel.db.session_scope() as db:
        w, a, adm = (db.get(User, u.id) for u in (worker, auditor, admin))
        w.scopes.append(UserScope(kind="community", code=C1))
        a.scopes.append(UserScope(kind="community", code=C1))
        adm.scopes.append(UserScope(kind="all", code=""))
    spouse_id = make_id(born(32), "M", seq=140)
    return SimpleNamespace(
        kernel=kernel, people=people, ids=ids, accounts=accounts, spouse_id=spouse_id, apps={}
    )


def signed_in(app, username: str):
    c = app.test_client()
    page = c.get("/account/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    resp = c.post(
        "/account/login",
        data={"username": username, "password": TEST_PASSWORD, "csrf_token": token},
    )
    assert resp.status_code == 302, username
    return c


@pytest.fixture(scope="module")
def as_(app, world):
    cache = {}
    names = {
        "worker": "test_community_worker",
        "admin": "test_admin",
        "auditor": "test_auditor",
        **world.accounts,
    }

    def get(who: str):
        if who not in cache:
            cache[who] = signed_in(app, names[who])
        return cache[who]

    return get


def post(client, url: str, body: dict):
    token = csrf_token(client, "/gov-services/")
    return client.post(url, json=body, headers={"X-CSRFToken": token})


def act(client, app_id: int, action: str, **body):
    return post(client, f"{API}/applications/{app_id}/actions", {"action": action, **body})


def count(app, person_id: int) -> int:
    return access_count(app, person_id, via="gov_services")


def grows(app, person_id: int, fetch):
    """Run ``fetch`` and assert the person's gov_services access log grew."""
    before = count(app, person_id)
    resp = fetch()
    assert resp.status_code in (200, 201), (resp.status_code, resp.get_data(as_text=True)[:300])
    assert count(app, person_id) > before, "no access-log entry for this display"
    return resp


# ------------------------------------------------------------------------------ filing


def test_filings_online_counter_and_assisted_are_logged(app, world, as_):
    elder = post(
        as_("elder"),
        f"{API}/applications",
        {
            "service_code": "longevity_allowance",
            "answers": {"bank_card": CARD, "bank_name": "工商银行"},
        },
    )
    assert elder.status_code == 201, elder.json
    world.apps["elder"] = elder.json["id"]
    # the applicant sees their own card masked too (an agent or a shoulder may be looking)
    assert elder.json["answers"]["bank_card"] == "*" * 15 + "4567"
    assert elder.json["masked"] == ["bank_card"]
    assert count(app, world.people["elder"]) == 0  # one's own data, shown to oneself

    worker = as_("worker")
    body = {
        "service_code": "birth_registration",
        "person_id": world.people["mother"],
        "answers": {"spouse_name": "张伟", "spouse_id_number": world.spouse_id, "children": "0"},
    }
    counter = grows(app, world.people["mother"],
                    lambda: post(worker, f"{API}/counter-applications", body))
    assert counter.json["channel"] == "counter"
    assert counter.json["answers"]["spouse_id_number"] != world.spouse_id
    assert counter.json["answers"]["spouse_id_number"].endswith(world.spouse_id[-4:])
    assert counter.json["answers"]["spouse_name"] == "张*"
    world.apps["mother"] = counter.json["id"]
    entries = access_log(app, world.people["mother"], via="gov_services",
                         actor="test_community_worker")
    assert any("counter filing" in e["purpose"] for e in entries)

    hyper = post(worker, f"{API}/counter-applications",
                 {"service_code": "senior_card", "person_id": world.people["hyper"], "answers": {}})
    assert hyper.status_code == 201, hyper.json
    world.apps["hyper"] = hyper.json["id"]

    # the assisted channel: the worker files in the resident's session; the entry names them
    assistant = signed_in(app, "test_community_worker")
    started = assistant.post(
        "/account/assist",
        data={
            "csrf_token": csrf_token(assistant, "/account/assist"),
            "resident": world.accounts["assisted"],
            "reason": "窗口代办老年人优待证",
            "minutes": "15",
        },
    )
    assert started.status_code == 302, started.get_data(as_text=True)[:300]
    sent = grows(app, world.people["assisted"], lambda: post(
        assistant, f"{API}/applications", {"service_code": "senior_card", "answers": {}}))
    assert sent.json["channel"] == "assisted"
    entries = access_log(app, world.people["assisted"], via="gov_services")
    assert entries and all(e["actor"] == "test_community_worker" for e in entries)
    world.apps["assisted"], world.assistant = sent.json["id"], assistant


def test_an_evaluation_is_never_made_for_the_resident(app, world, as_):
    """好差评 is the resident's own judgement: refused in the assisted channel."""
    app_id = world.apps["assisted"]
    assert act(as_("worker"), app_id, "accept").status_code == 200
    assert act(as_("worker"), app_id, "pass").json["state"] == "approved"
    url = f"{API}/applications/{app_id}/rating"
    assert post(world.assistant, url, {"rating": 5}).status_code == 403
    page = world.assistant.get(f"/gov-services/applications/{app_id}").get_data(as_text=True)
    assert "/rate" not in page
    assert post(as_("assisted"), url, {"rating": 4}).status_code == 200


# ------------------------------------------------------------------------------ finding


def test_bank_card_is_masked_in_every_list_and_page(app, world, as_):
    """Finding: ``GET /api/v1/gov-services/applications`` listed bank-card numbers in
    full. Now masked (last four kept) in the queue API, the case API and page, for staff
    and the applicant alike."""
    app_id = world.apps["elder"]
    for who in ("worker", "auditor", "admin", "elder"):
        client = as_(who)
        if who != "elder":
            listing = client.get(f"{API}/applications")
            assert listing.status_code == 200
            assert CARD not in listing.get_data(as_text=True), who
            item = next(i for i in listing.json["items"] if i["id"] == app_id)
            assert item["answers"]["bank_card"].endswith("4567")
            assert "bank_card" in item["masked"]
        one = client.get(f"{API}/applications/{app_id}")
        assert one.status_code == 200 and CARD not in one.get_data(as_text=True), who
        page = client.get(f"/gov-services/applications/{app_id}").get_data(as_text=True)
        assert CARD not in page and "4567" in page, who
    mine = as_("elder").get(f"{API}/applications/mine").get_data(as_text=True)
    assert CARD not in mine


def test_only_the_handler_at_the_step_sees_the_card_in_full_and_it_is_logged(app, world, as_):
    app_id, elder = world.apps["elder"], world.people["elder"]
    url = f"{API}/applications/{app_id}/reveal"
    worker, auditor, admin = as_("worker"), as_("auditor"), as_("admin")
    assert post(worker, url, {}).status_code == 422  # a purpose is required
    assert post(worker, url, {"purpose": "核对", "fields": ["bank_name"]}).status_code == 422
    assert post(auditor, url, {"purpose": "看看"}).status_code == 403
    assert post(as_("elder"), url, {"purpose": "看看"}).status_code == 403
    before = len(access_log(app, elder, via="gov_services"))
    shown = post(worker, url, {"purpose": "核对银行卡与存折复印件"})
    assert shown.status_code == 200, shown.json
    assert shown.json["answers"]["bank_card"] == CARD and shown.json["revealed"] == ["bank_card"]
    entries = access_log(app, elder, via="gov_services", actor="test_community_worker")
    assert len(access_log(app, elder, via="gov_services")) > before
    full = [e for e in entries if "核对银行卡与存折复印件" in e["purpose"]]
    assert full and full[0]["fields"] == ["bank_card"] and full[0]["masked"] is False
    # the page: a form with the purpose, the values shown on that page only
    path = f"/gov-services/applications/{app_id}"
    page = worker.get(path).get_data(as_text=True)
    assert 'id="reveal-form"' in page and CARD not in page
    assert auditor.get(path).get_data(as_text=True).count('id="reveal-form"') == 0
    bad = worker.post(f"{path}/reveal", data={"csrf_token": csrf_token(worker, path)})
    assert bad.status_code == 400
    ok = worker.post(f"{path}/reveal", data={"csrf_token": csrf_token(worker, path),
                                             "purpose": "核对银行卡"})
    assert ok.status_code == 200 and CARD in ok.get_data(as_text=True)
    assert CARD not in worker.get(path).get_data(as_text=True)  # not kept
    # later steps do not need it: street review is not the handler's step (409)
    assert act(worker, app_id, "accept").status_code == 200
    assert act(worker, app_id, "pass").json["state"] == "street_review"
    assert post(worker, url, {"purpose": "再看一下"}).status_code == 409
    assert post(admin, url, {"purpose": "审核"}).status_code == 409
    assert act(admin, app_id, "pass").json["state"] == "approval"
    assert act(admin, app_id, "pass").json["state"] == "approved"
    # approved: the handler arranges the payment and may see it again
    assert post(worker, url, {"purpose": "发放津贴"}).json["answers"]["bank_card"] == CARD


def test_sensitive_kinds_are_declared_inferred_and_masked():
    from plugins.gov_services.catalogue import CatalogueError, load_catalogue
    from plugins.gov_services.services import mask_answer

    extra = {
        "code": "parking_permit",
        "name_zh": "停车证",
        "name_en": "Parking permit",
        "department": "d",
        "database": "parking",
        "fields": [
            {"name": "contact_phone", "label_zh": "电话", "label_en": "Phone", "type": "text"},
            {"name": "owner_id_number", "label_zh": "证件", "label_en": "ID", "type": "text"},
            {"name": "plate", "label_zh": "车牌", "label_en": "Plate", "type": "text"},
        ],
    }
    cat = load_catalogue([("x", [extra])])
    # a plugin that forgot to mark its fields: the names say what they hold
    assert cat.get("parking_permit").sensitive_fields() == {
        "contact_phone": "phone",
        "owner_id_number": "id_number",
    }
    assert cat.get("longevity_allowance").sensitive_fields() == {"bank_card": "bank_card"}
    assert cat.get("birth_registration").sensitive_fields() == {
        "spouse_name": "name",
        "spouse_id_number": "id_number",
    }
    assert mask_answer("phone", "13812341234") == "138****1234"
    assert mask_answer("bank_card", CARD) == "*" * 15 + "4567"
    assert mask_answer("text", "张三、李四") == "***"
    bad = dict(extra, code="bad_one", fields=[dict(extra["fields"][2], sensitive="secret")])
    with pytest.raises(CatalogueError, match="sensitive kind"):
        load_catalogue([("x", [bad])])


# ------------------------------------------------------------------------------ walk


def test_every_staff_view_of_an_applicant_is_logged(app, world, as_):
    worker = as_("worker")
    elder, mother = world.people["elder"], world.people["mother"]
    app_id = world.apps["elder"]
    # APIs and pages showing the case: logged by gov_services itself
    grows(app, elder, lambda: worker.get(f"{API}/applications"))
    grows(app, elder, lambda: worker.get(f"{API}/applications/{app_id}"))
    grows(app, elder, lambda: worker.get(f"/gov-services/applications/{app_id}"))
    grows(app, elder, lambda: as_("auditor").get(f"{API}/applications?state=approved"))
    # the mother's registration is decided by the community: she joins "childbearing"
    assert act(worker, world.apps["mother"], "accept").status_code == 200
    assert act(worker, world.apps["mother"], "pass").json["state"] == "approved"
    grows(app, mother, lambda: worker.get(f"{API}/memberships?database=childbearing"))
    grows(app, elder, lambda: worker.get(f"/registry/persons/{elder}"))  # the panel
    # views of registry data: the scoped reader logs each person shown
    grows(app, elder, lambda: worker.get("/gov-services/queue"))
    grows(app, elder, lambda: worker.get("/gov-services/thematic/elderly_allowance"))
    grows(app, elder, lambda: worker.get("/gov-services/thematic/elderly_allowance/export.csv"))
    grows(app, elder, lambda: worker.get("/gov-services/thematic/elderly_80"))
    purposes = {e["purpose"] for e in access_log(app, elder, via="gov_services")}
    assert {"service queue", "thematic database elderly_allowance",
            "export thematic database elderly_allowance", "derived group elderly_80",
            f"application GS{app_today():%Y}{app_id:06d}"} <= purposes, purposes
    # everything the worker was shown here was masked, except the reveals of the card
    shown = access_log(app, elder, via="gov_services", actor="test_community_worker")
    assert all(e["masked"] for e in shown if "application" in e["fields"])
    assert {tuple(e["fields"]) for e in shown if not e["masked"]} == {("bank_card",)}


def test_counts_show_nobody_and_log_nobody(app, world, as_):
    """The thematic overview and ``/groups/<group>`` are counts: nobody's log changes."""
    worker, elder = as_("worker"), world.people["elder"]
    before = count(app, elder)
    assert worker.get("/gov-services/thematic").status_code == 200
    total = worker.get(f"{API}/groups/elderly_80").json["total"]
    assert total == 2  # the elder and the =HYPERLINK person (85); the assisted man is 70
    assert worker.get(f"{API}/groups/elderly_60").json["total"] == 3
    assert count(app, elder) == before


def test_the_auditor_sees_no_full_id_number_or_bank_card(app, world, as_):
    auditor = as_("auditor")
    secrets_ = [CARD, world.spouse_id, *world.ids.values()]
    urls = [
        f"{API}/applications",
        f"{API}/applications/{world.apps['elder']}",
        f"{API}/applications/{world.apps['mother']}",
        f"{API}/memberships?database=childbearing",
        "/gov-services/queue",
        f"/gov-services/applications/{world.apps['elder']}",
        f"/gov-services/applications/{world.apps['mother']}",
        "/gov-services/thematic/elderly_allowance",
        "/gov-services/thematic/childbearing",
        "/gov-services/thematic/elderly_80",
        "/gov-services/thematic/women_15_49",
    ]
    for url in urls:
        resp = auditor.get(url)
        assert resp.status_code == 200, url
        text = resp.get_data(as_text=True)
        leaked = [s for s in secrets_ if s in text]
        assert not leaked, (url, leaked)
    assert auditor.get("/gov-services/thematic/elderly_allowance/export.csv").status_code == 403


def test_the_timeline_keeps_no_copy_of_the_applicants_name(app, world):
    from plugins.gov_services.models import Application

    with world.kernel.db.session_scope() as db:
        steps = db.get(Application, world.apps["elder"]).steps
        assert steps[0].action == "submit" and steps[0].actor_name == ""
        assert all(s.actor_name for s in steps[1:])  # staff are named


# ------------------------------------------------------------------------------ CSV


def test_thematic_csv_neutralises_formulas(app, world, as_):
    """Finding 7: a person registered as ``=HYPERLINK(...)`` came out of the thematic
    export as a live formula. Every cell now goes through ``toolkit.csv_writer``."""
    worker = as_("worker")
    assert act(worker, world.apps["hyper"], "accept").status_code == 200
    assert act(worker, world.apps["hyper"], "pass").json["state"] == "approved"
    resp = worker.get("/gov-services/thematic/elderly/export.csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:3] == ["person_id", "name", "id_number"]
    names = [r[1] for r in rows[1:]]
    assert "'" + HYPER in names
    cells = [c for r in rows for c in r]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert all("*" in r[2] for r in rows[1:])  # ID numbers masked

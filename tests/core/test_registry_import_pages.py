"""Issue 18 on the import pages and the imports API: the options of a run (community,
blank cells, a correction run with its reason), the dry run's per-row changes (masked) and
conflict rows, the list of written imports and reverting one (confirmation step, CSRF,
the permission, a refusal shown and nothing changed); searching by sex; counts that were
capped shown as "1,000+"."""

from __future__ import annotations

import base64
import io
import re

import pytest
from sqlalchemy import select
from test_registry_api import (
    API,
    HEAD_ID,
    HEADER,
    WIFE_ID,
    build_world,
    person_count,
    sign_in,
    token,
)

from core.registry.models import Person
from core.registry.search import format_total
from core.registry.testing import C1, make_id
from core.testing import csrf_token

pytestmark = pytest.mark.with_plugins()

NEW = f"陈一,{make_id('1990-01-01', 'M', seq=41)},{C1},5栋,1单元,101,,,13700000041\n"
#: 王建国's ID number with another phone: an update of one field
PHONE = f"王建国,{HEAD_ID},{C1},,,,,,13711112222\n"
#: 李芳's ID number under another name: a conflict unless it is a correction run
RENAMED = f"李芳芳,{WIFE_ID},{C1},,,,,,\n"


@pytest.fixture
def world(app):
    return build_world(app)


def text(resp):
    return resp.get_data(as_text=True)


def upload(client, rows, **fields):
    data = {"csrf_token": csrf_token(client, "/registry/import"),
            "file": (io.BytesIO((HEADER + "".join(rows)).encode("utf-8")), "people.csv"),
            **fields}
    return client.post("/registry/import", data=data, content_type="multipart/form-data")


def payload(rows, header=HEADER, **fields):
    content = (header + "".join(rows)).encode("utf-8")
    return {"filename": "people.csv", "content_base64": base64.b64encode(content).decode(),
            **fields}


def person(app, id_number):
    with app.extensions["shequ"].db.session_scope() as db:
        p = db.scalar(select(Person).where(Person.id_number == id_number))
        return (p.name, p.phone) if p else None


# ------------------------------------------------------------------------------ pages


def test_the_check_page_shows_each_rows_changes_masked_and_the_conflicts(app, world):
    client = sign_in(app, "wk1")
    resp = upload(client, [NEW, PHONE])
    assert resp.status_code == 303
    page = text(client.get(resp.headers["Location"]))
    rows = {r: a for a, r in re.findall(r'<tr class="diff-(\w+)" data-row="(\d+)"', page)}
    assert rows == {"2": "create", "3": "update"}
    phone_row = page.split('data-row="3"')[1].split("</tr>")[0]
    assert "13711112222" not in phone_row and "13800000001" not in phone_row  # masked
    assert "137****2222" in phone_row and phone_row.count("<li>") == 1  # one field changes
    assert HEAD_ID not in page
    # a conflict row: the only row listed (nothing will be written), with its reason
    resp = upload(client, [NEW, RENAMED])
    page = text(client.get(resp.headers["Location"]))
    rows = {r: a for a, r in re.findall(r'<tr class="diff-(\w+)" data-row="(\d+)"', page)}
    assert rows == {"3": "conflict"}
    conflict = page.split('data-row="3"')[1].split("</tr>")[0]
    assert "李芳芳" in conflict and "error-message" in conflict  # the reason it is refused
    assert WIFE_ID not in page and person(app, WIFE_ID)[0] == "李芳"


def test_a_correction_run_needs_its_reason_and_applies_the_rename(app, world):
    client = sign_in(app, "wk1")
    refused = upload(client, [RENAMED], correction="yes", reason="")
    assert refused.status_code == 400 and 'id="reason-error"' in text(refused)
    before = person_count(app)
    resp = upload(client, [RENAMED], correction="yes", reason="户籍科更正姓名")
    assert resp.status_code == 303
    check_url = resp.headers["Location"]
    page = text(client.get(check_url))
    assert 'id="correction-run"' in page and "户籍科更正姓名" in page
    tok = check_url.rsplit("/", 1)[1]
    done = client.post(f"/registry/import/{tok}",
                       data={"csrf_token": csrf_token(client, check_url)})
    assert done.status_code == 303
    assert person(app, WIFE_ID)[0] == "李芳芳" and person_count(app) == before


def test_the_check_page_names_ethnic_groups_of_any_length(app, world):
    """蒙古族 (GB 3304 code 02) has three characters: the check page once answered 500 for
    any group longer than two characters and showed half of two-character names."""
    client = sign_in(app, "wk1")
    row = f"巴特尔,{make_id('1985-05-05', 'M', seq=42)},{C1},蒙古族\n"
    resp = client.post("/registry/import", data={
        "csrf_token": csrf_token(client, "/registry/import"),
        "file": (io.BytesIO(("姓名,证件号码,社区代码,民族\n" + row).encode("utf-8")),
                 "people.csv")}, content_type="multipart/form-data")
    assert resp.status_code == 303
    page = client.get(resp.headers["Location"])
    assert page.status_code == 200 and "蒙古族" in text(page)


def test_an_import_is_listed_and_reverted_after_a_confirmation(app, world):
    client = sign_in(app, "wk1")
    before = person_count(app)
    resp = upload(client, [NEW, PHONE])
    check_url = resp.headers["Location"]
    tok = check_url.rsplit("/", 1)[1]
    client.post(f"/registry/import/{tok}", data={"csrf_token": csrf_token(client, check_url)})
    assert person_count(app) == before + 1 and person(app, HEAD_ID)[1] == "13711112222"
    assert 'href="/registry/imports"' in text(client.get(check_url))  # the result page
    history = text(client.get("/registry/imports"))
    import_id = re.search(r'data-import="(\d+)"', history).group(1)
    revert_url = f"/registry/imports/{import_id}/revert"
    assert revert_url in history
    # the confirmation step changes nothing; the form posts with CSRF
    confirm = client.get(revert_url)
    assert confirm.status_code == 200 and 'name="csrf_token"' in text(confirm)
    assert person_count(app) == before + 1
    assert client.post(revert_url, data={"confirm": "yes"}).status_code == 400  # no CSRF
    assert person_count(app) == before + 1
    reverted = client.post(revert_url, data={"confirm": "yes",
                                             "csrf_token": csrf_token(client, revert_url)})
    assert reverted.status_code == 303
    assert person_count(app) == before and person(app, HEAD_ID)[1] == "13800000001"
    after = text(client.get("/registry/imports"))
    assert f'data-import="{import_id}"' in after and revert_url not in after
    # a second revert is refused on the page, nothing changed
    again = client.post(revert_url, data={"confirm": "yes",
                                          "csrf_token": csrf_token(client, revert_url)})
    assert again.status_code == 409 and 'id="refused-reason"' in text(again)
    assert person_count(app) == before


def test_another_communitys_import_is_neither_listed_nor_revertable(app, world):
    """An import changes and creates persons of C1: the worker of C2 does not see it in
    the list (page, API) and cannot open or post its revert (404, as if absent)."""
    client = sign_in(app, "wk1")
    resp = upload(client, [NEW, PHONE])
    check_url = resp.headers["Location"]
    client.post(check_url, data={"csrf_token": csrf_token(client, check_url)})
    history = text(client.get("/registry/imports"))
    import_id = re.search(r'data-import="(\d+)"', history).group(1)
    before = person_count(app)
    other = sign_in(app, "wk2")
    assert f'data-import="{import_id}"' not in text(other.get("/registry/imports"))
    revert_url = f"/registry/imports/{import_id}/revert"
    assert other.get(revert_url).status_code == 404
    assert other.post(revert_url, data={"confirm": "yes", "csrf_token": csrf_token(
        other, "/registry/imports")}).status_code == 404
    h2 = token(app, world.w2)
    api = app.test_client()
    listed = api.get(f"{API}/imports", headers=h2)
    assert listed.status_code == 200
    assert int(import_id) not in [i["id"] for i in listed.json["items"]]
    assert api.post(f"{API}/imports/{import_id}/revert", headers=h2).status_code == 404
    assert person_count(app) == before  # nothing reverted
    h1 = token(app, world.w1)
    mine = api.get(f"{API}/imports", headers=h1).json["items"]
    assert int(import_id) in [i["id"] for i in mine]


def test_the_imports_pages_need_the_import_permission(app, world):
    resident = sign_in(app, "res_a")
    assert resident.get("/registry/imports").status_code == 403
    assert resident.get("/registry/imports/1/revert").status_code == 403
    assert sign_in(app, "wk1").get("/registry/imports/99999/revert").status_code == 404


# ------------------------------------------------------------------------------ API


def test_the_api_takes_the_options_and_answers_diffs_and_the_import_id(app, world):
    client = app.test_client()
    h1 = token(app, world.w1)
    bad = client.post(f"{API}/imports", json=payload([RENAMED], correction=True), headers=h1)
    assert bad.status_code == 409 and "reason" in bad.json["error"]["fields"]  # a rule
    dry = client.post(f"{API}/imports", json=payload([NEW, PHONE, RENAMED], dry_run=True),
                      headers=h1)
    assert dry.status_code == 200 and dry.json["import_id"] is None
    actions = {d["row"]: d["action"] for d in dry.json["diffs"]}
    assert actions == {2: "create", 3: "update", 4: "conflict"}
    phone = next(d for d in dry.json["diffs"] if d["row"] == 3)["changes"]
    assert [c["field"] for c in phone] == ["phone"]
    assert "13711112222" not in str(phone) and dry.json["diffs_capped"] is False
    # the community of every row, for a file without that column (and not with it)
    lone = [f"陈五,{make_id('1991-02-03', 'F', seq=42)}\n"]
    twice = client.post(f"{API}/imports", json=payload([NEW], community=C1), headers=h1)
    assert twice.json["rejected"][0]["field"] == "community"
    assert client.post(f"{API}/imports", json=payload(lone, header="姓名,证件号码\n",
                                                      community=C1),
                       headers=h1).json["created"] == 1
    done = client.post(f"{API}/imports", json=payload([NEW, PHONE], dry_run=False,
                                                      blank_clears=False),
                       headers=h1)
    assert done.status_code == 201 and done.json["import_id"], done.json["rejected"]
    import_id = done.json["import_id"]
    listed = client.get(f"{API}/imports", headers=h1)
    assert listed.status_code == 200
    assert listed.json["items"][0]["id"] == import_id
    assert listed.json["items"][0]["reverted_at"] is None
    reverted = client.post(f"{API}/imports/{import_id}/revert", headers=h1)
    assert reverted.status_code == 200, reverted.json
    assert reverted.json["import_id"] == import_id
    assert person(app, HEAD_ID)[1] == "13800000001"
    again = client.post(f"{API}/imports/{import_id}/revert", headers=h1)
    assert again.status_code == 409 and "import" in again.json["error"]["fields"]
    assert client.post(f"{API}/imports/99999/revert", headers=h1).status_code == 404


# ------------------------------------------------------------------------------ sex, totals


def test_search_by_sex_with_an_age_band(app, world):
    client = app.test_client()
    h1 = token(app, world.w1)
    women = client.get(f"{API}/persons", query_string={"sex": "F"}, headers=h1).json
    assert [p["name"] for p in women["items"]] == ["李芳"]
    men = client.get(f"{API}/persons", query_string={"sex": "M", "age_band": "elder"},
                     headers=h1).json
    assert [p["name"] for p in men["items"]] == ["王建国"]
    none = client.get(f"{API}/persons", query_string={"sex": "F", "age_band": "youth"},
                      headers=h1).json
    assert none["items"] == [] and none["total"] == 0
    assert client.get(f"{API}/persons", query_string={"sex": "X"},
                      headers=h1).status_code == 422
    body = client.post(f"{API}/persons/search", json={"sex": "F"}, headers=h1).json
    assert [p["name"] for p in body["items"]] == ["李芳"]
    page = text(sign_in(app, "wk1").get("/registry/persons?sex=F"))
    assert 'name="sex"' in page and "李芳" in page and "王建国" not in page


def test_a_capped_count_reads_1000_plus():
    assert format_total(1000, True) == "1,000+"
    assert format_total(1705) == "1,705"
    assert format_total(0) == "0" and format_total(None) == ""


def test_the_total_filter_is_on_every_page(app):
    with app.app_context():
        render = app.jinja_env.from_string("{{ 1000|total(true) }} {{ 1705|total }}").render
        assert render() == "1,000+ 1,705"

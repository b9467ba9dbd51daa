"""Finding a public service (issue 16, item 5): the service hall grouped by life event and
by department, search in characters, full pinyin, initials and synonyms on the page and in
the API, service pages in plain words with the office, and "not eligible" first with the
services the resident may apply for instead. Through HTTP, in both languages."""

from __future__ import annotations

import re
from datetime import date, timedelta
from types import SimpleNamespace

import pytest

from core.testing import TEST_PASSWORD, access_log, app_today, build_test_app, ensure_user

API = "/api/v1/gov-services"
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
#: zh names of the database groups staff see: never on a resident's page.
DATABASE_WORDS = ("专题库", "高龄津贴领取人员库", "Thematic database", "elderly_allowance")


def born(age: int, days: int = 20) -> date:
    today = app_today()
    try:
        d = today.replace(year=today.year - age)
    except ValueError:
        d = today.replace(year=today.year - age, day=28)
    return d - timedelta(days=days)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app, cleanup = build_test_app(tmp_path_factory.mktemp("gs_search"), plugins=["gov_services"])
    yield app
    cleanup()


@pytest.fixture(scope="module")
def world(app):
    """An 81-year-old (eligible for the longevity allowance), a 76-year-old (not: 80+) and
    a 30-year-old woman, each bound to a resident account; one unverified resident."""
    from core.identity.models import User
    from core.identity.services import bind_person
    from core.registry import services as rs
    from core.registry.testing import ensure_registry, make_id, make_places

    kernel = ensure_registry(app)
    people = {}
    spec = {
        "elder": ("钱大爷", born(81), "M", 1),
        "young": ("孙阿姨", born(76), "F", 2),
        "woman": ("吴丽", born(30), "F", 3),
    }
    with kernel.db.session_scope() as db:
        places = make_places(db)
        community = places.d1
        for key, (name, birth, sex, seq) in spec.items():
            p = rs.register_person(
                db,
                {"name": name, "id_number": make_id(birth, sex, seq=seq + 80),
                 "hukou_type": "local"},
                bus=kernel.bus,
                dwelling_id=community.id,
            )
            people[key] = p.id
    users = {}
    for key in spec:
        u = ensure_user(app, "resident", username=f"search_{key}")
        with kernel.db.session_scope() as db:
            bind_person(db, db.get(User, u.id), people[key], method="in_person", by=None)
        users[key] = u.username
    ensure_user(app, "resident", username="search_unverified")
    return SimpleNamespace(kernel=kernel, people=people, users=users)


def client(app, lang: str = "zh", user: str | None = None):
    c = app.test_client()
    if lang == "en":
        c.set_cookie("shequ_lang", "en")
    if user:
        page = c.get("/account/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        resp = c.post("/account/login", data={"username": user, "password": TEST_PASSWORD,
                                              "csrf_token": token})
        assert resp.status_code == 302, user
    return c


def main_text(html: str) -> str:
    """The visible text of the page's main landmark."""
    main = re.search(r"<main\b.*?</main>", html, re.S)
    assert main, "no <main>"
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", main.group(0), flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text))


def codes(c, q: str, **params) -> list[str]:
    resp = c.get(f"{API}/services", query_string={"q": q, **params})
    assert resp.status_code == 200, resp.json
    return [i["code"] for i in resp.json["items"]]


CERTIFICATES = {"disability_certificate", "residence_permit", "senior_card",
                "overseas_chinese_status"}


# ------------------------------------------------------------------------------ search


def test_api_search_in_characters_synonyms_pinyin_and_initials(app):
    c = app.test_client()
    found = codes(c, "老人")
    assert {"longevity_allowance", "home_care_subsidy"} <= set(found[:3])
    certificates = codes(c, "证明")
    assert set(certificates) >= CERTIFICATES
    # a document called 收入证明 does not make the minimum living allowance a certificate
    assert "minimum_living_allowance" not in certificates
    for q in ("gaoling", "GaoLing", "gao ling", "ＧＡＯＬＩＮＧ", "gljt", "gaolj", "高l"):
        assert codes(c, q)[:1] == ["longevity_allowance"], q
    assert codes(c, "gljt") == ["longevity_allowance"]
    assert codes(c, "cjrz")[:1] == ["disability_certificate"]
    assert codes(c, "juzhuzheng")[:1] == ["residence_permit"]
    assert codes(c, "dibao")[:1] == ["minimum_living_allowance"]
    assert codes(c, "我要办高龄津贴") == ["longevity_allowance"]
    # every word must match: 老人 and 补贴 together
    both = codes(c, "老人 补贴")
    assert "home_care_subsidy" in both and "senior_card" not in both


def test_api_search_in_english(app):
    c = app.test_client()
    assert {"longevity_allowance", "home_care_subsidy"} <= set(codes(c, "elderly"))
    assert codes(c, "certificate")[:1] == ["disability_certificate"]
    assert codes(c, "certificates")[:1] == ["disability_certificate"]
    assert codes(c, "old age allowance")[:1] == ["longevity_allowance"]
    assert codes(c, "home care") == ["home_care_subsidy"]
    assert "birth_registration" in codes(c, "baby")


def test_api_search_empty_unknown_filtered_and_fuzz(app):
    c = app.test_client()
    everything = codes(c, "")
    assert len(everything) == 27 and everything[0] == "unemployment_registration"
    assert codes(c, "xyzzy") == []
    for odd in ("%", "_", "' OR 1=1 --", "<script>", "\\", "a", "   ", "🙂", "㐀"):
        assert c.get(f"{API}/services", query_string={"q": odd}).status_code == 200, odd
    assert c.get(f"{API}/services", query_string={"q": "x" * 51}).status_code == 422
    assert c.get(f"{API}/services", query_string={"q": "a\x00b"}).status_code == 422
    birth = codes(c, "", life_event="birth")
    assert set(birth) == {"birth_registration", "childbearing_women_registry",
                          "family_planning_assistance"}
    assert codes(c, "老人", life_event="elderly")[:1] == ["longevity_allowance"]
    assert codes(c, "", life_event="nothing_like_it") == []
    assert c.get(f"{API}/services", query_string={"life_event": "Bad-Code"}).status_code == 422
    item = c.get(f"{API}/services", query_string={"q": "gaoling"}).json["items"][0]
    assert item["life_events"] == ["elderly", "assistance"] and item["summary_en"]


def test_search_is_documented_in_openapi(app):
    spec = app.test_client().get("/api/v1/openapi.json").json
    params = {p["name"]: p for p in spec["paths"]["/api/v1/gov-services/services"]["get"]
              ["parameters"]}
    assert "pinyin" in params["q"]["description"] and "life_event" in params


def test_index_is_built_once_per_app(app):
    from plugins.gov_services.services import gov

    c = app.test_client()
    c.get(f"{API}/services?q=gaoling")
    with app.app_context():
        index = gov().catalogue.search_index
    assert index is not None
    c.get("/gov-services/?q=老人")
    with app.app_context():
        assert gov().catalogue.search_index is index


def test_page_search_zh_and_en(app):
    zh = client(app).get("/gov-services/?q=老人")
    assert zh.status_code == 200
    text = main_text(zh.get_data(as_text=True))
    assert "高龄津贴" in text and "居家养老补贴/助餐" in text
    assert "与“老人”相关的服务" in text
    assert text.index("高龄津贴") < text.index("居家养老补贴/助餐")  # best first
    en = client(app, "en").get("/gov-services/?q=gaoling")
    text = main_text(en.get_data(as_text=True))
    assert "Longevity allowance" in text and "Services matching “gaoling”: 1" in text
    assert not HAN.search(text), HAN.findall(text)
    en = client(app, "en").get("/gov-services/?q=证明")
    text = main_text(en.get_data(as_text=True))
    assert "Disability certificate" in text and "Residence permit" in text
    nothing = client(app, "en").get("/gov-services/?q=xyzzy").get_data(as_text=True)
    assert "No service matches “xyzzy”." in nothing
    # the form works without a script: a GET form with the query kept
    page = client(app).get("/gov-services/?q=gljt").get_data(as_text=True)
    assert 'method="get"' in page and 'value="gljt"' in page
    assert "/gov-services/services/longevity_allowance" in page
    long = client(app).get("/gov-services/?q=" + "老" * 300)
    assert long.status_code == 200


def test_hall_grouped_by_life_event_with_department_one_tab_away(app):
    for lang, elderly, civil in (("zh", "养老", "民政科"),
                                 ("en", "Old age", "Civil affairs section")):
        c = client(app, lang)
        page = c.get("/gov-services/").get_data(as_text=True)
        assert re.search(r'id="tab-event" aria-current="page"', page)
        assert f'<h2 id="event-elderly">{elderly}</h2>' in page
        elderly_section = page.split('id="event-elderly"')[1].split("</section>")[0]
        assert "/services/longevity_allowance" in elderly_section
        assert "/services/home_care_subsidy" in elderly_section
        assert "/services/birth_registration" not in elderly_section
        assert civil not in main_text(page)
        page = c.get("/gov-services/?by=department").get_data(as_text=True)
        assert re.search(r'id="tab-department" aria-current="page"', page)
        assert f'<h2 id="dept-civil">{civil}</h2>' in page
        text = main_text(page)
        if lang == "en":
            assert not HAN.search(text), HAN.findall(text)
    # the tabs are the shared tab component
    assert '<nav class="tabs"' in client(app).get("/gov-services/").get_data(as_text=True)


# ------------------------------------------------------------------------------ service page


def test_service_page_in_plain_words_with_the_office(app):
    zh = main_text(client(app).get("/gov-services/services/longevity_allowance")
                   .get_data(as_text=True))
    for word in DATABASE_WORDS:
        assert word not in zh
    assert "本地户籍的高龄老人" in zh  # what it is for
    assert "和平路18号一层" in zh and "周一至周五" in zh and "2号窗口" in zh
    assert "受理后 20 个工作日内作出决定" in zh
    assert "近期免冠照片" in zh  # what to bring
    html = client(app, "en").get("/gov-services/services/longevity_allowance").get_data(
        as_text=True)
    en = main_text(html)
    for word in DATABASE_WORDS:
        assert word not in en
    assert "Ground floor, 18 Heping Road" in en and "Monday to Friday" in en
    assert "A decision within 20 working days" in en and "Recent photo" in en
    assert not HAN.search(en), HAN.findall(en)
    assert 'href="tel:01064012345">010-64012345</a>' in html


def test_no_service_page_shows_internal_names(app):
    from plugins.gov_services.services import gov

    with app.app_context():
        catalogue = gov().catalogue
        labels = [d["zh"] for d in catalogue.databases.values()]
        services = list(catalogue.services)
    c, en = client(app), client(app, "en")
    for code in services:
        text = main_text(c.get(f"/gov-services/services/{code}").get_data(as_text=True))
        assert not [label for label in labels if label in text], code
        assert code not in text and "专题库" not in text
        html = en.get(f"/gov-services/services/{code}").get_data(as_text=True)
        assert 'href="tel:' in html, code
        assert not HAN.search(main_text(html)), (code, HAN.findall(main_text(html)))


def test_office_comes_from_config_over_the_catalogue(tmp_path):
    local, cleanup = build_test_app(tmp_path, plugins=["gov_services"], config={"plugins": {
        "gov_services": {"offices": {"service_centre": {
            "address_zh": "幸福路1号", "address_en": "1 Xingfu Road",
            "phone": "0571-8888 1234"}}}}})
    try:
        html = client(local).get("/gov-services/services/longevity_allowance").get_data(
            as_text=True)
        office = re.sub(r"<[^>]+>", " ", html.split('id="office"')[1].split("</dl>")[0])
        assert "幸福路1号" in office and "和平路18号" not in office
        assert "周一至周五" in office  # the rest from the catalogue
        assert 'href="tel:057188881234">0571-8888 1234</a>' in html
        en = client(local, "en").get("/gov-services/services/longevity_allowance")
        assert "1 Xingfu Road" in main_text(en.get_data(as_text=True))
        # the police desk keeps the catalogue's address
        html = client(local).get("/gov-services/services/residence_permit").get_data(
            as_text=True)
        assert "和平路36号" in main_text(html)
    finally:
        cleanup()


def test_a_misspelt_office_setting_stops_start_up(tmp_path):
    with pytest.raises(Exception, match="offices"):
        build_test_app(tmp_path, plugins=["gov_services"], config={"plugins": {
            "gov_services": {"offices": {"service_centre": {"adress_zh": "幸福路1号"}}}}})


# ------------------------------------------------------------------------------ not eligible


def test_not_eligible_first_with_alternatives_on_the_service_page(app, world):
    c = client(app, user=world.users["young"])
    html = c.get("/gov-services/services/longevity_allowance").get_data(as_text=True)
    text = main_text(html)
    assert 'id="not-eligible"' in html
    # at the top: before what the service is and how long it takes
    assert html.index('id="not-eligible"') < html.index('id="summary"') < html.index(
        'id="duration"')
    assert "高龄津贴需年满 80 周岁；您今年 76 岁。" in text
    alternatives = html.split('id="alternatives"')[1].split("</ul>")[0]
    assert "/services/senior_card" in alternatives
    assert "/services/home_care_subsidy" in alternatives
    assert "/services/longevity_allowance" not in alternatives
    # the catalogue's own suggestions first, in their order
    assert alternatives.index("senior_card") < alternatives.index("home_care_subsidy")
    assert "/services/longevity_allowance/apply" not in html  # no Apply button
    en = main_text(client(app, "en", user=world.users["young"])
                   .get("/gov-services/services/longevity_allowance").get_data(as_text=True))
    assert "You cannot apply for this service" in en and "you are 76" in en
    assert "You may be able to apply for" in en and "Senior privilege card" in en
    assert not HAN.search(en), HAN.findall(en)
    # her own record, read for herself: not an access-log entry (core's rule for self-reads)
    assert not [e for e in access_log(app, world.people["young"], via="gov_services")
                if e["purpose"] == "eligibility check"]


def test_alternatives_are_services_the_resident_may_apply_for(app, world):
    c = client(app, user=world.users["woman"])
    html = c.get("/gov-services/services/senior_card").get_data(as_text=True)
    assert 'id="not-eligible"' in html
    alternatives = re.findall(r'/gov-services/services/(\w+)"',
                              html.split('id="alternatives"')[1].split("</ul>")[0])
    assert alternatives and "longevity_allowance" not in alternatives
    assert "home_care_subsidy" not in alternatives  # 60+: she is 30
    for code in alternatives:
        page = c.get(f"/gov-services/services/{code}").get_data(as_text=True)
        assert 'id="eligible"' in page and 'id="not-eligible"' not in page, code


def test_eligible_resident_sees_apply_and_others_see_no_verdict(app, world):
    html = client(app, user=world.users["elder"]).get(
        "/gov-services/services/longevity_allowance").get_data(as_text=True)
    assert 'id="eligible"' in html and 'id="not-eligible"' not in html
    assert "/services/longevity_allowance/apply" in html
    for user in (None, "search_unverified"):
        html = client(app, user=user).get("/gov-services/services/longevity_allowance") \
            .get_data(as_text=True)
        assert 'id="eligible"' not in html and 'id="not-eligible"' not in html


def test_not_eligible_first_on_the_apply_page(app, world):
    html = client(app, user=world.users["young"]).get(
        "/gov-services/services/longevity_allowance/apply").get_data(as_text=True)
    assert 'id="not-eligible"' in html
    assert html.index('id="not-eligible"') < html.index('class="summary-list"')  # the six rows
    assert "/services/home_care_subsidy" in html.split('id="alternatives"')[1].split("</ul>")[0]


def test_a_service_switched_off_locally_is_not_an_alternative(app, world):
    from core.registry.testing import C1
    from plugins.gov_services.services import gov, set_service

    def switch(enabled: bool) -> None:
        with app.app_context(), world.kernel.db.session_scope() as db:
            set_service(db, gov(), community=C1, service_code="home_care_subsidy",
                        enabled=enabled)

    switch(False)
    try:
        c = client(app, user=world.users["young"])
        html = c.get("/gov-services/services/longevity_allowance").get_data(as_text=True)
        alternatives = html.split('id="alternatives"')[1].split("</ul>")[0]
        assert "home_care_subsidy" not in alternatives and "senior_card" in alternatives
        page = c.get("/gov-services/services/home_care_subsidy").get_data(as_text=True)
        assert 'id="not-eligible"' in page
        assert "您所在社区暂未开放此事项。" in main_text(page)
    finally:
        switch(True)


# ------------------------------------------------------------------------------ data


def test_a_plugin_service_must_name_known_life_events():
    from plugins.gov_services.catalogue import CatalogueError, load_catalogue

    raw = {"code": "extra_service", "name_zh": "额外服务", "name_en": "Extra", "department":
           "civil", "database": "elderly", "life_events": ["elderly"], "keywords_zh": ["额外"]}
    cat = load_catalogue([("extra", [raw])])
    assert cat.get("extra_service").life_events == ("elderly",)
    with pytest.raises(CatalogueError, match="unknown life events"):
        load_catalogue([("extra", [{**raw, "life_events": ["space_travel"]}])])
    with pytest.raises(CatalogueError, match="keywords_zh"):
        load_catalogue([("extra", [{**raw, "keywords_zh": "not a list"}])])


def test_every_built_in_service_has_life_events_summary_and_office():
    from plugins.gov_services.catalogue import load_catalogue

    cat = load_catalogue()
    for s in cat.services.values():
        assert s.life_events and s.summary_zh and s.summary_en, s.code
        assert cat.departments[s.department].get("office") in cat.offices, s.code
    assert list(cat.life_events)[:7] == ["elderly", "birth", "employment", "housing",
                                         "disability", "certificates", "assistance"]

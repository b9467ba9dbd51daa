"""Search: Chinese name, full pinyin, initials (surname readings 曾/单/解 and the other
readings indexed), mixed input, ID number and its last four digits, phone, address,
filters, pagination, masking, staff scope — and every text match as a range predicate."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from core.registry import services as s
from core.registry.pinyin import name_keys, normalise_query, prefix_end, split_query
from core.registry.search import _name_classes, parse_query
from core.registry.testing import (
    C1,
    C2,
    G2,
    Scope,
    ensure_registry,
    make_id,
    make_places,
    worker,
)

pytestmark = pytest.mark.with_plugins()

TODAY = date(2026, 6, 1)
PEOPLE = [  # name, born, sex, place, hukou, phone
    ("曾国藩", "1951-11-26", "M", "d1", "local", "13800000001"),
    ("曾小红", "2015-03-01", "F", "d1", "local", None),
    ("单田芳", "1934-12-17", "M", "d2", "local", "13800000003"),
    ("解缙", "1969-06-06", "M", "d3", "floating", "13800000004"),
    ("张三", "1990-01-02", "M", "d3", "local", "13800000005"),
    ("张思", "1992-02-03", "F", "d1", "floating", "13800000006"),
    ("赵四", "1985-04-05", "M", "d3", "local", "13800000007"),
    ("吕布", "1980-08-08", "M", "d2", "local", "13800000008"),
    ("欧阳修", "1960-07-07", "M", "d3", "local", "13800000009"),
]


@pytest.fixture
def kernel(app):
    return ensure_registry(app)


@pytest.fixture
def people(db_session, kernel):
    places = make_places(db_session)
    out = {}
    for i, (name, born, sex, place, hukou, phone) in enumerate(PEOPLE):
        p = s.register_person(
            db_session,
            {"name": name, "id_number": make_id(born, sex, seq=i + 1), "phone": phone,
             "hukou_type": hukou, "hukou_place": "河南省郑州市" if hukou == "floating" else ""},
            bus=kernel.bus, dwelling_id=getattr(places, place).id)
        out[name] = p
    db_session.commit()
    return out


def names(page):
    return [item["name"] for item in page.items]


def find(session, query="", **kw):
    kw.setdefault("today", TODAY)
    return s.search_persons(session, actor=None, query=query, **kw)


def test_name_keys():
    assert name_keys("曾国藩")[:2] == ("zengguofan", "zgf")
    assert name_keys("单田芳")[:2] == ("shantianfang", "stf")
    assert name_keys("解缙")[:2] == ("xiejin", "xj")
    assert name_keys("区志强")[0].startswith("ou")
    assert name_keys("朴槿惠")[0].startswith("piao")
    assert name_keys("张长江")[:2] == ("zhangchangjiang", "zcj")  # phrase context
    assert name_keys("吕布")[0] == "lubu"  # ü, v and u are the same
    assert name_keys("欧阳修")[:2] == ("ouyangxiu", "oyx")
    assert name_keys("阿依古丽·买买提")[:2] == ("ayigulimaimaiti", "ayglmmt")
    assert name_keys("John Smith")[:2] == ("johnsmith", "js")
    # every other reading is an extra key, so the default reading still finds the person
    assert ("cengguofan", "f") in name_keys("曾国藩")[2]
    assert ("dantianfang", "f") in name_keys("单田芳")[2]
    assert ("jiejin", "f") in name_keys("解缙")[2]
    assert len(name_keys("阿依古丽·买买提")[2]) <= 32  # capped at 16 combinations


def test_query_helpers():
    assert normalise_query(" Zhang San ") == "zhangsan"
    assert normalise_query("lǘ".replace("ǘ", "ü")) == "lu"
    assert normalise_query("lv") == "lu"
    assert normalise_query("Xi'an") == "xian"
    assert split_query("张s") == ("张", "s")
    assert prefix_end("zs") == "zt"
    assert parse_query("11010519491231002x") == {"id_number": "11010519491231002X"}
    assert parse_query("+86 138 0000 0001") == {"phone": "13800000001"}
    assert parse_query("张三 002X") == {"name": "张三", "id_last4": "002X"}
    assert parse_query("3栋2单元1502") == {"address": "3栋2单元1502"}
    assert parse_query("zs") == {"name": "zs"}


def test_prefix_search_uses_range_predicates_not_like(app):
    """docs/requirements.md, floors: prefix search: LIKE p || '%' cannot use the index on SQLite."""
    dialect = app.extensions["shequ"].db.engine.dialect
    for query in ("zs", "张", "张s"):
        _kind, classes = _name_classes(query)
        for label, cond, _order in classes:
            sql = str(select(1).where(cond).compile(dialect=dialect))
            assert " LIKE " not in sql.upper(), sql
            assert label == "exact" or (">=" in sql and "<" in sql), sql


def test_by_chinese_name(db_session, people):
    page = find(db_session, "张三")
    assert names(page)[0] == "张三" and page.items[0]["match"] == "exact"
    assert set(names(find(db_session, "张"))) == {"张三", "张思"}
    assert set(names(find(db_session, "曾"))) == {"曾国藩", "曾小红"}


def test_by_pinyin_and_initials(db_session, people):
    assert names(find(db_session, "zengguofan")) == ["曾国藩"]
    assert set(names(find(db_session, "zeng"))) == {"曾国藩", "曾小红"}
    assert names(find(db_session, "shan")) == ["单田芳"]
    assert names(find(db_session, "xiejin")) == ["解缙"]
    assert names(find(db_session, "XJ")) == ["解缙"]
    page = find(db_session, "zs")
    assert set(names(page)) == {"张三", "张思", "赵四"}
    assert {i["match"] for i in page.items} == {"initials"}
    assert names(find(db_session, "zgf")) == ["曾国藩"]
    assert names(find(db_session, "lubu")) == ["吕布"]
    assert names(find(db_session, "lvbu")) == ["吕布"]
    assert names(find(db_session, "oyx")) == ["欧阳修"]
    # the default readings (ceng, dan, jie) still find them, ranked as other readings
    page = find(db_session, "ceng")
    assert set(names(page)) == {"曾国藩", "曾小红"}
    assert {i["match"] for i in page.items} == {"reading"}
    assert names(find(db_session, "dantianfang")) == ["单田芳"]
    assert names(find(db_session, "jiejin")) == ["解缙"]


def test_ranking_full_pinyin_before_initials(db_session, people, kernel):
    # "zha": the full pinyin of 张三, 张思 and 赵四; the initials of 郑涵安 (last)
    p = s.register_person(db_session, {"name": "郑涵安", "id_number": make_id(seq=40)},
                          bus=kernel.bus)
    assert p.name_initials == "zha"
    page = find(db_session, "zha")
    assert [i["match"] for i in page.items] == ["pinyin", "pinyin", "pinyin", "initials"]
    assert names(page)[-1] == "郑涵安"


def test_mixed_hanzi_and_letters(db_session, people):
    assert set(names(find(db_session, "张s"))) == {"张三", "张思"}
    assert names(find(db_session, "张san")) == ["张三"]
    assert names(find(db_session, "曾g")) == ["曾国藩"]
    assert names(find(db_session, "赵s")) == ["赵四"]
    assert names(find(db_session, "曾s")) == []


def test_by_identifiers_phone_and_address(db_session, people):
    zs = people["张三"]
    assert names(find(db_session, zs.id_number.lower())) == ["张三"]
    assert names(find(db_session, f"张三 {zs.id_number[-4:]}")) == ["张三"]
    assert names(find(db_session, name="张", id_last4=zs.id_number[-4:])) == ["张三"]
    assert names(find(db_session, "张三 0000")) == []
    with pytest.raises(s.RegistryError, match="need a name"):
        find(db_session, id_last4="1234")
    assert names(find(db_session, "+86 138-0000-0005")) == ["张三"]
    assert names(find(db_session, phone="13800000005")) == ["张三"]
    assert set(names(find(db_session, "3栋2单元1601"))) == {"单田芳", "吕布"}
    assert set(names(find(db_session, address="安康苑"))) == {"解缙", "张三", "赵四", "欧阳修"}
    assert names(find(db_session, address="100%")) == []  # wildcards are escaped


def test_filters_and_pagination(db_session, people, kernel):
    assert set(names(find(db_session, community=C2))) == {"解缙", "张三", "赵四", "欧阳修"}
    assert set(names(find(db_session, grid=G2, hukou_type="floating"))) == {"解缙"}
    assert names(find(db_session, age_band="child")) == ["曾小红"]
    assert set(names(find(db_session, age_band="elder"))) == {"曾国藩", "单田芳", "欧阳修"}
    assert set(names(find(db_session, age_min=30, age_max=36))) == {"张三", "张思"}
    with pytest.raises(s.RegistryError):
        find(db_session, age_band="ancient")
    first = find(db_session, per_page=4, page=1)
    second = find(db_session, per_page=4, page=2)
    third = find(db_session, per_page=4, page=3)
    assert (first.total, first.pages) == (9, 3)
    assert len(first.items) == 4 and len(third.items) == 1
    assert not set(names(first)) & set(names(second))
    # everyone, ordered by pinyin
    everyone = names(first) + names(second) + names(third)
    assert everyone == sorted(everyone, key=lambda n: name_keys(n)[0])
    s.record_death(db_session, people["赵四"].id, bus=kernel.bus)
    assert "赵四" not in names(find(db_session, community=C2))
    assert names(find(db_session, "赵四", status="deceased")) == ["赵四"]
    assert names(find(db_session, "赵四", status=None)) == ["赵四"]


def test_results_are_masked_unless_revealed(db_session, people):
    item = find(db_session, "张三").items[0]
    zs = people["张三"]
    assert item["id_number"] == zs.id_number[:4] + "**********" + zs.id_number[-4:]
    assert item["phone"] == "138****0005"
    assert item["birth_date"] == "1990-**-**"
    assert item["address"] == "安康街8号 安康苑1栋****"
    assert item["age_band"] == "30-39"
    assert item["community"] == C2
    item = find(db_session, "张三", reveal=["id_number", "phone"], purpose="核对身份").items[0]
    assert (item["id_number"], item["phone"]) == (zs.id_number, "13800000005")
    assert item["revealed"] == ["id_number", "phone"]


def test_staff_only_find_persons_in_their_scope(db_session, people):
    c1_only = worker(communities=(C1,))
    assert set(names(s.search_persons(db_session, actor=c1_only, query="", today=TODAY))) == {
        "曾国藩", "曾小红", "单田芳", "张思", "吕布"}
    assert names(s.search_persons(db_session, actor=c1_only, query="张三")) == []
    grid_only = worker(communities=(), grids=(G2,))
    assert "张三" in names(s.search_persons(db_session, actor=grid_only, query="张三"))
    nobody = worker(communities=())
    assert names(s.search_persons(db_session, actor=nobody, query="")) == []
    district = worker(communities=())
    district.scopes.append(Scope("all"))
    assert len(names(s.search_persons(db_session, actor=district, query=""))) == 9


def test_totals_are_counted_up_to_the_cap(db_session, people, monkeypatch, app, client_as):
    """Past ``TOTAL_CAP`` matches the total stops counting and says so (a million persons
    whose initials start with "zh" would cost a row visit each); below it, it is exact."""
    from core.registry import search

    monkeypatch.setattr(search, "TOTAL_CAP", 3)
    page = find(db_session, "z", per_page=1)  # 曾国藩 曾小红 张三 张思 赵四 (+ readings)
    assert (page.total, page.total_capped) == (3, True)
    assert page.pages == 3
    exact = find(db_session, "曾", per_page=1)
    assert (exact.total, exact.total_capped) == (2, False)
    everyone = find(db_session, "z", per_page=20)  # read to the end: exact, not capped
    assert everyone.total_capped is False and everyone.total == len(everyone.items) > 3
    from core.identity.models import User, UserScope
    from core.testing import ensure_user

    user = ensure_user(app, "community_worker")
    with app.extensions["shequ"].db.session_scope() as db:
        account = db.get(User, user.id)
        account.scopes.append(UserScope(kind="all", code=""))
    worker_client = client_as("community_worker")
    body = worker_client.get("/api/v1/registry/persons?q=z&page_size=1").get_json()
    assert (body["total"], body["total_capped"]) == (3, True)
    from core.registry import views

    monkeypatch.setattr(views, "PER_PAGE", 2)
    worker_client.set_cookie("shequ_lang", "en")
    html = worker_client.get("/registry/persons?q=z").get_data(as_text=True)
    assert "Persons found: 3+" in html and 'id="total-capped"' in html  # never "3"
    assert html.count('class="item"') == 2  # views.PER_PAGE reaches the page
    monkeypatch.setattr(search, "TOTAL_CAP", 1000)
    html = worker_client.get("/registry/persons?q=z").get_data(as_text=True)
    assert "Persons found: 3+" not in html and 'id="total-capped"' not in html

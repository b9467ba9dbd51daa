"""A deterministic, synthetic registry for demos, tests and benchmarks.

``seed_registry(session, demo, persons=8000, seed=...)`` makes one street (和平街道,
110105001) with three communities, their grids, about 60 buildings and 3,000 dwellings,
households with heads, spouses, children and elderly parents, floating tenants in rented
flats, a few overseas residents, and organisations with valid credit codes. Every ID number
and credit code passes the checks in ``core.registry.validation``; every person is
invented (docs/requirements.md: synthetic data only). The same seed gives the same registry.

``persons`` scales it (communities, buildings and dwellings grow with it); a million
persons goes through the bulk path, so it takes about a minute, not an hour.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from core.db import local_today, utcnow
from core.registry.bulk import BulkWriter
from core.registry.models import (
    Building,
    Change,
    Community,
    Dwelling,
    Grid,
    Household,
    Organisation,
    Ownership,
    Person,
    PersonKey,
    Residence,
    Street,
    Unit,
)
from core.registry.pinyin import name_keys
from core.registry.validation import id_check_char, org_code_check_char, uscc_check_char

DEMO_SEED = 20240601
STREET_CODE = "110105001"
STREET_NAME = "和平街道"
COMMUNITY_NAMES = ["和平里社区", "安康社区", "福园社区", "新华社区", "春晖社区", "丰收社区",
                   "光明社区", "团结社区", "友谊社区", "长青社区"]
ESTATES = ["和平小区", "安康苑", "福园新村", "幸福家园", "阳光花园", "翠湖小区", "金色家园",
           "锦绣园", "书香苑", "梧桐里"]
ROADS = ["和平路", "安康街", "福园路", "建设路", "解放路", "朝阳路", "育才路", "文化街"]
#: (units, floors, rooms per floor): about 50 dwellings each.
SHAPES = [(2, 6, 4), (2, 12, 2), (3, 6, 3), (2, 11, 2), (1, 18, 3), (4, 6, 2)]

#: Surnames with rough frequency weights; 曾, 单, 解, 区, 朴 and 查 are there on purpose
#: (their surname readings differ from pypinyin's defaults).
SURNAMES = (
    "王" * 70 + "李" * 70 + "张" * 66 + "刘" * 54 + "陈" * 45 + "杨" * 31 + "黄" * 24
    + "赵" * 23 + "吴" * 21 + "周" * 20 + "徐" * 15 + "孙" * 15 + "马" * 14 + "朱" * 13
    + "胡" * 12 + "郭" * 12 + "何" * 11 + "高" * 10 + "林" * 10 + "罗" * 10 + "郑" * 9
    + "梁" * 9 + "谢" * 8 + "宋" * 7 + "唐" * 7 + "许" * 6 + "韩" * 6 + "冯" * 6 + "邓" * 6
    + "曹" * 6 + "彭" * 5 + "曾" * 5 + "肖" * 5 + "田" * 5 + "董" * 5 + "袁" * 4 + "潘" * 4
    + "于" * 4 + "蒋" * 4 + "蔡" * 4 + "余" * 4 + "杜" * 4 + "叶" * 4 + "程" * 4 + "苏" * 3
    + "魏" * 3 + "吕" * 3 + "丁" * 3 + "任" * 3 + "沈" * 3 + "姚" * 3 + "卢" * 3 + "姜" * 3
    + "崔" * 3 + "钟" * 3 + "谭" * 2 + "陆" * 2 + "汪" * 2 + "范" * 2 + "金" * 2 + "石" * 2
    + "廖" * 2 + "贾" * 2 + "夏" * 2 + "韦" * 2 + "方" * 2 + "白" * 2 + "邹" * 2 + "孟" * 2
    + "熊" * 2 + "秦" * 2 + "邱" * 2 + "江" * 2 + "尹" * 2 + "薛" * 2 + "段" * 2 + "雷" * 2
    + "单" * 2 + "解" * 2 + "区" + "朴" + "查" + "覃" + "翟" + "仇"
)
COMPOUND = ["欧阳", "司马", "上官", "诸葛"]
MALE = "伟强磊军勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林阳建国志文海峰亮东博" \
       "成刚振宏毅晨轩睿铭泽昊然浩天"
FEMALE = "芳娜敏静丽艳娟霞燕玲桂英秀兰萍红梅琳雪婷倩颖洁慧晶丹蕾佳怡欣悦雯琪璐妍萱涵" \
         "诗梦思雨晴"
SHARED = "乐长行朝重子一安佳"
LOCAL_REGIONS = ["110105", "110105", "110105", "110101", "110102", "110106", "110108"]
#: Real county codes [K] of other provinces, with the hukou place they stand for.
FLOATING_REGIONS = [
    ("130102", "河北省石家庄市长安区"), ("410105", "河南省郑州市金水区"),
    ("510104", "四川省成都市锦江区"), ("370102", "山东省济南市历下区"),
    ("340104", "安徽省合肥市蜀山区"), ("420106", "湖北省武汉市武昌区"),
    ("430102", "湖南省长沙市芙蓉区"), ("610104", "陕西省西安市莲湖区"),
    ("230102", "黑龙江省哈尔滨市道里区"), ("220102", "吉林省长春市南关区"),
    ("360102", "江西省南昌市东湖区"), ("450103", "广西壮族自治区南宁市青秀区"),
]
OVERSEAS = [("passport", "KOR"), ("passport", "JPN"), ("passport", "USA"),
            ("passport", "DEU"), ("hmt", "810000"), ("hmt", "820000"), ("hmt", "830000")]
MINORITIES = ["03", "11", "02", "10", "08", "05", "06", "15"]
MOBILE_PREFIXES = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "150",
                   "151", "152", "155", "156", "157", "158", "159", "166", "176", "177",
                   "180", "181", "182", "185", "186", "187", "188", "189", "191", "198"]
ORG_WORDS = [("便利店", "individual_business", "92"), ("餐饮店", "individual_business", "92"),
             ("理发店", "individual_business", "92"), ("家政服务有限公司", "enterprise", "91"),
             ("物业管理有限公司", "enterprise", "91"), ("科技有限公司", "enterprise", "91"),
             ("养老服务中心", "social_organisation", "52"), ("志愿者协会", "social_organisation",
                                                           "51"),
             ("水电维修部", "individual_business", "92"), ("药店", "enterprise", "91")]
ORG_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


class _Gen:
    """The random choices, kept in one object so the order of draws (and so the result)
    depends on the seed only."""

    def __init__(self, seed: int, today: date):
        self.rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data, not secrets
        self.today = today
        self.ids: set[str] = set()
        self.phones: set[str] = set()

    def name(self, sex: str, surname: str | None = None) -> str:
        r = self.rng
        if surname is None:
            surname = r.choice(COMPOUND) if r.random() < 0.004 else r.choice(SURNAMES)
        pool = (MALE if sex == "M" else FEMALE) + SHARED
        given = r.choice(pool) + (r.choice(pool) if r.random() < 0.72 else "")
        return surname + given

    def birth(self, age: int) -> date:
        born = self.today - timedelta(days=age * 365 + self.rng.randrange(365))
        return born

    def id_number(self, region: str, born: date, sex: str) -> str:
        r = self.rng
        while True:
            seq = r.randrange(0, 500) * 2 + (1 if sex == "M" else 0)
            first17 = f"{region}{born:%Y%m%d}{seq:03d}"
            number = first17 + id_check_char(first17)
            if number not in self.ids:
                self.ids.add(number)
                return number

    def phone(self) -> str:
        r = self.rng
        while True:
            number = r.choice(MOBILE_PREFIXES) + f"{r.randrange(10 ** 8):08d}"
            if number not in self.phones:
                self.phones.add(number)
                return number

    def credit_code(self, prefix: str, region: str) -> str:
        r = self.rng
        org = "".join(r.choice(ORG_CHARS[:10] if i < 2 else ORG_CHARS) for i in range(8))
        org += org_code_check_char(org)
        first17 = f"{prefix}{region}{org}"
        return first17 + uscc_check_char(first17)


def _people_in(gen: _Gen, kind: str) -> list[dict[str, Any]]:
    """The members of one occupied dwelling: dicts with sex, age, relation and origin."""
    r = gen.rng
    out: list[dict[str, Any]] = []
    if kind == "local":
        head_age = r.choice([r.randint(28, 45), r.randint(40, 65), r.randint(60, 88)])
        head_sex = "M" if r.random() < 0.62 else "F"
        out.append({"sex": head_sex, "age": head_age, "relation": "02", "origin": "local"})
        if r.random() < 0.82 and head_age < 85:
            out.append({"sex": "F" if head_sex == "M" else "M",
                        "age": max(20, head_age + r.randint(-5, 4)), "relation": "10",
                        "origin": "local"})
        if head_age < 70:
            for _ in range(r.choice([0, 1, 1, 1, 2, 2, 3]) if head_age < 55 else
                           r.choice([0, 0, 1])):
                child_age = head_age - r.randint(23, 36)
                if child_age >= 0:
                    sex = r.choice("MF")
                    out.append({"sex": sex, "age": child_age,
                                "relation": "20" if sex == "M" else "30", "origin": "local"})
        if head_age < 50 and r.random() < 0.18:
            out.append({"sex": r.choice("MF"), "age": head_age + r.randint(24, 32),
                        "relation": "50", "origin": "local"})
        return out
    if kind == "overseas":
        return [{"sex": r.choice("MF"), "age": r.randint(24, 60), "relation": None,
                 "origin": "overseas"}]
    # floating tenants: a couple (maybe with a child) or flat-mates
    n = r.choice([1, 2, 2, 3, 3, 4])
    base = r.randint(20, 48)
    for i in range(n):
        age = base + r.randint(-3, 3) if i < 2 else max(0, base - r.randint(22, 30))
        out.append({"sex": r.choice("MF"), "age": max(0, age), "relation": None,
                    "origin": "floating"})
    return out


def seed_registry(
    session: Session,
    demo: Any,
    *,
    persons: int = 8000,
    seed: int = DEMO_SEED,
    bus: Any = None,
    today: date | None = None,
    echo: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Fill the registry with a synthetic population (once: a second call finds the demo
    street and only re-binds the demo accounts). Sets ``demo.community`` to the first
    community, binds ``demo.users["resident"]`` to a person (verified in person by the
    demo community worker), gives the demo community worker that community as scope, and
    returns counts. Publishes one ``registry.import.completed`` when ``bus`` is given."""
    say = echo or (lambda _m: None)
    today = today or local_today()
    street = session.scalar(select(Street).where(Street.code == STREET_CODE))
    if street is not None:
        first = session.scalar(select(Community).where(Community.street_id == street.id)
                               .order_by(Community.code))
        demo.community = first
        _bind_demo_users(session, demo, first)
        return _stats(session)

    gen = _Gen(seed, today)
    writer = BulkWriter(session)
    writer.lock()
    n_dwellings = max(30, round(persons * 3 / 8))
    n_communities = max(3, math.ceil(persons / 2700))
    n_streets = math.ceil(n_communities / 30)
    say(f"registry demo: {persons} persons, {n_dwellings} dwellings, "
        f"{n_communities} communities")
    writer.maybe_drop_indexes(persons)

    streets = []
    for s in range(n_streets):
        code = f"110105{s + 1:03d}"
        st = Street(code=code, name=STREET_NAME if s == 0 else f"第{s + 1}街道")
        session.add(st)
        streets.append(st)
    session.flush()
    communities: list[Community] = []
    grids: dict[int, list[Grid]] = {}
    for i in range(n_communities):
        st = streets[i // 30]
        name = COMMUNITY_NAMES[i] if i < len(COMMUNITY_NAMES) else f"第{i + 1}社区"
        c = Community(code=f"{st.code}{i % 30 + 1:03d}", name=name, street_id=st.id,
                      urban_rural="111")
        session.add(c)
        communities.append(c)
    session.flush()
    for c in communities:
        grids[c.id] = []
        for g in range(4):
            grid = Grid(code=f"{c.code}{g + 1:03d}", name=f"{c.name}第{g + 1}网格",
                        community_id=c.id)
            session.add(grid)
            grids[c.id].append(grid)
    session.flush()
    demo.community = communities[0]

    # --------------------------------------------------------------- dwellings
    per_community = math.ceil(n_dwellings / n_communities)
    tables = {t: t.__table__ for t in (Building, Unit, Dwelling, Household, Person)}
    pools: dict[Any, list[int]] = {}

    def next_id(model: Any) -> int:
        pool = pools.setdefault(model, [])
        if not pool:
            pool.extend(reversed(writer.ids(tables[model], 5000)))
        return pool.pop()

    rows: dict[str, list[dict[str, Any]]] = {k: [] for k in
                                             ("b", "u", "d", "h", "p", "k", "r", "heads")}
    counts = dict.fromkeys(("buildings", "dwellings", "households", "persons", "floating",
                            "overseas", "rentals"), 0)
    now = utcnow()
    first_person = None
    resident_person = None
    adults: list[int] = []
    household_seq = 0
    #: (dwelling, kind, community) and the head and spouse of each local dwelling: who
    #: owns what is decided after the loop (so the population itself does not change).
    dwelling_kinds: list[tuple[int, str, int]] = []
    heads_at: dict[int, int] = {}
    spouses_at: dict[int, int] = {}

    def flush_rows() -> None:
        for key, model in (("b", Building), ("u", Unit), ("d", Dwelling), ("h", Household),
                           ("p", Person), ("k", PersonKey), ("r", Residence)):
            # declarative types __table__ as FromClause; each is a Table
            writer.insert(model.__table__, rows[key])  # type: ignore[arg-type]
            rows[key].clear()
        # Households and persons point at each other: heads are set once both exist.
        writer.update(Household.__table__, rows["heads"])  # type: ignore[arg-type]  # as above
        rows["heads"].clear()

    def add_person(spec: dict[str, Any], d_id: int, c: Community, g: Grid,
                   h_id: int | None, surname: str | None) -> tuple[int, str]:
        nonlocal first_person
        sex, age = spec["sex"], spec["age"]
        born = gen.birth(age)
        id_type, nationality, hukou, place, ethnicity = "resident_id", None, "local", None, "01"
        if spec["origin"] == "overseas":
            kind, extra = gen.rng.choice(OVERSEAS)
            if kind == "hmt":
                id_type, hukou, ethnicity = "hmt_residence_permit", "overseas", None
                number = gen.id_number(extra, born, sex)
                nationality = None
            else:
                id_type, hukou, ethnicity, nationality = "passport", "overseas", None, extra
                number = f"{extra[0]}{gen.rng.randrange(10 ** 8):08d}"
                while number in gen.ids:
                    number = f"{extra[0]}{gen.rng.randrange(10 ** 8):08d}"
                gen.ids.add(number)
            counts["overseas"] += 1
        else:
            if spec["origin"] == "floating":
                region, place = gen.rng.choice(FLOATING_REGIONS)
                hukou = "floating"
                counts["floating"] += 1
            else:
                region = gen.rng.choice(LOCAL_REGIONS)
            number = gen.id_number(region, born, sex)
            if gen.rng.random() < 0.07:
                ethnicity = gen.rng.choice(MINORITIES)
        name = (gen.name(sex, surname) if spec["origin"] != "overseas" or id_type != "passport"
                else gen.rng.choice(["KIM MINJUN", "SATO YUKI", "JOHN SMITH", "ANNA MUELLER",
                                     "LEE SEOYEON", "TANAKA HIROSHI", "MARIA GARCIA"]))
        pid = next_id(Person)
        first_person = first_person or pid
        full, initials, extra_keys = name_keys(name)
        rows["p"].append({
            "id": pid, "name": name, "name_pinyin": full, "name_initials": initials,
            "id_type": id_type, "id_number": number, "sex": sex,
            "birth_date": born,
            "phone": gen.phone() if age >= 16 and gen.rng.random() < 0.9 else None,
            "ethnicity": ethnicity, "nationality": nationality, "hukou_type": hukou,
            "hukou_place": place, "status": "active", "died_on": None, "merged_into_id": None,
            "dwelling_id": d_id, "grid_id": g.id, "community_id": c.id, "household_id": h_id,
            "relation": spec["relation"] if h_id else None, "version": 1,
            "created_at": now, "updated_at": now,
        })
        rows["k"].extend({"person_id": pid, "key": k, "kind": kind}
                         for k, kind in extra_keys)
        counts["persons"] += 1
        if age >= 25 and spec["origin"] == "local":
            adults.append(pid)
        return pid, name

    made = 0
    for ci, c in enumerate(communities):
        last = ci == len(communities) - 1
        target = persons if last else min(per_community, n_dwellings - made)
        b_in_c = 0
        while target > 0 and counts["persons"] < persons:
            units, floors, per_floor = gen.rng.choice(SHAPES)
            estate = ESTATES[(ci * 3 + b_in_c // 8) % len(ESTATES)]
            road = f"{ROADS[(ci + b_in_c // 8) % len(ROADS)]}{(b_in_c // 8) * 10 + 8}号"
            grid = grids[c.id][b_in_c % 4]
            b_id = next_id(Building)
            b_in_c += 1
            rows["b"].append({"id": b_id, "community_id": c.id, "grid_id": grid.id,
                              "estate": estate, "name": f"{b_in_c}栋", "address": road})
            counts["buildings"] += 1
            for u in range(units):
                u_id = next_id(Unit)
                u_name = f"{u + 1}单元"
                rows["u"].append({"id": u_id, "building_id": b_id, "name": u_name})
                for fl in range(1, floors + 1):
                    for rn in range(1, per_floor + 1):
                        if target <= 0 or counts["persons"] >= persons:
                            break
                        room = f"{fl}{rn:02d}"
                        roll = gen.rng.random()
                        kind = ("vacant" if roll < 0.04 else "floating" if roll < 0.2
                                else "overseas" if roll < 0.21 else "local")
                        rented = kind in ("floating", "overseas")
                        d_id = next_id(Dwelling)
                        rows["d"].append({
                            "id": d_id, "unit_id": u_id, "room": room, "floor": fl,
                            "area_m2": float(gen.rng.choice([48, 62, 75, 89, 96, 110, 128])),
                            "use": "vacant" if kind == "vacant" else "rented" if rented
                            else "self", "is_rental": rented, "community_id": c.id,
                            "grid_id": grid.id,
                            "address": f"{road} {estate}{b_in_c}栋{u_name}{room}室",
                        })
                        counts["dwellings"] += 1
                        counts["rentals"] += rented
                        dwelling_kinds.append((d_id, kind, c.id))
                        target -= 1
                        made += 1
                        if kind == "vacant":
                            continue
                        specs = _people_in(gen, kind)
                        h_id = None
                        surname = None
                        if kind == "local":
                            household_seq += 1
                            h_id = next_id(Household)
                            rows["h"].append({
                                "id": h_id, "number": f"{c.code[-6:]}{household_seq:06d}",
                                "kind": "family", "head_id": None, "dwelling_id": d_id,
                                "created_at": now,
                            })
                            counts["households"] += 1
                            surname = gen.rng.choice(SURNAMES)
                        for spec in specs:
                            same = surname if spec["relation"] in ("02", "20", "30", "50") \
                                else None
                            if resident_person is None and spec["relation"] == "02" \
                                    and ci == 0:
                                spec = dict(spec, sex="M", age=72)
                                same = "张"
                            pid, _name = add_person(spec, d_id, c, grid, h_id, same)
                            if kind == "local" and spec["relation"] == "02":
                                heads_at.setdefault(d_id, pid)
                            elif kind == "local" and spec["relation"] == "10":
                                spouses_at.setdefault(d_id, pid)
                            if spec["relation"] == "02" and h_id:
                                rows["heads"].append({"id": h_id, "head_id": pid})
                                if resident_person is None and ci == 0:
                                    resident_person = pid
                            rows["r"].append({
                                "person_id": pid, "dwelling_id": d_id,
                                "role": "tenant" if rented else
                                ("owner" if spec["relation"] == "02" else "other"),
                                "started_on": today - timedelta(days=gen.rng.randrange(3650)),
                                "ended_on": None,
                            })
                if len(rows["p"]) >= 20000:
                    flush_rows()
    flush_rows()

    # --------------------------------------------------------------- organisations
    n_orgs = max(10, persons // 200)
    org_rows = []
    codes_seen: set[str] = set()
    for i in range(n_orgs):
        c = communities[i % len(communities)]
        word, otype, prefix = gen.rng.choice(ORG_WORDS)
        code = gen.credit_code(prefix, "110105")
        while code in codes_seen:
            code = gen.credit_code(prefix, "110105")
        codes_seen.add(code)
        org_rows.append({
            "name": f"{c.name.removesuffix('社区')}{word}" + (f"（{i // 10 + 1}）" if i >= 10
                                                              else ""),
            "credit_code": code, "type": otype,
            "address": f"{ROADS[i % len(ROADS)]}{i + 1}号",
            "legal_rep_id": gen.rng.choice(adults) if adults else None,
            "community_id": c.id, "grid_id": grids[c.id][i % 4].id, "status": "active",
            "version": 1, "created_at": now, "updated_at": now,
        })
    # declarative types __table__ as FromClause; it is a Table
    writer.insert(Organisation.__table__, org_rows)  # type: ignore[arg-type]
    _seed_ownership(session, writer, seed, today, now, dwelling_kinds,
                    heads_at, spouses_at, adults)
    writer.restore_indexes()
    batch = session.execute(insert(Change).returning(Change.id), [{
        "entity": "import", "entity_id": first_person or 0, "field": "*", "old": None,
        "new": f"demo registry: {counts['persons']} persons (seed {seed})", "actor_id": None,
        "actor_name": "", "via": "demo", "at": now,
    }]).scalar_one()
    if bus is not None:
        bus.publish(session, "registry.import.completed", {
            "batch_id": batch, "created": counts["persons"], "updated": 0, "unchanged": 0,
            "first_person_id": first_person, "last_person_id": first_person
            and first_person + counts["persons"] - 1, "via": "demo",
        })
    session.flush()
    _bind_demo_users(session, demo, communities[0], resident_person)
    stats = _stats(session)
    say("registry demo: " + ", ".join(f"{k} {v}" for k, v in stats.items()))
    return stats | {k: v for k, v in counts.items() if k in ("floating", "overseas", "rentals")}


def _seed_ownership(
    session: Session, writer: BulkWriter, seed: int, today: date, now: Any,
    dwellings: list[tuple[int, str, int]], heads: dict[int, int], spouses: dict[int, int],
    adults: list[int],
) -> None:
    """Owners for the demo dwellings, so an owners' assembly can be shown: a local
    household's head owns its flat (three in ten with the spouse, half each); a rented
    flat belongs to a local adult who lets it to the tenants living there (some landlords
    own several flats: one head in the assembly); half the vacant flats belong to an
    organisation of the community (a developer's unsold stock), the rest have no owner
    recorded. Its own random stream, so the population does not change."""
    rng = random.Random(seed + 278)  # noqa: S311 - synthetic demo data, not secrets
    orgs: dict[int, list[int]] = {}
    for oid, cid in session.execute(select(Organisation.id, Organisation.community_id)
                                    .order_by(Organisation.id)):
        orgs.setdefault(cid, []).append(oid)
    rows: list[dict[str, Any]] = []

    def own(d_id: int, person: int | None, org: int | None, share: float) -> None:
        rows.append({"dwelling_id": d_id, "person_id": person, "organisation_id": org,
                     "share": share, "started_on": today - timedelta(days=rng.randrange(7300)),
                     "ended_on": None, "created_at": now})

    for d_id, kind, cid in dwellings:
        if kind == "local" and d_id in heads:
            if d_id in spouses and rng.random() < 0.3:
                own(d_id, heads[d_id], None, 0.5)
                own(d_id, spouses[d_id], None, 0.5)
            else:
                own(d_id, heads[d_id], None, 1.0)
        elif kind in ("floating", "overseas") and adults:
            own(d_id, rng.choice(adults), None, 1.0)
        elif kind == "vacant" and orgs.get(cid) and rng.random() < 0.5:
            own(d_id, None, rng.choice(orgs[cid]), 1.0)
    writer.insert(Ownership.__table__, rows)  # type: ignore[arg-type]  # a Table


def _bind_demo_users(session: Session, demo: Any, community: Community | None,
                     person_id: int | None = None) -> None:
    """Bind the demo resident account to the demo's first household head, verified in
    person by the demo community worker, and scope that worker to the first community."""
    from core.identity.models import User
    from core.identity.services import bind_person, set_scopes

    users = getattr(demo, "users", {}) or {}
    worker = users.get("community_worker")
    if worker is not None and community is not None and not worker.scopes:
        set_scopes(session, worker, [("community", community.code)],
                   admin=users.get("admin") or worker)
    resident = users.get("resident")
    if resident is None or resident.person_id is not None or community is None:
        return
    if person_id is None:
        person_id = session.scalar(
            select(Person.id).where(Person.community_id == community.id,
                                    Person.relation == "02", Person.status == "active")
            .order_by(Person.id).limit(1))
    if person_id is None:
        return
    if session.scalar(select(User.id).where(User.person_id == person_id)) is not None:
        return
    bind_person(session, resident, person_id, method="in_person", by=worker)


def _stats(session: Session) -> dict[str, int]:
    def count(model: Any) -> int:
        return session.scalar(select(func.count()).select_from(model)) or 0

    return {
        "streets": count(Street), "communities": count(Community), "grids": count(Grid),
        "buildings": count(Building), "dwellings": count(Dwelling),
        "households": count(Household), "persons": count(Person),
        "organisations": count(Organisation), "ownerships": count(Ownership),
    }

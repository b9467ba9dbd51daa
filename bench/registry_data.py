"""Synthetic import files for the registry benchmarks.

``write_persons_csv(path, n)`` writes ``n`` residents in the import template's Chinese
headers, the way a community office's spreadsheet has them: the demo generator's person
generator (``core.registry.demo``: its name, ID-number, phone and household draws, with
the same surname weights and multi-reading surnames), every ID number and phone valid
and unique, a birth date and sex that agree with the ID number, households with one head,
floating tenants, a few passport holders and HK/Macao/Taiwan residence permits, grids,
buildings, units and rooms. The communities and grids the file names are returned so the
benchmark can create them first (an import never creates communities).

``write_bad_csv(path, n)`` writes a small file where a few percent of the rows are wrong
in known ways, and returns ``{row number: field}`` for the check of the report.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

HEADERS = [
    "姓名",
    "证件类型",
    "证件号码",
    "性别",
    "出生日期",
    "民族",
    "联系电话",
    "人口类型",
    "户籍地址",
    "社区代码",
    "网格编码",
    "门牌地址",
    "小区",
    "楼栋",
    "单元",
    "房号",
    "居住类型",
    "户号",
    "与户主关系",
]
RELATION_LABELS = {"02": "户主", "10": "配偶", "20": "子", "30": "女", "50": "父母"}
ETHNICITY_LABELS = {
    "01": "汉族",
    "02": "蒙古族",
    "03": "回族",
    "05": "维吾尔族",
    "06": "苗族",
    "08": "壮族",
    "10": "朝鲜族",
    "11": "满族",
    "15": "土家族",
}
PERSONS_PER_COMMUNITY = 2700
STREET_CODE = "110105"


@dataclass
class Places:
    """What the file refers to: (street code, name), (community code, name, street code),
    (grid code, name, community code)."""

    streets: list[tuple[str, str]]
    communities: list[tuple[str, str, str]]
    grids: list[tuple[str, str, str]]


def places_for(n: int) -> Places:
    n_communities = max(1, math.ceil(n / PERSONS_PER_COMMUNITY))
    streets, communities, grids = [], [], []
    for s in range(math.ceil(n_communities / 30)):
        streets.append((f"{STREET_CODE}{s + 1:03d}", f"第{s + 1}街道"))
    for i in range(n_communities):
        street = streets[i // 30][0]
        code = f"{street}{i % 30 + 1:03d}"
        communities.append((code, f"第{i + 1}社区", street))
        for g in range(4):
            grids.append((f"{code}{g + 1:03d}", f"第{i + 1}社区第{g + 1}网格", code))
    return Places(streets, communities, grids)


def _rows(n: int, seed: int, today: date):
    """Yield template rows (lists of strings) for ``n`` persons."""
    from core.registry import demo

    gen = demo._Gen(seed, today)
    rng = gen.rng
    places = places_for(n)
    made = 0
    household_seq = 0
    for ci, (ccode, _cname, _street) in enumerate(places.communities):
        quota = min(PERSONS_PER_COMMUNITY, n - made)
        grids = [g[0] for g in places.grids[ci * 4 : ci * 4 + 4]]
        b_in_c = 0
        while quota > 0:
            units, floors, per_floor = rng.choice(demo.SHAPES)
            estate = demo.ESTATES[(ci * 3 + b_in_c // 8) % len(demo.ESTATES)]
            road = f"{demo.ROADS[(ci + b_in_c // 8) % len(demo.ROADS)]}{(b_in_c // 8) * 10 + 8}号"
            grid = grids[b_in_c % 4]
            b_in_c += 1
            building = f"{b_in_c}栋"
            for u in range(units):
                unit = f"{u + 1}单元"
                for fl in range(1, floors + 1):
                    for rn in range(1, per_floor + 1):
                        if quota <= 0:
                            break
                        roll = rng.random()
                        kind = (
                            "vacant"
                            if roll < 0.04
                            else "floating"
                            if roll < 0.2
                            else "overseas"
                            if roll < 0.21
                            else "local"
                        )
                        if kind == "vacant":
                            continue
                        room = f"{fl}{rn:02d}"
                        specs = demo._people_in(gen, kind)[:quota]
                        hno = ""
                        surname = None
                        if kind == "local":
                            household_seq += 1
                            hno = f"{ccode[-6:]}{household_seq:06d}"
                            surname = rng.choice(demo.SURNAMES)
                        for spec in specs:
                            same = surname if spec["relation"] in ("02", "20", "30", "50") else None
                            role = (
                                "租户"
                                if kind != "local"
                                else "产权人"
                                if spec["relation"] == "02"
                                else "其他"
                            )
                            relation = RELATION_LABELS.get(spec["relation"], "") if hno else ""
                            yield [
                                *_person(gen, spec, same, today),
                                ccode,
                                grid,
                                road,
                                estate,
                                building,
                                unit,
                                room,
                                role,
                                hno,
                                relation,
                            ]
                        quota -= len(specs)
                        made += len(specs)


def _person(gen: Any, spec: dict[str, Any], surname: str | None, today: date) -> list[str]:
    from core.registry import demo

    rng = gen.rng
    sex, age = spec["sex"], spec["age"]
    born = today - timedelta(days=age * 365 + rng.randrange(1, 365))
    id_type, hukou, place, ethnicity = "居民身份证", "户籍", "", "01"
    if spec["origin"] == "overseas":
        kind, extra = rng.choice(demo.OVERSEAS)
        ethnicity = ""
        hukou = "境外"
        if kind == "hmt":
            id_type = "港澳台居民居住证"
            number = gen.id_number(extra, born, sex)
        else:
            id_type = "护照"
            number = f"{extra[0]}{rng.randrange(10**8):08d}"
            while number in gen.ids:
                number = f"{extra[0]}{rng.randrange(10**8):08d}"
            gen.ids.add(number)
        name = (
            gen.name(sex)
            if kind == "hmt"
            else rng.choice(
                [
                    "KIM MINJUN",
                    "SATO YUKI",
                    "JOHN SMITH",
                    "ANNA MUELLER",
                    "LEE SEOYEON",
                    "TANAKA HIROSHI",
                    "MARIA GARCIA",
                ]
            )
        )
    else:
        if spec["origin"] == "floating":
            region, place = rng.choice(demo.FLOATING_REGIONS)
            hukou = "流动"
        else:
            region = rng.choice(demo.LOCAL_REGIONS)
        number = gen.id_number(region, born, sex)
        if rng.random() < 0.07:
            ethnicity = rng.choice(demo.MINORITIES)
        name = gen.name(sex, surname)
    phone = gen.phone() if age >= 16 and rng.random() < 0.9 else ""
    return [
        name,
        id_type,
        number,
        "男" if sex == "M" else "女",
        born.isoformat(),
        ETHNICITY_LABELS.get(ethnicity, ""),
        phone,
        hukou,
        place,
    ]


def write_persons_csv(
    path: Path, n: int, *, seed: int = 20240601, today: date | None = None, progress: Any = None
) -> Places:
    """``n`` valid persons (``n`` data rows) in the template's Chinese headers."""
    today = today or date.today()
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(HEADERS)
        buf: list[list[str]] = []
        done = 0
        for row in _rows(n, seed, today):
            buf.append(row)
            if len(buf) >= 50_000:
                out.writerows(buf)
                done += len(buf)
                buf.clear()
                if progress:
                    progress(done)
        out.writerows(buf)
    return places_for(n)


#: (field, how the cell is spoiled) for the bad-rows check, applied in turn.
_SPOILERS: list[tuple[str, int, Any]] = [
    ("id_number", 2, lambda v: v[:17] + ("0" if v[17] != "0" else "1")),  # check character
    ("id_number", 2, lambda v: v[:10] + "13" + v[12:]),  # month 13
    ("phone", 6, lambda v: "1234567"),
    ("sex", 3, lambda v: "女" if v == "男" else "男"),  # disagrees with the ID number
    ("name", 0, lambda v: ""),
    ("community", 9, lambda v: "110105999399"),  # no such community
    ("hukou_type", 7, lambda v: "火星"),
    ("birth_date", 4, lambda v: "1900-02-30"),
]


def write_bad_csv(
    path: Path, n: int, *, every: int = 33, seed: int = 7, today: date | None = None
) -> tuple[Places, dict[int, str]]:
    """``n`` rows of which every ``every``-th (about 3 %) is spoiled in one field; returns
    the places and ``{spreadsheet row number: field}`` of the spoiled rows."""
    today = today or date.today()
    spoiled: dict[int, str] = {}
    rows = []
    k = 0
    for i, row in enumerate(_rows(n, seed, today)):
        rownum = i + 2
        if i % every == every - 1 and row[2][:1].isdigit() and row[6]:
            field, col, spoil = _SPOILERS[k % len(_SPOILERS)]
            k += 1
            row[col] = spoil(row[col])
            spoiled[rownum] = field
        rows.append(row)
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(HEADERS)
        out.writerows(rows)
    return places_for(n), spoiled

"""The owners import: who owns which dwelling, from a CSV or XLSX file (all or nothing).

Why apart from the persons import: owners are recorded against dwellings and persons or
organisations that are already registered (the persons import, the organisation pages),
and a wrong owner moves votes in an owners' assembly — so a row that names an unknown
dwelling, an unknown owner or an impossible share is never guessed at: every rejected
row is reported with its reason, and one rejected row means nothing is written.

Columns (one header row; Chinese or English headers, any order):

========================  ================================  ============================
English                   Chinese                           meaning
========================  ================================  ============================
community                 社区代码                          12-digit code (or --community)
estate                    小区                              as in the registry
building                  楼栋                              required unless ``address``
unit                      单元
room                      房号                              required unless ``address``
address                   房屋地址                          the dwelling's full address
owner_id                  证件号码 / 身份证号               an owner person's ID number
credit_code               统一社会信用代码                  an owner organisation
share                     份额                              1, 0.5, 50% or 1/2 (blank: 1)
since                     起始日期 / 登记日期               YYYY-MM-DD (optional)
area_m2                   专有部分面积                      sets the dwelling's area
========================  ================================  ============================
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.registry.errors import RegistryError
from core.registry.models import Building, Community, Dwelling, Organisation, Ownership, Unit
from core.registry.ownership import add_owner, parse_share
from core.registry.services.common import parse_date, record_change
from core.registry.services.persons import find_by_id_number
from core.registry.validation import normalise_credit_code

HEADERS: dict[str, str] = {
    "community": "community", "社区代码": "community", "社区": "community",
    "estate": "estate", "小区": "estate",
    "building": "building", "楼栋": "building", "楼号": "building",
    "unit": "unit", "单元": "unit",
    "room": "room", "房号": "room", "室": "room",
    "address": "address", "房屋地址": "address", "地址": "address",
    "owner_id": "owner_id", "证件号码": "owner_id", "身份证号": "owner_id",
    "身份证号码": "owner_id",
    "credit_code": "credit_code", "统一社会信用代码": "credit_code",
    "share": "share", "份额": "share", "产权份额": "share",
    "since": "since", "起始日期": "since", "登记日期": "since",
    "area_m2": "area_m2", "area": "area_m2", "专有部分面积": "area_m2", "面积": "area_m2",
}
MAX_AREA = Decimal("100000")


@dataclass
class OwnersImport:
    """What an owners import did (or, rejected or dry, would have done)."""

    rows: int = 0
    added: int = 0
    areas_set: int = 0
    committed: bool = False
    #: (row number, column, English message) for every rejected row.
    rejected: list[tuple[int, str, str]] = field(default_factory=list)

    def summary(self) -> str:
        if self.rejected:
            return f"{self.rows} rows, {len(self.rejected)} rejected: nothing imported"
        verb = "imported" if self.committed else "would import"
        return f"{self.rows} rows: {verb} {self.added} ownerships, {self.areas_set} areas"


def _norm(text: Any) -> str:
    return unicodedata.normalize("NFKC", str(text or "")).strip().lower().replace(" ", "_")


def _area(value: Any) -> float | None:
    text = unicodedata.normalize("NFKC", str(value or "")).strip()
    for suffix in ("平方米", "㎡", "m²", "m2"):
        text = text.removesuffix(suffix).strip()
    if not text:
        return None
    try:
        area = Decimal(text)
    except InvalidOperation:
        raise RegistryError("Enter the exclusive area in square metres.", "area_m2") from None
    if not Decimal(0) < area < MAX_AREA:
        raise RegistryError("An exclusive area is more than 0 and under 100000 m².", "area_m2")
    return float(area.quantize(Decimal("0.01")))


def _dwelling(session: Session, row: dict[str, str], community: str | None) -> Dwelling:
    if row.get("address"):
        found = session.scalars(select(Dwelling).where(Dwelling.address == row["address"])).all()
        if len(found) == 1:
            return found[0]
        raise RegistryError("No dwelling has this address.", "address")
    code = row.get("community") or community
    if not code:
        raise RegistryError("Name the community (column or --community).", "community")
    if not row.get("building") or not row.get("room"):
        raise RegistryError("Name the dwelling: building and room, or its address.", "room")
    dwelling = session.scalar(
        select(Dwelling)
        .join(Unit, Unit.id == Dwelling.unit_id)
        .join(Building, Building.id == Unit.building_id)
        .join(Community, Community.id == Building.community_id)
        .where(
            Community.code == code,
            Building.estate == row.get("estate", ""),
            Building.name == row["building"],
            Unit.name == row.get("unit", ""),
            Dwelling.room == row["room"],
        )
    )
    if dwelling is None:
        raise RegistryError("No such dwelling in the registry.", "room")
    return dwelling


def import_owners(
    session: Session,
    source: str | Path | IO[Any],
    *,
    fmt: str | None = None,
    community: str | None = None,
    dry_run: bool = False,
    actor: Any = None,
    via: str = "import",
) -> OwnersImport:
    """Check every row, then (no row rejected, not ``dry_run``) record the ownerships and
    areas in the caller's transaction. The caller commits; on a rejection nothing was
    written (the checks run before any write)."""
    from core.registry.importer.reading import read_table

    headers, rows, _estimate = read_table(source, fmt)
    keys = [HEADERS.get(_norm(h)) or HEADERS.get(str(h or "").strip()) for h in headers]
    report = OwnersImport()
    if "owner_id" not in keys and "credit_code" not in keys:
        report.rejected.append((1, "owner_id", "The file has no owner column "
                                "(ID number or credit code)."))
        return report
    planned: list[dict[str, Any]] = []
    shares: dict[int, Decimal] = {}
    seen: set[tuple[int, str, int]] = set()
    for number, cells in rows:
        row = {k: unicodedata.normalize("NFKC", str(v if v is not None else "")).strip()
               for k, v in zip(keys, cells, strict=False) if k}
        if not any(row.values()):
            continue
        report.rows += 1
        try:
            dwelling = _dwelling(session, row, community)
            person_id = org_id = None
            if bool(row.get("owner_id")) == bool(row.get("credit_code")):
                raise RegistryError("Give the owner's ID number or credit code (one of them).",
                                    "owner_id")
            if row.get("owner_id"):
                person = find_by_id_number(session, row["owner_id"])
                if person is None:
                    raise RegistryError("No person with this ID number is registered.",
                                        "owner_id")
                person_id = person.id
            else:
                org_id = session.scalar(select(Organisation.id).where(
                    Organisation.credit_code == normalise_credit_code(row["credit_code"])))
                if org_id is None:
                    raise RegistryError("No organisation with this credit code is registered.",
                                        "credit_code")
            share = parse_share(row.get("share"))
            since = parse_date(row.get("since") or None, "since")
            area = _area(row.get("area_m2"))
            owner = ("p", person_id) if person_id else ("o", org_id)
            if (dwelling.id, *owner) in seen or session.scalar(select(Ownership.id).where(
                    Ownership.dwelling_id == dwelling.id, Ownership.ended_on.is_(None),
                    (Ownership.person_id == person_id) if person_id
                    else (Ownership.organisation_id == org_id))) is not None:
                raise RegistryError("This owner already owns this dwelling.", "owner_id")
            seen.add((dwelling.id, *owner))
            if dwelling.id not in shares:
                shares[dwelling.id] = sum(
                    (Decimal(str(s)) for s in session.scalars(select(Ownership.share).where(
                        Ownership.dwelling_id == dwelling.id, Ownership.ended_on.is_(None)))),
                    Decimal(0))
            shares[dwelling.id] += Decimal(str(share))
            if shares[dwelling.id] > 1:
                raise RegistryError("The owners' shares of this dwelling would sum to more "
                                    "than 1.", "share")
        except RegistryError as exc:
            report.rejected.append((number, exc.field or "", str(exc)))
            continue
        planned.append({"dwelling": dwelling, "person_id": person_id,
                        "organisation_id": org_id, "share": share, "since": since,
                        "area": area})
    if report.rejected or dry_run:
        report.added = 0 if report.rejected else len(planned)
        report.areas_set = 0 if report.rejected else sum(1 for p in planned if p["area"])
        return report
    for item in planned:
        dwelling = item["dwelling"]
        if item["area"] is not None and item["area"] != dwelling.area_m2:
            record_change(session, "dwelling", dwelling.id,
                          {"area_m2": (dwelling.area_m2, item["area"])}, actor=actor, via=via)
            dwelling.area_m2 = item["area"]
            report.areas_set += 1
        add_owner(session, dwelling_id=dwelling.id, person_id=item["person_id"],
                  organisation_id=item["organisation_id"], share=item["share"],
                  started_on=item["since"], actor=actor, via=via)
        report.added += 1
    session.flush()
    report.committed = True
    return report

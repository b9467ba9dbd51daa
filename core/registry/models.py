"""The resident registry's tables: the administrative hierarchy, dwellings, persons,
households, residence over time, organisations and the change history.

Design notes (the why; docs/registry.md has the what):

* **Hierarchy.** street (街道) → community (社区, 12-digit NBS statistical code) → grid (网格)
  → building (楼栋) → unit (单元) → dwelling (房号). A building always belongs to a community
  and usually to a grid (grids are redrawn more often than buildings move).
* **A person's current place is denormalised** onto the person (``dwelling_id``,
  ``grid_id``, ``community_id``), kept in step with the open :class:`Residence` row by the
  services. Staff scope filters ("persons in my community") and the ``moved`` event's
  ``from_community`` then need no joins; ``registry_residence`` stays the history.
* **Household membership** is a column pair on the person (``household_id``,
  ``relation``): a person is in at most one hukou household at a time, and
  ``registry_change`` keeps the history of both columns.
* **Search columns** (``name_pinyin``, ``name_initials``) hold the primary reading with the
  surname corrected; other readings of multi-reading characters go to
  ``registry_person_key`` (one row per extra reading, usually none), so every pinyin search
  is an index range scan (``col >= p AND col < p'``, see ``core.registry.pinyin``). On
  PostgreSQL these columns use the "C" collation: range predicates equal prefix matching
  only under code-point order, whatever the database's default collation is.
* **Optimistic locking**: ``version`` is SQLAlchemy's ``version_id_col`` on persons and
  organisations, so a concurrent writer's UPDATE matches no row and fails instead of
  silently overwriting; the services turn that into ``ConflictError``.
* **Indexes** are chosen for search and scope filters; the bulk loader drops the
  non-unique ones during a large load and rebuilds them after (``core.registry.bulk``).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, UTCDateTime, utcnow

_BigId = BigInteger().with_variant(Integer(), "sqlite")


def _c(length: int) -> String:
    """A string compared in code-point order on PostgreSQL too (prefix ranges need it)."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


# ------------------------------------------------------------------------------ places


class Street(Base):
    """街道 (or 镇/乡): the 9-digit township code = county (6) + township (3)."""

    __tablename__ = "registry_street"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(9), unique=True)
    name: Mapped[str] = mapped_column(String(100))


class Community(Base):
    """社区 (居委会) or 村 (村委会), keyed by its 12-digit statistical division code."""

    __tablename__ = "registry_community"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    street_id: Mapped[int] = mapped_column(ForeignKey("registry_street.id"), index=True)
    #: 城乡分类代码 (111 主城区 ... 220 村庄), optional.
    urban_rural: Mapped[str | None] = mapped_column(String(3))

    street: Mapped[Street] = relationship(lazy="joined")


class Grid(Base):
    """网格: a few hundred households looked after by one grid worker. Codes are unique
    across the deployment because staff scopes name grids by code alone."""

    __tablename__ = "registry_grid"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    community_id: Mapped[int] = mapped_column(ForeignKey("registry_community.id"), index=True)

    community: Mapped[Community] = relationship(lazy="joined")


class Building(Base):
    """楼栋, e.g. 幸福小区 3栋 at 幸福路88号."""

    __tablename__ = "registry_building"
    __table_args__ = (UniqueConstraint("community_id", "estate", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("registry_community.id"))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("registry_grid.id"), index=True)
    #: 小区 (residential estate); "" for a building on its own.
    estate: Mapped[str] = mapped_column(String(100), default="")
    name: Mapped[str] = mapped_column(String(50))
    #: Road and number (幸福路88号).
    address: Mapped[str] = mapped_column(String(200), default="")


class Unit(Base):
    """单元 (stairwell/entrance) of a building; "" when the building has none."""

    __tablename__ = "registry_unit"
    __table_args__ = (UniqueConstraint("building_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("registry_building.id"))
    name: Mapped[str] = mapped_column(String(20), default="")


class Dwelling(Base):
    """实有房屋: one room number (房号) in a unit. ``address`` is the full standard address,
    computed once when the dwelling is created, so address search scans one column."""

    __tablename__ = "registry_dwelling"
    __table_args__ = (UniqueConstraint("unit_id", "room"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("registry_unit.id"))
    room: Mapped[str] = mapped_column(String(20))
    floor: Mapped[int | None] = mapped_column(Integer)
    area_m2: Mapped[float | None] = mapped_column(Numeric(8, 2, asdecimal=False))
    #: self | rented | vacant | business (see ``core.registry.codes.DWELLING_USES``).
    use: Mapped[str] = mapped_column(String(16), default="self")
    is_rental: Mapped[bool] = mapped_column(Boolean, default=False)
    address: Mapped[str] = mapped_column(String(300), default="")
    #: Denormalised from the building so scope checks on a dwelling need no joins.
    community_id: Mapped[int] = mapped_column(ForeignKey("registry_community.id"), index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("registry_grid.id"))


# ------------------------------------------------------------------------------ persons


class Household(Base):
    """户: the hukou household (household book), with its head (户主). Members are the
    persons whose ``household_id`` points here, each with a ``relation`` to the head."""

    __tablename__ = "registry_household"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: 户号 from the household book, when known.
    number: Mapped[str | None] = mapped_column(String(32), unique=True)
    #: family (家庭户) | collective (集体户)
    kind: Mapped[str] = mapped_column(String(16), default="family")
    head_id: Mapped[int | None] = mapped_column(
        ForeignKey("registry_person.id", use_alter=True)
    )
    dwelling_id: Mapped[int | None] = mapped_column(ForeignKey("registry_dwelling.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Person(Base):
    """A natural person (实有人口). Sex and birth date are derived from an 18-digit ID number
    when there is one (and must agree with it); other documents carry them explicitly."""

    __tablename__ = "registry_person"
    __table_args__ = (
        Index("ix_registry_person_community_pinyin", "community_id", "name_pinyin"),
        Index("ix_registry_person_grid_pinyin", "grid_id", "name_pinyin"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(_c(50), index=True)
    name_pinyin: Mapped[str] = mapped_column(_c(120), index=True, default="")
    name_initials: Mapped[str] = mapped_column(_c(50), index=True, default="")
    #: resident_id | hmt_residence_permit | foreign_permanent | hk_macao_permit |
    #: taiwan_permit | passport | other (``core.registry.codes.ID_TYPES``)
    id_type: Mapped[str] = mapped_column(String(24), default="resident_id")
    id_number: Mapped[str | None] = mapped_column(String(32), unique=True)
    sex: Mapped[str | None] = mapped_column(String(1))  # M | F
    birth_date: Mapped[date | None] = mapped_column(Date)
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    #: GB 3304 two-digit code ("01" 汉族).
    ethnicity: Mapped[str | None] = mapped_column(String(2))
    #: ISO 3166-1 alpha-3; None means Chinese.
    nationality: Mapped[str | None] = mapped_column(String(3))
    #: local | floating | overseas | unregistered
    hukou_type: Mapped[str] = mapped_column(String(16), default="local")
    #: 户籍地址 for floating residents (where their hukou is).
    hukou_place: Mapped[str | None] = mapped_column(String(200))
    #: active | moved_out | deceased | merged
    status: Mapped[str] = mapped_column(String(16), default="active")
    died_on: Mapped[date | None] = mapped_column(Date)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("registry_person.id"))

    dwelling_id: Mapped[int | None] = mapped_column(ForeignKey("registry_dwelling.id"), index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("registry_grid.id"))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("registry_community.id"))
    household_id: Mapped[int | None] = mapped_column(
        ForeignKey("registry_household.id"), index=True
    )
    #: Relation to the household head, GB/T 4761 code ("02" 户主, "10" 配偶 ...).
    relation: Mapped[str | None] = mapped_column(String(2))

    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}


class PersonKey(Base):
    """Extra search keys: the other readings of a name with multi-reading characters
    (full pinyin ``kind="f"`` or initials ``kind="i"``), so 曾 is found as zeng and ceng."""

    __tablename__ = "registry_person_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(
        ForeignKey("registry_person.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(_c(120), index=True)
    kind: Mapped[str] = mapped_column(String(1))


class Residence(Base):
    """Who lived where, when, and as what (owner, tenant, other). ``ended_on`` is None for
    the current residence; a person has at most one current residence."""

    __tablename__ = "registry_residence"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("registry_person.id"), index=True)
    dwelling_id: Mapped[int] = mapped_column(ForeignKey("registry_dwelling.id"), index=True)
    role: Mapped[str] = mapped_column(String(8), default="other")  # owner | tenant | other
    started_on: Mapped[date | None] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)


class Ownership(Base):
    """Who owns a dwelling (业主), and since when: a person or an organisation (exactly
    one), with a share (0 < share <= 1; a dwelling's current shares sum to at most 1).
    ``ended_on`` None: a current owner. Rows are never deleted; ``registry_change``
    (entity "ownership") keeps who recorded what. The dwelling's ``area_m2`` is its
    专有部分面积 (exclusive area), which an owners' assembly weighs (Civil Code art. 278).
    Services: :mod:`core.registry.ownership`."""

    __tablename__ = "registry_ownership"

    id: Mapped[int] = mapped_column(primary_key=True)
    dwelling_id: Mapped[int] = mapped_column(ForeignKey("registry_dwelling.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("registry_person.id"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("registry_organisation.id"), index=True
    )
    share: Mapped[float] = mapped_column(Numeric(7, 6, asdecimal=False), default=1)
    started_on: Mapped[date | None] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# ------------------------------------------------------------------------------ organisations


class Organisation(Base):
    """实有单位: a legal person or other organisation, keyed by its unified social credit
    code (GB 32100)."""

    __tablename__ = "registry_organisation"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    #: enterprise | individual_business | social_organisation | public_institution |
    #: government | committee | other
    type: Mapped[str] = mapped_column(String(24), default="enterprise")
    address: Mapped[str] = mapped_column(String(300), default="")
    legal_rep_id: Mapped[int | None] = mapped_column(ForeignKey("registry_person.id"), index=True)
    community_id: Mapped[int | None] = mapped_column(
        ForeignKey("registry_community.id"), index=True
    )
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("registry_grid.id"))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | closed
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}


# ------------------------------------------------------------------------------ history


class Change(Base):
    """One field of one entity changed: old → new, who, when, through what (``via``: "core",
    "import", "demo", "cli" or a plugin id). Written by the services, never by hand. ID
    numbers and phones are stored masked here: the history must not become a second,
    unprotected copy of every number a person ever had."""

    __tablename__ = "registry_change"
    __table_args__ = (Index("ix_registry_change_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(String(24))
    entity_id: Mapped[int] = mapped_column(Integer)
    #: A column name, or "*" for creation ("created") and bulk operations.
    field: Mapped[str] = mapped_column(String(40))
    old: Mapped[str | None] = mapped_column(Text)
    new: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_name: Mapped[str] = mapped_column(String(64), default="")
    via: Mapped[str] = mapped_column(String(40), default="core")
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: The :class:`RegistryImport` that made this change (None: not an import), so an
    #: import's changes can be listed and reverted as a whole.
    import_id: Mapped[int | None] = mapped_column(Integer, index=True)
    #: Why (a correction import's reason, "revert import N"); None when not given.
    reason: Mapped[str | None] = mapped_column(Text)


class RegistryImport(Base):
    """One committed import (dry runs are never stored): who, from which file, with which
    options, what it did, and whether it was reverted. Its id is on every
    ``registry_change`` row the import wrote (``Change.import_id``)."""

    __tablename__ = "registry_import"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(255), default="")
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_name: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    correction: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(Text, default="")
    community: Mapped[str | None] = mapped_column(String(12))
    blank_clears: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    reverted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reverted_by_id: Mapped[int | None] = mapped_column(Integer)
    reverted_by_name: Mapped[str] = mapped_column(String(64), default="")


class RegistryImportUndo(Base):
    """What reverting an import needs and the history must not hold: per person the import
    updated, the full values before and after (ID numbers and phones unmasked), sealed
    (AES-256-GCM, key derived from the secret key, see ``core.registry.importer.revert``);
    one row (``person_id`` None) with the id ranges of what the import created. Deleted
    after the retention (``UNDO_RETENTION_DAYS``) or when the import is reverted."""

    __tablename__ = "registry_import_undo"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    import_id: Mapped[int] = mapped_column(Integer, index=True)
    person_id: Mapped[int | None] = mapped_column(Integer)
    sealed: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

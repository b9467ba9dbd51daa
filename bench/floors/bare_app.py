"""The floors of the HTTP benchmarks: bare Flask + SQLAlchemy ORM + marshmallow + Jinja.

* ``GET /person/<id>`` (``api_read``, ``api_read_sensitive``): reads the registry person
  row by primary key from the same database Shequ uses (one short ORM session per request,
  as Shequ does) and dumps its columns with marshmallow. No authentication, no masking, no
  plugins, no extensions, no per-request hooks.
* ``GET /user/<id>``: the same for an account row (``bench.profile`` compares token look-ups
  with it).
* ``GET /page`` (``page_resident_home``): renders ``templates/page.html`` — a layout with a
  header, navigation, cards and a footer, autoescaped, with a loop per section — with as
  many cards as it takes to match ``BENCH_PAGE_BYTES`` (the size of the real resident home
  page the bench captured), within one card. No database, no session, no i18n.

    BENCH_DB_URL=sqlite:////tmp/x/shequ.db BENCH_PAGE_BYTES=5600 gunicorn -w 2 \\
        -b 127.0.0.1:8001 bench.floors.bare_app:app
    curl http://127.0.0.1:8001/person/1
"""

from __future__ import annotations

import os
from datetime import date, datetime
from typing import Any

from flask import Flask, abort, render_template
from marshmallow import Schema, fields
from sqlalchemy import Boolean, Date, DateTime, Integer, String, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "identity_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(Boolean)


class Person(Base):
    """The columns of ``registry_person`` (core.registry.models.Person) as plain types."""

    __tablename__ = "registry_person"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    name_pinyin: Mapped[str] = mapped_column(String(120))
    name_initials: Mapped[str] = mapped_column(String(50))
    id_type: Mapped[str] = mapped_column(String(24))
    id_number: Mapped[str | None] = mapped_column(String(32))
    sex: Mapped[str | None] = mapped_column(String(1))
    birth_date: Mapped[date | None] = mapped_column(Date)
    phone: Mapped[str | None] = mapped_column(String(20))
    ethnicity: Mapped[str | None] = mapped_column(String(2))
    nationality: Mapped[str | None] = mapped_column(String(3))
    hukou_type: Mapped[str] = mapped_column(String(16))
    hukou_place: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    died_on: Mapped[date | None] = mapped_column(Date)
    merged_into_id: Mapped[int | None] = mapped_column(Integer)
    dwelling_id: Mapped[int | None] = mapped_column(Integer)
    grid_id: Mapped[int | None] = mapped_column(Integer)
    community_id: Mapped[int | None] = mapped_column(Integer)
    household_id: Mapped[int | None] = mapped_column(Integer)
    relation: Mapped[str | None] = mapped_column(String(2))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class UserSchema(Schema):
    id = fields.Integer(required=True)
    username = fields.String(required=True)
    display_name = fields.String(required=True)
    kind = fields.String(required=True)
    is_active = fields.Boolean(required=True)


class PersonSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    id_type = fields.String(required=True)
    id_number = fields.String(allow_none=True)
    sex = fields.String(allow_none=True)
    birth_date = fields.Date(allow_none=True)
    phone = fields.String(allow_none=True)
    ethnicity = fields.String(allow_none=True)
    nationality = fields.String(allow_none=True)
    hukou_type = fields.String(required=True)
    hukou_place = fields.String(allow_none=True)
    status = fields.String(required=True)
    died_on = fields.Date(allow_none=True)
    dwelling_id = fields.Integer(allow_none=True)
    grid_id = fields.Integer(allow_none=True)
    community_id = fields.Integer(allow_none=True)
    household_id = fields.Integer(allow_none=True)
    relation = fields.String(allow_none=True)
    version = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # The same connection settings as Shequ's (core.db), so the floor is not handicapped.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def page_context(cards: int) -> dict[str, Any]:
    """What the floor page renders: a fixed navigation and ``cards`` cards."""
    nav = [{"url": f"/service/{i}", "label": f"Service {i}", "current": i == 0} for i in range(8)]
    items = [
        {
            "title": f"Notice number {i}: water, waste & <repairs>",
            "url": f"/notices/{i}",
            "date": f"2026-11-{i % 28 + 1:02d}",
            "text": "The building's water will be off on Tuesday morning; "
            "please store water the evening before.",
        }
        for i in range(cards)
    ]
    return {"title": "Home", "user": "Resident", "nav": nav, "items": items, "unread": 3}


def cards_for(app: Flask, target_bytes: int) -> int:
    """How many cards make the floor page as large as ``target_bytes`` (within one card)."""
    with app.test_request_context():
        base = len(render_template("page.html", **page_context(0)).encode())
        one = len(render_template("page.html", **page_context(1)).encode()) - base
    return max(0, round((target_bytes - base) / max(one, 1)))


def make_app(url: str, page_bytes: int = 5600) -> Flask:
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    Session = sessionmaker(engine, expire_on_commit=False)
    user_schema, person_schema = UserSchema(), PersonSchema()
    app = Flask(__name__)
    app.extensions["bench.engine"] = engine  # for bench.profile's statement count
    context = page_context(cards_for(app, page_bytes))

    @app.get("/user/<int:uid>")
    def user(uid: int) -> Any:
        with Session() as session:
            row = session.get(User, uid)
            if row is None:
                abort(404)
            return user_schema.dump(row)

    @app.get("/person/<int:pid>")
    def person(pid: int) -> Any:
        with Session() as session:
            row = session.get(Person, pid)
            if row is None:
                abort(404)
            return person_schema.dump(row)

    @app.get("/page")
    def page() -> Any:
        return render_template("page.html", **context)

    return app


app = make_app(
    os.environ.get("BENCH_DB_URL", "sqlite:///instance/shequ.db"),
    int(os.environ.get("BENCH_PAGE_BYTES", "5600")),
)

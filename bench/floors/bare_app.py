"""The floor for ``api_read``: bare Flask + SQLAlchemy ORM + marshmallow.

It reads the benchmark user's row by primary key from the same database Shequ uses (one
short ORM session per request, as Shequ does) and dumps it with marshmallow. No plugins,
no authentication, no extensions, no per-request hooks.

    BENCH_DB_URL=sqlite:////tmp/x/shequ.db gunicorn -w 2 -b 127.0.0.1:8001 \\
        bench.floors.bare_app:app
    curl http://127.0.0.1:8001/user/1
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, abort
from marshmallow import Schema, fields
from sqlalchemy import Boolean, String, create_engine, event
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


class UserSchema(Schema):
    id = fields.Integer(required=True)
    username = fields.String(required=True)
    display_name = fields.String(required=True)
    kind = fields.String(required=True)
    is_active = fields.Boolean(required=True)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # The same connection settings as Shequ's (core.db), so the floor is not handicapped.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def make_app(url: str) -> Flask:
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    Session = sessionmaker(engine, expire_on_commit=False)
    schema = UserSchema()
    app = Flask(__name__)
    app.extensions["bench.engine"] = engine  # for bench.profile's statement count

    @app.get("/user/<int:uid>")
    def user(uid: int) -> Any:
        with Session() as session:
            row = session.get(User, uid)
            if row is None:
                abort(404)
            return schema.dump(row)

    return app


app = make_app(os.environ.get("BENCH_DB_URL", "sqlite:///instance/shequ.db"))

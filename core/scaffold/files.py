"""The files ``shequ plugin new`` writes, with placeholders (see :mod:`core.scaffold`).

Kept as strings in a module, not as loose files, so they ship with core's wheel and no
test collector or linter mistakes them for code of this project. Placeholders:
``__id__`` (plugin id), ``__area__`` (URL area), ``__pkg__`` (package), ``__dist__``
(distribution), ``__Cls__`` (class prefix), ``__title__``, ``__rev__`` (the first
revision's id), ``__date__``.
"""

from __future__ import annotations

FILES: dict[str, str] = {}

FILES["pyproject.toml"] = '''\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "__dist__"
version = "0.1.0"
description = "__title__: a Shequ plugin"
requires-python = ">=3.11"
dependencies = ["shequ"]

# Discovery: installing this distribution makes the plugin *available* as "__id__";
# it runs only once "__id__" is listed in [plugins] enabled.
[project.entry-points."shequ.plugins"]
__id__ = "__pkg__"

[tool.setuptools.packages.find]
include = ["__pkg__*"]

# Templates, migrations and translations are data to setuptools: list them, or the wheel
# ships a plugin without its pages and tables.
[tool.setuptools.package-data]
__pkg__ = [
    "templates/*/*.html",
    "migrations/*.py",
    "migrations/*.mako",
    "migrations/versions/*.py",
    "translations/*/LC_MESSAGES/*.po",
    "translations/*/LC_MESSAGES/*.mo",
]

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["."]
addopts = "-ra"
'''

FILES["README.md"] = '''\
# __dist__

__title__: a Shequ (社区) plugin, plugin id `__id__`. Made by
`shequ plugin new __id__`; docs/plugin-guide.md in Shequ explains every file.

```sh
pytest                                  # its tests pass as generated
shequ run --dev --plugin __pkg__        # try it without installing: /__area__/
pip install -e .                        # then list "__id__" in [plugins] enabled
shequ db upgrade && shequ run
```
'''

FILES[".gitignore"] = '''\
*.mo
__pycache__/
*.egg-info/
'''

FILES["babel.cfg"] = '''\
# pybabel extract -F babel.cfg -k _l -o __pkg__/translations/messages.pot .
[python: __pkg__/**.py]
[jinja2: __pkg__/templates/**.html]
'''

FILES["__pkg__/__init__.py"] = '''\
"""__title__: the plugin's manifest and its hook implementations.

Everything from core comes from ``core.toolkit`` and ``core.hookspecs`` (and, in tests,
``core.testing``): nothing else in core is public.
"""

from __future__ import annotations

from typing import Any

from core.hookspecs import NavItem, Permission, PluginInfo, hookimpl
from marshmallow import Schema, fields, validate


class __Cls__Config(Schema):
    """``[plugins.__id__]`` in the config file; validated at start-up."""

    page_size = fields.Integer(load_default=20, validate=validate.Range(1, 100))


info = PluginInfo(
    id="__id__",
    version="0.1.0",
    title="__title__",
    title_zh="__title__",
    description="__title__: a Shequ plugin.",
    requires_core=">=1.1,<2",
    config_schema=__Cls__Config,
)

#: Permission names are ``<id>.<thing>.<action>``, lowercase (checked at start-up).
READ = "__id__.item.read"
MANAGE = "__id__.item.manage"


@hookimpl
def register_blueprints(app: Any) -> list[Any]:
    from __pkg__.views import bp

    return [bp]  # mounted at /__area__/


@hookimpl
def register_api(api: Any) -> list[Any]:
    from __pkg__.api import blp

    return [blp]  # mounted at /api/v1/__area__/


@hookimpl
def register_event_handlers(bus: Any) -> None:
    from __pkg__.services import follow_move

    bus.subscribe("registry.person.moved", follow_move, name="follow_move")


@hookimpl
def register_permissions() -> list[Permission]:
    return [
        Permission(READ, "See items", "查看条目"),
        Permission(MANAGE, "Add items", "添加条目"),
    ]


@hookimpl
def default_roles() -> dict[str, list[str]]:
    return {"resident": [READ], "community_worker": [READ, MANAGE], "auditor": [READ]}


@hookimpl
def nav_items(user: Any) -> list[NavItem]:
    from core.toolkit import has_permission

    if not has_permission(user, READ):
        return []
    return [NavItem(label=info.title, label_zh=info.title_zh, url="/__area__/", order=95)]
'''

FILES["__pkg__/models.py"] = '''\
"""The plugin's tables. Their names start with the plugin id, so the ``__id__`` migration
tree owns them and no other tree touches them."""

from __future__ import annotations

from datetime import datetime

from core.toolkit import Base, UTCDateTime, utcnow
from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column


class __Cls__Item(Base):
    __tablename__ = "__id___item"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200), unique=True)
    #: The registry person the item concerns, by id only: names, phones and addresses
    #: stay in the registry and are read through toolkit.registry_reader when shown.
    person_id: Mapped[int | None] = mapped_column(Integer, index=True)
    #: The person's community code, kept in step by the registry.person.moved subscriber.
    community: Mapped[str | None] = mapped_column(String(12), index=True)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
'''

FILES["__pkg__/schemas.py"] = '''\
"""marshmallow schemas: the API's input and output. OpenAPI component names are global,
so they are prefixed with the plugin."""

from __future__ import annotations

from core.toolkit import LINE, Pattern, page_schema
from marshmallow import Schema, fields, validate

# LINE (the toolkit's): some visible text, no control characters. Stated in the schema,
# so the OpenAPI document says what the service accepts.


class __Cls__ItemIn(Schema):
    title = fields.String(
        required=True,
        validate=[validate.Length(1, 200), Pattern(LINE, error="Enter a title.")],
    )


class __Cls__Item(Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    community = fields.String(allow_none=True)
    created_at = fields.DateTime(required=True)


__Cls__ItemPage = page_schema(__Cls__Item, "__Cls__ItemPage")
'''

FILES["__pkg__/services.py"] = '''\
"""The rules, as plain functions over a session: no Flask, no commit. The page, the API,
the tests and the event handler all call these."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from __pkg__.models import __Cls__Item


class ItemError(ValueError):
    """A rule was broken; ``field`` names the input it concerns. The API answers 409 (the
    request matched the schema, the data refused it), the page shows it at the field."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


def create_item(session: Session, *, title: str, created_by_id: int | None,
                person_id: int | None = None, community: str | None = None) -> __Cls__Item:
    title = (title or "").strip()
    if not title:
        raise ItemError("Enter a title.", "title")
    if session.scalar(select(__Cls__Item.id).where(__Cls__Item.title == title)) is not None:
        raise ItemError("An item with this title exists already.", "title")
    item = __Cls__Item(title=title, created_by_id=created_by_id, person_id=person_id,
                       community=community)
    session.add(item)
    session.flush()
    return item


def items_query() -> Select:
    return select(__Cls__Item).order_by(__Cls__Item.id.desc())


def recent_items(session: Session, limit: int = 20) -> list[__Cls__Item]:
    return list(session.scalars(items_query().limit(limit)))


def get_item(session: Session, item_id: int) -> __Cls__Item | None:
    return session.get(__Cls__Item, item_id)


def follow_move(event: Any, session: Session) -> None:
    """``registry.person.moved``: keep the community of the person's items in step.
    Idempotent (delivery is at least once); works in the given session, never commits."""
    person_id = event.payload["person_id"]
    for item in session.scalars(select(__Cls__Item).where(__Cls__Item.person_id == person_id)):
        item.community = event.payload["to_community"]
'''

FILES["__pkg__/api.py"] = '''\
"""The JSON API, mounted by core at ``/api/v1/__area__``. ``endpoint`` goes outermost: it
checks the permission before the body is read and documents 401, 403 and the errors
listed, with core's "Error" schema."""

from __future__ import annotations

from core.toolkit import ApiBlueprint, PageArgs, current_session, endpoint, paginate
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort

from __pkg__ import MANAGE, READ
from __pkg__.schemas import __Cls__Item, __Cls__ItemIn, __Cls__ItemPage
from __pkg__.services import ItemError, create_item, get_item, items_query

blp = ApiBlueprint("__id___api", __name__, description="__title__")


@blp.route("/items")
class Items(MethodView):
    @endpoint(blp, READ, errors=(422,))
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, __Cls__ItemPage)
    def get(self, args):
        """Items, newest first (paginated)."""
        return paginate(current_session(), items_query(), args)

    @endpoint(blp, MANAGE, errors=(409, 422), descriptions={409: "The title is taken"})
    @blp.arguments(__Cls__ItemIn)
    @blp.response(201, __Cls__Item)
    def post(self, data):
        """Add an item."""
        session = current_session()
        try:
            item = create_item(session, title=data["title"], created_by_id=current_user.id)
        except ItemError as exc:
            abort(409, message=str(exc), messages={exc.field: [str(exc)]})
        session.commit()
        return item


@blp.route("/items/<int:item_id>")
class ItemById(MethodView):
    @endpoint(blp, READ, errors=(404,))
    @blp.response(200, __Cls__Item)
    def get(self, item_id):
        """One item."""
        item = get_item(current_session(), item_id)
        if item is None:
            abort(404, message="No such item.")
        return item
'''

FILES["__pkg__/views.py"] = '''\
"""Pages, mounted by core at ``/__area__``. Thin: the rules are in ``services``."""

from __future__ import annotations

from core.toolkit import Length, current_session, has_permission, plugin_settings, require
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired

from __pkg__ import MANAGE, READ, info
from __pkg__.services import ItemError, create_item, recent_items

bp = Blueprint("__id__", __name__, template_folder="templates")


class ItemForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])


@bp.route("/", methods=["GET", "POST"])
@require(READ)
def index():
    may_manage = has_permission(current_user, MANAGE)
    if request.method == "POST" and not may_manage:
        abort(403)
    form = ItemForm()
    session = current_session()
    if may_manage and form.validate_on_submit():
        try:
            create_item(session, title=form.title.data, created_by_id=current_user.id)
        except ItemError as exc:
            getattr(form, exc.field).errors.append(_(str(exc)))
        else:
            session.commit()
            flash(_("Item added."), "success")
            return redirect(url_for("__id__.index"))
    page_size = plugin_settings(info.id)["page_size"]
    return render_template(
        "__id__/index.html", form=form, may_manage=may_manage,
        items=recent_items(session, limit=page_size),
    ), 400 if form.errors else 200
'''

FILES["__pkg__/templates/__id__/index.html"] = '''\
{% extends "base.html" %}
{% block title %}{{ _("__title__") }}{% endblock %}
{% block content %}
<h1>{{ _("__title__") }}</h1>

{% if may_manage %}
{% if form.errors %}
<div class="error-summary" role="alert" tabindex="-1">
  <h2>{{ _("There is a problem") }}</h2>
  <ul>
    {% for name, errs in form.errors.items() %}{% for e in errs %}
    <li><a href="#{{ name }}">{{ e }}</a></li>
    {% endfor %}{% endfor %}
  </ul>
</div>
{% endif %}
<form method="post" novalidate>
  {{ form.hidden_tag() }}
  <div class="field{% if form.title.errors %} field-error{% endif %}">
    {{ form.title.label }}
    {% for e in form.title.errors %}
    <p class="error-message" id="title-error">{{ e }}</p>
    {% endfor %}
    {{ form.title(**({"aria-describedby": "title-error"} if form.title.errors else {})) }}
  </div>
  <button type="submit" class="button">{{ _("Add") }}</button>
</form>
{% endif %}

<h2>{{ _("Items") }}</h2>
{% if items %}
<ul class="item-list">
  {% for item in items %}<li class="item">{{ item.title }}</li>{% endfor %}
</ul>
{% else %}
<p class="empty">{{ _("No items yet.") }}</p>
{% endif %}
{{ slot("__id__.index.after_items") }}
{% endblock %}
'''

FILES["__pkg__/migrations/env.py"] = '''\
"""Alembic environment: core's shared runner (own version table, own tables only)."""

from core.toolkit import run_migrations as run

run()
'''

FILES["__pkg__/migrations/script.py.mako"] = '''\
"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""
from alembic import op
import sqlalchemy as sa
import core.toolkit
${imports if imports else ""}

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
'''

FILES["__pkg__/migrations/versions/__rev_____id___item_table.py"] = '''\
"""__id__: item table

Revision ID: __rev__
Revises:
Create Date: __date__

Written by ``shequ plugin new __id__``. For the next change, edit models.py and run
``shequ db revision -m "__id__: ..." --plugin __id__`` (docs/plugin-guide.md, section 3).
"""

import core.toolkit
import sqlalchemy as sa
from alembic import op

revision = "__rev__"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "__id___item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("community", sa.String(length=12), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", core.toolkit.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["identity_user.id"],
            name=op.f("fk___id___item_created_by_id_identity_user"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk___id___item")),
        sa.UniqueConstraint("title", name=op.f("uq___id___item_title")),
    )
    with op.batch_alter_table("__id___item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix___id___item_person_id"), ["person_id"])
        batch_op.create_index(batch_op.f("ix___id___item_community"), ["community"])


def downgrade() -> None:
    with op.batch_alter_table("__id___item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix___id___item_community"))
        batch_op.drop_index(batch_op.f("ix___id___item_person_id"))
    op.drop_table("__id___item")
'''

FILES["__pkg__/translations/zh/LC_MESSAGES/messages.po"] = '''\
# Chinese translations for __dist__.
msgid ""
msgstr ""
"Project-Id-Version: __dist__ 0.1.0\\n"
"Language: zh\\n"
"MIME-Version: 1.0\\n"
"Content-Type: text/plain; charset=utf-8\\n"
"Content-Transfer-Encoding: 8bit\\n"

msgid "__title__"
msgstr "__title__"

msgid "Title"
msgstr "标题"

msgid "Add"
msgstr "添加"

msgid "Items"
msgstr "条目"

msgid "No items yet."
msgstr "还没有条目。"

msgid "Item added."
msgstr "条目已添加。"

msgid "There is a problem"
msgstr "有问题需要处理"

msgid "Enter a title."
msgstr "请填写标题。"

msgid "An item with this title exists already."
msgstr "已有同名条目。"
'''

FILES["tests/test___id__.py"] = '''\
"""__title__'s own tests, on the fixtures Shequ ships as its ``shequ`` pytest plugin
(core/testing.py). They pass as generated; run them with ``pytest`` (SQLite) or with
SHEQU_TEST_DATABASE_URL=postgresql+psycopg://... pytest (PostgreSQL)."""

from __future__ import annotations

import pytest
from core.testing import C1, C2, RegistryData, assert_api_fuzzes, csrf_token
from core.toolkit import kernel_of
from sqlalchemy import inspect, select

import __pkg__
from __pkg__.models import __Cls__Item
from __pkg__.services import create_item

PAGE = "/__area__/"
API = "/api/v1/__area__/items"


@pytest.fixture
def app(make_app):
    """Every fixture built on ``app`` (client, client_as, token_for, events, db_session)
    sees an app with only this plugin enabled. ``extra`` hands the package in directly,
    so the tests run before it is installed; once it is, the same module is used."""
    return make_app(plugins=["__id__"], extra={"__id__": __pkg__})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_migration_made_the_table(app):
    tables = set(inspect(kernel_of(app).db.engine).get_table_names())
    assert {"__id___item", "__id___alembic_version"} <= tables


def test_the_page_lists_and_adds(client_as):
    worker = client_as("community_worker")
    assert worker.get(PAGE).status_code == 200
    token = csrf_token(worker, PAGE)
    resp = worker.post(PAGE, data={"title": "第一条", "csrf_token": token})
    assert resp.status_code == 302
    assert "第一条" in worker.get(PAGE).get_data(as_text=True)
    again = worker.post(PAGE, data={"title": "第一条", "csrf_token": token})
    assert again.status_code == 400  # the rule, shown at the field


def test_residents_read_but_do_not_add(client, client_as):
    resident = client_as("resident")
    page = resident.get(PAGE)
    assert page.status_code == 200 and 'name="title"' not in page.get_data(as_text=True)
    token = csrf_token(resident, PAGE)
    assert resident.post(PAGE, data={"title": "x", "csrf_token": token}).status_code == 403
    assert client.get(PAGE).status_code in (302, 401)  # signed out: to the sign-in page


def test_api(client, token_for):
    assert client.get(API).status_code == 401
    resident = bearer(token_for("resident"))
    assert client.get(API, headers=resident).json["total"] == 0
    assert client.post(API, json={"title": "x"}, headers=resident).status_code == 403
    worker = bearer(token_for("community_worker"))
    created = client.post(API, json={"title": "第一条"}, headers=worker)
    assert created.status_code == 201, created.json
    taken = client.post(API, json={"title": "第一条"}, headers=worker)
    assert taken.status_code == 409
    assert taken.json["error"]["fields"] == {"title": ["An item with this title exists already."]}
    item = client.get(f"{API}/{created.json['id']}", headers=resident)
    assert item.json["title"] == "第一条"
    missing = client.get(f"{API}/999999", headers=resident)
    assert missing.status_code == 404 and missing.json["error"]["message"] == "No such item."


def test_follows_a_move_in_the_registry(app):
    data = RegistryData(app)  # real registry rows, real registry.person.moved events
    person = data.person("张三")
    kernel = kernel_of(app)
    with app.app_context(), kernel.db.session_scope() as session:
        create_item(session, title="借书证", created_by_id=None, person_id=person, community=C1)
    data.move(person, "d3")  # to a dwelling in community C2
    data.deliver()  # run the subscribers
    with app.app_context(), kernel.db.session_scope() as session:
        assert session.scalar(select(__Cls__Item.community)) == C2


def test_api_survives_the_fuzzer(app):
    assert_api_fuzzes(app, "/api/v1/__area__", max_examples=10)
'''

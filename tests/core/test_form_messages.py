"""Every length message on a page names its field.

A resident on a phone reads a form's errors in the summary at the top of the page; "Field
cannot be longer than 200 characters" there does not say which field. So every ``Length``
validator of every form in core and the plugins is run over a value that breaks it, and its
message must name the field's label (docs/toolkit.md, ``Length``). A new form that uses
WTForms' own ``Length``, or a message of its own that forgets the field, fails here.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from wtforms import Form, StringField
from wtforms.fields.core import UnboundField
from wtforms.meta import DefaultMeta
from wtforms.validators import Length as WTFormsLength
from wtforms.validators import ValidationError

from core.toolkit import Length
from core.web.forms import label_name, length_message

ROOT = Path(__file__).resolve().parents[2]
#: The scaffold holds a plugin's files as strings; its forms are checked once generated.
SKIP = ("core/scaffold/", "/migrations/")


def _form_modules() -> list[str]:
    """Every module of core and the plugins that imports WTForms."""
    names = []
    for path in sorted([*ROOT.joinpath("core").rglob("*.py"),
                        *ROOT.joinpath("plugins").rglob("*.py")]):
        rel = path.relative_to(ROOT).as_posix()
        if any(s in rel for s in SKIP):
            continue
        if re.search(r"^\s*from wtforms\b", path.read_text(encoding="utf-8"), re.M):
            names.append(rel[:-3].replace("/", ".").removesuffix(".__init__"))
    return names


def _form_classes() -> list[type[Form]]:
    found = []
    for name in _form_modules():
        module = importlib.import_module(name)
        for obj in vars(module).values():
            if (isinstance(obj, type) and issubclass(obj, Form)
                    and obj.__module__ == module.__name__):
                found.append(obj)
    return found


def _length_checks(form_cls: type[Form]) -> list[tuple[str, UnboundField, WTFormsLength]]:
    out = []
    for name in dir(form_cls):
        unbound = getattr(form_cls, name, None)
        if not isinstance(unbound, UnboundField):
            continue
        validators = unbound.kwargs.get("validators") or (
            unbound.args[1] if len(unbound.args) > 1 else ())
        out += [(name, unbound, v) for v in validators or () if isinstance(v, WTFormsLength)]
    return out


def unnamed(form_cls: type[Form]) -> list[str]:
    """The fields of ``form_cls`` whose length message, in the request's language, does
    not name the field's label (with its number)."""
    bad = []
    for name, unbound, check in _length_checks(form_cls):
        field = unbound.bind(form=None, name=name, _meta=DefaultMeta())
        field.data = "x" * (check.max + 1) if check.max != -1 else ""
        try:
            check(None, field)
        except ValidationError as exc:
            message = str(exc)
        else:
            bad.append(f"{form_cls.__qualname__}.{name}: no error for a breaking value")
            continue
        label = label_name(field.label.text)
        if not label or label not in message:
            bad.append(f"{form_cls.__module__}.{form_cls.__qualname__}.{name}: {message!r}")
    return bad


FORMS = _form_classes()


def test_every_form_module_is_walked():
    """The walk reaches core's and the plugins' forms (a broken walk would pass anything)."""
    modules = {f.__module__ for f in FORMS}
    assert {"core.identity.views", "core.registry.views.persons",
            "plugins.self_governance.views.forms", "plugins.commerce.views.forms",
            "plugins.matters.forms"} <= modules
    assert sum(len(_length_checks(f)) for f in FORMS) > 100


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_length_message_names_its_field(app, lang):
    with app.test_request_context(headers={"Cookie": f"shequ_lang={lang}"}):
        bad = [line for form_cls in FORMS for line in unnamed(form_cls)]
    assert not bad, "length messages that do not name their field:\n" + "\n".join(bad)


def test_wtforms_own_length_is_caught(app):
    """The check can fail: WTForms' default message names no field."""

    class Plain(Form):
        title = StringField("Title", validators=[WTFormsLength(max=5)])

    class Named(Form):
        title = StringField("Title", validators=[Length(max=5)])

    with app.test_request_context(headers={"Cookie": "shequ_lang=en"}):
        assert unnamed(Plain) and not unnamed(Named)


def test_the_message_is_the_label_and_one_pattern(app):
    with app.test_request_context(headers={"Cookie": "shequ_lang=en"}):
        assert length_message("Title", max=200) == "Title: at most 200 characters."
        assert length_message("Title", 0, 200) == "Title: at most 200 characters."
        assert length_message("Why is it cancelled?", 4, 500) == \
            "Why is it cancelled: 4 to 500 characters."
        assert length_message("Code", 6, 6) == "Code: exactly 6 characters."
        assert length_message("Code", min=6) == "Code: at least 6 characters."
        assert length_message("Comment (optional)", max=9) == "Comment: at most 9 characters."
    with app.test_request_context(headers={"Cookie": "shequ_lang=zh"}):
        assert length_message("标题", max=200) == "标题：最多 200 个字符。"


def test_the_sign_in_page_names_the_field_that_is_too_long(app, client):
    """Through the page: the error summary says which field (in zh by default)."""
    from core.testing import csrf_token

    token = csrf_token(client, "/account/login")
    resp = client.post("/account/login", data={
        "csrf_token": token, "username": "u" * 65, "password": "whatever-password"})
    page = resp.get_data(as_text=True)
    assert "最多 64 个字符" in page
    assert re.search(r"用户名[^<]*：最多 64 个字符。", page), page[:2000]

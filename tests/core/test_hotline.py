"""Hotline numbers per community (issue 16, item 8): ``[app] hotline`` for the district,
``[app.hotlines]`` per community or street code; pages that tell people to call show
the reader's own community's number as a ``tel:`` link."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from core.config import DEFAULT_CONFIG, ConfigError, load_config
from core.current import kernel_of
from core.demo import DEMO_ACCOUNTS
from core.toolkit import Hotline, hotline_for
from core.web.hotline import tel_link

NUMBERS = {"app": {"hotline": "12345",
                   "hotlines": {"110105001": "010-6400 0000",
                                "110105001001": "010-6400 0001"}}}


def _config(app: dict[str, Any]) -> Any:
    return SimpleNamespace(app=app)


def test_the_most_specific_number_wins() -> None:
    cfg = _config(NUMBERS["app"])
    assert hotline_for("110105001001", config=cfg) == Hotline("010-6400 0001", "110105001001")
    assert hotline_for("110105001002", config=cfg).number == "010-6400 0000"  # its street
    assert hotline_for("110105002001", config=cfg) == Hotline("12345", "")  # the district
    assert hotline_for(None, config=cfg).number == "12345"
    assert not hotline_for("110105001001", config=_config({"hotline": "", "hotlines": {}}))


def test_a_hotline_renders_as_a_tel_link_and_nothing_without_a_number() -> None:
    found = Hotline("010-6400 0001")
    assert found.tel == "tel:01064000001"
    assert found.__html__() == '<a class="tel-link" href="tel:01064000001">010-6400 0001</a>'
    assert Hotline("+86 10 6400 0001").tel == "tel:+861064000001"
    assert Hotline().__html__() == "" and not Hotline()
    assert str(tel_link("138 0000 1111")) == (
        '<a class="tel-link" href="tel:13800001111">138 0000 1111</a>')
    assert str(tel_link("138****1111")) == "138****1111"  # masked: nothing to dial
    assert str(tel_link(None)) == "—"
    assert str(tel_link('1<script>')) == "1&lt;script&gt;"


def test_the_config_refuses_a_number_that_cannot_be_dialled(tmp_path: Any) -> None:
    assert load_config(DEFAULT_CONFIG, environ={}).app["hotline"] == "12345"
    path = tmp_path / "bad.toml"
    path.write_text('[app]\nhotline = "call us"\n[app.hotlines]\n"11x" = "12345"\n',
                    encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    text = str(err.value)
    assert "app.hotline" in text and "app.hotlines" in text


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from core.testing import build_test_app, seed_demo

    app, cleanup = build_test_app(tmp_path_factory.mktemp("hotline"),
                                  plugins=["commerce"], config=NUMBERS)
    with app.app_context():
        seed_demo(app)
    yield app
    cleanup()


def _resident(app: Any) -> tuple[Any, str]:
    """The demo resident signed in, and their community's code."""
    import re

    from core.identity.models import User
    from core.registry.models import Community, Person

    with kernel_of(app).db.session_scope() as session:
        user = session.scalar(select(User).where(User.username == DEMO_ACCOUNTS["resident"][0]))
        code = session.scalar(select(Community.code).join(
            Person, Person.community_id == Community.id).where(Person.id == user.person_id))
    client = app.test_client()
    page = client.get("/account/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    resp = client.post("/account/login", data={
        "username": DEMO_ACCOUNTS["resident"][0], "password": DEMO_ACCOUNTS["resident"][1],
        "csrf_token": token.group(1) if token else ""})
    assert resp.status_code in (302, 303)
    return client, code


def test_pages_that_say_call_give_the_residents_own_number(demo_app: Any) -> None:
    client, code = _resident(demo_app)
    expected = hotline_for(code, config=_config(NUMBERS["app"]))
    assert expected.source.startswith("110105")  # the demo lives in the configured street
    for path in ("/account/access-log", "/commerce/"):
        html = client.get(path).get_data(as_text=True)
        assert f'href="{expected.tel}"' in html, path
        assert "社区服务热线" in html
    # someone with no community of their own gets the district's number
    html = demo_app.test_client().get("/commerce/").get_data(as_text=True)
    assert 'href="tel:12345"' in html

"""The layout's words, links and CSRF token are resolved once (core/web/shell.py) and still
follow what can change them: the language of the request, ``force_locale``, a plugin's
catalogue, the mount point, the session's token (docs/performance.md,
``page_resident_home``)."""

from __future__ import annotations

import re

import pytest
from flask import render_template_string
from flask_babel import force_locale

from core.web.i18n import LANG_COOKIE

PLUGINS = ["gov_services", "commerce", "self_governance", "surveillance"]


@pytest.fixture
def app(make_app):
    return make_app(plugins=PLUGINS)


def test_the_layout_words_follow_each_request_language_in_one_process(app):
    zh, en = app.test_client(), app.test_client()
    en.set_cookie(LANG_COOKIE, "en")
    for _ in range(2):  # the second round is served from what the first one kept
        page_zh, page_en = zh.get("/").text, en.get("/").text
        assert "跳到正文" in page_zh and "Skip to main content" not in page_zh
        assert "Skip to main content" in page_en and "跳到正文" not in page_en
        assert ">首页<" in page_zh and ">Home<" in page_en


def test_template_words_follow_force_locale_inside_a_request(app):
    with app.test_request_context("/"):
        assert render_template_string("{{ _('Home') }}") == "首页"
        with force_locale("en"):
            assert render_template_string("{{ _('Home') }}") == "Home"
        assert render_template_string("{{ _('Home') }}") == "首页"


def test_variables_are_escaped_only_where_the_template_autoescapes(app):
    with app.test_request_context("/"):
        source = "{{ _('Hello, %(name)s.', name='<b>') }}"
        assert render_template_string(source) == "&lt;b&gt;，您好！"
        raw = "{% autoescape false %}" + source + "{% endautoescape %}"
        assert render_template_string(raw) == "<b>，您好！"
        assert render_template_string("{{ _('100%% sure') }}") == "100% sure"


def test_the_layout_links_follow_the_mount_point(app):
    client = app.test_client()
    mounted = client.get("/", base_url="http://localhost/office/").text
    assert 'href="/office/static/shequ.css"' in mounted
    assert 'action="/office/prefs/elder"' in mounted
    plain = client.get("/").text
    assert 'href="/static/shequ.css"' in plain and "/office/" not in plain
    assert 'action="/lang/en"' in plain  # the other language's switch


def test_the_language_switch_links_to_the_other_language(app):
    client = app.test_client()
    assert 'action="/lang/en"' in client.get("/").text
    client.set_cookie(LANG_COOKIE, "en")
    assert 'action="/lang/zh"' in client.get("/").text


def test_every_form_on_the_page_carries_the_sessions_token_and_it_is_checked(app, client_as):
    client = client_as("resident")
    page = client.get("/").text
    tokens = set(re.findall(r'name="csrf_token" value="([^"]+)"', page))
    assert len(tokens) == 1, tokens  # one token per request, in every form
    token = tokens.pop()
    ok = client.post("/prefs/elder", data={"elder": "on", "csrf_token": token})
    assert ok.status_code == 302
    assert 'class="elder"' in client.get("/").text
    bad = client.post("/prefs/elder", data={"elder": "off", "csrf_token": token[:-2] + "xx"})
    assert bad.status_code == 400


def _between(page: str, start: str, end: str) -> str:
    at = page.index(start)
    return page[at:page.index(end, at)]


def test_the_menus_and_service_cards_speak_the_pages_language(app, client_as):
    """The menus are split and their labels localized once per request in Python
    (core.web.shell.nav_sections), not by filters in the templates."""
    client = client_as("admin")
    for _ in range(2):  # the second request builds them again, for its own language
        page = client.get("/").text
        main = _between(page, '<nav class="site-nav"', "</nav>")
        staff = _between(page, '<nav class="staff-nav"', "</nav>")
        cards = _between(page, '<ul class="card-grid">', "</ul>")
        assert 'href="/gov-services/"' in main and 'href="/gov-services/"' in cards
        assert "办件队列" in staff and "/gov-services/queue" not in main + cards
        assert "Service queue" not in page
        client.set_cookie(LANG_COOKIE, "en")
        page = client.get("/").text
        assert "Service queue" in _between(page, '<nav class="staff-nav"', "</nav>")
        assert "办件队列" not in page
        client.delete_cookie(LANG_COOKIE)


def test_a_limit_on_the_pages_is_applied_at_once_by_the_middleware(app):
    """The limiter skips its per-request work while nothing could limit a page
    (core.identity.limits.AppLimiter._nothing_in_middleware); a limit added on the pages'
    blueprint is seen by the next request."""
    from core.identity.limits import limiter

    client = app.test_client()
    assert client.get("/").status_code == 200
    limiter.limit("2 per minute")(app.blueprints["web"])
    try:
        codes = [client.get("/").status_code for _ in range(3)]
    finally:
        limiter.limit_manager._blueprint_limits.pop("web", None)  # the limiter is shared
    assert codes == [200, 200, 429]
    assert client.get("/").status_code == 200

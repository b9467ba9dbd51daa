"""The web shell: security headers, language and elder-mode switches, error pages, plugin
isolation in the navigation, local assets, and the translation catalogues."""

from __future__ import annotations

import re
import types
from pathlib import Path

import pytest

from core.hookspecs import NavItem, PluginInfo, hookimpl
from core.testing import csrf_token, ensure_user
from core.web.i18n import CORE_TRANSLATIONS, catalogue_directories, compile_catalogues

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_DIRS = [ROOT / "core" / "web" / "templates", *sorted(ROOT.glob("plugins/*/templates"))]
STATIC_DIR = ROOT / "core" / "web" / "static"
PLUGIN_LABELS = ("政务服务", "便民服务", "居民自治", "平安社区")


@pytest.fixture(scope="module", autouse=True)
def _catalogues() -> None:
    """The .mo files are build products (git-ignored); compile any that are stale so the
    tests see the catalogues as they are in the tree."""
    compile_catalogues()


def html(resp) -> str:
    return resp.get_data(as_text=True)


# ------------------------------------------------------------------------ security headers


def assert_security_headers(resp) -> None:
    csp = resp.headers.get("Content-Security-Policy", "")
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp
    assert resp.headers.get("X-Content-Type-Options") == "nosniff"
    assert resp.headers.get("Referrer-Policy") == "strict-origin-when-cross-origin"
    assert resp.headers.get("X-Frame-Options") == "DENY"


@pytest.mark.parametrize("path", ["/", "/account/login", "/gov-services/", "/no-such-page",
                                  "/api/v1/docs"])
def test_security_headers_on_pages(client, path):
    resp = client.get(path)
    assert resp.mimetype == "text/html"
    assert_security_headers(resp)
    assert resp.headers.get("Cache-Control") == "no-store"


@pytest.mark.parametrize("path", ["/api/v1/openapi.json", "/api/v1/no-such-thing"])
def test_security_headers_on_api_json(client, path):
    resp = client.get(path)
    assert resp.mimetype == "application/json"
    assert_security_headers(resp)


def test_security_headers_on_static_files(client):
    resp = client.get("/static/shequ.css")
    assert resp.status_code == 200
    assert_security_headers(resp)


# ------------------------------------------------------------------------ language


def test_default_language_is_chinese(client):
    page = html(client.get("/"))
    assert '<html lang="zh-CN">' in page
    assert "首页" in page and "登录" in page
    assert ">English</button>" in page  # the switch offers the other language


def test_accept_language_does_not_override_default(client):
    page = html(client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"}))
    assert '<html lang="zh-CN">' in page


def test_language_switch_sets_cookie_and_next_page_is_english(client):
    token = csrf_token(client, "/gov-services/")
    resp = client.post("/lang/en", data={"csrf_token": token, "next": "/gov-services/"})
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith("/gov-services/")
    cookie = resp.headers.get("Set-Cookie", "")
    assert "shequ_lang=en" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie

    page = html(client.get("/gov-services/"))
    assert '<html lang="en">' in page
    assert "Public services" in page and "Skip to main content" in page
    assert "Sign in" in page and "政务服务" not in page
    assert ">中文</button>" in page

    # and back again
    token = csrf_token(client, "/")
    client.post("/lang/zh", data={"csrf_token": token, "next": "/"})
    assert "欢迎来到您的社区" in html(client.get("/"))


def test_a_signed_in_account_keeps_the_language_it_switched_to(app, client):
    """What is sent to a resident later (notifications, SMS) is written in the language
    they chose on the site: the switch saves it on the account, not only in a cookie."""
    from core.identity.models import User
    from core.testing import login
    from core.toolkit import recipient_locale

    user = login(client, app, "resident")
    client.post("/lang/en", data={"csrf_token": csrf_token(client, "/"), "next": "/"})
    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as s:
        assert s.get(User, user.id).locale == "en"
        with app.test_request_context("/"), recipient_locale(s, user.id):
            from flask_babel import get_locale

            assert str(get_locale()) == "en"


def test_language_switch_without_csrf_token_is_refused(client):
    resp = client.post("/lang/en", data={"next": "/"})
    assert resp.status_code == 400
    assert "shequ_lang" not in resp.headers.get("Set-Cookie", "")
    assert '<html lang="zh-CN">' in html(client.get("/"))


def test_language_switch_ignores_unknown_language(client):
    token = csrf_token(client)
    resp = client.post("/lang/xx", data={"csrf_token": token, "next": "/"})
    assert resp.status_code == 302
    assert "shequ_lang" not in resp.headers.get("Set-Cookie", "")


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "javascript:1"])
def test_switches_never_redirect_off_site(client, target):
    token = csrf_token(client)
    for url, extra in (("/lang/en", {}), ("/prefs/elder", {"elder": "on"})):
        resp = client.post(url, data={"csrf_token": token, "next": target, **extra})
        assert resp.status_code == 302
        assert resp.headers["Location"] in ("/", "http://localhost/")


def test_language_switch_falls_back_to_referrer(client):
    token = csrf_token(client)
    resp = client.post("/lang/en", data={"csrf_token": token},
                       headers={"Referer": "http://localhost/commerce/?page=2"})
    assert resp.headers["Location"].endswith("/commerce/?page=2")


def test_english_form_messages_and_plugin_pages(client):
    token = csrf_token(client)
    client.post("/lang/en", data={"csrf_token": token, "next": "/"})
    for path, title in (("/gov-services/", "Public services"), ("/commerce/", "Service hotline"),
                        ("/self-governance/", "Community affairs"), ("/surveillance/", "Safety")):
        assert f"<h1>{title}</h1>" in html(client.get(path))


@pytest.mark.parametrize(("path", "title"), [
    ("/gov-services/", "政务服务"), ("/commerce/", "便民服务"),
    ("/self-governance/", "居民自治"), ("/surveillance/", "平安社区")])
def test_plugin_pages_use_their_own_chinese_catalogue(client, path, title):
    page = html(client.get(path))
    assert f"<h1>{title}</h1>" in page
    lead = re.search(r'<p class="lead">([^<]+)</p>', page).group(1)
    assert re.search(r"[\u4e00-\u9fff]", lead), f"untranslated description on {path}: {lead}"


# ------------------------------------------------------------------------ elder mode


def test_elder_mode_toggle(client):
    page = html(client.get("/"))
    assert '<body class="standard">' in page
    assert "长辈模式" in page

    token = csrf_token(client, "/commerce/")
    resp = client.post("/prefs/elder", data={"csrf_token": token, "elder": "on",
                                             "next": "/commerce/"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/commerce/")
    assert "shequ_elder=1" in resp.headers.get("Set-Cookie", "")

    page = html(client.get("/commerce/"))
    assert '<body class="elder">' in page
    assert "退出长辈模式" in page
    assert 'name="elder" value="off"' in page

    token = csrf_token(client, "/")
    resp = client.post("/prefs/elder", data={"csrf_token": token, "elder": "off", "next": "/"})
    assert resp.status_code == 302
    assert "shequ_elder=;" in resp.headers.get("Set-Cookie", "")  # deleted
    assert '<body class="standard">' in html(client.get("/"))


def test_elder_mode_without_csrf_token_is_refused(client):
    resp = client.post("/prefs/elder", data={"elder": "on"})
    assert resp.status_code == 400
    assert "shequ_elder" not in resp.headers.get("Set-Cookie", "")


def test_elder_mode_hides_the_tip_and_developer_link(client):
    client.set_cookie("shequ_elder", "1")
    page = html(client.get("/"))
    assert "开启长辈模式" not in page  # the home-page tip is for people not using it yet
    assert 'class="elder-hide"' in page  # hidden by the stylesheet in elder mode
    css = (STATIC_DIR / "shequ.css").read_text(encoding="utf-8")
    assert "body.elder .elder-hide{display:none}" in css


# ------------------------------------------------------------------------ errors


def test_404_page_is_friendly_html_with_request_id(client):
    resp = client.get("/no-such-page", headers={"X-Request-ID": "abcdef0123456789"})
    assert resp.status_code == 404
    assert resp.mimetype == "text/html"
    page = html(resp)
    assert "找不到这个页面" in page
    assert "abcdef0123456789" in page
    assert resp.headers.get("X-Request-ID") == "abcdef0123456789"
    assert 'href="/"' in page  # a way back
    assert "Traceback" not in page


def test_404_request_id_is_generated(client):
    resp = client.get("/no-such-page")
    rid = resp.headers.get("X-Request-ID")
    assert rid and rid in html(resp)


def test_404_under_api_is_json(client):
    resp = client.get("/api/v1/no-such-thing")
    assert resp.status_code == 404
    assert resp.mimetype == "application/json"
    err = resp.get_json()["error"]
    assert err["code"] == "not_found" and err["request_id"]


def test_403_page_in_english(client_as):
    c = client_as("resident")
    c.set_cookie("shequ_lang", "en")
    resp = c.get("/admin/plugins")
    assert resp.status_code == 403
    assert "You do not have access to this page" in html(resp)


def test_error_page_survives_a_broken_template(app, monkeypatch):
    import core.web.errors as errors

    def broken(*args, **kwargs):
        raise RuntimeError("template exploded")

    monkeypatch.setattr(errors, "render_template", broken)
    resp = app.test_client().get("/no-such-page")
    assert resp.status_code == 404
    assert "Something went wrong" in html(resp)
    assert "template exploded" not in html(resp)


# ------------------------------------------------------------------------ navigation


def _boom_plugin() -> types.ModuleType:
    mod = types.ModuleType("boom")
    mod.info = PluginInfo(id="boom", version="1", title="Boom")

    @hookimpl
    def nav_items(user):
        raise RuntimeError("boom")

    @hookimpl
    def dashboard_widgets(user):
        raise RuntimeError("boom")

    mod.nav_items = nav_items
    mod.dashboard_widgets = dashboard_widgets
    return mod


def test_a_raising_nav_plugin_does_not_break_the_page(make_app):
    app = make_app(plugins=["gov_services", "boom", "surveillance"],
                   extra={"boom": _boom_plugin()})
    resp = app.test_client().get("/")
    assert resp.status_code == 200
    page = html(resp)
    assert "政务服务" in page and "平安社区" in page
    assert "Boom" not in page


def test_staff_nav_items_and_admin_link(make_app):
    mod = types.ModuleType("deskonly")
    mod.info = PluginInfo(id="deskonly", version="1", title="Desk")

    @hookimpl
    def nav_items(user):
        return [NavItem(label="Desk", label_zh="工作台", url="/deskonly/", section="staff")]

    mod.nav_items = nav_items
    app = make_app(plugins=["deskonly"], extra={"deskonly": mod})
    page = html(app.test_client().get("/"))
    staff_nav = page.split('class="staff-nav"', 1)[1].split("</nav>", 1)[0]
    assert "工作台" in staff_nav
    main_nav = page.split('class="site-nav"', 1)[1].split("</nav>", 1)[0]
    assert "工作台" not in main_nav  # staff items stay out of the residents' menu
    assert "/admin/plugins" not in page  # only for those who may read it


def test_admin_sees_plugins_link_and_page(client_as):
    c = client_as("admin")
    page = html(c.get("/"))
    assert 'href="/admin/plugins"' in page
    page = html(c.get("/admin/plugins"))
    for pid in ("gov_services", "commerce", "self_governance", "surveillance"):
        assert f'id="plugin-{pid}"' in page
    assert "4 个插件" in page


def test_current_page_is_marked_in_nav(client):
    page = html(client.get("/commerce/"))
    assert '<a href="/commerce/" aria-current="page">' in page
    assert '<a href="/" aria-current="page">' not in page


# ------------------------------------------------------------------------ sign in


def test_login_errors_use_the_error_summary_pattern(app, client):
    ensure_user(app, "resident")
    token = csrf_token(client, "/account/login")
    resp = client.post("/account/login", data={"csrf_token": token,
                                               "username": "test_resident", "password": "nope"})
    assert resp.status_code == 401  # refused credentials (counted by the throttle)
    page = html(resp)
    assert 'class="error-summary"' in page
    assert '<a href="#password">用户名或密码不对，请重新输入。</a>' in page
    assert 'id="password-error"' in page and 'aria-describedby="password-error"' in page
    assert 'value="test_resident"' in page  # the input is kept
    assert page.index("<h1>") < page.index('class="error-summary"')


def test_login_required_field_messages(client):
    token = csrf_token(client, "/account/login")
    page = html(client.post("/account/login", data={"csrf_token": token}))
    assert '<a href="#username">' in page and '<a href="#password">' in page
    assert re.search(r"[\u4e00-\u9fff]", page.split('class="error-summary"')[1][:400])


def test_sign_in_and_out_through_the_header(app, client):
    ensure_user(app, "resident")
    token = csrf_token(client, "/account/login")
    resp = client.post("/account/login", data={"csrf_token": token, "username": "test_resident",
                                               "password": "test-password-123"})
    assert resp.status_code == 302
    page = html(client.get("/"))
    assert "登录成功。" in page and "退出登录" in page and "test_resident" in page
    token = csrf_token(client, "/")
    client.post("/account/logout", data={"csrf_token": token})
    page = html(client.get("/"))
    assert "您已退出登录。" in page and 'href="/account/login"' in page


# ------------------------------------------------------------------------ assets and markup

EXTERNAL = re.compile(r"""(?:src|href|action|srcset|poster|data)\s*=\s*["']?\s*(?:https?:)?//""",
                      re.I)
CSS_EXTERNAL = re.compile(r"""(?:url\(\s*["']?\s*(?:https?:)?//|@import\s+["']?(?:https?:)?//)""",
                          re.I)


def _templates() -> list[Path]:
    files = [p for d in TEMPLATE_DIRS for p in d.rglob("*.html")]
    assert len(files) >= 8
    return files


def test_templates_reference_no_other_hosts():
    for path in _templates():
        text = path.read_text(encoding="utf-8")
        assert not EXTERNAL.search(text), f"{path} loads from another host"
        assert not re.search(r"https?://", text), f"{path} names an external URL"


def test_static_files_reference_no_other_hosts():
    for path in STATIC_DIR.rglob("*"):
        if path.suffix in (".css", ".js"):
            text = path.read_text(encoding="utf-8")
            assert not CSS_EXTERNAL.search(text), path
            assert not re.search(r"https?://", text), path


def test_templates_have_no_inline_scripts_or_styles():
    for path in _templates():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text, re.I), f"inline script: {path}"
        assert not re.search(r"<style\b", text, re.I), f"<style> block: {path}"
        assert not re.search(r"\sstyle\s*=", text, re.I), f"style attribute: {path}"
        assert not re.search(r"\son[a-z]+\s*=", text, re.I), f"event handler attribute: {path}"


@pytest.mark.parametrize("path", ["/", "/account/login", "/no-such-page", "/api/v1/docs",
                                  "/gov-services/"])
def test_rendered_pages_are_self_contained(client, path):
    page = html(client.get(path))
    assert not EXTERNAL.search(page), path
    assert not re.search(r"\sstyle\s*=|<style\b", page), path
    for src in re.findall(r'<script[^>]*src="([^"]+)"', page):
        assert src.startswith("/static/")


@pytest.mark.parametrize(("name", "mimetype"), [("shequ.css", "text/css"),
                                                ("shequ.js", "text/javascript"),
                                                ("favicon.svg", "image/svg+xml")])
def test_static_assets_are_served_locally(client, name, mimetype):
    resp = client.get(f"/static/{name}")
    assert resp.status_code == 200
    assert resp.mimetype == mimetype


def test_page_shell_landmarks_and_skip_link(client):
    page = html(client.get("/"))
    assert page.index('class="skip-link" href="#main"') < page.index("<header")
    for landmark in ("<header", "<nav", '<main id="main"', "<footer"):
        assert landmark in page
    assert page.count("<h1") == 1
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in page


# ------------------------------------------------------------------------ catalogues


def _po_entries(po: Path) -> dict[str, str]:
    from babel.messages.pofile import read_po

    with po.open("rb") as fh:
        return {m.id: m.string for m in read_po(fh) if m.id}


def _extract(directory: Path) -> set[str]:
    from babel.messages.extract import extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    with (ROOT / "babel.cfg").open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    # Message: a notification told later (core.identity.notifications) — its msgid must be
    # in the catalogue as much as a string translated now.
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None,
                "lazy_gettext": None, "lazy_ngettext": (1, 2), "Message": None}
    return {
        (msg[0] if isinstance(msg, tuple) else msg)
        for _file, _line, msg, _comments, _ctx in extract_from_dir(
            directory, method_map, options_map, keywords=keywords)
    }


@pytest.mark.parametrize("directory", [d.parent for d in catalogue_directories()],
                         ids=lambda d: d.name)
def test_every_string_has_a_chinese_translation(directory):
    catalogue = (CORE_TRANSLATIONS if directory.name == "core" else directory / "translations")
    po = catalogue / "zh" / "LC_MESSAGES" / "messages.po"
    assert po.exists(), f"{po} is missing"
    entries = _po_entries(po)
    strings = _extract(directory)
    missing = sorted(s for s in strings if not entries.get(s))
    assert not missing, f"untranslated in {po} (see babel.cfg for the commands): {missing}"
    for msgid, msgstr in entries.items():
        placeholders = re.compile(r"%\(\w+\)[sd]")
        assert sorted(placeholders.findall(msgid)) == sorted(placeholders.findall(msgstr)), msgid

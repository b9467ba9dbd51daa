"""No dead ends (issue 16, item 9): for each demo role, with the demo as shipped (every
built-in plugin, ``core.demo.seed``, the accounts and passwords of ``DEMO_ACCOUNTS``),
every link in the role's navigation, on its home page and on each desk page its
navigation leads to answers 200, redirects within the site followed.

A link that answers 403 or 404 to the very person it was shown to is a dead end: either
the link should not be shown, or the page should open. The failure lists each such link
with the role and the page it was found on."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest

from core.config import DEFAULT_CONFIG, load_config
from core.demo import DEMO_ACCOUNTS

ALL_PLUGINS = list(load_config(DEFAULT_CONFIG, environ={}).plugins_enabled)  # as shipped
ROLES = ["anonymous", *DEMO_ACCOUNTS]


class Links(HTMLParser):
    """The ``<a href>`` targets of a page, split into the header (navigation and tools)
    and the rest (the page itself and the footer)."""

    def __init__(self) -> None:
        super().__init__()
        self.nav: list[str] = []
        self.page: list[str] = []
        self._header = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "header":
            self._header += 1
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                (self.nav if self._header else self.page).append(href)

    def handle_endtag(self, tag: str) -> None:
        if tag == "header":
            self._header -= 1


def links_of(html: str) -> Links:
    parser = Links()
    parser.feed(html)
    return parser


def _internal(base: str, href: str) -> str | None:
    """The site path (with query) of ``href``, or None for mail, phone, fragment-only and
    other-host links."""
    if href.startswith(("#", "mailto:", "tel:", "javascript:")):
        return None
    parts = urlsplit(urljoin(base, href))
    if parts.netloc not in ("", "localhost"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _get(client: Any, path: str) -> tuple[int, str, str]:
    """GET ``path``, following redirects within the site: (status, final path, body)."""
    for _ in range(6):
        resp = client.get(path)
        if resp.status_code in (301, 302, 303, 307, 308):
            target = _internal(path, resp.headers["Location"])
            if target is None:
                return resp.status_code, path, ""
            path = target
            continue
        return resp.status_code, path, resp.get_data(as_text=True)
    return 310, path, ""  # a redirect loop


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from core.testing import build_test_app, seed_demo

    app, cleanup = build_test_app(tmp_path_factory.mktemp("dead-ends"), plugins=ALL_PLUGINS)
    with app.app_context():
        seed_demo(app)
    yield app
    cleanup()


def _sign_in(app: Any, role: str) -> Any:
    client = app.test_client()
    if role == "anonymous":
        return client
    username, password = DEMO_ACCOUNTS[role]
    page = client.get("/account/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    resp = client.post("/account/login", data={
        "username": username, "password": password,
        "csrf_token": token.group(1) if token else ""})
    assert resp.status_code in (302, 303), f"{role} could not sign in ({resp.status_code})"
    return client


def walk(client: Any, role: str, extra_nav: tuple[str, ...] = ()) -> tuple[dict[str, int],
                                                                         list[str]]:
    """Open every link ``client`` is shown in the header and on the home page, read the
    links of each page the navigation leads to (the desks) and open those too. Returns
    each path's final status and the failures, as "role: path answers N (linked from …)"."""
    status, _final, home = _get(client, "/")
    assert status == 200
    home_links = links_of(home)
    nav = [p for p in (_internal("/", h) for h in home_links.nav) if p] + list(extra_nav)
    # the pages to read links from: home, and every desk its navigation leads to
    sources: dict[str, list[str]] = {"/": [p for p in (_internal("/", h)
                                                        for h in home_links.page) if p]}
    checked: dict[str, int] = {}
    failures: list[str] = []

    def check(path: str, source: str) -> None:
        if path not in checked:
            status, final, body = _get(client, path)
            checked[path] = status
            if status == 200 and source == "navigation":
                sources[final] = [p for p in (_internal(final, h)
                                              for h in links_of(body).page) if p]
        if checked[path] != 200:
            failures.append(f"{role}: {path} answers {checked[path]} (linked from {source})")

    for path in dict.fromkeys(nav):
        check(path, "navigation")
    for source, paths in list(sources.items()):
        for path in dict.fromkeys(paths):
            if not path.startswith("/static/"):
                check(path, source)
    return checked, sorted(set(failures))


@pytest.mark.parametrize("role", ROLES)
def test_every_link_a_role_is_shown_opens(demo_app: Any, role: str) -> None:
    checked, failures = walk(_sign_in(demo_app, role), role)
    assert not failures, "dead ends:\n" + "\n".join(failures)
    assert len(checked) >= 5, f"{role}: too few links found to mean anything: {checked}"


def test_the_checker_finds_a_dead_end(demo_app: Any) -> None:
    """The checker itself: a link to a page that is not there, or one the role may not
    open, is reported with the role and where it was linked from."""
    checked, failures = walk(_sign_in(demo_app, "resident"), "resident",
                             extra_nav=("/no-such-page", "/admin/plugins"))
    assert "resident: /no-such-page answers 404 (linked from navigation)" in failures
    assert "resident: /admin/plugins answers 403 (linked from navigation)" in failures
    assert checked["/"] == 200
    found = links_of('<header><a href="/a">a</a></header><main><a href="/b">b</a>'
                     '<a href="tel:12345">call</a><a href="https://example.org/">x</a></main>')
    assert found.nav == ["/a"]
    assert [p for p in (_internal("/", h) for h in found.page) if p] == ["/b"]


def test_the_plugins_page_says_plugins_are_switched_on_in_config(demo_app: Any) -> None:
    """Not a dead end either: an admin looking for an "enable" button is told where it is
    done (the config file's ``[plugins] enabled``, then a restart), in zh and in en."""
    from core.current import kernel_of

    client = _sign_in(demo_app, "admin")
    source = kernel_of(demo_app).config.source
    zh = client.get("/admin/plugins").get_data(as_text=True)
    assert "插件在配置文件中启用" in zh and "[plugins] enabled" in zh and "重启" in zh
    assert source in zh
    client.set_cookie("shequ_lang", "en")
    en = client.get("/admin/plugins").get_data(as_text=True)
    assert "Plugins are switched on in the configuration file" in en
    assert "[plugins] enabled" in en and "Restart Shequ" in en

"""Journeys with the demo as shipped: every plugin enabled, ``core.demo.seed`` run, the
accounts and passwords of ``core.demo.DEMO_ACCOUNTS`` (the README's table), events
delivered by the app's own thread as ``make run`` does, on a 360 × 780 phone.

A journey test starts as the resident, passes through each member of staff who must act,
and ends with the resident seeing the outcome and its notification. Use it as::

    from journey_kit import Journey

    @pytest.fixture
    def journey(demo_app, chromium, live_server):  # demo_app: see conftest below
        ...

    def test_x(journey):
        resident = journey.sign_in("resident")
        journey.shot(resident, "01-start")
        ...
        journey.expect_notification(resident, "已受理")

Screenshots go to ``test-results/journeys/<name>/`` (``SHEQU_SCREENSHOTS`` overrides the
root); each is checked for sideways scrolling and the accessibility basics first.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from a11y import assert_accessible, horizontal_overflow

from core.demo import DEMO_ACCOUNTS


def _shipped_plugins() -> list[str]:
    from core.config import DEFAULT_CONFIG, load_config

    return list(load_config(DEFAULT_CONFIG, environ={}).plugins_enabled)


#: The plugins config/default.toml enables: the demo as ``make run`` ships it.
ALL_PLUGINS = _shipped_plugins()
PHONE = {"width": 360, "height": 780}
ROOT = Path(os.environ.get("SHEQU_SCREENSHOTS") or Path(__file__).resolve().parents[2]
            / "test-results") / "journeys"

#: The login page's words per locale.
LOGIN = {
    "zh": {"username": "用户名", "password": "密码", "submit": "登录"},
    "en": {"username": "Username", "password": "Password", "submit": "Sign in"},
}


def build_demo_app(make_app: Callable[..., Any], *, locale: str = "zh",
                   extra_plugins: tuple[str, ...] = ()) -> Any:
    """An app configured like ``config/default.toml`` (all plugins, thread delivery), with
    the demo data exactly as ``make run`` loads it. ``extra_plugins``: plugins enabled on
    top (one not yet enabled by default, in its own journey)."""
    from core.demo import seed

    app = make_app(
        plugins=ALL_PLUGINS + [p for p in extra_plugins if p not in ALL_PLUGINS],
        config={"events": {"delivery": "thread", "poll_interval": 0.2},
                "app": {"default_locale": locale}},
    )
    with app.app_context():
        seed(app, echo=lambda *_: None)
    return app


class Journey:
    """Phone-sized browser contexts, one per demo role, watched for script errors."""

    def __init__(self, chromium: Any, base_url: str, name: str, *, locale: str = "zh"):
        self.chromium, self.base_url, self.name, self.locale = chromium, base_url, name, locale
        self.contexts: list[Any] = []
        self.errors: list[str] = []
        self.count = 0

    def sign_in(self, role: str) -> Any:
        """A page signed in as the demo account of ``role`` (a key of DEMO_ACCOUNTS)."""
        username, password = DEMO_ACCOUNTS[role]
        ctx = self.chromium.new_context(viewport=PHONE, base_url=self.base_url)
        ctx.add_cookies([{"name": "shequ_lang", "value": self.locale, "url": self.base_url}])
        self.contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        words = LOGIN[self.locale]
        page.goto("/account/login")
        page.get_by_label(words["username"]).fill(username)
        page.get_by_label(words["password"], exact=True).fill(password)
        page.locator("main").get_by_role("button", name=words["submit"]).click()
        page.wait_for_load_state("load")
        assert "/account/login" not in page.url, f"{role} could not sign in"
        return page

    def shot(self, page: Any, label: str) -> Path:
        """Check the page (no sideways scroll, a11y basics) and photograph it."""
        page.wait_for_load_state("load")
        assert horizontal_overflow(page) == 0, f"{page.url} scrolls sideways"
        assert_accessible(page)
        folder = ROOT / f"{self.name}-{self.locale}"
        folder.mkdir(parents=True, exist_ok=True)
        self.count += 1
        path = folder / f"{self.count:02d}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def expect_notification(self, page: Any, text: str | re.Pattern[str],
                            timeout: float = 10.0) -> Any:
        """Open the notifications page until one containing ``text`` is there (delivery
        runs in the app's thread, so it may take a moment); returns its locator."""
        deadline = time.monotonic() + timeout
        while True:
            page.goto("/account/notifications")
            item = page.locator("main li, main article").filter(has_text=text)
            if item.count():
                return item.first
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no notification matching {text!r}; the page says:\n"
                    + page.locator("main").inner_text()
                )
            time.sleep(0.3)

    def close(self) -> None:
        for ctx in self.contexts:
            ctx.close()
        assert not self.errors, f"script errors: {self.errors}"


def journey_fixtures(name: str, locales: tuple[str, ...] = ("zh", "en"), *,
                     extra_plugins: tuple[str, ...] = ()) -> tuple[Any, ...]:
    """The four fixtures every journey module needs, written once::

        locale, app, journey, _catalogues = journey_fixtures("home-service")

    ``locale`` runs the module's tests once per locale; ``app`` is the demo as shipped in
    that locale (it replaces core.testing's ``app``, so ``live_server`` serves it);
    ``journey`` is a :class:`Journey` named ``name`` on that server (closed afterwards,
    failing on script errors); ``_catalogues`` compiles the translations once."""
    import pytest

    from core.web.i18n import compile_catalogues

    @pytest.fixture(params=list(locales), name="locale")
    def _locale(request: Any) -> str:
        return request.param

    @pytest.fixture(name="app")
    def _app(make_app: Any, locale: str) -> Any:
        return build_demo_app(make_app, locale=locale, extra_plugins=extra_plugins)

    @pytest.fixture(name="journey")
    def _journey(chromium: Any, live_server: Any, locale: str) -> Any:
        j = Journey(chromium, live_server.url, name, locale=locale)
        yield j
        j.close()

    @pytest.fixture(scope="module", autouse=True, name="_catalogues")
    def _compile() -> None:
        compile_catalogues()

    return _locale, _app, _journey, _compile

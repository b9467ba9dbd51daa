"""What the appointment tests share: residents' and staff's browser sessions, signed in
through the real login form, whose API calls carry the CSRF token as a page's script does."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from core.testing import TEST_PASSWORD, csrf_token


def signed_in(app: Any, username: str) -> Any:
    """A test client signed in as ``username`` (password :data:`TEST_PASSWORD`)."""
    c = app.test_client()
    page = c.get("/account/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    resp = c.post("/account/login", data={"username": username, "password": TEST_PASSWORD,
                                          "csrf_token": token})
    assert resp.status_code == 302, username
    # the API with the session cookie is CSRF-checked: every request carries the token
    c.environ_base["HTTP_X_CSRFTOKEN"] = csrf_token(c, "/gov-services/")
    return c


def clients(app: Any, names: dict[str, str]) -> Callable[[str], Any]:
    """``get(who)``: the signed-in client of ``names[who]``, made once per module."""
    cache: dict[str, Any] = {}

    def get(who: str) -> Any:
        if who not in cache:
            cache[who] = signed_in(app, names[who])
        return cache[who]

    return get

"""The bearer-token cache (core/identity/services/per_request.py, docs/operations.md
"Bearer-token cache"): a process trusts a token it has checked for at most
TOKEN_CACHE_SECONDS, so a revocation or a disabled owner reaches every process within that
bound — at once in the process that made the change — and unknown or revoked tokens are
never cached.

"Another process" is a second app instance on the same database: its own engine, its own
cache, exactly what a second gunicorn worker or `shequ token revoke` is."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import event, select

from core.app import create_app
from core.current import kernel_of
from core.identity.models import ApiToken, User
from core.identity.services import disable_account, revoke_token
from core.identity.services.per_request import TOKEN_CACHE_SECONDS, token_cache
from core.testing import ensure_user

pytestmark = pytest.mark.with_plugins()

ME = "/api/v1/identity/me"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def other_instance(app):
    """A second app on the same database (its own engine and token cache)."""
    second = create_app(kernel_of(app).config)
    yield second
    kernel_of(second).bus.stop()
    kernel_of(second).db.dispose()


def token_statements(app):
    """The statements on identity_api_token the app's engine runs (a list that grows)."""
    seen: list[str] = []

    def listener(_conn, _cursor, statement, *_args):
        if "FROM identity_api_token" in statement:
            seen.append(statement)

    event.listen(kernel_of(app).db.engine, "before_cursor_execute", listener)
    return seen


def refused_within(client, token: str, since: float) -> float:
    """Seconds from ``since`` until ``client`` answers 401 for ``token`` (polled every
    50 ms); fails once the bound and a margin for one request have passed."""
    deadline = since + TOKEN_CACHE_SECONDS + 1.0
    while True:
        status = client.get(ME, headers=bearer(token)).status_code
        if status == 401:
            return time.monotonic() - since
        assert status == 200, status
        assert time.monotonic() < deadline, (
            f"still accepted {time.monotonic() - since:.1f}s after the change")
        time.sleep(0.05)


def test_the_bound_is_a_few_seconds():
    assert 0 < TOKEN_CACHE_SECONDS <= 5


def test_a_checked_token_costs_no_lookup_until_the_bound(app, token_for):
    token = token_for("community_worker")
    client = app.test_client(use_cookies=False)
    assert client.get(ME, headers=bearer(token)).status_code == 200
    seen = token_statements(app)
    for _ in range(3):
        assert client.get(ME, headers=bearer(token)).status_code == 200
    assert seen == []
    assert len(token_cache(kernel_of(app).db.engine)) == 1


def test_unknown_and_revoked_tokens_are_never_cached(app, token_for):
    client = app.test_client(use_cookies=False)
    seen = token_statements(app)
    for _ in range(2):
        assert client.get(ME, headers=bearer("shq_" + "x" * 43)).status_code == 401
    assert len(seen) == 2  # looked up every time: a wrong token is not remembered
    token = token_for("community_worker")  # created after the misses: works at once
    assert client.get(ME, headers=bearer(token)).status_code == 200


def test_a_revocation_elsewhere_reaches_this_process_within_the_bound(app, other_instance,
                                                                      token_for):
    """Instance A has the token cached; instance B revokes it. B refuses it at once, A
    within TOKEN_CACHE_SECONDS."""
    token = token_for("community_worker")
    a = app.test_client(use_cookies=False)
    b = other_instance.test_client(use_cookies=False)
    assert a.get(ME, headers=bearer(token)).status_code == 200
    assert b.get(ME, headers=bearer(token)).status_code == 200
    with kernel_of(other_instance).db.session_scope() as session:
        row = session.scalars(select(ApiToken)).one()
        owner = session.get(User, row.user_id)
        revoke_token(session, row, actor=owner)
    revoked = time.monotonic()
    assert b.get(ME, headers=bearer(token)).status_code == 401  # the revoking process
    waited = refused_within(a, token, revoked)
    assert waited <= TOKEN_CACHE_SECONDS + 1.0


def test_a_revocation_in_this_process_is_immediate(app, token_for):
    token = token_for("community_worker")
    client = app.test_client(use_cookies=False)
    assert client.get(ME, headers=bearer(token)).status_code == 200
    with kernel_of(app).db.session_scope() as session:
        row = session.scalars(select(ApiToken)).one()
        revoke_token(session, row, actor=session.get(User, row.user_id))
    assert client.get(ME, headers=bearer(token)).status_code == 401


def test_an_owner_disabled_elsewhere_loses_the_token_within_the_bound(app, other_instance,
                                                                      token_for):
    token = token_for("community_worker")
    admin = ensure_user(app, "admin")
    a = app.test_client(use_cookies=False)
    assert a.get(ME, headers=bearer(token)).status_code == 200
    with kernel_of(other_instance).db.session_scope() as session:
        owner = session.get(User, session.scalars(select(ApiToken)).one().user_id)
        assert disable_account(session, owner, admin=session.get(User, admin.id),
                               reason="left the office")
    disabled = time.monotonic()
    assert refused_within(a, token, disabled) <= TOKEN_CACHE_SECONDS + 1.0

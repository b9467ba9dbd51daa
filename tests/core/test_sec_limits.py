"""Issue 15, finding 10 (the limiter): with several gunicorn workers the login limit must
be one count, not one per worker. Production refuses ``memory://`` with more than one
worker, its example config uses Redis, and two app instances on the same Redis share
one counter (two instances on ``memory://`` do not — which is why production refuses it).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from core.config import DEFAULT_CONFIG, ConfigError, load_config
from core.testing import TEST_PASSWORD, csrf_token, ensure_user

pytestmark = pytest.mark.with_plugins()

REDIS = "redis://127.0.0.1:6379/0"


def redis_or_skip():
    try:
        import redis

        client = redis.Redis.from_url(REDIS, socket_connect_timeout=1)
        client.ping()
    except Exception as exc:  # not installed, not running, refused
        pytest.skip(f"Redis is not reachable at {REDIS} ({exc.__class__.__name__}); the "
                    "shared-counter test needs it")
    return client


def production_config(tmp_path: Path, **sections):
    overrides = {
        "app": {"env": "production", "secret_key": "s" * 40, "demo_data": False,
                "instance_path": str(tmp_path / "instance")},
        "database": {"url": f"sqlite:///{tmp_path}/prod.db"},
        "plugins": {"enabled": []},
        "messaging": {"sms": "none", "email": "none"},  # production refuses the console
        **sections,
    }
    return load_config(DEFAULT_CONFIG, overrides=overrides, environ={})


def test_production_refuses_per_process_counts_with_several_workers(tmp_path):
    from core.app import create_app

    cfg = production_config(tmp_path, server={"workers": 4}, events={"delivery": "worker"},
                            limits={"storage_uri": "memory://"})
    with pytest.raises(ConfigError) as refused:
        create_app(cfg)
    message = str(refused.value)
    assert "limits.storage_uri" in message and "workers = 4" in message
    assert "redis://" in message
    # one worker may count in memory, and so may the embedded shape (SQLite with the
    # delivery thread), which `shequ run` always serves with one process
    for one in (production_config(tmp_path, server={"workers": 1}, events={"delivery": "worker"},
                                  limits={"storage_uri": "memory://"}),
                production_config(tmp_path, server={"workers": 4},
                                  limits={"storage_uri": "memory://"})):
        app = create_app(one)
        app.extensions["shequ"].db.dispose()


def test_the_production_example_shares_its_counts():
    cfg = load_config(DEFAULT_CONFIG.parent / "production.example.toml",
                      environ={"SHEQU_SECRET_KEY": "k" * 40})
    assert cfg.server["workers"] > 1
    assert cfg.limits["storage_uri"].startswith("redis://127.0.0.1:6379")
    assert cfg.limits["key_prefix"]


def login_post(client, password):
    return client.post("/account/login", data={
        "csrf_token": csrf_token(client, "/account/login"),
        "username": "test_resident", "password": password})


def two_workers(make_app, limits: dict):
    """Two app instances — two gunicorn workers — on one database and one limit store."""
    first = make_app(plugins=[], config={"limits": limits})
    url = first.extensions["shequ"].config.database["url"]
    second = make_app(plugins=[], config={"limits": limits, "database": {"url": url}},
                      migrate=False)
    ensure_user(first, "resident")
    return first, second


def test_the_login_limit_holds_across_two_workers(make_app):
    redis = redis_or_skip()
    prefix = f"shequ-test-{uuid.uuid4().hex[:12]}"
    try:
        first, second = two_workers(make_app, {"storage_uri": REDIS, "key_prefix": prefix})
        workers = [first.test_client(), second.test_client()]
        for attempt in range(5):  # 3 on one worker, 2 on the other
            assert login_post(workers[attempt % 2], "wrong-password").status_code == 401
        for worker in workers:  # the sixth is refused wherever it lands, right or wrong
            assert login_post(worker, TEST_PASSWORD).status_code == 429
        assert redis.keys(f"*{prefix}*")  # the counts are in Redis, under this prefix
    finally:
        for key in redis.scan_iter(f"*{prefix}*"):
            redis.delete(key)


def test_in_memory_each_worker_counts_alone(make_app):
    """What production refuses: two instances on ``memory://`` keep two counts, so the
    second worker still lets the right password in after five failures on the first."""
    first, second = two_workers(make_app, {"storage_uri": "memory://"})
    client = first.test_client()
    for _ in range(5):
        assert login_post(client, "wrong-password").status_code == 401
    assert login_post(client, TEST_PASSWORD).status_code == 429
    assert login_post(second.test_client(), TEST_PASSWORD).status_code == 302

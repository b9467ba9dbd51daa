"""Structured logs: one JSON line per request and per job run, carrying the request id the
client saw, and no personal data."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def json_app(make_app):
    from core import logs

    app = make_app(plugins=[], config={"logging": {"format": "json"}})
    yield app
    logs.reset()


def lines(captured: str) -> list[dict]:
    out = []
    for line in captured.splitlines():
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def requests_logged(captured: str) -> list[dict]:
    return [r for r in lines(captured) if r.get("event") == "request"]


def test_a_request_line_carries_the_request_id_of_the_response(json_app, capfd):
    client = json_app.test_client()
    capfd.readouterr()
    resp = client.get("/healthz", headers={"X-Request-ID": "complaint12345678"})
    assert resp.headers["X-Request-ID"] == "complaint12345678"
    fresh = client.get("/healthz")
    rid = fresh.headers["X-Request-ID"]
    assert len(rid) == 32
    got = requests_logged(capfd.readouterr().err)
    by_id = {r["request_id"]: r for r in got}
    line = by_id["complaint12345678"]
    assert line["endpoint"] == "health.healthz" and line["method"] == "GET"
    assert line["status"] == 200 and line["user_id"] is None
    assert isinstance(line["duration_ms"], float) and line["level"] == "INFO"
    assert rid in by_id


def test_error_pages_and_api_errors_quote_the_same_id(json_app, capfd):
    client = json_app.test_client()
    capfd.readouterr()
    page = client.get("/no/such/page", headers={"X-Request-ID": "pageerror0001"})
    api = client.get("/api/v1/registry/nothing-here", headers={"X-Request-ID": "apierror0001"})
    assert "pageerror0001" in page.get_data(as_text=True)
    assert api.headers["X-Request-ID"] == "apierror0001"
    got = {r["request_id"]: r for r in requests_logged(capfd.readouterr().err)}
    assert got["pageerror0001"]["status"] == 404
    assert got["pageerror0001"]["endpoint"] == "unmatched"
    assert got["apierror0001"]["status"] == 404


@pytest.mark.with_plugins()
@pytest.mark.shequ_config({"logging": {"format": "json"}})
def test_the_line_names_the_account_by_id_only(app, capfd):
    from core import logs
    from core.testing import login

    try:
        client = app.test_client()
        user = login(client, app, "resident")
        capfd.readouterr()
        client.get("/account/login?next=/", headers={"X-Request-ID": "signedin00001"})
        err = capfd.readouterr().err
        line = {r["request_id"]: r for r in requests_logged(err)}["signedin00001"]
        assert line["user_id"] == user.id
        assert user.username not in err
        assert "next=" not in err  # the query string is never logged
    finally:
        logs.reset()


def test_a_job_run_is_one_json_line(json_app, capfd):
    from core.jobs import Job, run_job

    capfd.readouterr()
    run_job(json_app, Job("core.test_logged", 60, lambda _app: "3 things done"))
    got = [r for r in lines(capfd.readouterr().err) if r.get("event") == "job"]
    assert got and got[-1]["job"] == "core.test_logged" and got[-1]["ok"] is True
    assert got[-1]["summary"] == "3 things done" and got[-1]["logger"] == "shequ.jobs"


def test_text_is_the_default_and_writes_no_json_request_lines(make_app, capfd):
    app = make_app(plugins=[])
    capfd.readouterr()
    resp = app.test_client().get("/healthz")
    assert resp.headers["X-Request-ID"]  # the header is sent in every mode
    assert requests_logged(capfd.readouterr().err) == []

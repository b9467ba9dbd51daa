"""Hostile input against the running server: schemathesis over every operation of the
OpenAPI document with all its checks, then the inputs an attacker or a broken client
sends on purpose. Zero 500s; every refusal is the documented JSON error."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from reliability_kit import HERE, make_places, record, session_cookie, staff_token
from sqlalchemy import func, select

from core.config import DEFAULT_CONFIG, load_config

#: Every plugin the platform ships enabled: each one's API is fuzzed over HTTP.
PLUGINS = list(load_config(DEFAULT_CONFIG, environ={}).plugins_enabled)
EXAMPLES = int(os.environ.get("SHEQU_RELIABILITY_FUZZ_EXAMPLES", "40"))
ST = str(Path(sys.executable).with_name("schemathesis"))


def _send(url: str, method: str = "GET", body: bytes | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, str, dict]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, resp.read().decode("utf-8", "replace"), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace"), dict(exc.headers)


def _is_json_error(text: str, status: int) -> bool:
    try:
        return json.loads(text)["error"]["status"] == status
    except (ValueError, KeyError, TypeError):
        return False


def test_hostile_input_gets_clean_refusals(deployment, tmp_path):
    from core.registry.models import Person

    dep = deployment(plugins=PLUGINS)
    app = dep.app()
    make_places(app, 50, tmp_path)
    token = staff_token(dep, "hostile_admin", role="admin")
    dep.serve(workers=2)
    api = f"{dep.url}/api/v1"
    auth = {"Authorization": f"Bearer {token}"}
    with app.extensions["shequ"].db.Session() as s:
        persons_before = s.scalar(select(func.count()).select_from(Person))

    # -- 1. the inputs sent on purpose
    checks: dict[str, bool] = {}
    status, text = _oversized(dep.port, "/api/v1/registry/persons/search", auth)
    checks["oversized body -> 413 JSON"] = status == 413 and _is_json_error(text, 413)
    status, text, _ = _send(f"{api}/registry/persons/search", "POST", b"q=zhang",
                            {**auth, "Content-Type": "application/x-www-form-urlencoded"})
    checks["wrong content type -> 415 JSON"] = status == 415 and _is_json_error(text, 415)
    status, text, _ = _send(f"{api}/registry/persons/search", "POST", b'{"q": "zh',
                            {**auth, "Content-Type": "application/json"})
    checks["malformed JSON -> 400 JSON"] = status == 400 and _is_json_error(text, 400)
    status, text, _ = _send(f"{api}/registry/persons/search", "POST", b'{"q": "\xff\xfe"}',
                            {**auth, "Content-Type": "application/json"})
    checks["invalid UTF-8 -> 400 JSON"] = status == 400 and _is_json_error(text, 400)
    nested = ("[" * 100_000 + "]" * 100_000).encode()
    status, text, _ = _send(f"{api}/registry/persons/search", "POST", nested,
                            {**auth, "Content-Type": "application/json"})
    checks["deeply nested JSON -> 400/422 JSON"] = status in (400, 422) and \
        _is_json_error(text, status)

    # 100,000 bad rows: a clean report, nothing written
    header = "姓名,证件号码,社区代码\n"
    bad = header + "".join(f"某{i},11010519491231002{i % 10},999999999999\n"
                           for i in range(100_000))
    status, text, _ = _send(f"{api}/registry/imports", "POST", json.dumps({
        "filename": "../../../etc/passwd.csv", "dry_run": False,
        "content_base64": base64.b64encode(header.encode()).decode()}).encode(),
        {**auth, "Content-Type": "application/json"})
    checks["path traversal in the file name -> 422 JSON, no file outside"] = (
        status == 422 and _is_json_error(text, 422) and not Path("/etc/passwd.csv").exists())
    status, text, _ = _send(f"{api}/registry/imports", "POST", json.dumps({
        "filename": "bad-rows.csv", "dry_run": False,
        "content_base64": base64.b64encode(bad.encode()).decode()}).encode(),
        {**auth, "Content-Type": "application/json"})
    try:
        body = json.loads(text)
    except ValueError:
        body = {}
    rejected = len(body.get("rejected_rows", [])) if isinstance(body, dict) else 0
    checks["100,000 bad rows -> every row reported, nothing written"] = (
        status in (200, 422) and rejected == 100_000 and body.get("committed") is False)

    # script in text fields: stored as text, shown inert
    xss = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    from core.registry.testing import make_id

    status, text, _ = _send(f"{api}/registry/persons", "POST", json.dumps({
        "name": "测试脚本", "id_number": make_id("1970-05-05", "F", seq=7), "hukou_type":
        "floating", "hukou_place": xss, "community": _community(app)}).encode(),
        {**auth, "Content-Type": "application/json"})
    created = json.loads(text).get("id") if status == 201 else None
    with app.extensions["shequ"].db.Session() as s:
        stored = s.get(Person, created).hukou_place if created else None
    status, _body, headers = _send(f"{dep.url}/api/v1/registry/persons/{created}", headers=auth)
    checks["script in a text field -> stored as text, answered as JSON"] = (
        stored == xss and status == 200 and "json" in headers.get("Content-Type", ""))
    cookie = session_cookie(dep.url, "hostile_admin", "reliability-pw-1")
    status, page, _ = _send(f"{dep.url}/registry/persons/{created}", headers={"Cookie": cookie})
    checks["script never reaches a page unescaped"] = status == 200 and "<script>alert" not in page

    with app.extensions["shequ"].db.Session() as s:
        persons_after = s.scalar(select(func.count()).select_from(Person))
    checks["nothing written by refused requests"] = persons_after == persons_before + 1

    # -- 2. schemathesis over the whole document, as an administrator, all checks
    started = time.monotonic()
    report = tmp_path / "fuzz.json"
    fuzz = subprocess.run(
        [ST, "--config-file", str(HERE / "schemathesis.toml"),
         "run", f"{api}/openapi.json", "--checks", "all", "-n", str(EXAMPLES),
         "--seed", "20261128", "--no-color", "--generation-database", "none",
         "-H", f"Authorization: Bearer {token}", "--request-timeout", "60",
         # The operations that take away the fuzzer's own access (revoke its token,
         # disable its account, edit the admin role, end sessions) are fuzzed in-process
         # with a fresh token per case (tests/core/test_fuzz.py); here they would turn
         # every later case into a 401.
         "--exclude-path-regex", r"^/api/v1/identity/(users|roles|tokens|sessions)/\{",
         # The document declares no OpenAPI links; schemathesis's inferred sequences
         # (the stateful phase) guess at them, so it runs the three example phases.
         "--phases", "examples,coverage,fuzzing",
         "--report", "ndjson", "--report-ndjson-path", str(report)],
        capture_output=True, text=True, timeout=1500, check=False)
    fuzz_seconds = round(time.monotonic() - started)
    summary = [line for line in fuzz.stdout.splitlines() if line.strip()][-12:]
    print("\n".join(fuzz.stdout.splitlines()[-40:]))
    server_errors = fuzz.stdout.count("Server error")


    passed = fuzz.returncode == 0 and all(checks.values())
    record(
        "hostile input",
        injected=f"schemathesis over every operation (all checks, {EXAMPLES} examples each, "
                 "as an administrator, over HTTP); oversized, wrongly typed, malformed, "
                 "invalid UTF-8 and 100,000-level nested bodies; a 100,000-row CSV of bad "
                 "rows named ../../../etc/passwd.csv; script in text fields",
        checked="zero 500s and every response conforming to the document; each refusal "
                "the documented JSON error; the bad import reported row by row with nothing "
                "written",
        figures={"schemathesis_exit": fuzz.returncode, "schemathesis_seconds": fuzz_seconds,
                 "server_errors": server_errors, "schemathesis_summary": summary[-3:],
                 **{k: "ok" if v else "FAILED" for k, v in checks.items()}},
        passed=passed,
    )
    assert fuzz.returncode == 0, _failures(fuzz.stdout)
    failed = [k for k, v in checks.items() if not v]
    assert not failed, failed


def _failures(out: str) -> str:
    """The FAILURES section of schemathesis's report (each case with its curl line)."""
    start = out.find("= FAILURES =")
    end = out.find("= SUMMARY =", start)
    return out[start:end] if start >= 0 else "\n".join(out.splitlines()[-80:])


def _oversized(port: int, path: str, auth: dict[str, str]) -> tuple[int, str]:
    """Announce a 17 MiB body (over app.max_content_length) and send its first kilobyte:
    the server must refuse from the header, before reading the body."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.putrequest("POST", path)
    for key, value in {**auth, "Content-Type": "application/json",
                       "Content-Length": str(17 * 1024 * 1024)}.items():
        conn.putheader(key, value)
    conn.endheaders()
    conn.send(b"x" * 1024)
    resp = conn.getresponse()
    text = resp.read().decode("utf-8", "replace")
    conn.close()
    return resp.status, text


def _community(app) -> str:
    from core.registry.models import Community

    with app.extensions["shequ"].db.Session() as s:
        return s.scalar(select(Community.code).order_by(Community.id).limit(1))

"""Shequ behind a real nginx — Debian's package, started by the test on 127.0.0.1 with its
own prefix — using the site file docs/operations.md gives (ports, certificate and paths
replaced), with ``server.proxy_hops = 1``. Proves: the client's address is the one Shequ
records and throttles (a forged ``X-Forwarded-For`` changes nothing), the session cookie
is ``Secure`` with the ``__Host-`` prefix, redirects go to ``https://`` and the public
host, nginx serves the static files and refuses oversized bodies itself."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import ssl
import subprocess
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from reliability_kit import ROOT, free_port, record

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
HOST = "shequ.example.gov.cn"
OPERATIONS = ROOT / "docs" / "operations.md"


def documented_site() -> str:
    text = OPERATIONS.read_text(encoding="utf-8")
    after = text.split("/etc/nginx/sites-available/shequ", 1)[1]
    return re.search(r"```nginx\n(.*?)```", after, re.S).group(1)


def site_for_test(upstream: int, plain: int, tls: int, cert: Path, key: Path) -> str:
    site = documented_site()
    swaps = [
        ("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream};"),
        ("    listen [::]:80;\n", ""),
        ("    listen [::]:443 ssl;\n", ""),
        ("    http2 on;\n", ""),  # nginx 1.25+; Debian 12 has 1.22
        ("listen 80;", f"listen 127.0.0.1:{plain};"),
        ("listen 443 ssl;", f"listen 127.0.0.1:{tls} ssl;"),
        ("/etc/ssl/shequ/fullchain.pem", str(cert)),
        ("/etc/ssl/shequ/privkey.pem", str(key)),
        ("/opt/shequ/", f"{ROOT}/"),
    ]
    for old, new in swaps:
        assert old in site, f"docs/operations.md's nginx site no longer has {old!r}"
        site = site.replace(old, new)
    return site


def self_signed(tmp: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def start_nginx(tmp: Path, site: str) -> subprocess.Popen:
    prefix = tmp / "nginx"
    for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"):
        (prefix / d).mkdir(parents=True, exist_ok=True)
    user = "user root root;\n" if os.geteuid() == 0 else ""  # workers read the checkout
    conf = prefix / "nginx.conf"
    conf.write_text(f"""{user}worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 128; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {prefix}/logs/access.log;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
{site}
}}
""")
    check = subprocess.run([NGINX, "-t", "-p", str(prefix), "-c", str(conf)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    log = open(prefix / "logs" / "stdout.log", "ab")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(conf)], stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    return proc


class Client:
    """One browser at a loopback address of its own (127.0.0.2, 127.0.0.3, …): the address
    nginx sees, which Shequ must see too."""

    def __init__(self, source: str, tls_port: int, plain_port: int) -> None:
        self.source = source
        self.tls_port = tls_port
        self.plain_port = plain_port
        self.cookies: dict[str, str] = {}
        self.ctx = ssl.create_default_context()
        self.ctx.check_hostname = False
        self.ctx.verify_mode = ssl.CERT_NONE

    def send(self, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None, tls: bool = True
             ) -> tuple[int, http.client.HTTPMessage, bytes]:
        if tls:
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                "127.0.0.1", self.tls_port, context=self.ctx, timeout=60,
                source_address=(self.source, 0))
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.plain_port, timeout=60,
                                              source_address=(self.source, 0))
        hdrs = {"Host": HOST, **(headers or {})}
        if self.cookies:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        for raw in resp.headers.get_all("Set-Cookie") or []:
            name, _, rest = raw.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return resp.status, resp.headers, data

    def csrf(self) -> str:
        status, _, body = self.send("GET", "/account/login")
        assert status == 200, status
        return re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', body).group(1).decode()

    def login(self, username: str, password: str, forged: str | None = None
              ) -> tuple[int, http.client.HTTPMessage]:
        token = self.csrf()
        data = urllib.parse.urlencode({"csrf_token": token, "username": username,
                                       "password": password}).encode()
        # A browser sends the Referer; over HTTPS the CSRF check requires it to be this
        # site, which it can only be when the forwarded host and scheme are right.
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "Referer": f"https://{HOST}/account/login"}
        if forged:
            headers["X-Forwarded-For"] = forged
        status, hdrs, _ = self.send("POST", "/account/login", data, headers)
        return status, hdrs


def test_behind_nginx_addresses_cookies_and_redirects_are_right(deployment, tmp_path):
    if NGINX is None:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx-light; .ci/run "
                    "installs it)")
    from sqlalchemy import create_engine, text

    dep = deployment(plugins=[])
    made = dep.shequ("user", "create", "nginx_admin", "--role", "admin", "--password-stdin",
                     input="reliability-pw-1\n")
    assert made.returncode == 0, made.stderr
    dep.env.update(
        SHEQU__SERVER__PROXY_HOPS="1",
        SHEQU__APP__SECURE_COOKIES="auto",  # production: Secure, __Host- prefix
        SHEQU__APP__TRUSTED_HOSTS=f'["{HOST}", "127.0.0.1"]',
        SHEQU__IDENTITY__LOGIN_FAILURES_PER_IP="3 per 15 minutes",
        SHEQU__IDENTITY__LOGIN_FAILURES_PER_ACCOUNT="100 per 15 minutes",
        SHEQU__LIMITS__KEY_PREFIX=f"rel-nginx-{os.getpid()}-{time.time_ns()}",
    )
    dep.serve(workers=2)
    plain, tls = free_port(), free_port()
    cert, key = self_signed(tmp_path)
    nginx = start_nginx(tmp_path, site_for_test(dep.port, plain, tls, cert, key))
    checks: dict[str, bool] = {}
    seen: dict[str, object] = {}  # what was observed, for the record when a check fails
    try:
        alice = Client("127.0.0.2", tls, plain)
        deadline = time.monotonic() + 20
        while True:
            try:
                alice.send("GET", "/healthz")
                break
            except OSError:
                assert nginx.poll() is None, (tmp_path / "nginx/logs/error.log").read_text()
                assert time.monotonic() < deadline, "nginx did not answer"
                time.sleep(0.2)

        # -- plain HTTP is sent to HTTPS by nginx
        status, hdrs, _ = alice.send("GET", "/account/login?x=1", tls=False)
        checks["http -> 301 https"] = (status == 301
                                       and hdrs["Location"] == f"https://{HOST}/account/login?x=1")

        # -- the session cookie: Secure, __Host-, HttpOnly; HSTS over HTTPS
        status, hdrs, _ = alice.send("GET", "/account/login")
        cookie = next((c for c in hdrs.get_all("Set-Cookie") or []
                       if c.startswith("__Host-shequ=")), "")
        attrs = {a.strip().lower() for a in cookie.split(";")[1:]}
        checks["cookie __Host- Secure HttpOnly Path=/"] = (
            status == 200 and {"secure", "httponly", "path=/"} <= attrs
            and not any(a.startswith("domain=") for a in attrs))
        checks["HSTS sent"] = "max-age" in (hdrs.get("Strict-Transport-Security") or "")
        checks["nginx request id reaches Shequ"] = bool(
            re.fullmatch(r"[0-9a-f]{32}", hdrs.get("X-Request-ID") or ""))

        # -- redirects: to https and the public host, never gunicorn's address
        status, hdrs, _ = alice.send("GET", "/account")
        checks["slash redirect -> https://host/"] = (
            status in (301, 308) and hdrs["Location"] == f"https://{HOST}/account/")
        status, hdrs = alice.login("nginx_admin", "reliability-pw-1")
        location = hdrs.get("Location") or ""
        seen["sign-in"] = [status, location]
        checks["sign-in redirect stays on https"] = status == 302 and (
            location.startswith("/") or location.startswith(f"https://{HOST}/"))

        # -- the client's address: recorded and throttled by it; a forged header ignored
        bob = Client("127.0.0.3", tls, plain)
        statuses = [alice.login(f"nobody{i}", "wrong-password", forged=f"203.0.113.{i}")[0]
                    for i in range(5)]
        checks["forged XFF does not escape the per-IP limit"] = (
            statuses[:3] == [401, 401, 401] and statuses[3:] == [429, 429])
        seen["throttled"] = statuses
        seen["other client"] = bob.login("nobody9", "wrong")[0]
        checks["another client is not limited"] = seen["other client"] == 401
        engine = create_engine(dep.db_url)
        with engine.connect() as conn:
            ips = {r[0] for r in conn.execute(text(
                "SELECT ip FROM audit_entry WHERE action = 'auth.login.failed'"))}
            ok_ip = conn.execute(text(
                "SELECT ip FROM audit_entry WHERE action = 'auth.login.succeeded'")).scalar()
        engine.dispose()
        seen["ips"] = sorted(ips)
        checks["audit log has the clients' addresses"] = ips == {"127.0.0.2", "127.0.0.3"}
        checks["sign-in recorded from the client"] = ok_ip == "127.0.0.2"

        # -- /metrics: a remote client cannot pass for 127.0.0.1
        status, _, _ = alice.send("GET", "/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
        checks["/metrics refused to a forged local address"] = status == 403

        # -- nginx serves the static files, and refuses an oversized body itself
        status, hdrs, body = alice.send("GET", "/static/shequ.css")
        seen["static"] = [status, dict(hdrs)]
        checks["static from nginx"] = (status == 200 and b"{" in body
                                       and "X-Request-ID" not in hdrs
                                       and "public" in hdrs.get_all("Cache-Control", []))
        status, _, _ = alice.send("POST", "/account/login", b"x" * (18 * 1024 * 1024),
                                  {"Content-Type": "application/octet-stream"})
        checks["body over client_max_body_size -> 413"] = status == 413
    finally:
        if nginx.poll() is None:
            os.killpg(nginx.pid, signal.SIGTERM)
            try:
                nginx.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(nginx.pid, signal.SIGKILL)
                nginx.wait(5)

    failed = [k for k, v in checks.items() if not v]
    record("nginx in front (proxy_hops = 1)",
           injected="Debian's nginx with the documented site (TLS, static files, proxy "
                    "headers) in front of 2 gunicorn workers; clients at 127.0.0.2/.3 "
                    "forging X-Forwarded-For",
           checked="; ".join(checks),
           figures={"checks": len(checks), "failed": failed,
                    **({"seen": seen} if failed else {})}, passed=not failed)
    assert not failed, failed

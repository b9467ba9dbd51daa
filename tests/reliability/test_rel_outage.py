"""Database outage: connections to PostgreSQL refused and dropped for some seconds while
the web server runs. The API answers 503 JSON with Retry-After, pages show the friendly
error, nothing leaks a traceback, and the server recovers by itself when the database is
back — no restart."""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from reliability_kit import free_port, record


class Proxy:
    """A TCP proxy in front of PostgreSQL that can be switched off: while off it drops
    every open connection and refuses new ones, as a database restart or a network cut
    does."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = free_port()
        self.up = threading.Event()
        self.up.set()
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self.stopped = False
        self.listener = self._listen()
        threading.Thread(target=self._accept, daemon=True).start()

    def _listen(self) -> socket.socket:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        return s

    def _accept(self) -> None:
        while not self.stopped:
            try:
                client, _ = self.listener.accept()
            except OSError:
                if self.stopped:
                    return
                time.sleep(0.05)
                continue
            if not self.up.is_set():
                client.close()  # refused: the database is "down"
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.close()

    def down(self) -> None:
        self.up.clear()
        with self.lock:
            for s in self.conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass
            self.conns.clear()

    def restore(self) -> None:
        self.up.set()

    def close(self) -> None:
        self.stopped = True
        self.down()
        self.listener.close()


_OPENER = urllib.request.build_opener(
    urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def sign_in(base: str, username: str, password: str) -> None:
    """Sign in through the real form (CSRF token included); the cookie stays in _OPENER."""
    form = _get(f"{base}/account/login")[2]
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode({"csrf_token": token, "username": username,
                                   "password": password}).encode()
    with _OPENER.open(urllib.request.Request(f"{base}/account/login", data=data), timeout=30):
        pass


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict, str]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with _OPENER.open(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode("utf-8", "replace")


def test_database_outage_answers_503_and_recovers(deployment):
    dep = deployment()
    made = dep.shequ("user", "create", "outage_admin", "--role", "admin", "--password-stdin",
                     input="outage-password-1\n")
    assert made.returncode == 0, made.stderr
    token = dep.shequ("token", "create", "outage_admin").stdout.strip().splitlines()[-1]
    token = token.split()[-1]
    proxy = Proxy(("127.0.0.1", 5432))
    try:
        # the web server reaches PostgreSQL only through the proxy
        dep.env["SHEQU__DATABASE__URL"] = dep.db_url.replace(":5432/", f":{proxy.port}/")
        dep.serve(workers=2)
        auth = {"Authorization": f"Bearer {token}"}
        api, page = f"{dep.url}/api/v1/identity/me", f"{dep.url}/account/"
        sign_in(dep.url, "outage_admin", "outage-password-1")
        assert _get(api, auth)[0] == 200
        status, _, body = _get(page)
        assert status == 200 and "outage_admin" in body, (status, body[:300])

        proxy.down()
        outage_started = time.monotonic()
        answers: list[tuple[str, int, dict, str]] = []
        while time.monotonic() - outage_started < 8:
            for kind, url, headers in (("api", api, auth), ("page", page, {}),
                                       ("health", f"{dep.url}/healthz", {})):
                status, hdrs, body = _get(url, headers)
                answers.append((kind, status, hdrs, body))
            time.sleep(0.5)
        proxy.restore()
        recovered_after = None
        t0 = time.monotonic()
        while time.monotonic() - t0 < 30:
            if _get(api, auth)[0] == 200 and _get(page)[0] == 200:
                recovered_after = time.monotonic() - t0
                break
            time.sleep(0.2)
        after = [_get(api, auth)[0] for _ in range(20)]
    finally:
        proxy.close()

    statuses = sorted({(k, s) for k, s, _, _ in answers})
    api_503 = [(h, b) for k, s, h, b in answers if k == "api" and s == 503]
    page_503 = [(h, b) for k, s, h, b in answers if k == "page" and s == 503]
    five_hundreds = [(k, s) for k, s, _, _ in answers if s == 500]
    leaks = [k for k, _, _, b in answers if "Traceback" in b or "psycopg" in b]
    api_ok = all(json.loads(b)["error"]["code"] == "unavailable" and int(h["Retry-After"]) > 0
                 for h, b in api_503)
    page_ok = all("<html" in b.lower() and int(h["Retry-After"]) > 0 for h, b in page_503)
    passed = (bool(api_503) and bool(page_503) and not five_hundreds and not leaks and api_ok
              and page_ok and recovered_after is not None and set(after) == {200})
    record(
        "database outage",
        injected="PostgreSQL connections dropped and refused for 8 s (a TCP proxy switched "
                 "off) under a running `shequ run --workers 2`",
        checked="API 503 JSON with Retry-After, pages the friendly 503 page, no 500, no "
                "traceback or driver message; recovery without restart",
        figures={"requests_during_outage": len(answers),
                 "answers": [f"{k} {s}" for k, s in statuses],
                 "5xx_other_than_503": len(five_hundreds), "leaks": len(leaks),
                 "recovered_after_s": round(recovered_after, 2) if recovered_after else None},
        passed=passed,
    )
    assert api_503 and page_503, statuses
    assert not five_hundreds, statuses
    assert not leaks
    assert api_ok and page_ok
    assert recovered_after is not None, "the server did not recover by itself"
    assert set(after) == {200}

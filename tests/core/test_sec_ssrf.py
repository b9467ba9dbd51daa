"""Finding 6: SSRF through webhook callbacks.

An exchange client's callback could be ``http://127.0.0.1:<port>/`` (PostgreSQL and Redis
listen there) and its ``last_error`` ("Connection refused") worked as a port scanner.
Now loopback, link-local, unspecified, multicast and cloud-metadata addresses are always
refused, private ranges only when ``exchange.allowed_networks`` lists them, at
registration (a message beside the field) and again after DNS resolution at every send,
with the connection pinned to the checked address; every network failure reads the same.

These tests send traffic to 127.0.0.1 only: other addresses are refused before any
connection is made, and names that must not resolve on the network are answered by a
patched resolver.
"""

from __future__ import annotations

import logging
import socket
import threading
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from core.cli import AppContext
from core.config import DEFAULT_CONFIG, ConfigError, load_config
from core.events.delivery import deliver_pending
from core.exchange import netguard
from core.exchange import services as ex
from core.exchange.cli import exchange
from core.exchange.models import ExchangeClient
from core.registry import services as reg
from core.registry.testing import make_id
from core.testing import csrf_token, login

ALWAYS_REFUSED = [
    "http://127.0.0.1:5432/",
    "http://127.0.0.2/hook",
    "http://localhost:6379/",
    "http://LOCALHOST./x",
    "http://db.localhost/",
    "http://[::1]:5432/",
    "http://[::ffff:127.0.0.1]/",
    "http://127.1/",
    "http://2130706433/",
    "http://0x7f.0.0.1/",
    "http://0.0.0.0:8080/",
    "http://[::]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.1.1/",
    "http://[fe80::1]/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://[fd00:ec2::254]/",
    "http://100.100.100.200/latest/meta-data/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
]
PRIVATE = [
    "http://10.1.2.3/hook",
    "http://172.16.0.5/hook",
    "http://192.168.1.10:8080/hook",
    "http://100.64.0.7/hook",
    "http://[fd12:3456::1]/hook",
]
EVENT = "registry.person.registered"

_seq = iter(range(500, 5000))


def _app(make_app, networks=()):
    return make_app(plugins=[], config={"exchange": {"allowed_networks": list(networks)}})


def _create(app, url, name=None):
    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as session:
        client, _secret, _token = ex.create_client(
            session,
            kernel.bus,
            name=name or f"c{next(_seq)}",
            event_types=[EVENT],
            scopes=["registry.person.basic"],
            callback_url=url,
        )
        return client.id


def _refused(app, url):
    with pytest.raises(ex.ExchangeError) as err:
        _create(app, url)
    assert err.value.field == "callback_url"
    return err.value


def _force_callback(app, client_id, url):
    """A row saved before this check existed (or changed behind the service's back)."""
    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as session:
        session.get(ExchangeClient, client_id).callback_url = url


def _register(app):
    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as session:
        person = reg.register_person(
            session, {"name": "赵七", "id_number": make_id(seq=next(_seq))}, bus=kernel.bus
        )
        return person.id


def _deliveries(app, client_id):
    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as session:
        return ex.list_deliveries(session, client_id=client_id)


class Listener:
    """A TCP socket on 127.0.0.1 that records connections. ``mode``: "http" answers 200,
    "silent" accepts and never answers, "garbage" answers like Redis and closes."""

    def __init__(self, mode="http"):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.requests: list[bytes] = []
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self.mode == "silent":
                self.held.append(conn)
                continue
            data = b""
            conn.settimeout(2)
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                self.requests.append(data)
                if self.mode == "garbage":
                    conn.sendall(b"-ERR unknown command 'POST'\r\n")
                else:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            except OSError:
                pass
            finally:
                conn.close()

    def close(self):
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def listener():
    made = []

    def make(mode="http"):
        made.append(Listener(mode))
        return made[-1]

    yield make
    for one in made:
        one.close()


def fake_dns(monkeypatch, answers):
    """Answer ``getaddrinfo`` for the names in ``answers`` (name → list of addresses or a
    callable giving one); other names go to the real resolver. Returns the call log."""
    real = socket.getaddrinfo
    calls: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            calls.append(host)
            found = answers[host]
            addresses = found() if callable(found) else found
            return [
                (
                    socket.AF_INET6 if ":" in a else socket.AF_INET,
                    socket.SOCK_STREAM,
                    socket.IPPROTO_TCP,
                    "",
                    (a, port, 0, 0) if ":" in a else (a, port),
                )
                for a in addresses
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(netguard.socket, "getaddrinfo", getaddrinfo)
    return calls


# ---------------------------------------------------------------------------- config


def test_allowed_networks_are_validated_at_start_up():
    ok = load_config(
        DEFAULT_CONFIG,
        overrides={"exchange": {"allowed_networks": ["10.20.0.0/16", "fd12:3456::/48"]}},
        environ={},
    )
    assert ok.exchange["allowed_networks"] == ["10.20.0.0/16", "fd12:3456::/48"]
    policy = netguard.policy_from_config(ok)
    assert policy.allow_loopback is False and len(policy.allowed) == 2
    for bad, words in [
        (["10.20.0.0/33"], "not a network"),
        (["intranet"], "not a network"),
        (["10.1.2.3/8"], "host bits"),
        (["169.254.0.0/16"], "always refused"),
        (["127.0.0.0/8"], "loopback"),
        (["0.0.0.0/0"], "loopback"),
        (["::1/128"], "loopback"),
    ]:
        with pytest.raises(ConfigError) as err:
            load_config(
                DEFAULT_CONFIG, overrides={"exchange": {"allowed_networks": bad}}, environ={}
            )
        assert "exchange.allowed_networks" in str(err.value) and words in str(err.value)
    # Only the test suite may list loopback (its receivers run on 127.0.0.1).
    test_env = load_config(
        DEFAULT_CONFIG,
        overrides={"app": {"env": "test"}, "exchange": {"allowed_networks": ["127.0.0.0/8"]}},
        environ={},
    )
    assert netguard.policy_from_config(test_env).allow_loopback is True


def test_metadata_addresses_can_never_be_allowed():
    everything = netguard.NetworkPolicy(
        allowed=netguard.parse_networks(["0.0.0.0/0", "::/0"]), allow_loopback=True
    )
    import ipaddress

    metadata = ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "::ffff:169.254.169.254")
    for address in metadata:
        assert everything.refusal(ipaddress.ip_address(address)) == netguard.METADATA
    assert everything.refusal(ipaddress.ip_address("169.254.3.3")) == netguard.NEVER
    assert everything.refusal(ipaddress.ip_address("127.0.0.1")) is None  # tests only


# ---------------------------------------------------------------------------- registration


def test_loopback_link_local_and_metadata_callbacks_are_refused_at_registration(make_app):
    app = _app(make_app, ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
                          "fc00::/7"])
    for url in ALWAYS_REFUSED:
        err = _refused(app, url)
        assert "never sent" in str(err), url
    _refused(app, "http://user:secret@mz.example.gov.cn/hook")
    assert _create(app, "https://mz.example.gov.cn/hook")  # no DNS asked at registration


def test_private_addresses_need_allowed_networks(make_app):
    strict = _app(make_app)
    for url in PRIVATE:
        err = _refused(strict, url)
        assert "allowed_networks" in str(err), url
    intranet = _app(make_app, ["10.20.0.0/16", "fd12:3456::/48"])
    assert _create(intranet, "http://10.20.3.4:8080/hook")
    assert _create(intranet, "http://[fd12:3456::9]/hook")
    _refused(intranet, "http://10.21.0.1/hook")  # outside the listed network
    _refused(intranet, "http://192.168.1.10/hook")
    # Changing a client's address is checked the same way.
    kernel = intranet.extensions["shequ"]
    cid = _create(intranet, "http://10.20.3.5/hook")
    with kernel.db.session_scope() as session:
        client = session.get(ExchangeClient, cid)
        with pytest.raises(ex.ExchangeError):
            ex.update_client(
                session, kernel.bus, client, name=client.name, contact="",
                event_types=[EVENT], scopes=["registry.person.basic"],
                callback_url="http://127.0.0.1:6379/",
            )


def test_the_admin_page_and_the_cli_refuse_a_loopback_callback(make_app):
    app = _app(make_app)
    admin = app.test_client()
    login(admin, app, "admin")
    token = csrf_token(admin, "/admin/exchange/new")
    page = admin.post(
        "/admin/exchange/new",
        data={
            "csrf_token": token,
            "name": "探测",
            "callback_url": "http://127.0.0.1:5432/",
            "event_types": [EVENT],
            "scopes": ["registry.person.basic"],
        },
    )
    assert page.status_code == 400
    body = page.get_data(as_text=True)
    assert "Webhook 不会发送到本机" in body or "Webhooks are never sent" in body
    ctx = AppContext()
    ctx._app = app
    out = CliRunner().invoke(
        exchange, ["add-client", "探测", "--callback", "http://localhost:6379/"], obj=ctx
    )
    assert out.exit_code != 0
    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as session:
        assert session.scalars(select(ExchangeClient)).all() == []


# ---------------------------------------------------------------------------- send time


def test_a_callback_that_resolves_to_loopback_is_refused_at_send(make_app, listener):
    app = _app(make_app)
    target = listener()
    # A row from before the check: "localhost" resolves (from /etc/hosts) to 127.0.0.1.
    old = _create(app, "https://mz.example.gov.cn/old")
    _force_callback(app, old, f"http://localhost:{target.port}/hook")
    literal = _create(app, "https://mz.example.gov.cn/literal")
    _force_callback(app, literal, f"http://127.0.0.1:{target.port}/hook")
    _register(app)
    deliver_pending(app)
    for cid in (old, literal):
        (row,) = _deliveries(app, cid)
        assert row.status == "retrying" and row.last_error.endswith(ex.ADDRESS_REFUSED)
    assert target.requests == []  # no connection was made


def test_dns_rebinding_is_refused_and_the_connection_is_pinned(make_app, listener, monkeypatch):
    app = make_app(plugins=[], config={"exchange": {"allowed_networks": ["127.0.0.0/8"]}})
    target = listener()
    # A name that resolves to a public and a refused address: refused as a whole.
    fake_dns(monkeypatch, {"mixed.example.gov.cn": ["93.184.216.34", "169.254.169.254"]})
    mixed = _create(app, f"http://mixed.example.gov.cn:{target.port}/hook")
    # A name whose answer changes after the check: the connection goes to the first.
    answers = iter([["127.0.0.1"], ["10.66.0.1"], ["10.66.0.1"]])
    calls = fake_dns(
        monkeypatch,
        {
            "mixed.example.gov.cn": ["93.184.216.34", "169.254.169.254"],
            "hook.example.gov.cn": lambda: next(answers),
        },
    )
    pinned = _create(app, f"http://hook.example.gov.cn:{target.port}/in?x=1")
    _register(app)
    deliver_pending(app)
    (row,) = _deliveries(app, mixed)
    assert row.status == "retrying" and row.last_error.endswith(ex.ADDRESS_REFUSED)
    (row,) = _deliveries(app, pinned)
    assert row.status == "delivered" and row.response_status == 200
    assert calls.count("hook.example.gov.cn") == 1  # resolved once, then pinned
    (request,) = target.requests
    assert request.startswith(b"POST /in?x=1 HTTP/1.1")
    assert f"Host: hook.example.gov.cn:{target.port}".encode() in request


def test_a_private_address_is_refused_at_send_unless_listed(make_app, monkeypatch):
    app = _app(make_app)
    fake_dns(monkeypatch, {"intranet.example.gov.cn": ["10.1.2.3"]})
    cid = _create(app, "http://intranet.example.gov.cn/hook")
    _register(app)
    deliver_pending(app)
    (row,) = _deliveries(app, cid)
    assert row.last_error.endswith(ex.ADDRESS_REFUSED)
    policy = netguard.NetworkPolicy(allowed=netguard.parse_networks(["10.0.0.0/8"]))
    assert netguard.resolve("intranet.example.gov.cn", 80, policy) == "10.1.2.3"


def test_network_errors_read_the_same_whatever_the_port_state(
    make_app, listener, monkeypatch, caplog
):
    app = make_app(plugins=[], config={"exchange": {"allowed_networks": ["127.0.0.0/8"]}})
    monkeypatch.setattr(ex, "WEBHOOK_TIMEOUT", 0.5)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()  # nothing listens there now: "connection refused"
    silent, garbage = listener("silent"), listener("garbage")
    clients = SimpleNamespace(
        closed=_create(app, f"http://127.0.0.1:{closed_port}/hook"),
        timeout=_create(app, f"http://127.0.0.1:{silent.port}/hook"),
        garbage=_create(app, f"http://127.0.0.1:{garbage.port}/hook"),
    )
    _register(app)
    with caplog.at_level(logging.WARNING, logger="core.exchange.services"):
        deliver_pending(app)
    errors = {name: _deliveries(app, cid)[0].last_error for name, cid in vars(clients).items()}
    assert len(set(errors.values())) == 1, errors
    assert next(iter(errors.values())) == f"WebhookError: {ex.NETWORK_ERROR}"
    # The detail stays in the server log, for the operator.
    logged = caplog.text.lower()
    assert "refused" in logged and "timed out" in logged

"""Issue 17: e-mail through SMTP, against a real SMTP server (aiosmtpd) the tests start on
127.0.0.1: STARTTLS with a login, implicit TLS, and a plain relay; the mail arrives From the
configured sender, in the recipient's language, and a refused login is a visible failure."""

from __future__ import annotations

import datetime as dt
import email
import socket
import ssl
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select

from core.identity import otp
from core.identity.models import OutboundMessage, User
from core.identity.notifications import notify
from core.testing import deliver_events, ensure_user
from core.web.i18n import compile_catalogues

USER, PASSWORD = "mailer", "smtp-password-1"
ADDRESS = "wang.xiuying@example.cn"


@pytest.fixture(scope="module", autouse=True)
def _catalogues() -> None:
    compile_catalogues()


class Inbox:
    def __init__(self) -> None:
        self.mails: list[dict] = []

    async def handle_DATA(self, server, session, envelope):
        self.mails.append({
            "from": envelope.mail_from, "to": list(envelope.rcpt_tos),
            "message": email.message_from_bytes(envelope.original_content or envelope.content,
                                                policy=default_policy),
            "authenticated": bool(session.authenticated),
            "tls": server.transport.get_extra_info("ssl_object") is not None,
        })
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login.decode(), auth_data.password.decode()) == (USER, PASSWORD)
    return AuthResult(success=ok, handled=False)  # aiosmtpd answers 535 on failure


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, and its file (the channel's ca_file)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(
            ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("smtp-cert")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert_file, key_file)
    return str(cert_file), server_ctx


def start(security, certificate, *, auth=True):
    inbox = Inbox()
    port = free_port()
    kwargs: dict = {"hostname": "127.0.0.1", "port": port}
    if auth:
        # STARTTLS: no login before the upgrade. (aiosmtpd does not count implicit TLS as
        # TLS for this check, and a plain relay may take a login: off for both.)
        kwargs.update(authenticator=authenticator, auth_require_tls=security == "starttls")
    if security == "starttls":
        kwargs.update(tls_context=certificate[1], require_starttls=True)
    elif security == "tls":
        kwargs["ssl_context"] = certificate[1]
    controller = Controller(inbox, **kwargs)
    controller.start()
    return controller, inbox, port


@pytest.fixture
def mailserver(request, certificate):
    security = getattr(request, "param", "starttls")
    controller, inbox, port = start(security, certificate)
    yield security, inbox, port
    controller.stop()


def smtp_app(make_app, security, port, certificate, *, password=PASSWORD, events=None):
    config = {"messaging": {"email": "smtp", "sender_name": "幸福社区", "smtp": {
        "host": "127.0.0.1", "port": port, "security": security, "username": USER,
        "password": password, "from_address": "noreply@example.gov.cn",
        "ca_file": certificate[0], "timeout": 5.0,
    }}}
    if events:
        config["events"] = {"delivery": "manual", **events}
    return make_app(plugins=[], config=config)


def send_code(app, locale, purpose="email", address=ADDRESS):
    kernel = app.extensions["shequ"]
    with app.app_context(), kernel.db.session_scope() as s:
        return otp.issue_code(s, kernel, purpose=purpose, channel="email", recipient=address,
                              locale=locale).message_id


@pytest.mark.parametrize("mailserver", ["starttls", "tls", "none"], indirect=True)
def test_a_code_arrives_at_the_smtp_server(make_app, mailserver, certificate):
    security, inbox, port = mailserver
    app = smtp_app(make_app, security, port, certificate)
    message_id = send_code(app, "en")
    deliver_events(app)
    [mail] = inbox.mails
    assert mail["to"] == [ADDRESS] and mail["from"] == "noreply@example.gov.cn"
    assert mail["authenticated"] and mail["tls"] == (security != "none")
    msg = mail["message"]
    assert msg["Subject"] == "Confirm your e-mail address for Shequ"
    assert msg["From"] == "幸福社区 <noreply@example.gov.cn>"
    body = msg.get_content()
    code = body.split("Shequ account is ")[1][:6]
    assert code.isdigit()
    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as s:
        m = s.get(OutboundMessage, message_id)
        assert m.status == "sent" and m.sent_by.startswith("smtp:")
        assert code not in m.body and m.params["code"] == ""


def test_the_mail_is_in_the_recipients_language(make_app, mailserver, certificate):
    security, inbox, port = mailserver
    app = smtp_app(make_app, security, port, certificate)
    send_code(app, "zh", purpose="reset")
    send_code(app, "en", purpose="reset", address="li.lei@example.cn")
    deliver_events(app)
    by_address = {m["to"][0]: m["message"] for m in inbox.mails}
    assert by_address[ADDRESS]["Subject"] == "社区平台密码重置验证码"
    assert "您正在重置社区平台密码" in by_address[ADDRESS].get_content()
    assert by_address["li.lei@example.cn"]["Subject"] == "Your Shequ password reset code"


def test_notify_mails_only_a_proved_address_in_the_users_language(make_app, mailserver,
                                                                  certificate):
    security, inbox, port = mailserver
    app = smtp_app(make_app, security, port, certificate)
    kernel = app.extensions["shequ"]
    user = ensure_user(app, "resident")
    with kernel.db.session_scope() as s:
        u = s.get(User, user.id)
        u.email, u.locale = ADDRESS, "en"
    with app.app_context(), kernel.db.session_scope() as s:
        notify(s, kernel.bus, user_id=user.id, title="Water off", body="Tuesday 9-12",
               channels=["email"])
    deliver_events(app)
    assert inbox.mails == []  # not proved yet: nothing is mailed
    with kernel.db.session_scope() as s:
        s.get(User, user.id).email_verified_at = dt.datetime.now(dt.UTC)
    with app.app_context(), kernel.db.session_scope() as s:
        notify(s, kernel.bus, user_id=user.id, title="Water off", body="Tuesday 9-12",
               channels=["email"])
    deliver_events(app)
    [mail] = inbox.mails
    assert mail["message"]["Subject"] == "Water off"
    assert mail["message"].get_content().strip() == "Tuesday 9-12"
    with kernel.db.session_scope() as s:
        assert s.scalar(select(OutboundMessage.locale)) == "en"


def test_a_refused_login_is_a_visible_failure(make_app, mailserver, certificate):
    security, inbox, port = mailserver
    app = smtp_app(make_app, security, port, certificate, password="wrong",
                   events={"max_attempts": 1})
    message_id = send_code(app, "en")
    deliver_events(app)
    assert inbox.mails == []
    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as s:
        m = s.get(OutboundMessage, message_id)
        assert m.status == "failed" and m.error.startswith(f"SMTP 127.0.0.1:{port}: 535")

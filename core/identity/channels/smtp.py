"""E-mail through an SMTP server (``[messaging.smtp]``).

``security`` is ``starttls`` (a plain connection upgraded with STARTTLS, port 587),
``tls`` (implicit TLS from the first byte, port 465) or ``none`` (a relay on the same host
or network). The certificate is checked against the system's CAs; with ``username`` set
the channel logs in (the password comes from ``SHEQU__MESSAGING__SMTP__PASSWORD``). The
message is plain text, with an HTML part when ``html = true``; From is
``sender_name <from_address>``.
"""

from __future__ import annotations

import html
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any

from core.identity.channels.base import ChannelError


class SmtpChannel:
    name = "smtp"

    def __init__(self, settings: dict[str, Any], sender_name: str,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.settings = settings
        self.sender_name = sender_name
        #: Tests pass a context that trusts their own certificate.
        self.ssl_context = ssl_context

    def build(self, message: Any) -> EmailMessage:
        """The e-mail for ``message``: From, To, Subject, a Message-ID and the body."""
        cfg = self.settings
        mail = EmailMessage()
        domain = cfg["from_address"].rsplit("@", 1)[-1]
        mail["From"] = formataddr((self.sender_name, cfg["from_address"]))
        mail["To"] = message.recipient
        mail["Subject"] = message.subject
        mail["Message-ID"] = make_msgid(domain=domain)
        mail.set_content(message.body)
        if cfg.get("html"):
            paragraphs = "".join(f"<p>{html.escape(p)}</p>"
                                 for p in message.body.split("\n\n") if p.strip())
            mail.add_alternative(f"<!doctype html><html><body>{paragraphs}</body></html>",
                                 subtype="html")
        return mail

    def send(self, message: Any) -> str:
        cfg = self.settings
        mail = self.build(message)
        context = self.ssl_context or ssl.create_default_context(
            cafile=cfg.get("ca_file") or None)
        try:
            client: smtplib.SMTP
            if cfg["security"] == "tls":
                client = smtplib.SMTP_SSL(cfg["host"], cfg["port"], timeout=cfg["timeout"],
                                          context=context)
            else:
                client = smtplib.SMTP(cfg["host"], cfg["port"], timeout=cfg["timeout"])
            with client:
                if cfg["security"] == "starttls":
                    client.starttls(context=context)
                if cfg.get("username"):
                    client.login(cfg["username"], cfg.get("password") or "")
                refused = client.send_message(mail)
        except smtplib.SMTPException as exc:
            raise ChannelError(f"SMTP {cfg['host']}:{cfg['port']}: {_describe(exc)}") from exc
        except OSError as exc:
            raise ChannelError(f"SMTP {cfg['host']}:{cfg['port']} unreachable: {exc}") from exc
        if refused:
            raise ChannelError(f"SMTP refused {', '.join(refused)}")
        return str(mail["Message-ID"]).strip("<>")


def _describe(exc: smtplib.SMTPException) -> str:
    code = getattr(exc, "smtp_code", None)
    text = getattr(exc, "smtp_error", b"")
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {text}".strip() if code else str(exc)

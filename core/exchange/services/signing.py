"""Webhook signatures: what the sender computes and what a receiver checks.

A seam of its own because it is the published contract (docs/exchange.md quotes
:func:`verify` as the reference implementation) and needs nothing but the secret: no
session, no bus, no network.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from core.db import utcnow
from core.exchange.models import ExchangeClient

#: A receiver should refuse a timestamp further than this from its clock (replays).
SIGNATURE_TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, "<timestamp>.<body>")."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signature_header(client: ExchangeClient, timestamp: str, body: bytes) -> str:
    """The ``X-Shequ-Signature`` value: the current secret's signature, then, during a
    rotation's grace period, the previous secret's, separated by a comma."""
    values = [sign(client.secret, timestamp, body)]
    until = client.previous_secret_until
    if client.previous_secret and until is not None and until > utcnow():
        values.append(sign(client.previous_secret, timestamp, body))
    return ",".join(values)


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float | None = None,
    tolerance: int = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does (the reference implementation of docs/exchange.md): a fresh
    timestamp, and one of the header's signatures made with ``secret``."""
    try:
        age = abs((now if now is not None else time.time()) - int(timestamp))
    except ValueError:
        return False
    expected = sign(secret, timestamp, body)
    return age <= tolerance and any(
        hmac.compare_digest(expected, candidate.strip()) for candidate in signature.split(",")
    )

"""Password hashing and the password policy.

argon2id with the library's parameters (m=64 MiB, t=3, p=4), rehashed at sign-in when
the parameters change. The policy is NIST SP 800-63B's, not composition rules: a length
range and a list of passwords attackers try first.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher

from core.rules import N_

MAX_PASSWORD = 128
COMMON_PASSWORDS = Path(__file__).resolve().parent / "data" / "common-passwords.txt"


def make_hasher(env: str) -> PasswordHasher:
    """argon2id; the test environment uses cheap parameters (a real hash costs ~0.3 s on
    2 cores and the suite signs in hundreds of times). Production never runs with env=test
    (config validation keeps demo data and the test env out of production)."""
    if env == "test":
        return PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    return PasswordHasher()


@cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line and not line.startswith("#"))


def password_problem(
    password: str, *, min_length: int, context: tuple[str, ...] = ()
) -> tuple[str, dict[str, Any]]:
    """Why this password is refused as ``(msgid, params)``, or ``("", {})`` when it is
    acceptable. The views translate the msgid."""
    if len(password) < min_length:
        return N_("Use at least %(n)s characters."), {"n": min_length}
    if len(password) > MAX_PASSWORD:
        return N_("Use at most %(n)s characters."), {"n": MAX_PASSWORD}
    lowered = password.lower()
    if lowered in common_passwords():
        return N_("This password is too common; choose one that is harder to guess."), {}
    if any(word and len(word) >= 3 and word.lower() in lowered for word in context):
        return N_("Do not use your username, phone number or name in the password."), {}
    return "", {}

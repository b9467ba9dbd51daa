"""API tokens: made, looked up and revoked.

Only a token's SHA-256 is stored (:func:`_digest`, shared with the session cookies): a
token has 256 bits of entropy, so a slow hash would add cost to every API call and no
security. Tokens only narrow their owner's rights.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit.services import log_audit
from core.db import utcnow
from core.identity.models import ApiToken, User
from core.identity.services.errors import NO_PERMISSIONS, OWNER_LACKS, IdentityError
from core.rules import N_

TOKEN_PREFIX = "shq_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session,
    user: User,
    *,
    name: str,
    permissions: list[str] | None,
    expires_days: int | None,
    granted: set[str] | frozenset[str],
) -> tuple[ApiToken, str]:
    """Create a token and return it with its plaintext, which is shown once and never
    stored (only its SHA-256: the token has 256 bits of entropy, so a slow hash would add
    cost to every API call and no security). A token can only narrow its owner's rights."""
    if permissions is not None:
        if not permissions:
            raise IdentityError(NO_PERMISSIONS, "permissions")
        extra = sorted(set(permissions) - set(granted))
        if extra:
            raise IdentityError(OWNER_LACKS, "permissions", names=", ".join(extra))
    if expires_days is not None and not 1 <= expires_days <= 3650:
        raise IdentityError(N_("Expiry must be between 1 and 3650 days."), "expires_days")
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=(name or "token").strip()[:100],
        prefix=plaintext[:10],
        digest=_digest(plaintext),
        permissions=sorted(set(permissions)) if permissions is not None else None,
        expires_at=utcnow() + timedelta(days=expires_days) if expires_days else None,
    )
    session.add(token)
    session.flush()
    return token, plaintext


def token_lookup(session: Session, plaintext: str, now: datetime | None = None) -> ApiToken | None:
    """The live token for this plaintext, or None if unknown, revoked, expired or its
    owner is disabled. ``last_used_at`` is written at most once a minute: recording every
    use would turn every API read into a write."""
    if not plaintext.startswith(TOKEN_PREFIX):
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.digest == _digest(plaintext)))
    now = now or utcnow()
    if token is None or token.revoked_at is not None or not token.user.is_active:
        return None
    if token.expires_at is not None and token.expires_at <= now:
        return None
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        token.last_used_at = now
        session.commit()
    return token


def revoke_token(session: Session, token: ApiToken, *, actor: User) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        log_audit(
            session,
            "identity.token.revoked",
            actor=actor,
            target_type="token",
            target_id=token.id,
            detail={"name": token.name, "owner_id": token.user_id},
        )

"""What a signed-in person does with their own account (the /account pages and the
resident API): their sessions and personal tokens.

The object checks live here, so a page and an endpoint cannot disagree about whose session
or token is whose: another account's id is answered exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit.services import log_audit
from core.identity.models import ApiToken, User, UserSession
from core.identity.services.errors import NO_PERMISSIONS, IdentityError
from core.identity.services.sessions import end_all_sessions, end_session
from core.identity.services.tokens import create_token
from core.rules import MAX_ID, N_


def own_session(session: Session, user: User, session_id: int) -> UserSession | None:
    """One of the user's live sessions, or None (someone else's, ended, or unknown)."""
    if not 0 < session_id <= MAX_ID:
        return None
    row = session.get(UserSession, session_id)
    if row is None or row.user_id != user.id or row.revoked_at is not None:
        return None
    return row


def end_own_session(
    session: Session,
    user: User,
    session_id: int,
    *,
    actor: User | None = None,
    facts: Mapping[str, Any] | None = None,
) -> UserSession | None:
    """End one of the user's own sessions ("sign out that phone"). Returns None when the id
    is not a live session of theirs: callers answer 404, whoever's session it is."""
    row = own_session(session, user, session_id)
    if row is None:
        return None
    end_session(session, row, "ended_by_user")
    log_audit(
        session,
        "identity.session.ended",
        actor=actor or user,
        target_type="session",
        target_id=row.id,
        facts=facts,
    )
    return row


def end_other_sessions(
    session: Session,
    user: User,
    *,
    keep_id: int | None,
    actor: User | None = None,
    facts: Mapping[str, Any] | None = None,
) -> int:
    """End every session of the user except ``keep_id`` (this device)."""
    count = end_all_sessions(session, user, reason="ended_by_user", except_id=keep_id)
    log_audit(
        session,
        "identity.session.ended_others",
        actor=actor or user,
        target_type="user",
        target_id=user.id,
        detail={"count": count},
        facts=facts,
    )
    return count


def own_tokens(session: Session, user: User) -> list[ApiToken]:
    """The user's tokens, newest first, revoked and expired ones included (for the record)."""
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user.id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


def own_token(session: Session, user: User, token_id: int) -> ApiToken | None:
    if not 0 < token_id <= MAX_ID:
        return None
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        return None
    return token


def create_own_token(
    session: Session,
    user: User,
    *,
    name: str,
    permissions: list[str] | None,
    expires_days: int | None,
    granted: Iterable[str],
    narrowed: bool = False,
    facts: Mapping[str, Any] | None = None,
) -> tuple[ApiToken, str]:
    """A personal token for the signed-in user, within what they hold now (``granted``).

    ``narrowed`` says the request itself came with a narrowed token: then "all my
    permissions" means the ones that token carries, never the owner's full set, so a
    token cannot mint a stronger one."""
    granted = frozenset(granted)
    if not (name or "").strip():
        raise IdentityError(N_("Give the token a name, so you can recognise it later."), "name")
    if permissions is not None and not permissions:
        # Refused rather than read as "everything": an empty list looks like "nothing".
        raise IdentityError(NO_PERMISSIONS, "permissions")
    if permissions is None and narrowed:
        permissions = sorted(granted)
    token, plaintext = create_token(
        session,
        user,
        name=name,
        permissions=permissions,
        expires_days=expires_days,
        granted=granted,
    )
    log_audit(
        session,
        "identity.token.created",
        actor=user,
        target_type="token",
        target_id=token.id,
        detail={
            "name": token.name,
            "prefix": token.prefix,
            "permissions": token.permissions,
            "expires_days": expires_days,
        },
        facts=facts,
    )
    return token, plaintext


def display_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """Account id → display name, in one query (for "who accessed my data")."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(
        select(User.id, User.display_name, User.username).where(User.id.in_(wanted))
    )
    return {uid: (name or username) for uid, name, username in rows}

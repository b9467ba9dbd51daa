"""What the admin pages, the admin API and the CLI share.

Each change is written to the audit log with its old and new values (the account
functions do that; these add the rules an administrator needs protecting from, such as
not disabling or demoting oneself, and the queries behind the lists).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from core.audit.services import log_audit
from core.identity.models import User, UserRole, UserSession
from core.identity.passwords import password_problem
from core.identity.services.accounts import (
    create_user,
    reset_password,
    set_active,
    set_roles,
    set_scopes,
)
from core.identity.services.errors import IdentityError
from core.identity.services.sessions import end_all_sessions
from core.registry.validation import mask_phone
from core.rules import N_


def temporary_password(min_length: int = 0) -> str:
    """A random password to hand over once (at least 96 bits, and at least ``min_length``
    characters); it must be changed at the first sign-in."""
    length = max(min_length, 20)
    return "-".join(secrets.token_urlsafe(4) for _ in range(length // 7 + 1))[:length]


def search_users(
    *,
    text: str | None = None,
    role: str | None = None,
    kind: str | None = None,
    active: bool | None = None,
) -> Select:
    """Accounts matching every given filter, oldest first. ``text`` matches the username or
    the display name, case-insensitively (``%`` and ``_`` are taken literally)."""
    query = select(User)
    text = (text or "").strip()
    if text:
        query = query.where(
            or_(
                User.username.icontains(text, autoescape=True),
                User.display_name.icontains(text, autoescape=True),
            )
        )
    if role:
        query = query.where(User.roles.any(UserRole.role == role))
    if kind:
        query = query.where(User.kind == kind)
    if active is not None:
        query = query.where(User.is_active.is_(active))
    return query.order_by(User.id)


def admin_create_user(
    session: Session,
    hasher: PasswordHasher,
    *,
    username: str,
    roles: Iterable[str],
    known_roles: Iterable[str],
    admin: Any,
    password: str | None = None,
    kind: str = "staff",
    display_name: str = "",
    phone: str | None = None,
    scopes: Iterable[tuple[str, str]] = (),
    min_length: int = 8,
    bus: Any = None,
) -> tuple[User, str | None]:
    """An account created by an administrator (page, API or CLI). Without ``password`` it
    gets a temporary one, returned to be shown once and changed at the first sign-in."""
    if kind not in ("staff", "resident"):
        raise IdentityError(N_("An account is either staff or resident."), "kind")
    wanted = sorted(set(roles))
    if not wanted:
        raise IdentityError(N_("Choose at least one role."), "roles")
    unknown = sorted(set(wanted) - set(known_roles))
    if unknown:
        raise IdentityError(N_("Unknown role(s): %(names)s"), "roles", names=", ".join(unknown))
    temporary = None
    if password is None:
        context = (username, phone or "", display_name)
        temporary = temporary_password(min_length)
        for _ in range(20):  # it contained the name (hardly ever): draw again
            if not password_problem(temporary, min_length=min_length, context=context)[0]:
                break
            temporary = temporary_password(min_length)
        password = temporary
    user = create_user(
        session,
        hasher,
        username=username,
        password=password,
        kind=kind,
        roles=wanted,
        display_name=display_name,
        phone=phone or None,
        min_length=min_length,
        must_change_password=temporary is not None,
        bus=bus,
    )
    log_audit(
        session,
        "admin.user.created",
        actor=admin,
        target_type="user",
        target_id=user.id,
        detail={"username": user.username, "kind": kind, "old": None, "new": {"roles": wanted}},
    )
    scopes = list(scopes)
    if scopes:
        set_scopes(session, user, scopes, admin=admin)
    return user, temporary


def change_roles(
    session: Session, user: User, roles: Iterable[str], *, admin: Any, known: Iterable[str]
) -> None:
    """:func:`set_roles`, refusing to let administrators take away their own administrator
    role (nobody might be left to give it back)."""
    roles = set(roles)
    own = user.id == getattr(admin, "id", None)
    if own and "admin" in user.role_names and "admin" not in roles:
        raise IdentityError(N_("You cannot remove your own administrator role."), "roles")
    kept = {r.role: r for r in user.roles}
    set_roles(session, user, roles, admin=admin, known=known)
    # set_roles builds new rows for every role; the rows of roles kept must stay (a new
    # row next to the old one would break the unique constraint when flushed).
    user.roles = [kept.get(r.role, r) for r in user.roles]


def change_scopes(
    session: Session, user: User, scopes: Iterable[tuple[str, str]], *, admin: Any
) -> None:
    """:func:`set_scopes` (validated, audited old → new), keeping the rows of the scopes
    that stay, as :func:`change_roles` does."""
    kept = {(s.kind, s.code): s for s in user.scopes}
    set_scopes(session, user, scopes, admin=admin)
    user.scopes = [kept.get((s.kind, s.code), s) for s in user.scopes]


def disable_account(session: Session, user: User, *, admin: Any, reason: str) -> bool:
    """Disable with a stated reason: every session ends and every token stops working.
    Returns False when the account was already disabled (nothing is changed then)."""
    reason = (reason or "").strip()
    if not reason:
        raise IdentityError(N_("Give the reason for disabling the account."), "reason")
    if len(reason) > 200:
        raise IdentityError(N_("Use at most %(max)s characters."), "reason", max=200)
    if not user.is_active:
        return False
    set_active(session, user, False, admin=admin, reason=reason)
    return True


def enable_account(session: Session, user: User, *, admin: Any) -> bool:
    """Re-enable a disabled account; False when it was active already."""
    if user.is_active:
        return False
    set_active(session, user, True, admin=admin)
    return True


def end_user_sessions(session: Session, user: User, *, admin: Any) -> int:
    """An administrator signs the account out everywhere (tokens are not affected)."""
    count = end_all_sessions(session, user, reason="ended_by_admin")
    log_audit(
        session,
        "admin.user.sessions_ended",
        actor=admin,
        target_type="user",
        target_id=user.id,
        detail={"username": user.username, "count": count},
    )
    return count


def update_account(
    session: Session,
    user: User,
    *,
    admin: Any,
    known_roles: Iterable[str],
    roles: Iterable[str] | None = None,
    scopes: Iterable[tuple[str, str]] | None = None,
    is_active: bool | None = None,
    reason: str = "",
) -> None:
    """Apply the given changes (``None`` leaves a part alone), each audited old → new."""
    if roles is not None:
        change_roles(session, user, roles, admin=admin, known=known_roles)
    if scopes is not None:
        change_scopes(session, user, scopes, admin=admin)
    if is_active is True:
        enable_account(session, user, admin=admin)
    elif is_active is False:
        disable_account(session, user, admin=admin, reason=reason)


def count_active_sessions(session: Session, user: User) -> int:
    return (
        session.scalar(
            select(func.count(UserSession.id)).where(
                UserSession.user_id == user.id, UserSession.revoked_at.is_(None)
            )
        )
        or 0
    )


def account_history(user_id: int) -> Select:
    """Audit entries about one account, newest first."""
    from core.audit.models import AuditEntry

    return (
        select(AuditEntry)
        .where(AuditEntry.target_type == "user", AuditEntry.target_id == str(user_id))
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    )


def parse_scopes(all_areas: bool, communities: str, grids: str) -> list[tuple[str, str]]:
    """Scopes from a form: a district-wide tick box and codes separated by new lines,
    commas or spaces (validated by :func:`set_scopes`)."""
    scopes: list[tuple[str, str]] = [("all", "")] if all_areas else []
    scopes += [("community", c) for c in re.split(r"[\s,，、]+", communities or "") if c]
    scopes += [("grid", g) for g in re.split(r"[\s,，、]+", grids or "") if g]
    for kind, code in scopes:
        if kind == "grid" and not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", code):
            raise IdentityError(
                N_("A grid code has 1 to 32 letters, digits, '-' or '_'."), "scopes"
            )
    return scopes


def search_messages(*, status: str | None = None, channel: str | None = None) -> Select:
    """Outbound SMS and e-mail (``core.identity.notifications``), newest first."""
    from core.identity.models import OutboundMessage

    query = select(OutboundMessage)
    if status:
        query = query.where(OutboundMessage.status == status)
    if channel:
        query = query.where(OutboundMessage.channel == channel)
    return query.order_by(OutboundMessage.created_at.desc(), OutboundMessage.id.desc())


MASKED_CODE = "******"


def message_rows(session: Session, messages: Iterable[Any]) -> list[dict[str, Any]]:
    """The messages as the admin page and API show them: the recipient masked, a one-time
    code never shown (even while it waits to be sent), and for a message still queued its
    delivery's failed attempts, last error and next try, read from the event bus (a failed
    attempt rolls back with the send, so only the bus's delivery row remembers it)."""
    messages = list(messages)
    retries = _send_attempts(session, [m.id for m in messages if m.status == "queued"])
    rows = []
    for m in messages:
        subject, body = m.subject or "", m.body or ""
        code = str((m.params or {}).get("code") or "") if m.template == "otp" else ""
        if code:
            subject, body = subject.replace(code, MASKED_CODE), body.replace(code, MASKED_CODE)
        retry = retries.get(m.id)
        rows.append({
            "id": m.id, "created_at": m.created_at, "channel": m.channel,
            "user_id": m.user_id, "recipient": mask_recipient(m.recipient),
            "subject": subject, "body": body, "template": m.template or "",
            "locale": m.locale or "", "status": m.status, "sent_by": m.sent_by,
            "sent_at": m.sent_at, "error": m.error,
            "attempts": max(m.attempts or 0, retry["attempts"] if retry else 0),
            "next_attempt_at": retry["next_attempt_at"] if retry else None,
            "last_error": retry["last_error"] if retry else None,
        })
    return rows


def _send_attempts(session: Session, ids: list[int]) -> dict[int, dict[str, Any]]:
    """``{message id: failed attempts, next attempt, last error}`` for queued messages
    whose sending already failed at least once."""
    if not ids:
        return {}
    from core.events.models import Delivery, OutboxEvent

    message_id = OutboxEvent.payload["message_id"].as_integer()
    rows = session.execute(
        select(message_id, Delivery.attempts, Delivery.next_attempt_at, Delivery.last_error,
               Delivery.status)
        .join(Delivery, Delivery.event_id == OutboxEvent.id)
        .where(OutboxEvent.name == "identity.message.queued",
               Delivery.subscriber.like("%:identity_send_message"),
               Delivery.attempts > 0, message_id.in_(ids))
    ).all()
    return {
        row[0]: {"attempts": row[1], "last_error": (row[3] or "").removeprefix("ChannelError: "),
                 "next_attempt_at": row[2] if row[4] == "pending" else None}
        for row in rows
    }


def mask_recipient(value: str | None) -> str:
    """A phone or e-mail address as staff lists show it: ``138****5678``, ``z***@example.cn``."""
    value = value or ""
    if "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    return mask_phone(value)


def admin_reset_password(
    session: Session, hasher: PasswordHasher, user: User, *, admin: Any, min_length: int
) -> str:
    """:func:`reset_password` for someone else: administrators change their own password
    on the password page (re-entering the current one), not by resetting it."""
    if user.id == getattr(admin, "id", None):
        raise IdentityError(
            N_("Change your own password on the password page instead."), "password"
        )
    return reset_password(session, hasher, user, admin=admin, min_length=min_length)

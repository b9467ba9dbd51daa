"""``shequ token ...``, ``shequ user ...`` and ``shequ audit purge``: what an operator does
on the server, through the same services (and audit log) as the admin pages.

Changes made here name ``cli:<operating-system user>`` as the actor in the audit log.
Each command receives the invocation's :class:`~core.cli.context.AppContext` as
``ctx`` (``click.pass_obj``: the ``shequ`` group puts it in ``ctx.obj`` and builds the
app at most once); this module never imports ``core.cli``, which imports it.
"""

from __future__ import annotations

import getpass
import sys
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from core.cli.context import AppContext


def _operator() -> Any:
    """The actor recorded for command-line changes: no account, but a name."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return SimpleNamespace(id=None, username=f"cli:{who}"[:64])


def _fail(message: str, code: int = 1) -> None:
    click.echo(message, err=True)
    sys.exit(code)


def _find_user(session: Any, username: str) -> Any:
    from core.identity.services import find_login

    user = find_login(session, username)
    if user is None:
        _fail(f"no account '{username}'")
    return user


# ------------------------------------------------------------------------------ token


@click.group()
def token() -> None:
    """Personal API tokens."""


@token.command("create")
@click.argument("username")
@click.option(
    "--permission",
    "permissions",
    multiple=True,
    metavar="P",
    help="Limit the token to this permission (repeatable; default: all of the owner's).",
)
@click.option(
    "--expires",
    type=click.IntRange(1, 3650),
    default=None,
    metavar="DAYS",
    help="Expire after this many days (default: never).",
)
@click.option("--name", default="cli", show_default=True, help="A name to recognise it by.")
@click.pass_obj
def token_create(
    ctx: AppContext, username: str, permissions: tuple[str, ...], expires: int | None,
    name: str,
) -> None:
    """Create a token for USERNAME and print it once (only its digest is stored)."""
    from core.audit.services import log_audit
    from core.identity.services import IdentityError, create_token, resolve_permissions

    kernel = ctx.kernel
    with ctx.app.app_context(), kernel.db.session_scope() as session:
        user = _find_user(session, username)
        if not user.is_active:
            _fail(f"account '{user.username}' is disabled")
        roles = kernel.roles_now()  # defaults plus administrators' overrides
        try:
            row, plaintext = create_token(
                session,
                user,
                name=name,
                permissions=sorted(set(permissions)) if permissions else None,
                expires_days=expires,
                granted=resolve_permissions(user.role_names, roles),
            )
        except IdentityError as exc:
            _fail(str(exc))
        log_audit(
            session,
            "identity.token.created",
            actor=_operator(),
            target_type="token",
            target_id=row.id,
            detail={
                "name": row.name,
                "owner_id": user.id,
                "permissions": row.permissions,
                "expires_days": expires,
            },
        )
        scope = ", ".join(row.permissions) if row.permissions is not None else "all"
        until = row.expires_at.strftime("%Y-%m-%d") if row.expires_at else "never"
        summary = f"token #{row.id} for {user.username} (permissions: {scope}; expires: {until})"
    click.echo(summary, err=True)
    click.echo("It is shown only this once; store it now.", err=True)
    click.echo(plaintext)


@token.command("revoke")
@click.argument("token_id", metavar="ID", type=click.IntRange(1))
@click.pass_obj
def token_revoke(ctx: AppContext, token_id: int) -> None:
    """Revoke token ID (its number, as ``token create`` printed it)."""
    from core.identity.models import ApiToken
    from core.identity.services import revoke_token

    kernel = ctx.kernel
    with kernel.db.session_scope() as session:
        row = session.get(ApiToken, token_id)
        if row is None:
            _fail(f"no token #{token_id}")
        if row.revoked_at is not None:
            click.echo(f"token #{token_id} was already revoked")
            return
        revoke_token(session, row, actor=_operator())
    click.echo(f"token #{token_id} revoked")


# ------------------------------------------------------------------------------ user


@click.group()
def user() -> None:
    """Accounts."""


@user.command("create")
@click.argument("username")
@click.option("--role", "roles", multiple=True, required=True, help="A role (repeatable).")
@click.option("--staff/--resident", default=True, help="Kind of account (default: staff).")
@click.option("--name", "display_name", default="", help="Display name (default: USERNAME).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_obj
def user_create(
    ctx: AppContext,
    username: str, roles: tuple[str, ...], staff: bool, display_name: str, password_stdin: bool
) -> None:
    """Create an account (the first administrator, for instance: --role admin)."""
    from core.identity.services import IdentityError, admin_create_user

    kernel = ctx.kernel
    unknown = sorted(set(roles) - set(kernel.roles))
    if unknown:
        _fail(f"unknown role(s): {', '.join(unknown)}; have: {', '.join(kernel.roles)}", 2)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with kernel.db.session_scope() as session:
        try:
            created, _ = admin_create_user(
                session,
                kernel.hasher,
                username=username,
                password=password,
                roles=roles,
                known_roles=kernel.roles,
                admin=_operator(),
                kind="staff" if staff else "resident",
                display_name=display_name,
                min_length=kernel.config.identity["password_min_length"],
                bus=kernel.bus,
            )
        except IdentityError as exc:
            session.rollback()
            _fail(str(exc))
        line = f"created {created.kind} account #{created.id} {created.username}"
    click.echo(f"{line} ({', '.join(sorted(set(roles)))})")


@user.command("disable")
@click.argument("username")
@click.option("--reason", required=True, help="Why (recorded in the audit log).")
@click.pass_obj
def user_disable(ctx: AppContext, username: str, reason: str) -> None:
    """Disable an account: every session ends and its tokens stop working."""
    from core.identity.services import IdentityError, disable_account

    kernel = ctx.kernel
    with kernel.db.session_scope() as session:
        account = _find_user(session, username)
        try:
            changed = disable_account(session, account, admin=_operator(), reason=reason)
        except IdentityError as exc:
            session.rollback()
            _fail(str(exc))
        name = account.username
    click.echo(f"{name} disabled" if changed else f"{name} was already disabled")


# ------------------------------------------------------------------------------ audit


@click.group()
def audit() -> None:
    """The audit and access logs."""


@audit.command("purge")
@click.pass_obj
def audit_purge(ctx: AppContext) -> None:
    """Delete log entries older than the configured retention (never younger than the legal
    floors: 180 days for the audit log, 1095 days for the access log)."""
    from core.audit.services import (
        ACCESS_RETENTION_FLOOR_DAYS,
        AUDIT_RETENTION_FLOOR_DAYS,
        log_audit,
        purge_expired,
    )

    kernel = ctx.kernel
    audit_days = max(kernel.config.audit["retention_days"], AUDIT_RETENTION_FLOOR_DAYS)
    access_days = max(kernel.config.audit["access_retention_days"], ACCESS_RETENTION_FLOOR_DAYS)
    with kernel.db.session_scope() as session:
        audits, accesses = purge_expired(session, audit_days=audit_days, access_days=access_days)
        log_audit(
            session,
            "audit.purged",
            actor=_operator(),
            detail={
                "audit_entries": audits,
                "access_entries": accesses,
                "audit_days": audit_days,
                "access_days": access_days,
            },
        )
    click.echo(f"audit log: {audits} entries older than {audit_days} days deleted")
    click.echo(f"access log: {accesses} entries older than {access_days} days deleted")

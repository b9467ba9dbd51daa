"""The ``identity`` API area (``/api/v1/identity``): the current account, account
administration, the role × permission matrix, and read-only access to the audit log, the
personal-data access log and the outbound messages.

Thin, like the pages: the rules are in ``core.identity.services``, which writes every
change to the audit log with its old and new values. Each operation names its permission
with :func:`core.identity.require`, outermost, so access is decided before the body is
read (401 without credentials, 403 without the permission, then 404/422). Bodies are
validated with ``unknown = RAISE``: only the fields listed can be written, so ``kind``,
``username``, ``password`` or verification cannot be set through ``PATCH``. There is no
operation that changes or deletes a log entry.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import abort
from flask.views import MethodView
from flask_babel import gettext
from flask_login import current_user
from marshmallow import Schema, fields, validate
from sqlalchemy.orm import Session
from werkzeug.exceptions import Conflict, TooManyRequests, UnprocessableEntity

from core.api.blueprint import ApiBlueprint
from core.api.endpoints import endpoint, refuse
from core.api.fields import AUTH, Id, JsonBoolean, Pattern, Strict, Text
from core.api.pagination import PageArgs, page_schema, paginate
from core.audit.services import search_access, search_audit
from core.audit.web import request_facts
from core.current import current_kernel
from core.db import current_session
from core.identity import limits, otp, require_login
from core.identity.models import User
from core.identity.permissions import ROLES
from core.identity.services import (
    IdentityError,
    admin_create_user,
    admin_reset_password,
    confirm_reset,
    count_active_sessions,
    mask_recipient,
    password_reset_notice,
    request_reset,
    role_states,
    search_messages,
    search_users,
    set_role_permission,
    update_account,
)
from core.identity.views import (
    page_locale,
    reset_wait,
    wait_text,
)
from core.rules import MAX_ID

identity = ApiBlueprint(
    "identity_api", __name__, description="The current account, accounts and roles"
)
logs = ApiBlueprint(
    "identity_logs_api",
    __name__,
    description="The audit log, the personal-data access log and outbound messages (read-only)",
)
ROLE_NAME = validate.Length(min=1, max=40)
#: Roles are the fixed vocabulary of ``core.identity.permissions.ROLES`` (documented as an
#: enum, so clients and the fuzzer know them).
ROLE = validate.OneOf(ROLES)
#: Refusals because of the account's current state rather than the request's shape: 409.
CONFLICTS = frozenset(
    {
        "This username is taken.",
        "An account with this mobile number exists.",
        "You cannot disable your own account.",
        "You cannot remove your own administrator role.",
        "Change your own password on the password page instead.",
        "Administrators keep the account permissions.",
    }
)
#: The API may disable without a reason; the audit entry says so.
NO_REASON = "Disabled through the API without a reason"


# ------------------------------------------------------------------------------ schemas


class ScopesSchema(Strict):
    """Where a staff account may act in the registry (nothing: nowhere)."""

    all = JsonBoolean(
        load_default=False, metadata={"description": "Everywhere (district level)"}
    )
    communities = fields.List(
        fields.String(validate=Pattern(r"^[0-9]{12}$")),
        load_default=list,
        validate=validate.Length(max=200),
        metadata={"description": "12-digit division codes"},
    )
    grids = fields.List(
        fields.String(validate=Pattern(r"^[A-Za-z0-9_-]{1,32}$")),
        load_default=list,
        validate=validate.Length(max=200),
        metadata={"description": "Grid codes"},
    )


class UserSchema(Schema):
    id = fields.Integer(required=True)
    username = fields.String(required=True)
    display_name = fields.String(required=True)
    kind = fields.String(required=True)
    is_active = fields.Boolean(required=True)
    roles = fields.List(fields.String(), required=True, attribute="role_names")


class MeSchema(UserSchema):
    permissions = fields.List(fields.String(), required=True)
    person_id = fields.Integer(
        allow_none=True,
        metadata={"description": "The registry person this account is bound to (null until "
                                 "verified): what registry events name"})
    is_verified = fields.Boolean(required=True)
    locale = fields.String(allow_none=True)
    acting_for = fields.Boolean(
        required=True, metadata={"description": "True in an assisted session (an agent acts "
                                                "for this resident)"})


class UserDetailSchema(UserSchema):
    phone = fields.String(
        allow_none=True, metadata={"description": "Masked (138****5678), or null"}
    )
    scopes = fields.Nested(ScopesSchema, required=True)
    created_at = fields.DateTime(required=True)
    last_login_at = fields.DateTime(allow_none=True)
    password_changed_at = fields.DateTime(allow_none=True)
    must_change_password = fields.Boolean(required=True)
    disabled_reason = fields.String(allow_none=True)
    is_verified = fields.Boolean(required=True)
    verified_at = fields.DateTime(allow_none=True)
    verification_method = fields.String(allow_none=True)
    active_sessions = fields.Integer(required=True)


class UserCreatedSchema(UserDetailSchema):
    initial_password = fields.String(
        required=True,
        metadata={"description": "Shown once; the account must change it at first sign-in"},
    )


class UserQuery(PageArgs):
    q = Text(
        validate=validate.Length(max=64),
        metadata={"description": "Part of the username or display name"},
    )
    role = fields.String(validate=ROLE)
    kind = fields.String(validate=validate.OneOf(["staff", "resident"]))
    active = fields.Boolean()


class UserCreate(Strict):
    username = fields.String(
        required=True,
        validate=Pattern(r"^(?:[A-Za-z0-9_.\-]{3,32}|1[3-9][0-9]{9})$"),
        metadata={"description": "3-32 letters, digits, '.', '-', '_', or a mobile number"},
    )
    display_name = Text(
        required=True,
        one_line=True,
        validate=validate.Length(max=100),
        metadata={"description": "Control characters are removed; empty: the username"},
    )
    phone = fields.String(allow_none=True, validate=Pattern(r"^1[3-9][0-9]{9}$"))
    roles = fields.List(
        fields.String(validate=ROLE), required=True, validate=validate.Length(min=1, max=8)
    )
    scopes = fields.Nested(ScopesSchema, load_default=dict)


class UserPatch(Strict):
    roles = fields.List(fields.String(validate=ROLE), validate=validate.Length(max=8))
    scopes = fields.Nested(ScopesSchema)
    is_active = JsonBoolean()
    reason = Text(
        validate=validate.Length(max=200),
        metadata={"description": "Why the account is disabled (recorded in the audit log)"},
    )


class TemporaryPasswordSchema(Schema):
    temporary_password = fields.String(
        required=True, metadata={"description": "Shown once; must be changed at next sign-in"}
    )


class PermissionSchema(Schema):
    name = fields.String(required=True)
    description = fields.String(required=True)
    description_zh = fields.String(required=True)


class RoleSchema(Schema):
    role = fields.String(required=True)
    permissions = fields.List(
        fields.String(), required=True, metadata={"description": "Effective permissions"}
    )
    added = fields.List(
        fields.String(), required=True, metadata={"description": "Granted beyond the default"}
    )
    removed = fields.List(
        fields.String(), required=True, metadata={"description": "Default but withdrawn"}
    )


class RoleMatrixSchema(Schema):
    roles = fields.List(fields.Nested(RoleSchema), required=True)
    permissions = fields.List(fields.Nested(PermissionSchema), required=True)


class GrantSchema(Strict):
    granted = JsonBoolean(required=True)


class AuditQuery(PageArgs):
    action = Text(validate=validate.Length(max=80), metadata={"description": "Action prefix"})
    actor = Text(validate=validate.Length(max=64), metadata={"description": "Username"})
    outcome = fields.String(validate=validate.OneOf(["ok", "denied", "failed"]))
    since = fields.AwareDateTime(default_timezone=UTC)
    until = fields.AwareDateTime(default_timezone=UTC)


class AuditEntrySchema(Schema):
    id = fields.Integer(required=True)
    at = fields.DateTime(required=True)
    action = fields.String(required=True)
    outcome = fields.String(required=True)
    actor_id = fields.Integer(allow_none=True)
    actor_name = fields.String(required=True)
    on_behalf_of_id = fields.Integer(allow_none=True)
    target_type = fields.String(required=True)
    target_id = fields.String(required=True)
    detail = fields.Dict(required=True)
    ip = fields.String(required=True)
    user_agent = fields.String(required=True)
    request_id = fields.String(required=True)


class AccessQuery(PageArgs):
    person_id = Id(strict=False)  # a query string is text
    actor = Text(validate=validate.Length(max=64), metadata={"description": "Username"})
    via = Text(validate=validate.Length(max=40), metadata={"description": "core or a plugin id"})
    since = fields.AwareDateTime(default_timezone=UTC)
    until = fields.AwareDateTime(default_timezone=UTC)


class AccessEntrySchema(Schema):
    id = fields.Integer(required=True)
    at = fields.DateTime(required=True)
    actor_id = fields.Integer(allow_none=True)
    actor_name = fields.String(required=True)
    on_behalf_of_id = fields.Integer(allow_none=True)
    subject_person_id = fields.Integer(required=True)
    fields_ = fields.List(fields.String(), required=True, data_key="fields", attribute="fields")
    via = fields.String(required=True)
    purpose = fields.String(required=True)
    request_id = fields.String(required=True)
    actor_role = fields.String(required=True)
    masked = fields.Boolean(required=True)
    count = fields.Integer(required=True, metadata={"description": "Identical displays that "
                                                                   "day (at: the first)"})
    last_at = fields.DateTime(required=True)


class MessageQuery(PageArgs):
    status = fields.String(validate=validate.OneOf(["recorded", "queued", "sent", "failed"]))
    channel = fields.String(validate=validate.OneOf(["sms", "email"]))


class MessageSchema(Schema):
    id = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)
    channel = fields.String(required=True)
    user_id = fields.Integer(allow_none=True)
    recipient = fields.String(required=True, metadata={"description": "Masked"})
    subject = fields.String(required=True)
    body = fields.String(required=True, metadata={
        "description": "A one-time code is shown as ******, sent or not"})
    template = fields.String(required=True, metadata={"description": "otp | notice | plain"})
    locale = fields.String(required=True, metadata={"description": "zh | en"})
    status = fields.String(required=True,
                           metadata={"description": "recorded | queued | sent | failed"})
    sent_by = fields.String(allow_none=True, metadata={
        "description": "The channel and the provider's id (aliyun:<BizId>), or the plugin"})
    sent_at = fields.DateTime(allow_none=True)
    error = fields.String(allow_none=True, metadata={"description": "Why it failed"})
    attempts = fields.Integer(required=True, metadata={"description": "Sending attempts"})
    next_attempt_at = fields.DateTime(allow_none=True, metadata={
        "description": "A queued message whose sending failed: when it is tried again"})
    last_error = fields.String(allow_none=True, metadata={
        "description": "A queued message whose sending failed: the last attempt's error"})


class ResetRequestIn(Strict):
    login = Text(required=True, validate=validate.Length(1, 200), metadata={
        "description": "The username, or the mobile number or e-mail address proved for "
                       "the account"})


class ResetConfirmIn(Strict):
    login = Text(required=True, validate=validate.Length(1, 200),
                 metadata={"description": "As in the request"})
    code = fields.String(required=True, validate=Pattern(r"^[0-9]{6}$"),
                         metadata={"description": "The 6-digit code from the message"})
    password = fields.String(required=True, validate=validate.Length(8, 128), metadata={
        "description": "The new password: 8 to 128 characters (more when "
                       "identity.password_min_length says so), not a common password, not "
                       "the username, phone or name (409 otherwise)"})


class ResetRequestedSchema(Schema):
    message = fields.String(required=True, metadata={
        "description": "The same text whether or not the login names an account"})
    expires_in = fields.Integer(required=True, metadata={
        "description": "Seconds a code sent now stays valid"})


class ResetDoneSchema(Schema):
    message = fields.String(required=True)
    sessions_ended = fields.Integer(required=True)
    tokens_revoked = fields.Integer(required=True, metadata={
        "description": "A self-service reset revokes every API token of the account"})


UserPage = page_schema(UserSchema, "UserPage")
AuditPage = page_schema(AuditEntrySchema, "AuditEntryPage")
AccessPage = page_schema(AccessEntrySchema, "AccessEntryPage")
MessagePage = page_schema(MessageSchema, "MessagePage")


# ------------------------------------------------------------------------------ helpers


def _user_or_404(session: Session, user_id: int) -> User:
    user = session.get(User, user_id) if 0 < user_id <= MAX_ID else None
    if user is None:
        abort(404, description="There is no account with this id.")
    return user


def _refused(session: Session, exc: IdentityError) -> None:
    """A rule the schema cannot express: 422 with the field named, or 409 when the
    account's current state is what stands in the way (a taken name, your own account)."""
    session.rollback()
    field = {"user": "is_active"}.get(exc.field, exc.field) or "_schema"
    if exc.message in CONFLICTS:
        error: Any = Conflict(description=str(exc))
    else:
        error = UnprocessableEntity(description="The request has invalid fields.")
    error.data = {"messages": {field: [str(exc)]}}
    raise error


def _scopes(data: dict[str, Any]) -> list[tuple[str, str]]:
    scopes: list[tuple[str, str]] = [("all", "")] if data.get("all") else []
    scopes += [("community", c.strip()) for c in data.get("communities", [])]
    scopes += [("grid", g.strip()) for g in data.get("grids", [])]
    return scopes


def _scopes_out(user: User) -> dict[str, Any]:
    have = sorted((s.kind, s.code) for s in user.scopes)
    return {
        "all": ("all", "") in have,
        "communities": [c for k, c in have if k == "community"],
        "grids": [c for k, c in have if k == "grid"],
    }


def _detail(session: Session, user: User, **extra: Any) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "kind": user.kind,
        "is_active": user.is_active,
        "role_names": user.role_names,
        "phone": mask_recipient(user.phone) if user.phone else None,
        "scopes": _scopes_out(user),
        "created_at": user.created_at,
        "last_login_at": user.last_login_at,
        "password_changed_at": user.password_changed_at,
        "must_change_password": user.must_change_password,
        "disabled_reason": user.disabled_reason,
        "is_verified": user.is_verified,
        "verified_at": user.verified_at,
        "verification_method": user.verification_method,
        "active_sessions": count_active_sessions(session, user),
        **extra,
    }


def _utc(value: datetime | None, field: str) -> datetime | None:
    """An aware datetime in UTC; one that cannot be expressed in UTC is refused."""
    if value is None:
        return None
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        error = UnprocessableEntity(description="The request has invalid fields.")
        error.data = {"messages": {field: ["The date is out of range."]}}
        raise error from None


def _role(state: Any) -> dict[str, Any]:
    return {
        "role": state.role,
        "permissions": sorted(state.granted),
        "added": sorted(state.added),
        "removed": sorted(state.removed),
    }


# ------------------------------------------------------------------------------ me, users


@identity.route("/me")
class Me(MethodView):
    @require_login("identity.own.profile")  # 401 only, as documented
    @endpoint(identity, errors=(401,))
    @identity.doc(security=AUTH)
    @identity.response(200, MeSchema)
    def get(self):
        """The signed-in account and its effective permissions."""
        return {
            "id": current_user.id,
            "username": current_user.username,
            "display_name": current_user.display_name,
            "kind": current_user.kind,
            "is_active": current_user.is_active,
            "role_names": current_user.role_names,
            "permissions": sorted(current_user.permissions),
            "person_id": current_user.person_id,
            "is_verified": bool(current_user.is_verified),
            "locale": current_user.locale,
            "acting_for": current_user.agent is not None,
        }


@identity.route("/users")
class Users(MethodView):
    @endpoint(identity, "identity.user.read", errors=(422,))
    @identity.arguments(UserQuery, location="query")
    @identity.response(200, UserPage)
    def get(self, args):
        """Accounts, oldest first, filtered by text, role, kind and status (paginated)."""
        query = search_users(
            text=args.pop("q", None),
            role=args.pop("role", None),
            kind=args.pop("kind", None),
            active=args.pop("active", None),
        )
        return paginate(current_session(), query, args)

    @endpoint(
        identity,
        "identity.user.manage",
        errors=(409, 422),
        descriptions={409: "Username or mobile number taken"},
    )
    @identity.arguments(UserCreate)
    @identity.response(201, UserCreatedSchema)
    def post(self, data):
        """Create a staff account. Its initial password is returned once and must be
        changed at the first sign-in."""
        kernel = current_kernel()
        session = current_session()
        try:
            user, password = admin_create_user(
                session,
                kernel.hasher,
                username=data["username"].strip(),
                display_name=data["display_name"],
                phone=(data.get("phone") or "").strip() or None,
                roles=data["roles"],
                known_roles=kernel.roles,
                scopes=_scopes(data["scopes"]),
                admin=current_user.actor,
                kind="staff",
                min_length=kernel.config.identity["password_min_length"],
                bus=kernel.bus,
            )
        except IdentityError as exc:
            _refused(session, exc)
        session.commit()
        return _detail(session, user, initial_password=password)


@identity.route("/users/<int:user_id>")
class UserItem(MethodView):
    @endpoint(identity, "identity.user.read", errors=(404,))
    @identity.response(200, UserDetailSchema)
    def get(self, user_id):
        """One account: roles, scopes, sessions and verification."""
        session = current_session()
        return _detail(session, _user_or_404(session, user_id))

    @endpoint(
        identity,
        "identity.user.manage",
        errors=(404, 409, 422),
        descriptions={409: "Not allowed on your own account"},
    )
    @identity.arguments(UserPatch)
    @identity.response(200, UserDetailSchema)
    def patch(self, data, user_id):
        """Change roles, scopes or whether the account is active (disabling needs a
        ``reason``, ends every session and stops every token). Each change is audited."""
        session = current_session()
        user = _user_or_404(session, user_id)
        try:
            update_account(
                session,
                user,
                admin=current_user.actor,
                known_roles=current_kernel().roles,
                roles=data.get("roles"),
                scopes=_scopes(data["scopes"]) if "scopes" in data else None,
                is_active=data.get("is_active"),
                reason=(data.get("reason") or "").strip() or NO_REASON,
            )
        except IdentityError as exc:
            _refused(session, exc)
        session.commit()
        return _detail(session, user)


@identity.route("/users/<int:user_id>/reset-password")
class ResetPassword(MethodView):
    @endpoint(
        identity,
        "identity.user.manage",
        errors=(404, 409),
        descriptions={409: "Your own account"},
    )
    @identity.response(200, TemporaryPasswordSchema)
    def post(self, user_id):
        """Reset the password: every session ends, and the temporary password returned
        here (once) must be changed at the next sign-in."""
        session = current_session()
        user = _user_or_404(session, user_id)
        kernel = current_kernel()
        try:
            password = admin_reset_password(
                session,
                kernel.hasher,
                user,
                admin=current_user.actor,
                min_length=kernel.config.identity["password_min_length"],
            )
        except IdentityError as exc:
            _refused(session, exc)
        session.commit()
        return {"temporary_password": password}


# ------------------------------------------------------------------------------ reset


def _throttled(seconds: int, text: str = "") -> None:
    """429 with Retry-After, in the one error shape."""
    error = TooManyRequests(retry_after=max(int(seconds), 1))
    error.data = {"message": text or wait_text(seconds)}
    raise error


#: The confirmation answers 422 (the body's shape), 409 (a code that does not work, or a
#: password the policy refuses: schema-valid requests the data refuses, docs/api.md "422
#: or 409?"), 429 (throttled) or 2xx; never whether the login names an account.
RESET_ERRORS = (409, 422, 429)


@identity.route("/password-reset")
class PasswordReset(MethodView):
    @endpoint(identity, None, errors=(422, 429))
    @identity.arguments(ResetRequestIn)
    @identity.response(202, ResetRequestedSchema)
    def post(self, data):
        """Ask for a password-reset code (public). It is sent to the mobile number or
        e-mail address the account PROVED; the answer is the same whether or not
        ``login`` names an account. Rate-limited per address and per login (429)."""
        wait, text = reset_wait(data["login"])
        if wait:
            _throttled(wait, text)
        session = current_session()
        kernel = current_kernel()
        request_reset(session, kernel, login=data["login"], locale=page_locale(),
                      facts=request_facts(), otp=otp)
        session.commit()
        return {
            "message": gettext("If the details match an account, we sent a 6-digit code to "
                               "the mobile number or e-mail address proved for it."),
            "expires_in": int(kernel.config.identity.get("otp_ttl_seconds", 300)),
        }


@identity.route("/password-reset/confirm")
class PasswordResetConfirm(MethodView):
    @endpoint(identity, None, errors=RESET_ERRORS, descriptions={
        409: "A code that does not work (one message for wrong, expired, used or never "
             "sent: field code), or a password the policy refuses (field password)"})
    @identity.arguments(ResetConfirmIn)
    @identity.response(200, ResetDoneSchema)
    def post(self, data):
        """Set a new password with the code (public). Every session of the account ends,
        every API token is revoked, the owner is told and the reset is audited. Wrong codes
        count against the address like failed sign-ins (429 after too many)."""
        wait = limits.ip_wait()
        if wait:
            _throttled(wait)
        session = current_session()
        kernel = current_kernel()
        try:
            done = confirm_reset(
                session, kernel, kernel.hasher, login=data["login"], code=data["code"],
                password=data["password"],
                min_length=kernel.config.identity["password_min_length"],
                facts=request_facts(), notice=password_reset_notice, otp=otp)
        except IdentityError as exc:
            session.commit()  # a wrong try counts, and the audit entry stays
            if exc.field != "password":
                limits.record_ip_failure()
            refuse(exc, 409)
        session.commit()
        limits.login_succeeded(limits.account_key(done.user.username))
        return {
            "message": gettext("Your password has been changed. Sign in with the new password."),
            "sessions_ended": done.sessions_ended,
            "tokens_revoked": done.tokens_revoked,
        }


# ------------------------------------------------------------------------------ roles


@identity.route("/roles")
class Roles(MethodView):
    @endpoint(identity, "identity.user.read")
    @identity.response(200, RoleMatrixSchema)
    def get(self):
        """Every role's effective permissions (defaults plus administrators' changes)."""
        kernel = current_kernel()
        return {
            "roles": [_role(s) for s in role_states(current_session(), kernel.roles)],
            "permissions": [
                {
                    "name": p.name,
                    "description": p.description,
                    "description_zh": p.description_zh,
                }
                for p in sorted(kernel.permissions.values(), key=lambda p: p.name)
            ],
        }


@identity.route("/roles/<role>/permissions/<permission>")
class RolePermissionItem(MethodView):
    @endpoint(
        identity,
        "identity.role.manage",
        errors=(404, 409, 422),
        descriptions={409: "Administrators keep these"},
    )
    @identity.arguments(GrantSchema)
    @identity.response(200, RoleSchema)
    def put(self, data, role, permission):
        """Grant or withdraw one permission of a role; audited old → new, and in force in
        every process within seconds."""
        kernel = current_kernel()
        if role not in kernel.roles or permission not in kernel.permissions:
            abort(404, description="There is no such role or permission.")
        session = current_session()
        try:
            set_role_permission(
                session,
                role=role,
                permission=permission,
                granted=data["granted"],
                admin=current_user.actor,
                defaults=kernel.roles,
                known_permissions=kernel.permissions,
            )
        except IdentityError as exc:
            _refused(session, exc)
        session.commit()
        kernel.role_cache["at"] = -1.0  # this process sees the change at once
        state = next(s for s in role_states(session, kernel.roles) if s.role == role)
        return _role(state)


# ------------------------------------------------------------------------------ logs


@logs.route("/audit")
class Audit(MethodView):
    @endpoint(logs, "audit.log.read", errors=(422,))
    @logs.arguments(AuditQuery, location="query")
    @logs.response(200, AuditPage)
    def get(self, args):
        """Audit entries, newest first: filter by action prefix, actor, outcome and time
        (``since`` inclusive, ``until`` exclusive)."""
        query = search_audit(
            action=args.pop("action", None),
            actor=args.pop("actor", None),
            outcome=args.pop("outcome", None),
            since=_utc(args.pop("since", None), "since"),
            until=_utc(args.pop("until", None), "until"),
        )
        return paginate(current_session(), query, args)


@logs.route("/access")
class Access(MethodView):
    @endpoint(logs, "audit.access.read", errors=(422,))
    @logs.arguments(AccessQuery, location="query")
    @logs.response(200, AccessPage)
    def get(self, args):
        """Reads of persons' sensitive fields, newest first: filter by person, actor,
        the plugin it went through and time. Values are never in the log."""
        query = search_access(
            person_id=args.pop("person_id", None),
            actor=args.pop("actor", None),
            via=args.pop("via", None),
            since=_utc(args.pop("since", None), "since"),
            until=_utc(args.pop("until", None), "until"),
        )
        return paginate(current_session(), query, args)


@logs.route("/messages")
class Messages(MethodView):
    @endpoint(logs, "core.messages.read", errors=(422,))
    @logs.arguments(MessageQuery, location="query")
    @logs.response(200, MessagePage)
    def get(self, args):
        """Outbound SMS and e-mail, newest first, with their status (recorded, queued,
        sent or failed), attempts and errors. Recipients are masked; codes are never shown."""
        from core.identity.services.administration import message_rows

        query = search_messages(status=args.pop("status", None), channel=args.pop("channel", None))
        page = paginate(current_session(), query, args)
        page["items"] = message_rows(current_session(), page["items"])
        return page


def blueprints() -> list[ApiBlueprint]:
    """The ``identity`` area's administrative blueprints, for ``core.api.core_api``."""
    return [identity, logs]

"""Account rules: sign-up, authentication, sessions, tokens, roles, scopes, verification
and the assisted channel.

Plain functions over a session, no Flask: the pages, the API, the CLI and event handlers
all call these. Callers commit. One module per seam (``accounts``, ``sessions``,
``per_request``, ``tokens``, ``roles``, ``assisted``, ``verification``, ``own_account``,
``administration``); this package re-exports every name, so callers import from
``core.identity.services`` and need not know where a function lives.
"""

from __future__ import annotations

from core.identity.services.accounts import (
    _DUMMY_HASH as _DUMMY_HASH,
)
from core.identity.services.accounts import (
    PHONE_RE,
    USERNAME_RE,
    authenticate,
    change_password,
    check_password,
    create_user,
    find_login,
    mask_login,
    reset_password,
    set_active,
    set_roles,
    set_scopes,
    verify_password,
)
from core.identity.services.administration import (
    account_history,
    admin_create_user,
    admin_reset_password,
    change_roles,
    change_scopes,
    count_active_sessions,
    disable_account,
    enable_account,
    end_user_sessions,
    mask_recipient,
    parse_scopes,
    search_messages,
    search_users,
    temporary_password,
    update_account,
)
from core.identity.services.assisted import (
    ASSIST_ANYWHERE_ROLES,
    find_resident,
    may_assist,
    resident_places,
    start_assist,
    stop_assist,
)
from core.identity.services.errors import (
    NO_PERMISSIONS,
    OUTSIDE_PLACES,
    OWNER_LACKS,
    IdentityError,
)
from core.identity.services.own_account import (
    create_own_token,
    display_names,
    end_other_sessions,
    end_own_session,
    own_session,
    own_token,
    own_tokens,
)
from core.identity.services.per_request import (
    Account,
    ScopeRef,
    SessionGrant,
    TokenGrant,
    account_for_session,
    account_for_token,
    load_account,
)
from core.identity.services.roles import (
    RoleState,
    effective_roles,
    resolve_permissions,
    role_overrides,
    role_states,
    scope_allows,
    set_role_permission,
    set_role_permissions,
)
from core.identity.services.sessions import (
    SessionPolicy,
    active_sessions,
    end_all_sessions,
    end_session,
    load_session,
    start_session,
)
from core.identity.services.tokens import (
    TOKEN_PREFIX,
    create_token,
    revoke_token,
    token_lookup,
)
from core.identity.services.tokens import (
    _digest as _digest,
)
from core.identity.services.verification import (
    bind_person,
    id_number_problem,
    record_verification_attempt,
    revoke_verification,
    self_verify,
)

# Names callers have always imported from here.
from core.registry.validation import mask_phone, normalise_id_number, parse_id_number
from core.rules import MAX_ID, N_

__all__ = [
    "ASSIST_ANYWHERE_ROLES",
    "MAX_ID",
    "NO_PERMISSIONS",
    "N_",
    "OUTSIDE_PLACES",
    "OWNER_LACKS",
    "PHONE_RE",
    "TOKEN_PREFIX",
    "USERNAME_RE",
    "Account",
    "IdentityError",
    "RoleState",
    "ScopeRef",
    "SessionGrant",
    "SessionPolicy",
    "TokenGrant",
    "account_for_session",
    "account_for_token",
    "account_history",
    "active_sessions",
    "admin_create_user",
    "admin_reset_password",
    "authenticate",
    "bind_person",
    "change_password",
    "change_roles",
    "change_scopes",
    "check_password",
    "count_active_sessions",
    "create_own_token",
    "create_token",
    "create_user",
    "disable_account",
    "display_names",
    "effective_roles",
    "enable_account",
    "end_all_sessions",
    "end_other_sessions",
    "end_own_session",
    "end_session",
    "end_user_sessions",
    "find_login",
    "find_resident",
    "id_number_problem",
    "load_account",
    "load_session",
    "mask_login",
    "mask_phone",
    "mask_recipient",
    "may_assist",
    "normalise_id_number",
    "own_session",
    "own_token",
    "own_tokens",
    "parse_id_number",
    "parse_scopes",
    "record_verification_attempt",
    "reset_password",
    "resident_places",
    "resolve_permissions",
    "revoke_token",
    "revoke_verification",
    "role_overrides",
    "role_states",
    "scope_allows",
    "search_messages",
    "search_users",
    "self_verify",
    "set_active",
    "set_role_permission",
    "set_role_permissions",
    "set_roles",
    "set_scopes",
    "start_assist",
    "start_session",
    "stop_assist",
    "temporary_password",
    "token_lookup",
    "update_account",
    "verify_password",
]

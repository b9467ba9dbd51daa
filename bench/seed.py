"""Create the benchmark account and a bearer token through core's own services.

Run in the configured instance (``SHEQU_CONFIG``): ``python -m bench.seed`` prints
``{"user_id": ..., "username": ..., "token": ...}`` as JSON.
"""

from __future__ import annotations

import json
import secrets

USERNAME = "bench_user"


def main() -> None:
    from core.app import create_app
    from core.config import load_config
    from core.identity.services import create_token, create_user, resolve_permissions

    app = create_app(load_config())
    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as session:
        user = create_user(
            session, app.extensions["shequ.hasher"], username=USERNAME,
            password=secrets.token_urlsafe(16), roles=["community_worker"], kind="staff",
            display_name="Bench User",
        )
        _, token = create_token(
            session, user, name="bench", permissions=None, expires_days=None,
            granted=set(resolve_permissions(user.role_names, kernel.roles)),
        )
        user_id = user.id
    kernel.db.dispose()
    print(json.dumps({"user_id": user_id, "username": USERNAME, "token": token}))


if __name__ == "__main__":
    main()

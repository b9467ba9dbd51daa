"""Create what the HTTP benchmarks read, through core's own services.

Run in the configured instance (``SHEQU_CONFIG``): ``python -m bench.seed [--demo]`` prints
one JSON line:

* a staff account (``community_worker``) assigned to one community (a ``UserScope`` row,
  as an administrator would give it) and a bearer token for it;
* one registry person in that community, at a dwelling (``register_person``, so the
  change history and the ``registry.person.registered`` outbox row are written as in
  production): ``api_read`` reads them, ``api_read_sensitive`` reveals their ID number;
* a resident account bound to another person of that community, with a known password
  (``page_resident_home`` signs in through the real login form) and three unread
  notifications (the header's badge).

``--demo`` first loads core's demo data and every plugin's ``seed_demo_data`` (8,000
persons, notices, requests ...), so the resident home page shows what a populated instance
shows. Demo data is refused in production, so that step builds the app with
``app.env = "development"`` against the same database; the benchmarked server still runs
the production configuration.
"""

from __future__ import annotations

import argparse
import json
import secrets
from typing import Any

USERNAME = "bench_user"
RESIDENT = "bench_resident"
#: Places of the bench's own (the demo street is 110105001; these never clash with it).
STREET, COMMUNITY, GRID = "110106001", "110106001001", "110106001001001"
#: The first 17 characters of two resident ID numbers (the check character is computed).
TARGET_ID17, RESIDENT_ID17 = "11010619820415003", "11010619500321002"


def _demo() -> None:
    from core.app import create_app
    from core.config import load_config
    from core.demo import seed

    app = create_app(load_config(overrides={"app": {"env": "development", "demo_data": True}}))
    with app.app_context():  # as ``shequ demo`` runs it: plugins' seeds use current_app
        seed(app, echo=lambda _m: None)
    app.extensions["shequ"].bus.stop()
    app.extensions["shequ"].db.dispose()


def _valid_id(first17: str) -> str:
    from core.registry.validation import id_check_char

    return first17 + id_check_char(first17)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.seed")
    parser.add_argument("--demo", action="store_true", help="load the demo data first")
    args = parser.parse_args(argv)
    if args.demo:
        _demo()

    from core.app import create_app
    from core.config import load_config
    from core.identity.models import UserScope
    from core.identity.notifications import notify
    from core.identity.services import bind_person, create_token, create_user, resolve_permissions
    from core.registry import services as registry

    app = create_app(load_config())
    kernel = app.extensions["shequ"]
    hasher = app.extensions["shequ.hasher"]
    resident_password = secrets.token_urlsafe(16)
    out: dict[str, Any] = {
        "username": USERNAME,
        "resident": RESIDENT,
        "resident_password": resident_password,
    }
    with kernel.db.session_scope() as session:
        street = registry.create_street(session, code=STREET, name="基准街道")
        community = registry.create_community(
            session, code=COMMUNITY, name="基准社区", street=street
        )
        grid = registry.create_grid(session, code=GRID, name="基准第一网格", community=community)
        dwelling = registry.ensure_dwelling(
            session,
            community=community,
            grid=grid,
            estate="基准小区",
            building="2栋",
            unit="1单元",
            room="0802",
            road="基准路18号",
        )
        session.flush()
        target = registry.register_person(
            session,
            {
                "name": "欧阳晓明",
                "id_number": _valid_id(TARGET_ID17),
                "phone": "13912345678",
                "ethnicity": "01",
            },
            bus=kernel.bus,
            dwelling_id=dwelling.id,
            role="owner",
        )
        neighbour = registry.register_person(
            session,
            {"name": "曾秀英", "id_number": _valid_id(RESIDENT_ID17), "phone": "13712345678"},
            bus=kernel.bus,
            dwelling_id=dwelling.id,
            role="other",
        )

        user = create_user(
            session,
            hasher,
            username=USERNAME,
            password=secrets.token_urlsafe(16),
            roles=["community_worker"],
            kind="staff",
            display_name="Bench User",
        )
        user.scopes.append(UserScope(kind="community", code=COMMUNITY))
        _, token = create_token(
            session,
            user,
            name="bench",
            permissions=None,
            expires_days=None,
            granted=set(resolve_permissions(user.role_names, kernel.roles)),
        )
        resident = create_user(
            session,
            hasher,
            username=RESIDENT,
            password=resident_password,
            roles=["resident"],
            kind="resident",
            display_name="曾秀英",
        )
        session.flush()
        bind_person(session, resident, neighbour.id, method="in_person", by=user)
        for i, title in enumerate(
            (
                "Your certificate is ready",
                "Community meeting on Friday",
                "Water off on Tuesday morning",
            ),
            1,
        ):
            notify(
                session,
                kernel.bus,
                user_id=resident.id,
                title=title,
                body=f"Bench notification {i}.",
                link="/account/notifications",
            )
        session.flush()
        out.update(
            user_id=user.id,
            token=token,
            person_id=target.id,
            resident_id=resident.id,
            community=COMMUNITY,
        )
    kernel.bus.stop()
    kernel.db.dispose()
    print(json.dumps(out))


if __name__ == "__main__":
    main()

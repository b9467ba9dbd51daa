"""access log: masked reads, one row per identical display and day (count, last_at, key)

Revision ID: dc97deb6bf6f
Revises: a1734bdf2494
Create Date: 2026-12-07 01:00:00.000000

Every display of a person's data to someone else is logged now, masked ones included, so
identical entries of one day are one row: ``count`` says how many, ``last_at`` when the
latest was, ``key`` (unique) is the digest of viewer, person, plugin, purpose, fields,
masked/full and day that an ``INSERT ... ON CONFLICT (key) DO UPDATE`` merges on.

The table stays append-only in the database: the triggers are replaced so that an UPDATE
may change ``count`` and ``last_at`` — upwards only — and nothing else; DELETE is still
refused for rows younger than the legal floor (1095 days). A later migration that adds a
column to audit_access must add it to the SQLite trigger's column list below.
"""
import sqlalchemy as sa
from alembic import op

import core.db

revision = 'dc97deb6bf6f'
down_revision = 'a1734bdf2494'
branch_labels = None
depends_on = None

FLOOR_DAYS = 1095
#: Every column an UPDATE must leave alone (SQLite: ``BEFORE UPDATE OF`` these).
FROZEN = ('id', 'at', 'actor_id', 'actor_name', 'on_behalf_of_id', 'subject_person_id',
          'fields', 'via', 'purpose', 'request_id', 'actor_role', 'masked', 'key')


def upgrade() -> None:
    _drop_old_triggers()
    with op.batch_alter_table('audit_access', schema=None) as batch_op:
        batch_op.add_column(sa.Column('actor_role', sa.String(length=40), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('masked', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('count', sa.Integer(), nullable=False,
                                      server_default='1'))
        batch_op.add_column(sa.Column('last_at', core.db.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('key', sa.String(length=64), nullable=True))
    op.execute("UPDATE audit_access SET last_at = at")
    with op.batch_alter_table('audit_access', schema=None) as batch_op:
        batch_op.alter_column('last_at', existing_type=core.db.UTCDateTime(timezone=True),
                              nullable=False)
        batch_op.create_index('uq_audit_access_key', ['key'], unique=True)
    _new_triggers()


def _drop_old_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_access_append_only ON audit_access")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_access_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_access_no_early_delete")


def _new_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Everything but count and last_at must be equal (compared as whole rows, so a
        # column added later is covered too), and those two may only grow.
        op.execute("""
            CREATE FUNCTION shequ_access_append_only() RETURNS trigger AS $$
            BEGIN
              IF TG_OP = 'UPDATE' THEN
                IF NEW.count >= OLD.count AND NEW.last_at >= OLD.last_at
                   AND (to_jsonb(NEW) - 'count' - 'last_at')
                       = (to_jsonb(OLD) - 'count' - 'last_at') THEN
                  RETURN NEW;
                END IF;
                RAISE EXCEPTION '% is append-only: only count and last_at may grow',
                  TG_TABLE_NAME;
              END IF;
              IF OLD.at > now() - make_interval(days => TG_ARGV[0]::int) THEN
                RAISE EXCEPTION '% rows are kept for % days', TG_TABLE_NAME, TG_ARGV[0];
              END IF;
              RETURN OLD;
            END $$ LANGUAGE plpgsql""")
        op.execute(
            "CREATE TRIGGER audit_access_append_only BEFORE UPDATE OR DELETE ON audit_access "
            f"FOR EACH ROW EXECUTE FUNCTION shequ_access_append_only('{FLOOR_DAYS}')"
        )
        return
    columns = ", ".join(f'"{c}"' for c in FROZEN)
    op.execute(
        f"CREATE TRIGGER audit_access_no_update BEFORE UPDATE OF {columns} ON audit_access "
        "BEGIN SELECT RAISE(ABORT, 'audit_access is append-only: only count and last_at "
        "may grow'); END"
    )
    op.execute(
        'CREATE TRIGGER audit_access_only_grows BEFORE UPDATE OF "count", last_at '
        'ON audit_access WHEN new."count" < old."count" OR new.last_at < old.last_at '
        "BEGIN SELECT RAISE(ABORT, 'audit_access counts only grow'); END"
    )
    op.execute(
        "CREATE TRIGGER audit_access_no_early_delete BEFORE DELETE ON audit_access "
        f"WHEN old.at > strftime('%Y-%m-%d %H:%M:%f', 'now', '-{FLOOR_DAYS} days') "
        f"BEGIN SELECT RAISE(ABORT, 'audit_access rows are kept for {FLOOR_DAYS} days'); END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_access_append_only ON audit_access")
        op.execute("DROP FUNCTION IF EXISTS shequ_access_append_only()")
    else:
        for name in ("audit_access_no_update", "audit_access_only_grows",
                     "audit_access_no_early_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    with op.batch_alter_table('audit_access', schema=None) as batch_op:
        batch_op.drop_index('uq_audit_access_key')
        batch_op.drop_column('key')
        batch_op.drop_column('last_at')
        batch_op.drop_column('count')
        batch_op.drop_column('masked')
        batch_op.drop_column('actor_role')
    # the previous shape: no UPDATE at all (25a75ae22900)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER audit_access_append_only BEFORE UPDATE OR DELETE ON audit_access "
            f"FOR EACH ROW EXECUTE FUNCTION shequ_append_only('{FLOOR_DAYS}')"
        )
    else:
        op.execute(
            "CREATE TRIGGER audit_access_no_update BEFORE UPDATE ON audit_access "
            "BEGIN SELECT RAISE(ABORT, 'audit_access is append-only'); END"
        )
        op.execute(
            "CREATE TRIGGER audit_access_no_early_delete BEFORE DELETE ON audit_access "
            f"WHEN old.at > strftime('%Y-%m-%d %H:%M:%f', 'now', '-{FLOOR_DAYS} days') "
            f"BEGIN SELECT RAISE(ABORT, 'audit_access rows are kept for {FLOOR_DAYS} days'); END"
        )

"""Alembic environment: core's shared runner (own version table, own tables only)."""

from core.toolkit import run_migrations as run

run()

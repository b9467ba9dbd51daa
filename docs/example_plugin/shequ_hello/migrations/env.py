"""Alembic environment: core's shared runner (own version table, own tables only)."""

from core.migrations.runner import run

run()

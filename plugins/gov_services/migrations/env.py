"""Alembic environment: the shared runner (own version table, own tables only)."""

from core.migrations.runner import run

run()

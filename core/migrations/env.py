"""Alembic environment shared by core's and every plugin's migration tree."""

from core.migrations.runner import run

run()

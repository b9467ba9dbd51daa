"""Shared test set-up. The fixtures themselves live in core/testing.py (the ``shequ``
pytest plugin), so plugin authors get exactly what core's own tests use."""

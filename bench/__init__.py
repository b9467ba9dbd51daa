"""Shequ's benchmarks: every figure is measured against a floor in the same run.

Run ``python -m bench`` (``make bench``); see docs/performance.md. Never part of
``make test``.
"""

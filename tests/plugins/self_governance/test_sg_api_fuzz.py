"""Schemathesis over every self_governance API operation (anonymous and with an admin
token): no 500, every status documented, every body as documented, and no request the
schema allows refused as invalid. On an app of its own: the fuzzer writes."""

from __future__ import annotations

import pytest

from core.testing import assert_api_fuzzes


@pytest.fixture
def fuzz_app(make_app):
    return make_app(plugins=["self_governance"])


def test_the_api_survives_the_fuzzer(fuzz_app):
    assert_api_fuzzes(fuzz_app, "/api/v1/self-governance", max_examples=6)

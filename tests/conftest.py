"""Shared fixtures: fixed, non-secret test keys. Helpers live in ``helpers.py``."""

from __future__ import annotations

import pytest

from streammask.keys import MasterKey

TEST_KEY_BYTES = bytes(range(32))
OTHER_KEY_BYTES = bytes(range(100, 132))


@pytest.fixture(scope="session")
def master_key() -> MasterKey:
    return MasterKey(TEST_KEY_BYTES, "test")


@pytest.fixture(scope="session")
def other_key() -> MasterKey:
    return MasterKey(OTHER_KEY_BYTES, "other")


pytest_plugins = ["tests.broker", "tests.fake_registry", "tests.qa_db", "tests.fake_connect"]

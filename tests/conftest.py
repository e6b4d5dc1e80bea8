"""Shared fixtures: environment isolation and the emulator (from tests/fixtures)."""

from __future__ import annotations

import os

import pytest

from tests.fixtures.emulator import _emulator, _emulator_factory, _emulator_session
from tests.fixtures.fake_gcs import _fake_gcs

__all__ = ["_emulator", "_emulator_factory", "_emulator_session", "_fake_gcs"]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's VERTEX_LAUNCHER_* or Google credentials settings."""
    for name in list(os.environ):
        if name.startswith(("VERTEX_LAUNCHER_", "GOOGLE_", "GCE_METADATA", "CLOUDSDK_")):
            monkeypatch.delenv(name)

"""Fixtures shared by the emulator's tests: every API case runs over both transports."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.emulator import Emulator


@pytest.fixture(name="transport", params=["grpc", "rest"])
def _transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(name="jobs")
def _jobs(emulator: Emulator, transport: str) -> Any:
    return emulator.job_client(transport)

"""Registers the ``chaos`` marker: ``pytest -m chaos`` selects the fault-injection suite, ``-m 'not chaos'`` skips it.

Loaded by pytest for tests/chaos only.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Declare the marker (the suite runs under --strict-markers)."""
    config.addinivalue_line("markers", "chaos: fault-injection schedules against the emulator (tests/chaos)")

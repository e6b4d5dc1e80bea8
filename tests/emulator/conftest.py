"""The emulator fixtures for this directory (the lead's tests/conftest.py may re-export them for everyone)."""

from tests.fixtures.emulator import _emulator, _emulator_factory, _emulator_session

__all__ = ["_emulator", "_emulator_factory", "_emulator_session"]

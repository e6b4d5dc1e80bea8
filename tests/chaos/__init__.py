"""Fault-injection ("chaos") suite: seeded schedules, a runner against private emulators, and the oracle."""

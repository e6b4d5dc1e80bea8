"""The README documents the contract: every setting and every exit code, so the docs cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

from vertex_launcher.result import ExitCode
from vertex_launcher.settings import PREFIX, setting_names

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented_in_the_readme() -> None:
    """Each VERTEX_LAUNCHER_* variable appears (without its prefix) in the README's configuration table."""
    missing = [name for name in setting_names() if f"`{name.removeprefix(PREFIX)}`" not in README]
    assert missing == []


def test_every_exit_code_is_documented_in_the_readme() -> None:
    """Each exit code has a row in the README's exit-code table."""
    assert all(f"\n| {int(code)} |" in README for code in ExitCode)

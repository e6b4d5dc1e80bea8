"""The import-linter contracts name their modules one by one: every launcher module must be in them.

A module added without being listed would escape the "only the Vertex adapter imports the Vertex SDK" and "the
launcher never imports the emulator" checks that ``make test`` runs, so this test fails until it is listed.
"""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path

import vertex_launcher

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
#: The adapter itself, and the entry point that dispatches `emulator` to the emulator.
ALLOWED = {
    "Only the Vertex adapter imports the Vertex SDK": {"vertex_launcher.vertex"},
    "The launcher never imports the emulator (only the entry point dispatches `emulator` to it)": {
        "vertex_launcher.__main__"
    },
}


def _launcher_modules() -> set[str]:
    names = {f"vertex_launcher.{info.name}" for info in pkgutil.iter_modules(vertex_launcher.__path__)}
    return {name for name in names if name != "vertex_launcher.emulator"}


def test_every_launcher_module_is_covered_by_the_layering_contracts() -> None:
    """Each contract lists every launcher module except the one it exists to allow."""
    contracts = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]
    for contract in contracts:
        if contract["name"] not in ALLOWED:
            continue
        missing = _launcher_modules() - set(contract["source_modules"]) - ALLOWED[contract["name"]]
        assert missing == set(), f"{contract['name']}: add {sorted(missing)} to source_modules in pyproject.toml"

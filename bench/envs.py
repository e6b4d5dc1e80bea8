"""The measured environments: an image-like virtualenv, and one holding only the Vertex SDK (figure (e)).

The image-like one is the locked non-dev dependency set with compiled bytecode, as the Dockerfile installs it; every
launcher process runs from it, every SDK process from the other.

``build_envs`` makes them under ``.build/bench/`` with ``uv`` (reusing the dependency install while ``uv.lock``'s
non-dev export is unchanged; the project itself is reinstalled every time) and measures their installed size.
Used by ``bench.runner``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MIB = 1024 * 1024


@dataclass(frozen=True)
class Envs:
    """Interpreters of the built environments."""

    image_python: Path
    sdk_python: Path
    optimized_bytecode: bool


def uv_binary() -> str:
    """``uv`` as the Makefile found it (``BENCH_UV``), else on PATH, else the user install."""
    found = os.environ.get("BENCH_UV") or shutil.which("uv")
    return found or str(Path.home() / ".local/bin/uv")


def _run(argv: list[str], cwd: Path) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        msg = f"{' '.join(argv)} failed ({done.returncode}): {done.stderr[-2000:]}"
        raise RuntimeError(msg)
    return done.stdout


def site_packages(python: Path) -> Path:
    """The site-packages directory of a virtualenv's interpreter."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return python.parent.parent / "lib" / version / "site-packages"


def tree_size(root: Path, *, skip_suffixes: tuple[str, ...] = ()) -> int:
    """Bytes on disk under ``root`` (like ``du``: allocated blocks, each inode once)."""
    seen: set[int] = set()
    total = 0
    for directory, _, files in os.walk(root):
        for name in files:
            if skip_suffixes and name.endswith(skip_suffixes):
                continue
            stat = os.lstat(os.path.join(directory, name))
            if stat.st_ino in seen:
                continue
            seen.add(stat.st_ino)
            total += stat.st_blocks * 512
    return total


def breakdown(root: Path, top: int = 12) -> list[dict[str, Any]]:
    """The largest packages under site-packages (``google/cloud/*`` and ``google/*`` split one level further)."""
    entries: list[tuple[str, int]] = []
    for path in sorted(root.iterdir()):
        if path.name.endswith(".dist-info") or path.name == "__pycache__":
            continue
        if path.name == "google" and path.is_dir():
            for sub in sorted(path.iterdir()):
                if sub.name == "cloud" and sub.is_dir():
                    entries += [(f"google/cloud/{c.name}", _size(c)) for c in sorted(sub.iterdir())]
                else:
                    entries.append((f"google/{sub.name}", _size(sub)))
        else:
            entries.append((path.name, _size(path)))
    entries.sort(key=lambda item: -item[1])
    return [{"path": name, "mib": round(size / MIB, 1)} for name, size in entries[:top]]


def _size(path: Path) -> int:
    if path.is_dir():
        return tree_size(path, skip_suffixes=(".opt-2.pyc",))
    return path.lstat().st_blocks * 512


def build_envs(root: Path, workdir: Path, *, optimize: bool = True) -> tuple[Envs, dict[str, Any]]:
    """Build (or refresh) both environments; their sizes for figure (e)."""
    uv = uv_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    reqs = _run([uv, "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project", "-q"], root)
    image, sdk = workdir / "image-venv", workdir / "sdk-venv"
    install = ["--link-mode", "copy", "--compile-bytecode", "-q"]
    stamp = workdir / "image-requirements.txt"
    if not (stamp.exists() and stamp.read_text() == reqs and (image / "bin/python").exists()):
        shutil.rmtree(image, ignore_errors=True)
        _run([uv, "venv", "-q", "--python", sys.executable, str(image)], root)
        stamp.with_suffix(".tmp").write_text(reqs)
        _run(
            [
                uv,
                "pip",
                "install",
                "--python",
                str(image / "bin/python"),
                *install,
                "-r",
                str(stamp.with_suffix(".tmp")),
            ],
            root,
        )
        stamp.with_suffix(".tmp").replace(stamp)
    _run([uv, "pip", "install", "--python", str(image / "bin/python"), *install, "--no-deps", "--reinstall", "."], root)
    aiplatform = next(line for line in reqs.splitlines() if line.startswith("google-cloud-aiplatform=="))
    sdk_stamp = workdir / "sdk-requirements.txt"
    if not (sdk_stamp.exists() and sdk_stamp.read_text() == reqs and (sdk / "bin/python").exists()):
        shutil.rmtree(sdk, ignore_errors=True)
        _run([uv, "venv", "-q", "--python", sys.executable, str(sdk)], root)
        constraints = workdir / "constraints.txt"
        constraints.write_text(reqs)
        sdk_python = str(sdk / "bin/python")
        _run([uv, "pip", "install", "--python", sdk_python, *install, "-c", str(constraints), aiplatform], root)
        sdk_stamp.write_text(reqs)
    image_site, sdk_site = site_packages(image / "bin/python"), site_packages(sdk / "bin/python")
    sizes = {
        "method": (
            "uv pip install of `uv export --frozen --no-dev` (+ the project, non-editable) into a fresh virtualenv "
            "with --compile-bytecode, as the Dockerfile does; the SDK's: google-cloud-aiplatform alone, same "
            "versions; bytes on disk of site-packages (du-style)"
        ),
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "launcher_mib": round(tree_size(image_site, skip_suffixes=(".opt-2.pyc",)) / MIB, 1),
        "launcher_without_bytecode_mib": round(tree_size(image_site, skip_suffixes=(".pyc",)) / MIB, 1),
        "sdk_mib": round(tree_size(sdk_site, skip_suffixes=(".opt-2.pyc",)) / MIB, 1),
        "sdk_without_bytecode_mib": round(tree_size(sdk_site, skip_suffixes=(".pyc",)) / MIB, 1),
        "launcher_distributions": len(list(image_site.glob("*.dist-info"))),
        "sdk_distributions": len(list(sdk_site.glob("*.dist-info"))),
        "launcher_only": sorted(
            {p.name.split("-")[0] for p in image_site.glob("*.dist-info")}
            - {p.name.split("-")[0] for p in sdk_site.glob("*.dist-info")}
        ),
        "largest": breakdown(image_site),
    }
    optimized = False
    if optimize:
        # Candidate cheap win: -OO bytecode (no docstrings); compiled next to the normal .pyc files.
        _run([str(image / "bin/python"), "-OO", "-m", "compileall", "-q", "-j", "0", str(image_site)], root)
        optimized = True
        sizes["launcher_with_opt2_bytecode_mib"] = round(tree_size(image_site) / MIB, 1)
    return Envs(image / "bin/python", sdk / "bin/python", optimized), sizes

"""The measured environments: an image-like virtualenv, and one holding only the Vertex SDK (figure (e)).

The image-like one is laid out as the Dockerfile lays out ``/app/.venv``: the locked non-dev dependency set and the
project (as a wheel) installed without bytecode, then compiled once with ``python -OO -m compileall`` under the
builder's ``SOURCE_DATE_EPOCH`` (hash-checked ``.opt-2.pyc`` files only); every launcher process runs from it with
the runtime image's environment (``IMAGE_ENV``: ``PYTHONOPTIMIZE=2``). For comparison, a copy of it compiled
without ``-OO`` (plain ``.pyc``, the image before the ``-OO`` change). Every SDK process runs from the SDK-only one.

``build_envs`` makes them under ``.build/bench/`` with ``uv`` (reusing the dependency install while ``uv.lock``'s
non-dev export and ``IMAGE_LAYOUT`` are unchanged; the project itself is reinstalled and everything recompiled
every time) and measures their installed size. Used by ``bench.runner``.
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

#: What the runtime image sets that changes how Python loads the launcher (see the Dockerfile's ENV).
IMAGE_ENV = {"PYTHONOPTIMIZE": "2"}
#: The Dockerfile builder's SOURCE_DATE_EPOCH: with it compileall writes hash-checked bytecode.
SOURCE_DATE_EPOCH = "315532800"
#: Part of the reuse stamp: an environment laid out by an older version of this module is rebuilt.
IMAGE_LAYOUT = "layout 2: installed without bytecode, then python -OO -m compileall with SOURCE_DATE_EPOCH"


@dataclass(frozen=True)
class Envs:
    """Interpreters of the built environments (``plain_python``: the image-like one with plain ``.pyc``)."""

    image_python: Path
    sdk_python: Path
    plain_python: Path | None


def uv_binary() -> str:
    """``uv`` as the Makefile found it (``BENCH_UV``), else on PATH, else the user install."""
    found = os.environ.get("BENCH_UV") or shutil.which("uv")
    return found or str(Path.home() / ".local/bin/uv")


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)  # noqa: S603
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


def bytecode_files(root: Path) -> dict[str, int]:
    """How many ``.pyc`` files of each optimization level are under ``root``."""
    counts = {"plain": 0, "opt-1": 0, "opt-2": 0}
    for _, _, files in os.walk(root):
        for name in files:
            if name.endswith(".opt-2.pyc"):
                counts["opt-2"] += 1
            elif name.endswith(".opt-1.pyc"):
                counts["opt-1"] += 1
            elif name.endswith(".pyc"):
                counts["plain"] += 1
    return counts


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
        return tree_size(path)
    return path.lstat().st_blocks * 512


def compile_bytecode(python: Path, lib: Path, root: Path, *, optimize: bool) -> None:
    """``python [-OO] -m compileall -q -j 0 LIB`` under the builder's ``SOURCE_DATE_EPOCH``, as the Dockerfile."""
    flags = ["-OO"] if optimize else []
    env = os.environ | {"SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH}
    _run([str(python), *flags, "-m", "compileall", "-q", "-j", "0", str(lib)], root, env)


def _install(uv: str, python: Path, root: Path, *args: str) -> None:
    """``uv pip install``, writing bytecode only if ``args`` ask for it (whatever this shell's UV_* say)."""
    env = {k: v for k, v in os.environ.items() if k != "UV_COMPILE_BYTECODE"}
    _run([uv, "pip", "install", "--python", str(python), "--link-mode", "copy", "-q", *args], root, env)


def build_envs(root: Path, workdir: Path, *, plain: bool = True) -> tuple[Envs, dict[str, Any]]:
    """Build (or refresh) the environments; their sizes for figure (e). ``plain``: also the plain-``.pyc`` copy."""
    uv = uv_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    reqs = _run([uv, "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project", "-q"], root)
    image, sdk, plain_env = workdir / "image-venv", workdir / "sdk-venv", workdir / "image-venv-plain-pyc"
    python = image / "bin/python"
    stamp = workdir / "image-requirements.txt"
    wanted = f"# {IMAGE_LAYOUT}\n{reqs}"
    if not (stamp.exists() and stamp.read_text() == wanted and python.exists()):
        shutil.rmtree(image, ignore_errors=True)
        _run([uv, "venv", "-q", "--python", sys.executable, str(image)], root)
        pending = stamp.with_suffix(".tmp")
        pending.write_text(reqs)
        _install(uv, python, root, "-r", str(pending))
        pending.unlink()
        stamp.write_text(wanted)
    # Like the Dockerfile: compile all of lib/ after the last install (hash-checked files are always rewritten).
    _install(uv, python, root, "--no-deps", "--reinstall", ".")
    compile_bytecode(python, image / "lib", root, optimize=True)
    aiplatform = next(line for line in reqs.splitlines() if line.startswith("google-cloud-aiplatform=="))
    sdk_stamp = workdir / "sdk-requirements.txt"
    if not (sdk_stamp.exists() and sdk_stamp.read_text() == reqs and (sdk / "bin/python").exists()):
        shutil.rmtree(sdk, ignore_errors=True)
        _run([uv, "venv", "-q", "--python", sys.executable, str(sdk)], root)
        constraints = workdir / "constraints.txt"
        constraints.write_text(reqs)
        _install(uv, sdk / "bin/python", root, "--compile-bytecode", "-c", str(constraints), aiplatform)
        sdk_stamp.write_text(reqs)
    shutil.rmtree(plain_env, ignore_errors=True)
    if plain:
        shutil.copytree(image, plain_env, symlinks=True, ignore=shutil.ignore_patterns("*.opt-2.pyc"))
        compile_bytecode(plain_env / "bin/python", plain_env / "lib", root, optimize=False)
    image_site, sdk_site = site_packages(python), site_packages(sdk / "bin/python")
    sizes: dict[str, Any] = {
        "method": (
            "the launcher's: uv pip install of `uv export --frozen --no-dev` (+ the project, non-editable) into a "
            "fresh virtualenv without bytecode, then `python -OO -m compileall -q -j 0 lib` with the builder's "
            "SOURCE_DATE_EPOCH, as the Dockerfile does (hash-checked .opt-2.pyc only); the SDK's: "
            "google-cloud-aiplatform alone, same versions, with the plain .pyc an install with --compile-bytecode "
            "writes; bytes on disk of site-packages (du-style)"
        ),
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "launcher_bytecode": "-OO",
        "launcher_bytecode_files": bytecode_files(image_site),
        "launcher_mib": round(tree_size(image_site) / MIB, 1),
        "launcher_without_bytecode_mib": round(tree_size(image_site, skip_suffixes=(".pyc",)) / MIB, 1),
        "sdk_mib": round(tree_size(sdk_site, skip_suffixes=(".opt-1.pyc", ".opt-2.pyc")) / MIB, 1),
        "sdk_without_bytecode_mib": round(tree_size(sdk_site, skip_suffixes=(".pyc",)) / MIB, 1),
        "launcher_distributions": len(list(image_site.glob("*.dist-info"))),
        "sdk_distributions": len(list(sdk_site.glob("*.dist-info"))),
        "launcher_only": sorted(
            {p.name.split("-")[0] for p in image_site.glob("*.dist-info")}
            - {p.name.split("-")[0] for p in sdk_site.glob("*.dist-info")}
        ),
        "largest": breakdown(image_site),
    }
    if plain:
        sizes["launcher_plain_pyc_mib"] = round(tree_size(site_packages(plain_env / "bin/python")) / MIB, 1)
    envs = Envs(python, sdk / "bin/python", plain_env / "bin/python" if plain else None)
    return envs, sizes

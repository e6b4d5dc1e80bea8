"""The command line: ``run`` (default), ``render``, ``doctor``, ``emulator``. Parsing only; ``__main__`` acts."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

COMMANDS = ("run", "render", "doctor", "emulator")

_DESCRIPTION = """\
Submit a Vertex AI CustomJob or PipelineJob, watch it to the end, log one canonical result, exit with a code
Kubernetes acts on. Configuration comes from VERTEX_LAUNCHER_* environment variables (see README).

commands:
  run        submit (or reattach to) this run's job and watch it (default)
  render     print the exact create request as JSON; no credentials, no network
  doctor     preflight: credentials, principal, project, permissions, spec; exit 0 only if a run would be allowed
  emulator   serve a local Vertex AI job API (gRPC + REST) for demos and tests; see `emulator --help`

exit codes: 0 succeeded/submitted/skipped, 1 job failed or quota, 2 configuration, 3 auth/permission,
            4 timeout, 5 transient API trouble (retry reattaches), 143 terminated by SIGTERM/SIGINT
"""


@dataclass(frozen=True)
class Invocation:
    """What the user asked for."""

    command: str
    rest: list[str]


def parse(argv: list[str]) -> Invocation:
    """Parse argv (without the program name); ``--help`` and usage errors exit here (code 0 / 2)."""
    if argv and argv[0] == "emulator":
        return Invocation("emulator", argv[1:])
    parser = argparse.ArgumentParser(
        prog="vertex-launcher", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("command", nargs="?", default="run", choices=COMMANDS, metavar="COMMAND")
    args = parser.parse_args(argv)
    return Invocation("version" if args.version else args.command, [])

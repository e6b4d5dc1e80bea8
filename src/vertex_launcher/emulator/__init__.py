"""The local Vertex AI job API emulator (``vertex-launcher emulator``): a separate program in this package.

gRPC and REST/JSON JobService/PipelineService with a simulated lifecycle, fault injection and optional IAM,
and Cloud Logging's read API over the jobs' simulated logs.
Map: ``app`` (process: options → servers → signals), ``config`` (options, config file), ``service`` (one
transport-neutral ``Api``), ``grpc_server``/``rest``/``control`` (transports), ``store``/``lifecycle``
(jobs and simulated time), ``filters`` (AIP-160), ``validation``, ``faults``, ``iam``, ``errors``, ``persist``;
the jobs' Cloud Logging entries: ``joblogs`` (simulated from each job's timeline), ``logfilter`` (the Logging
query language), ``logging_api`` (ListLogEntries over gRPC and REST, TailLogEntries).
The launcher never imports it (import-linter contract); ``cli`` dispatches to ``main``.
"""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """Run the emulator until SIGTERM/SIGINT; the exit code (0, or 2 for bad options)."""
    from vertex_launcher.emulator.app import run

    return run(argv)

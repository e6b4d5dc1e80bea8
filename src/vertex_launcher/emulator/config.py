"""Emulator settings: command-line options, the ``--config`` JSON file, lifecycle defaults and per-job rules.

``parse_args`` is called by ``emulator.main``; ``Defaults``/``JobRule`` are also changed at runtime through
``POST /_emulator/config``. The config file holds any of::

    {"defaults": {"queued_seconds": 1, "pending_seconds": 2, "run_seconds": 10, "cancel_seconds": 2,
                  "outcome": "succeeded"},
     "time_scale": 1.0,
     "rules": [{"filter": "labels.team=a", "outcome": "failed", "run_seconds": 3}],
     "faults": [...], "principals": [...], "gpu_quota": {"NVIDIA_TESLA_T4": 4},
     "capacity": [{"kind": "stockout", "region": "us-central1", "accelerator_type": "NVIDIA_TESLA_T4"}],
     "buckets": {"demo-bucket": ["job-sa@p.iam.gserviceaccount.com"], "shared": ["*"]},
     "rate_limit_per_minute": 600, "submission_limit_per_minute": 60, "rate_limit_retry_info": false,
     "require_auth": false, "project_number": "123456789012"}

Command-line options win over the file. The two request quotas model Vertex's, per project and region:
``rate_limit_per_minute`` counts resource-management (CRUD) calls (get, list, cancel), ``submission_limit_per_minute``
job submissions (creates); 0 turns one off.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from vertex_launcher.emulator.lifecycle import OUTCOMES


class ConfigError(ValueError):
    """Bad emulator option or config file content (exit code 2)."""


@dataclass
class Defaults:
    """Lifecycle of a job unless its labels or a rule say otherwise (simulated seconds)."""

    queued_seconds: float = 1.0
    pending_seconds: float = 2.0
    run_seconds: float = 10.0
    cancel_seconds: float = 2.0
    outcome: str = "succeeded"

    def update(self, data: dict[str, Any]) -> None:
        """Apply a partial dict; ConfigError on an unknown key or a bad value (nothing changes then)."""
        merged = {**asdict(self), **_check_lifecycle(data, "defaults")}
        for key, value in merged.items():
            setattr(self, key, value)


@dataclass
class JobRule:
    """Lifecycle overrides for jobs matching an AIP-160 ``filter`` at creation (labels, display_name)."""

    filter: str
    overrides: dict[str, Any]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobRule:
        """Build from ``{"filter": ..., <Defaults keys>...}``."""
        if "filter" not in data:
            msg = f"a rule needs a 'filter': {data}"
            raise ConfigError(msg)
        rest = {key: value for key, value in data.items() if key != "filter"}
        return cls(filter=str(data["filter"]), overrides=_check_lifecycle(rest, "rule"))

    def to_json(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"filter": self.filter, **self.overrides}


def _check_lifecycle(data: dict[str, Any], where: str) -> dict[str, Any]:
    known = {f.name for f in fields(Defaults)}
    unknown = sorted(set(data) - known)
    if unknown:
        msg = f"unknown {where} key(s) {unknown}; known: {sorted(known)}"
        raise ConfigError(msg)
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "outcome":
            if value not in OUTCOMES:
                msg = f"{where}.outcome must be one of {sorted(OUTCOMES)}, got {value!r}"
                raise ConfigError(msg)
            out[key] = value
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            msg = f"{where}.{key} must be a number >= 0, got {value!r}"
            raise ConfigError(msg)
        out[key] = float(value)
    return out


@dataclass
class Settings:
    """Everything the emulator starts with."""

    host: str = "127.0.0.1"
    port: int = 50051
    rest_port: int = 8080
    time_scale: float = 1.0
    defaults: Defaults = field(default_factory=Defaults)
    rules: list[dict[str, Any]] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    principals: list[dict[str, Any]] = field(default_factory=list)
    gpu_quota: dict[str, float] = field(default_factory=dict)
    capacity: list[dict[str, Any]] = field(default_factory=list)
    buckets: dict[str, list[str]] = field(default_factory=dict)
    rate_limit_per_minute: int = 0
    submission_limit_per_minute: int = 0
    rate_limit_retry_info: bool = False
    require_auth: bool = False
    project_number: str = ""
    state_file: Path | None = None
    request_log: Path | None = None
    verbose: bool = False
    seed: int | None = None


_FILE_KEYS = {
    "defaults",
    "time_scale",
    "rules",
    "faults",
    "principals",
    "gpu_quota",
    "capacity",
    "buckets",
    "rate_limit_per_minute",
    "submission_limit_per_minute",
    "rate_limit_retry_info",
    "require_auth",
    "project_number",
}


def build_parser() -> argparse.ArgumentParser:
    """The ``vertex-launcher emulator`` argument parser (its ``--help`` is the option reference)."""
    parser = argparse.ArgumentParser(
        prog="vertex-launcher emulator",
        description=(
            "A local Vertex AI job API (JobService/PipelineService over gRPC and REST/JSON) with a simulated "
            "lifecycle, fault injection and optional IAM. Prints one JSON line {grpc, rest, pid} on stdout when "
            "ready; serves until SIGTERM/SIGINT. Control API: REST port, /_emulator/ (see docs/emulator.md)."
        ),
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    add("--port", type=int, default=50051, help="gRPC port; 0 picks a free one (default 50051)")
    add("--rest-port", type=int, default=8080, help="REST/JSON and control API port; 0 picks a free one (default 8080)")
    add("--time-scale", type=float, help="simulated seconds per real second (default 1; e.g. 100 for fast tests)")
    add("--queued-seconds", type=float, help="simulated seconds a job stays QUEUED (default 1)")
    add("--pending-seconds", type=float, help="simulated seconds a job stays PENDING (default 2)")
    add("--run-seconds", type=float, help="simulated seconds a job stays RUNNING (default 10)")
    add("--cancel-seconds", type=float, help="simulated seconds from a cancel request to CANCELLED (default 2)")
    add("--outcome", choices=sorted(OUTCOMES), help="how jobs end unless told otherwise (default succeeded)")
    add("--config", type=Path, help="JSON file with defaults, rules, faults, principals, gpu_quota, ...")
    add("--state-file", type=Path, help="persist jobs and runtime config here (atomic writes); reloaded at start")
    add("--request-log", type=Path, help="append one JSON line per API request to this file")
    add(
        "--rate-limit-per-minute",
        type=int,
        help="CRUD quota: above N get/list/cancel calls in a sliding minute per project and region, answer "
        "RESOURCE_EXHAUSTED/429 (Vertex: 600)",
    )
    add(
        "--submission-limit-per-minute",
        type=int,
        help="job submission quota: above N creates in a sliding minute per project and region, answer "
        "RESOURCE_EXHAUSTED/429 (Vertex: 60)",
    )
    add(
        "--rate-limit-retry-info",
        action="store_true",
        default=None,
        help="add a RetryInfo (seconds until the window frees a slot) to rate-limit answers; Vertex documents none",
    )
    add("--require-auth", action="store_true", default=None, help="a bearer token must be present (UNAUTHENTICATED)")
    add(
        "--gpu-quota",
        action="append",
        metavar="TYPE=N",
        help="allocation quota per accelerator type, e.g. NVIDIA_TESLA_T4=4 (repeatable)",
    )
    add("--project-number", help="store jobs under this project number instead of the project id requests use")
    add("--seed", type=int, help="seed for generated job ids (reproducible names)")
    add("--verbose", action="store_true", help="log each request on stderr")
    return parser


def parse_args(argv: list[str]) -> Settings:
    """Options (and the config file they name) → Settings; ConfigError on bad content."""
    args = build_parser().parse_args(argv)
    settings = Settings(host=args.host, port=args.port, rest_port=args.rest_port, verbose=args.verbose)
    if args.config is not None:
        _apply_file(settings, _read_json(args.config))
    lifecycle = {
        "queued_seconds": args.queued_seconds,
        "pending_seconds": args.pending_seconds,
        "run_seconds": args.run_seconds,
        "cancel_seconds": args.cancel_seconds,
        "outcome": args.outcome,
    }
    settings.defaults.update({key: value for key, value in lifecycle.items() if value is not None})
    if args.time_scale is not None:
        settings.time_scale = args.time_scale
    if settings.time_scale <= 0:
        msg = f"--time-scale must be > 0, got {settings.time_scale}"
        raise ConfigError(msg)
    for item in args.gpu_quota or []:
        name, _, count = item.partition("=")
        try:
            settings.gpu_quota[name.strip().upper()] = float(count)
        except ValueError as exc:
            msg = f"--gpu-quota wants TYPE=N, got {item!r}"
            raise ConfigError(msg) from exc
    if args.rate_limit_per_minute is not None:
        settings.rate_limit_per_minute = args.rate_limit_per_minute
    if args.submission_limit_per_minute is not None:
        settings.submission_limit_per_minute = args.submission_limit_per_minute
    if args.rate_limit_retry_info:
        settings.rate_limit_retry_info = True
    if args.require_auth:
        settings.require_auth = True
    if args.project_number:
        settings.project_number = str(args.project_number)
    settings.state_file = args.state_file
    settings.request_log = args.request_log
    settings.seed = args.seed
    return settings


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        msg = f"--config {path}: {exc}"
        raise ConfigError(msg) from exc
    if not isinstance(data, dict):
        msg = f"--config {path}: the top level must be a JSON object"
        raise ConfigError(msg)
    return data


def _apply_file(settings: Settings, data: dict[str, Any]) -> None:
    unknown = sorted(set(data) - _FILE_KEYS)
    if unknown:
        msg = f"--config: unknown key(s) {unknown}; known: {sorted(_FILE_KEYS)}"
        raise ConfigError(msg)
    settings.defaults.update(data.get("defaults", {}))
    settings.time_scale = float(data.get("time_scale", settings.time_scale))
    settings.rules = list(data.get("rules", []))
    settings.faults = list(data.get("faults", []))
    settings.principals = list(data.get("principals", []))
    settings.gpu_quota = {str(k).upper(): float(v) for k, v in data.get("gpu_quota", {}).items()}
    settings.capacity = list(data.get("capacity", []))
    settings.buckets = data.get("buckets", {})
    settings.rate_limit_per_minute = data.get("rate_limit_per_minute", 0)
    settings.submission_limit_per_minute = data.get("submission_limit_per_minute", 0)
    settings.rate_limit_retry_info = data.get("rate_limit_retry_info", False)
    settings.require_auth = bool(data.get("require_auth", False))
    settings.project_number = str(data.get("project_number", ""))


def check_limit(key: str, value: Any) -> int:
    """A per-minute request limit: a whole number >= 0 (0: off); ConfigError naming ``key`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        msg = f"{key} must be a whole number >= 0 (0 turns it off), got {value!r}"
        raise ConfigError(msg)
    return value

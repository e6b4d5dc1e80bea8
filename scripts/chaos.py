"""`make chaos`: run N seeded fault-injection schedules against private emulators and check every invariant.

    python scripts/chaos.py --schedules 500 --seed 1 --parallel 4      # the full campaign
    python scripts/chaos.py --seed 1 --only 42 --keep                  # replay one schedule, keep its outputs

Prints one progress line per schedule and a summary (schedules run, violations, wall time, counts per event and
fault type), writes docs/chaos-results.json (``--results``), exits 1 on any violation or harness error. The
schedules, the runner and the oracle live in ``tests/chaos/`` (see docs/reliability.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.chaos.runner import Report, repro_command, run_campaign  # noqa: E402


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--schedules", type=int, default=500, help="how many schedules (default 500)")
    parser.add_argument("--seed", type=int, default=1, help="campaign seed (default 1)")
    parser.add_argument("--start", type=int, default=0, help="first schedule index (default 0)")
    parser.add_argument("--only", type=int, action="append", help="run just this schedule index (repeatable)")
    parser.add_argument("--parallel", type=int, default=4, help="emulator+launcher pairs at a time (default 4)")
    parser.add_argument("--workdir", type=Path, help="keep emulators' and failed schedules' files here")
    parser.add_argument("--keep", action="store_true", help="keep every schedule's outputs, not only failures")
    parser.add_argument(
        "--results",
        type=Path,
        help="where to write the figures (default docs/chaos-results.json, none with --only; '-' for none)",
    )
    return parser


def _progress(report: Report, done: int, total: int) -> None:
    verdict = "ok  " if not (report.violations or report.observation.harness_errors) else "FAIL"
    codes = "/".join(str(launch.exit_code) for launch in report.observation.launches)
    seconds = report.observation.wall_seconds
    print(f"[{done:4d}/{total}] {verdict} exit={codes:<7} {seconds:5.1f}s  {report.schedule.describe()}", flush=True)
    for violation in report.violations:
        print(f"           {violation}", flush=True)
    for error in report.observation.harness_errors:
        print(f"           [harness] {error}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the campaign; 0 when no schedule broke an invariant."""
    args = _parser().parse_args(argv)
    indices = sorted(set(args.only)) if args.only else list(range(args.start, args.start + args.schedules))
    print(f"chaos: seed {args.seed}, {len(indices)} schedule(s), {args.parallel} in parallel", flush=True)
    started_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    started = time.monotonic()
    campaign = run_campaign(
        seed=args.seed,
        indices=indices,
        parallel=min(args.parallel, len(indices)),
        root=args.workdir,
        keep=args.keep,
        on_report=_progress,
    )
    summary = campaign.summary()
    summary["wall_seconds"] = round(time.monotonic() - started, 1)
    summary["started_at"] = started_at
    summary["command"] = " ".join(["python", "scripts/chaos.py", *(argv if argv is not None else sys.argv[1:])])
    failures = campaign.violations
    summary["failures"] = [
        {**report.to_json(), "repro": repro_command(args.seed, report.schedule.index)} for report in failures
    ]
    print()
    print(f"schedules run:  {summary['schedules']}")
    print(f"violations:     {summary['violations']} (in {summary['schedules_with_violations']} schedule(s))")
    print(f"harness errors: {summary['harness_errors']}")
    print(f"wall time:      {summary['wall_seconds']} s ({args.parallel} in parallel)")
    print(f"launcher runs:  {summary['launcher_processes']}, exit codes {summary['exit_codes']}")
    print("events:         " + ", ".join(f"{k} {v}" for k, v in summary["events"].items()))
    if summary["events_missed"]:
        print("events missed:  " + ", ".join(f"{k} {v}" for k, v in summary["events_missed"].items()))
    print("faults (scheduled/fired):")
    for kind in sorted(set(summary["faults_scheduled"]) | set(summary["faults_fired"])):
        scheduled = summary["faults_scheduled"].get(kind, "-")
        print(f"  {kind:<40} {scheduled!s:>5} / {summary['faults_fired'].get(kind, 0)}")
    for report in failures:
        print(f"FAILED {report.schedule.describe()}")
        print(f"  replay: {repro_command(args.seed, report.schedule.index)}")
        if report.workdir:
            print(f"  outputs: {report.workdir}")
    results = args.results or (None if args.only else ROOT / "docs" / "chaos-results.json")
    if results is not None and str(results) != "-":
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        print(f"figures written to {results}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""The command line of `python -m gibo.paper`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from gibo.cli import PATHS_NOTE, add_verbosity, setup_logging
from gibo.paper.measure import measure_unit_seconds
from gibo.paper.plan import format_plan, make_plan
from gibo.paper.protocol import ProtocolError, load_protocol, load_unit_seconds
from gibo.paper.run import run_protocol


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gibo.paper",
        description="Run the paper's full protocol (synthetic, RL, LQR) on a Ray cluster and end with "
        "python -m gibo.report; or print its plan.",
        epilog=PATHS_NOTE + " Configs in a protocol are relative to the repository root.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--plan", action="store_true", help="print the units, core-hours and wall time; run nothing")
    mode.add_argument(
        "--measure", metavar="FILE", help="time one unit of each entry here and write the seconds per unit to FILE"
    )
    parser.add_argument("--protocol", metavar="FILE", help="another protocol YAML (default: the paper's)")
    parser.add_argument("--unit-seconds", metavar="FILE", help="another file of seconds per unit (plan)")
    parser.add_argument("--cores", type=int, default=64, help="cores the plan's wall time assumes (default 64)")
    parser.add_argument("--out", default="experiments/paper", help="folder of the runs and the report")
    parser.add_argument("--ray-address", help="the Ray cluster to run on (e.g. auto, or the head's IP:6379)")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count(), help="without --ray-address: CPUs of the local Ray instance"
    )
    parser.add_argument(
        "--report-workers",
        type=int,
        default=os.cpu_count(),
        help="cores of this machine for the report's offline evaluation (default: all)",
    )
    add_verbosity(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from gibo.config import ConfigError
    from gibo.runner import RayUnavailable

    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("cores", "workers", "report_workers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    setup_logging(args)
    try:
        entries = load_protocol(args.protocol)
        if args.plan:
            plan = make_plan(entries, load_unit_seconds(args.unit_seconds))
            sys.stdout.write(format_plan(plan, args.cores, min(args.report_workers, args.cores)) + "\n")
            return 0
        if args.measure:
            measure_unit_seconds(entries, args.measure)
            sys.stdout.write(f"{args.measure}\n")
            return 0
        failed = run_protocol(entries, args.out, args.ray_address, args.workers, args.report_workers)
    except (ProtocolError, ConfigError, RayUnavailable, OSError) as error:
        sys.exit(f"error: {error}")
    except KeyboardInterrupt:
        from gibo.cli import interrupted

        interrupted(f"finished units are kept under {args.out}; run the same command again to complete them")
    if failed:
        sys.exit(f"error: {len(failed)} part(s) failed: {', '.join(failed)} (logs in {Path(args.out) / 'logs'})")
    return 0

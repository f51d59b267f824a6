"""`python -m gibo.report RUN_DIR_OR_RESULTS_FOLDER [...] --out REPORT_DIR`: the command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gibo.cli import PATHS_NOTE, add_verbosity, setup_logging
from gibo.report.compose import write_report
from gibo.report.runs import ReportError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gibo.report",
        description="Compare saved runs with the paper's published numbers: report.md and a self-contained report.html "
        "with the figures, tables 'paper | ours | within the paper's spread?' and the commands for the "
        "paper's benchmarks that no run covers.",
        epilog=PATHS_NOTE,
    )
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="RUN_DIR_OR_RESULTS_FOLDER",
        help="a run directory (holding the config.yaml its run script wrote) or a folder searched for them",
    )
    parser.add_argument(
        "--out", required=True, metavar="REPORT_DIR", help="folder for report.md, report.html and figures/"
    )
    parser.add_argument(
        "--force", action="store_true", help="write into a non-empty REPORT_DIR (replaces an earlier report)"
    )
    add_verbosity(parser)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="RL trials evaluated offline at once: 1 in this process, more on local Ray (default 1); "
        "evaluations are cached beside each trial",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from gibo.config import ConfigError
    from gibo.rl_evaluation import EvaluationError
    from gibo.runner import RayUnavailable

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    setup_logging(args)
    import matplotlib

    matplotlib.use("Agg")
    try:
        out_dir = write_report(args.paths, args.out, force=args.force, workers=args.workers)
    except (ReportError, ConfigError, EvaluationError, RayUnavailable, FileNotFoundError, ValueError, OSError) as error:
        sys.exit(f"error: {error}")
    sys.stdout.write(f"{out_dir / 'report.md'}\n{out_dir / 'report.html'}\n")
    return 0

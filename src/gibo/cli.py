"""What every command-line entry point shares: verbosity flags, logging, the run options, clean exits.

Relative paths, on the command line and inside configs, are relative to the directory the command runs
in (as in the paper's configs); run from the repository root to use the shipped configs as they are.
Errors a user can cause end the program with one line `error: ...` (exit status 1); Ctrl-C ends it
with status 130 after saying what was kept.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from typing import NoReturn

PATHS_NOTE = "Relative paths (here and in configs) are relative to the directory the command runs in."


def add_verbosity(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    group.add_argument("-v", "--verbose", action="store_true", help="log debugging details too")


def add_run_options(parser: argparse.ArgumentParser, units: str) -> None:
    """--out-dir, --resume, --max-calls, --workers, --ray-address for the run scripts (`units`: 'trials', ...)."""
    parser.add_argument("--out-dir", help="write here instead of the config's out_dir")
    parser.add_argument("--resume", action="store_true", help=f"complete the {units} missing in the output directory")
    parser.add_argument(
        "--max-calls", type=int, metavar="N", help="override the config's max_objective_calls (budget per unit)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help=f"{units} run at once: 1 runs in this process, more on local Ray (default 1)",
    )
    parser.add_argument(
        "--ray-address",
        help=f"run the {units} on this Ray cluster (e.g. auto); --workers then caps how many run at once",
    )
    add_verbosity(parser)


def check_run_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.workers < 1:
        parser.error(f"--workers must be at least 1, got {args.workers}")
    if args.max_calls is not None and args.max_calls < 1:
        parser.error(f"--max-calls must be at least 1, got {args.max_calls}")


def setup_logging(args: argparse.Namespace) -> None:
    """INFO by default, WARNING with -q, DEBUG with -v; library warnings go through logging (one line each)."""
    level = (
        logging.WARNING
        if getattr(args, "quiet", False)
        else logging.DEBUG
        if getattr(args, "verbose", False)
        else logging.INFO
    )
    root = logging.getLogger()
    if root.handlers:  # already configured (an embedding program, pytest): only the level
        root.setLevel(level)
    else:
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if level > logging.DEBUG:
        for name in ("matplotlib", "PIL", "filelock", "asyncio"):
            logging.getLogger(name).setLevel(logging.WARNING)
    logging.captureWarnings(True)
    warnings.formatwarning = lambda message, category, *rest: f"{category.__name__}: {message}".splitlines()[0]


def interrupted(what: str) -> NoReturn:
    """Ctrl-C: say what was kept and exit with the conventional status 130."""
    sys.stderr.write(f"interrupted: {what}\n")
    raise SystemExit(130)

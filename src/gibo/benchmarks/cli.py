"""`python -m gibo.benchmarks {run,table} ...`: run a benchmark suite's cells, and tabulate a results folder."""

from __future__ import annotations

import argparse
import logging
import sys

from gibo.cli import PATHS_NOTE, add_verbosity, interrupted, setup_logging

logger = logging.getLogger("gibo.benchmarks")  # same name when run as python -m gibo.benchmarks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gibo.benchmarks",
        description="The benchmark problems of GIBO's successors (MPD, LES): run cells, tabulate results.",
        epilog=PATHS_NOTE,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run every problem × D × method × seed cell of a config that has no file yet")
    run.add_argument("-c", "--config", required=True, help="a suite config, e.g. configs/benchmarks/les_analytic.yaml")
    run.add_argument("--methods", nargs="+", metavar="METHOD", help="only these methods (default: the config's)")
    run.add_argument("--seeds", nargs="+", type=int, metavar="SEED", help="only these seeds (default: the config's)")
    run.add_argument("--dimensions", nargs="+", type=int, metavar="D", help="only these dimensions")
    run.add_argument("--problems", nargs="+", metavar="PROBLEM", help="only these problems (e.g. ackley)")
    run.add_argument("--out-dir", help="write here instead of the config's out_dir")
    run.add_argument("--workers", type=int, default=1, help="cells run at once: 1 in this process, more on Ray")
    run.add_argument("--ray-address", help="run the cells on this Ray cluster (e.g. auto)")
    table = sub.add_parser("table", help="markdown table (and figure) of a results folder")
    table.add_argument("results", help="a results folder of `run` (its out_dir)")
    table.add_argument("--out", metavar="FILE.md", help="also write the table to this file")
    table.add_argument("--figure", metavar="FILE.png", help="draw the best-so-far curves into this file")
    table.add_argument("--problems", nargs="+", metavar="PROBLEM", help="only these problems")
    table.add_argument("--dimensions", nargs="+", type=int, metavar="D", help="only these dimensions")
    table.add_argument("--methods", nargs="+", metavar="METHOD", help="only these methods")
    table.add_argument("--seeds", nargs="+", type=int, metavar="SEED", help="only these seeds (compare on the same)")
    for command in (run, table):
        add_verbosity(command)
    args = parser.parse_args(argv)
    setup_logging(args)
    if args.command == "run":
        return _run(parser, args)
    return _table(args)


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from gibo.benchmarks.config import METHODS, load_suite_config
    from gibo.benchmarks.lunar_lander import MissingExtra
    from gibo.benchmarks.suite import CellMismatch, run_suite
    from gibo.config import ConfigError
    from gibo.results import RunDirInUse
    from gibo.runner import OutputUnwritable, RayUnavailable, UnitsFailed

    if args.workers < 1:
        parser.error(f"--workers must be at least 1, got {args.workers}")
    unknown = [m for m in args.methods or [] if m not in METHODS]
    if unknown:
        parser.error(f"--methods: unknown method {unknown[0]} (one of {', '.join(METHODS)})")
    try:
        config = load_suite_config(args.config)
        files = run_suite(
            config,
            out_dir=args.out_dir,
            methods=args.methods,
            seeds=args.seeds,
            dimensions=args.dimensions,
            problems=args.problems,
            workers=args.workers,
            ray_address=args.ray_address,
        )
    except KeyboardInterrupt:
        interrupted("every finished cell's file is kept; the same command runs the others")
    except (ConfigError, MissingExtra, CellMismatch, RunDirInUse, RayUnavailable, OutputUnwritable) as error:
        sys.exit(f"error: {error}")
    except UnitsFailed as error:
        sys.exit(f"error: {error} (the other cells' files are saved)")
    except ValueError as error:
        sys.exit(f"error: {error}")
    logger.info("%d cell files in %s", len(files), args.out_dir or config.out_dir)
    return 0


def _table(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gibo.benchmarks.table import curves_figure, load_cells, markdown_table, select_cells
    from gibo.results import DamagedUnit, write_atomically

    try:
        groups = select_cells(load_cells(args.results), args.problems, args.dimensions, args.methods, args.seeds)
    except (FileNotFoundError, DamagedUnit) as error:
        sys.exit(f"error: {error}")
    text = markdown_table(groups)
    sys.stdout.write(text + "\n")
    if args.out:
        if Path(args.out).exists():
            sys.exit(f"error: {args.out}: exists; not overwritten (give another --out)")
        write_atomically(args.out, text + "\n")
        logger.info("wrote %s", args.out)
    if args.figure:
        if Path(args.figure).exists():
            sys.exit(f"error: {args.figure}: exists; not overwritten (give another --figure)")
        logger.info("wrote %s", curves_figure(groups, args.figure))
    return 0

"""`python -m gibo.evaluate {synthetic,synthetic-figures,hypers,iterations} ...`: the command line."""

from __future__ import annotations

import argparse
import logging
import sys

from gibo.cli import PATHS_NOTE, add_verbosity, setup_logging
from gibo.evaluate.curves import format_summary, summarize_synthetic
from gibo.evaluate.hypers import hyperparameter_table, iteration_table, load_gp_units
from gibo.evaluate.synthetic import parse_runs, synthetic_figures
from gibo.results import run_budget

logger = logging.getLogger("gibo.evaluate")  # same name when run as python -m gibo.evaluate


def main(argv=None) -> int:
    from gibo.results import DamagedUnit
    from gibo.synthetic_experiment import load_results

    parser = argparse.ArgumentParser(
        prog="python -m gibo.evaluate", description="Summaries and figures of saved runs.", epilog=PATHS_NOTE
    )
    sub = parser.add_subparsers(dest="experiment", required=True)
    synthetic = sub.add_parser("synthetic", help="mean normalised error of synthetic runs")
    synthetic.add_argument("run_dirs", nargs="+", help="result directories of run_synthetic_experiment.py")
    synthetic.add_argument(
        "--calls",
        type=int,
        nargs="+",
        default=None,
        help="numbers of calls of the table (default: 100, 200, ... up to the budget)",
    )
    figures = sub.add_parser(
        "synthetic-figures", help="error-vs-calls and final-error box-plot figures of several methods"
    )
    figures.add_argument(
        "--runs", nargs="+", required=True, metavar="LABEL=RUN_DIR", help="e.g. GIBO=experiments/.../gibo"
    )
    figures.add_argument(
        "--out", required=True, metavar="DIR", help="directory for the PDF/PNG figures and the mean-error table"
    )
    figures.add_argument(
        "--calls",
        type=int,
        nargs="+",
        default=[100, 200, 300],
        help="calls of the mean-error table (default: %(default)s)",
    )
    hypers = sub.add_parser("hypers", help="medians of GIBO's GP hyperparameters over calls (RL or synthetic run)")
    hypers.add_argument("run_dir", help="result directory of a GIBO run")
    hypers.add_argument(
        "--calls",
        type=int,
        nargs="+",
        default=None,
        help="numbers of calls (default: 1/8, 1/4, 1/2 and all of the budget)",
    )
    iterations = sub.add_parser("iterations", help="iterations per unit and how often GIBO's ε stopped sampling early")
    iterations.add_argument("run_dirs", nargs="+", help="result directories (synthetic or RL runs)")
    iterations.add_argument(
        "--calls", type=int, default=None, help="count the first N calls (default: the run's budget)"
    )
    for command in (synthetic, figures, hypers, iterations):
        add_verbosity(command)
    args = parser.parse_args(argv)
    setup_logging(args)
    if args.experiment == "hypers":
        try:
            groups = load_gp_units(args.run_dir)
            if args.calls is None:
                budget = run_budget(args.run_dir) or max(
                    int(u["calls"][-1]) for units in groups.values() for u in units
                )
                args.calls = sorted({max(1, round(budget * f)) for f in (0.125, 0.25, 0.5, 1.0)})
            for group, units in groups.items():
                name = args.run_dir if group == "." else f"{args.run_dir}/{group}"
                sys.stdout.write(f"{name}: {len(units)} units\n{hyperparameter_table(units, args.calls)}\n")
        except (FileNotFoundError, DamagedUnit) as error:  # its message names the path
            sys.exit(f"error: {error}")
        except ValueError as error:
            sys.exit(f"error: {args.run_dir}: {error}")
        return 0
    if args.experiment == "iterations":
        for run_dir in args.run_dirs:
            try:
                sys.stdout.write(f"{run_dir}\n{iteration_table(run_dir, args.calls)}\n")
            except (FileNotFoundError, DamagedUnit) as error:  # its message names the path
                sys.exit(f"error: {error}")
        return 0
    if args.experiment == "synthetic-figures":
        try:
            written = synthetic_figures(parse_runs(args.runs), args.out, calls=args.calls)
        except (ValueError, FileNotFoundError) as error:
            sys.exit(f"error: {error}")
        sys.stdout.write(written["table"] + "\n")
        for path in written["files"]:
            logger.info("wrote %s", path)
        return 0
    all_results = {}
    for run_dir in args.run_dirs:
        try:
            results = load_results(run_dir)
        except DamagedUnit as error:
            sys.exit(f"error: {error}")
        if not results:
            sys.exit(f"error: {run_dir}: no results found")
        all_results[run_dir] = results
    for run_dir, results in all_results.items():
        others = [r for d, r in all_results.items() if d != run_dir]
        summary = summarize_synthetic(results, calls=args.calls, other_methods=others)
        sys.stdout.write(f"{run_dir}\n{format_summary(summary)}\n")
    return 0

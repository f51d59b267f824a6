#!/usr/bin/env python
"""Draw the documentation's figures from result directories: the figures of `python -m gibo.report` (ours, with
the paper's published curves dashed beside them) as PNG files, with an index naming for each the runs, the
command, the machine and the date.

Usage: python scripts/make_figures.py RESULTS_DIR [...] --out docs/figures [--workers N] [--machine TEXT]

Figures of the documentation (each from the runs of the command written under it in docs/figures/README.md):
    python scripts/make_figures.py experiments/rl_experiments/cartpole/gibo_10runs --out docs/figures
"""

import argparse
import sys

from gibo.cli import add_verbosity, setup_logging


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python scripts/make_figures.py",
        description="Draw the report's figures of the given runs (ours beside the paper's dashed curves) into a "
        "folder, with figures.yaml and README.md naming each figure's runs, command, machine and date. Figures "
        "of other runs already in the folder are kept.",
    )
    parser.add_argument(
        "paths", nargs="+", metavar="RESULTS_DIR", help="a run directory or a folder searched for run directories"
    )
    parser.add_argument("--out", default="docs/figures", help="folder for the figures (default docs/figures)")
    parser.add_argument("--workers", type=int, default=1, help="RL trials evaluated offline at once (default 1)")
    parser.add_argument(
        "--machine", default=None, help="where the runs were made, in words (default: this machine's CPU and cores)"
    )
    add_verbosity(parser)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    setup_logging(args)
    import matplotlib

    matplotlib.use("Agg")
    from gibo.config import ConfigError
    from gibo.report.figures import command_line, make_figures
    from gibo.report.runs import ReportError
    from gibo.rl_evaluation import EvaluationError
    from gibo.runner import RayUnavailable

    try:
        written = make_figures(
            args.paths, args.out, command_line(argv), workers=args.workers, runs_machine=args.machine
        )
    except (ReportError, ConfigError, EvaluationError, RayUnavailable, OSError, ValueError) as error:
        sys.exit(f"error: {error}")
    sys.stdout.write("".join(f"{path}\n" for path in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())

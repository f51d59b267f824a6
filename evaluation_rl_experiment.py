#!/usr/bin/env python
"""Offline evaluation of RL runs: mean ± std offline reward over trials vs. number of rollouts, one curve per config.

Usage:
    python evaluation_rl_experiment.py --figure swimmer.pdf \
        -cs configs/rl_experiment/swimmer/gibo.yaml configs/rl_experiment/swimmer/rs.yaml
Each config's trials are read from its out_dir (or --out-dirs); every recorded iterate is evaluated once
on the raw environment and cached beside the trial (trialNNN.offline.npz), so re-plotting is instant.
--workers N evaluates N trials at once (local Ray; --ray-address for a cluster), with identical results.
Mean ± std at --report-calls (default: 1/8, 1/4, 1/2 and all of the budget) are logged.
"""

import argparse
import logging
import sys

from gibo.cli import PATHS_NOTE, add_verbosity, setup_logging
from gibo.config import ConfigError
from gibo.rl_evaluation import (
    EvaluationError,
    default_report_calls,
    evaluate_configs,
    paper_threshold,
    plot_reward_curves,
    summary_table,
    threshold_table,
)
from gibo.runner import RayUnavailable

logger = logging.getLogger("evaluation_rl_experiment")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=PATHS_NOTE)
    parser.add_argument(
        "--figure",
        "-path",
        "--path",
        dest="figure",
        metavar="FILE",
        help="figure file to write (.pdf, .png, ...; -path is the paper's spelling); without it only the tables are "
        "logged",
    )
    parser.add_argument(
        "--configs",
        "-cs",
        nargs="+",
        required=True,
        help="experiment config YAML files, one curve each (-cs is the paper's spelling)",
    )
    parser.add_argument(
        "--out-dirs", nargs="+", help="result directories, one per config (default: each config's out_dir)"
    )
    parser.add_argument("--labels", nargs="+", help="legend labels, one per config (default: method and config name)")
    parser.add_argument("--title", help="figure title (default: the environment)")
    parser.add_argument("--report-calls", type=int, nargs="+", help="call counts of the logged mean ± std table")
    parser.add_argument(
        "--max-calls",
        type=int,
        metavar="N",
        help="consider the first N calls only: x-axis limit and default table columns (default: the largest budget)",
    )
    parser.add_argument(
        "--threshold", type=float, help="dashed reward line (default: the paper's threshold for the environment)"
    )
    parser.add_argument("--no-threshold", action="store_true", help="draw no threshold line")
    parser.add_argument("--cache-dir", help="keep the offline-reward cache here instead of beside the trials")
    parser.add_argument("--refresh", action="store_true", help="re-evaluate every trial, ignoring the cache")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="trials evaluated at once: 1 in this process, more on local Ray (default 1)",
    )
    parser.add_argument(
        "--ray-address", help="evaluate on this Ray cluster (e.g. auto); --workers then caps how many run at once"
    )
    add_verbosity(parser)
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    setup_logging(args)

    try:
        results = evaluate_configs(
            args.configs,
            args.out_dirs,
            args.labels,
            cache_dir=args.cache_dir,
            refresh=args.refresh,
            workers=args.workers,
            ray_address=args.ray_address,
        )
        environments = sorted({r.run.environment for r in results})
        if len(environments) > 1:
            logger.warning("configs mix environments %s in one figure", ", ".join(environments))
        threshold = None
        if not args.no_threshold:
            threshold = args.threshold if args.threshold is not None else paper_threshold(environments[0])
        if args.figure:
            fig = plot_reward_curves(results, title=args.title, max_calls=args.max_calls, threshold=threshold)
            fig.savefig(args.figure)
    except (ConfigError, EvaluationError, RayUnavailable, ValueError, OSError) as error:
        sys.exit(f"error: {error}")

    calls = args.report_calls or default_report_calls(args.max_calls or max(r.max_calls for r in results))
    logger.info(
        "offline reward, mean ± std over trials (%s):\n%s", ", ".join(environments), summary_table(results, calls)
    )
    if threshold is not None:
        logger.info("\n%s", threshold_table(results, threshold))
    if args.figure:
        logger.info("figure written to %s", args.figure)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Optimise a policy on a Gymnasium environment with GIBO, ARS, vanilla BO or CMA-ES, over several trials.

Usage: python run_rl_experiment.py -c configs/rl_experiment/gibo_default.yaml
Add --workers N to run N trials at once (local Ray) or --ray-address ADDRESS for a Ray cluster;
--resume --out-dir DIR completes an interrupted run.
Results: one npz per trial (iterates in raw-state coordinates, calls, episode returns) in the
config's out_dir, beside config.yaml. Evaluate them with evaluation_rl_experiment.py.
"""

import argparse
import functools
import logging
import sys

from gibo.config import ConfigError, load_experiment_config
from gibo.results import prepare_run_dir
from gibo.rl_experiment import check_rl_config, config_record, run_trial, trial_file, trials
from gibo.runner import RayUnavailable, UnitsFailed, run_units

logger = logging.getLogger("run_rl_experiment")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", required=True, help="experiment config YAML")
    parser.add_argument("--out-dir", help="write here instead of the config's out_dir")
    parser.add_argument("--trials", type=int, help="override the config's number of trials")
    parser.add_argument("--resume", action="store_true", help="complete the trials missing in out_dir")
    parser.add_argument("--workers", type=int, default=1, help="trials run at once: 1 runs in this process, more on local Ray (default 1)")
    parser.add_argument("--ray-address", help="run the trials on this Ray cluster (e.g. auto); --workers then caps how many run at once")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = load_experiment_config(args.config)
        check_rl_config(config, args.config)
        if args.out_dir:
            config.out_dir = args.out_dir
        if args.trials is not None:
            config.trials = args.trials
        run_dir = prepare_run_dir(config.out_dir, config_record(config), resume=args.resume)
    except (ConfigError, ValueError) as error:
        sys.exit(f"error: {error}")

    todo = trials(config)
    logger.info("%s on %s, %d trial(s); results in %s", config.method, config.environment_name, len(todo), run_dir)
    try:
        run_units(
            todo,
            functools.partial(run_trial, config),
            path_of=functools.partial(trial_file, run_dir),
            name_of=lambda t: t.name,
            description=f"{config.method} {config.environment_name}",
            workers=args.workers,
            ray_address=args.ray_address,
        )
    except UnitsFailed as error:
        sys.exit(f"error: {error} (finished trials are kept in {run_dir}; rerun with --resume --out-dir {run_dir})")
    except RayUnavailable as error:
        sys.exit(f"error: {error}")
    except KeyboardInterrupt:
        sys.exit(f"interrupted: finished trials are kept in {run_dir}; rerun with --resume --out-dir {run_dir}")
    logger.info("results written to %s", run_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())

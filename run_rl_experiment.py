#!/usr/bin/env python
"""Optimise a policy on a Gymnasium environment with GIBO, ARS, vanilla BO, CMA-ES, MPD, TuRBO or LES, over trials.

Usage: python run_rl_experiment.py -c configs/rl_experiment/cartpole/gibo.yaml
Add --workers N to run N trials at once (local Ray) or --ray-address ADDRESS for a Ray cluster;
--resume --out-dir DIR completes an interrupted run; --max-calls N shortens the budget.
Results: one npz per trial (iterates in raw-state coordinates, calls, episode returns) in the
config's out_dir, beside config.yaml. Evaluate them with evaluation_rl_experiment.py.
"""

import argparse
import functools
import logging
import sys

from gibo.cli import PATHS_NOTE, add_run_options, check_run_options, interrupted, setup_logging
from gibo.config import ConfigError, load_experiment_config
from gibo.results import DamagedUnit, claim_run_dir
from gibo.rl_experiment import (
    check_rl_config,
    check_trial,
    config_record,
    remove_checkpoint,
    reread_record,
    run_trial,
    trial_file,
    trial_summary,
    trials,
)
from gibo.runner import OutputUnwritable, RayUnavailable, UnitsFailed, run_units

logger = logging.getLogger("run_rl_experiment")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=PATHS_NOTE)
    parser.add_argument("-c", "--config", required=True, help="experiment config YAML")
    parser.add_argument("--trials", type=int, help="override the config's number of trials")
    add_run_options(parser, "trials")
    args = parser.parse_args(argv)
    check_run_options(parser, args)
    if args.trials is not None and args.trials < 1:
        parser.error(f"--trials must be at least 1, got {args.trials}")
    setup_logging(args)
    try:
        config = load_experiment_config(args.config)
        check_rl_config(config, args.config)
        if args.out_dir:
            config.out_dir = args.out_dir
        if args.trials is not None:
            config.trials = args.trials
        if args.max_calls is not None:
            config.max_objective_calls = args.max_calls
        claimed = claim_run_dir(config.out_dir, config_record(config), resume=args.resume, reread=reread_record)
    except (ConfigError, ValueError) as error:
        sys.exit(f"error: {error}")

    with claimed as run_dir:  # the directory's lock is held until the run ends
        todo = trials(config)
        logger.info(
            "%s on %s, %d trial(s); results in %s", config.method, config.environment_name, len(todo), run_dir.resolve()
        )
        try:
            run_units(
                todo,
                functools.partial(run_trial, config, checkpoint_dir=run_dir),
                path_of=functools.partial(trial_file, run_dir),
                name_of=lambda t: t.name,
                description=f"{config.method} {config.environment_name}",
                workers=args.workers,
                ray_address=args.ray_address,
                calls_per_unit=config.max_objective_calls,
                check=functools.partial(check_trial, run_dir, config),
                on_saved=functools.partial(remove_checkpoint, run_dir),
            )
            summary = trial_summary(run_dir, todo)
        except UnitsFailed as error:
            sys.exit(f"error: {error} (finished trials are kept in {run_dir}; rerun with --resume --out-dir {run_dir})")
        except OutputUnwritable as error:
            sys.exit(f"error: {error}; once it can be written, rerun with --resume --out-dir {run_dir}")
        except (RayUnavailable, DamagedUnit) as error:
            sys.exit(f"error: {error}")
        except KeyboardInterrupt:
            interrupted(f"finished trials are kept in {run_dir}; rerun with --resume --out-dir {run_dir}")
        logger.info("episode returns seen while optimising (raw, before any reward transform):\n%s", summary)
        from gibo.lqr import LQR_ENV_IDS  # here, not at start-up: it loads matplotlib

        if config.environment_name in LQR_ENV_IDS:
            next_step = f"stability and relative cost: python -m gibo.lqr figures {run_dir} --figure lqr.pdf"
        else:
            out_dirs = (
                f" --out-dirs {run_dir}" if args.out_dir or str(run_dir) != str(config.out_dir).rstrip("/") else ""
            )
            next_step = f"offline evaluation: python evaluation_rl_experiment.py -cs {args.config}{out_dirs}"
        logger.info("results written to %s; %s", run_dir.resolve(), next_step)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Run one method (GIBO, ARS, vanilla BO, CMA-ES, MPD, TuRBO, LES) on the synthetic objectives of a data config.

Usage: python run_synthetic_experiment.py -c configs/synthetic_experiment/gibo_default.yaml \
           -cd configs/synthetic_experiment/generate_data_quick.yaml
Add --workers N to run N objectives at once (local Ray) or --ray-address ADDRESS for a Ray cluster;
--resume --out-dir DIR completes an interrupted run; --max-calls N shortens the budget.
Results: one npz per (dimension, objective) in the config's out_dir, beside config.yaml and summary.json.
"""

import argparse
import functools
import logging
import sys
from pathlib import Path

from gibo.cli import PATHS_NOTE, add_run_options, check_run_options, interrupted, setup_logging
from gibo.config import ConfigError, load_data_config, load_experiment_config
from gibo.evaluate import format_summary, summarize_synthetic
from gibo.results import DamagedUnit, claim_run_dir, write_atomically
from gibo.runner import OutputUnwritable, RayUnavailable, UnitsFailed, run_units
from gibo.synthetic_experiment import (
    check_synthetic_config,
    check_unit,
    config_record,
    data_file,
    load_results,
    remove_checkpoint,
    reread_record,
    run_unit,
    unit_file,
    units,
)

logger = logging.getLogger("run_synthetic_experiment")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=PATHS_NOTE)
    parser.add_argument("-c", "--config", required=True, help="experiment (method) config YAML")
    parser.add_argument(
        "-cd",
        "--data-config",
        required=True,
        help="data config YAML (as given to generate_data_synthetic_functions.py)",
    )
    add_run_options(parser, "objectives")
    args = parser.parse_args(argv)
    check_run_options(parser, args)
    setup_logging(args)
    try:
        config = load_experiment_config(args.config)
        check_synthetic_config(config, args.config)
        data_config = load_data_config(args.data_config)
        if args.out_dir:
            config.out_dir = args.out_dir
        if args.max_calls is not None:
            config.max_objective_calls = args.max_calls
        for D in data_config.dimensions:
            path = data_file(data_config, D)
            if not path.is_file():
                raise ConfigError(
                    f"{path.resolve()}: data file not found; run generate_data_synthetic_functions.py -c "
                    f"{args.data_config}"
                )
        claimed = claim_run_dir(
            config.out_dir, config_record(config, data_config), resume=args.resume, reread=reread_record
        )
    except (ConfigError, ValueError) as error:
        sys.exit(f"error: {error}")

    with claimed as run_dir:  # the directory's lock is held until the run ends
        todo = units(config, data_config)
        logger.info(
            "%s on %d objectives (dims %s); results in %s",
            config.method,
            len(todo),
            data_config.dimensions,
            run_dir.resolve(),
        )
        try:
            run_units(
                todo,
                # absolute data path: Ray workers on other nodes need not share the driver's working directory
                functools.partial(
                    run_unit,
                    config,
                    data_config.model_copy(update={"out_dir": str(Path(data_config.out_dir).resolve())}),
                    checkpoint_dir=run_dir.resolve(),
                ),
                path_of=functools.partial(unit_file, run_dir),
                name_of=lambda u: u.name,
                description=config.method,
                workers=args.workers,
                ray_address=args.ray_address,
                calls_per_unit=config.max_objective_calls,
                check=functools.partial(check_unit, run_dir, config),
                on_saved=functools.partial(remove_checkpoint, run_dir),
            )
            summary = summarize_synthetic(load_results(run_dir), max_calls=config.max_objective_calls)
        except UnitsFailed as error:
            sys.exit(f"error: {error} (finished units are kept in {run_dir}; rerun with --resume --out-dir {run_dir})")
        except OutputUnwritable as error:
            sys.exit(f"error: {error}; once it can be written, rerun with --resume --out-dir {run_dir}")
        except (RayUnavailable, DamagedUnit) as error:
            sys.exit(f"error: {error}")
        except KeyboardInterrupt:
            interrupted(f"finished units are kept in {run_dir}; rerun with --resume --out-dir {run_dir}")
        try:
            write_atomically(run_dir / "summary.json", summary.to_json())
        except OSError as error:
            sys.exit(
                f"error: {run_dir / 'summary.json'}: cannot write the summary ({error.strerror or error}); every "
                f"unit is saved; once it can be written, rerun with --resume --out-dir {run_dir}"
            )
        logger.info(
            "mean normalised error (f* - best J so far)/f* after %s calls:\n%s",
            ", ".join(map(str, summary.calls)),
            format_summary(summary),
        )
        logger.info("results written to %s", run_dir.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())

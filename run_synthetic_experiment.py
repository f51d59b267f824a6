#!/usr/bin/env python
"""Run one method (GIBO, ARS, vanilla BO, CMA-ES) on the synthetic objectives of a data config.

Usage: python run_synthetic_experiment.py -c configs/synthetic_experiment/gibo_default.yaml \
           -cd configs/synthetic_experiment/generate_data_default.yaml
Add --workers N to run N objectives at once (local Ray) or --ray-address ADDRESS for a Ray cluster;
--resume --out-dir DIR completes an interrupted run.
Results: one npz per (dimension, objective) in the config's out_dir, beside config.yaml.
"""

import argparse
import dataclasses
import functools
import logging
import sys
from pathlib import Path

from gibo.config import ConfigError, load_data_config, load_experiment_config
from gibo.evaluate import format_summary, summarize_synthetic
from gibo.results import prepare_run_dir
from gibo.runner import RayUnavailable, UnitsFailed, run_units
from gibo.synthetic_experiment import config_record, data_file, load_results, run_unit, unit_file, units

logger = logging.getLogger("run_synthetic_experiment")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", required=True, help="experiment config YAML")
    parser.add_argument("-cd", "--data-config", required=True, help="data config YAML (as given to generate_data_synthetic_functions.py)")
    parser.add_argument("--out-dir", help="write here instead of the config's out_dir")
    parser.add_argument("--resume", action="store_true", help="complete the units missing in out_dir")
    parser.add_argument("--workers", type=int, default=1, help="units run at once: 1 runs in this process, more on local Ray (default 1)")
    parser.add_argument("--ray-address", help="run the units on this Ray cluster (e.g. auto); --workers then caps how many run at once")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = load_experiment_config(args.config)
        data_config = load_data_config(args.data_config)
        if args.out_dir:
            config.out_dir = args.out_dir
        for D in data_config.dimensions:
            if not data_file(data_config, D).is_file():
                raise ConfigError(f"{data_file(data_config, D)}: data file not found; run generate_data_synthetic_functions.py -c {args.data_config}")
        run_dir = prepare_run_dir(config.out_dir, config_record(config, data_config), resume=args.resume)
    except (ConfigError, ValueError) as error:
        sys.exit(f"error: {error}")

    todo = units(config, data_config)
    logger.info("%s on %d objectives (dims %s); results in %s", config.method, len(todo), data_config.dimensions, run_dir)
    try:
        run_units(
            todo,
            # absolute data path: Ray workers on other nodes need not share the driver's working directory
            functools.partial(run_unit, config, dataclasses.replace(data_config, out_dir=str(Path(data_config.out_dir).resolve()))),
            path_of=functools.partial(unit_file, run_dir),
            name_of=lambda u: u.name,
            description=config.method,
            workers=args.workers,
            ray_address=args.ray_address,
        )
    except UnitsFailed as error:
        sys.exit(f"error: {error} (finished units are kept in {run_dir}; rerun with --resume --out-dir {run_dir})")
    except RayUnavailable as error:
        sys.exit(f"error: {error}")
    except KeyboardInterrupt:
        sys.exit(f"interrupted: finished units are kept in {run_dir}; rerun with --resume --out-dir {run_dir}")
    summary = summarize_synthetic(load_results(run_dir), max_calls=config.max_objective_calls)
    (run_dir / "summary.json").write_text(summary.to_json())
    logger.info("mean normalised error:\n%s", format_summary(summary))
    logger.info("results written to %s", run_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())

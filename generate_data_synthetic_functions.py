#!/usr/bin/env python
"""Generate the synthetic objectives (GP-prior samples) and their optima for every dimension of a data config.

Usage: python generate_data_synthetic_functions.py -c configs/synthetic_experiment/generate_data_quick.yaml
Writes data_dim{D}.npz (and the config that made it, data_dim{D}.yaml) into the config's out_dir; a file
made with the same config is kept, one made with another config is an error.
"""

import argparse
import functools
import logging
import sys
from pathlib import Path

import yaml

from gibo.cli import PATHS_NOTE, add_verbosity, interrupted, setup_logging
from gibo.config import ConfigError, config_to_dict, load_data_config
from gibo.progress import Progress
from gibo.synthetic_experiment import data_file, generate_data

logger = logging.getLogger("generate_data")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=PATHS_NOTE)
    parser.add_argument("-c", "--config", required=True, help="data config YAML")
    add_verbosity(parser)
    args = parser.parse_args(argv)
    setup_logging(args)
    try:
        data_config = load_data_config(args.config)
    except ConfigError as error:
        sys.exit(f"error: {error}")

    record = config_to_dict(data_config)
    total = len(data_config.dimensions) * data_config.num_objectives
    try:
        with Progress("objectives", total) as progress:
            for D in data_config.dimensions:
                path = data_file(data_config, D)
                record_path = path.with_suffix(".yaml")
                if path.is_file():
                    saved = yaml.safe_load(record_path.read_text()) if record_path.is_file() else None
                    if saved != record:
                        sys.exit(
                            f"error: {path.resolve()}: exists and was generated with a different data config; choose "
                            "another out_dir"
                        )
                    logger.info("%s exists with this config; kept", path)
                    for i in range(data_config.num_objectives):
                        progress.unit_done(f"dim{D}/{i}")
                    continue
                dataset = generate_data(data_config, D, progress=functools.partial(progress.unit_done, f"dim{D}"))
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                dataset.save(path)
                record_path.write_text(yaml.safe_dump(record, sort_keys=False))
                logger.info(
                    "D=%d: %d objectives (%s sampler) written to %s",
                    D,
                    dataset.num_objectives,
                    dataset.sampler,
                    path.resolve(),
                )
    except OSError as error:
        sys.exit(f"error: {error.filename or data_config.out_dir}: cannot write the data ({error.strerror or error})")
    except KeyboardInterrupt:
        interrupted(f"the dimensions written so far are kept in {Path(data_config.out_dir).resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

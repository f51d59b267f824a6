#!/usr/bin/env python
"""Generate the synthetic objectives (GP-prior samples) and their optima for every dimension of a data config.

Usage: python generate_data_synthetic_functions.py -c configs/synthetic_experiment/generate_data_default.yaml
"""

import argparse
import logging
import sys

import yaml
from tqdm.auto import tqdm

from gibo.config import ConfigError, config_to_dict, load_data_config
from gibo.synthetic_experiment import data_file, generate_data

logger = logging.getLogger("generate_data")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", required=True, help="data config YAML")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        data_config = load_data_config(args.config)
    except ConfigError as error:
        sys.exit(f"error: {error}")

    record = config_to_dict(data_config)
    total = len(data_config.dimensions) * data_config.num_objectives
    with tqdm(total=total, desc="objectives", unit="obj") as bar:
        for D in data_config.dimensions:
            path = data_file(data_config, D)
            record_path = path.with_suffix(".yaml")
            if path.is_file():
                saved = yaml.safe_load(record_path.read_text()) if record_path.is_file() else None
                if saved != record:
                    sys.exit(f"error: {path}: exists and was generated with a different data config; choose another out_dir")
                logger.info("%s exists with this config; kept", path)
                bar.update(data_config.num_objectives)
                continue
            dataset = generate_data(data_config, D, progress=lambda: bar.update(1))
            path.parent.mkdir(parents=True, exist_ok=True)
            dataset.save(path)
            record_path.write_text(yaml.safe_dump(record, sort_keys=False))
            logger.info("D=%d: %d objectives written to %s", D, dataset.num_objectives, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

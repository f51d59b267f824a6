#!/usr/bin/env python
"""Reference for the synthetic study: exact gradient ascent (true, noise-free gradient) from θ_0 = 0.5·1.

It shows how much of a local method's error comes from local optima of the sampled objectives rather
than from the gradient estimate: no local method that follows the gradient from θ_0 does better on average.

Usage: python scripts/oracle_gradient_ascent.py -cd configs/synthetic_experiment/generate_data_reduced.yaml
"""

import argparse
import logging
import sys

import numpy as np
import torch

from gibo.config import ConfigError, load_data_config
from gibo.synthetic_experiment import START_VALUE, load_data


def ascend(objective, D: int, steps: int, step_size: float) -> float:
    x = torch.full((D,), START_VALUE, dtype=torch.float64)
    for _ in range(steps):
        x.requires_grad_(True)
        (gradient,) = torch.autograd.grad(objective.noise_free(x), x)
        x = (x + step_size * gradient).detach()
    return float(objective.noise_free(x))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-cd", "--data-config", required=True)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--step-size", type=float, default=0.002)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        data_config = load_data_config(args.data_config)
        for D in data_config.dimensions:
            dataset = load_data(data_config, D)
            errors = [
                (dataset.f_star[i] - ascend(dataset.objective(i), D, args.steps, args.step_size)) / dataset.f_star[i]
                for i in range(dataset.num_objectives)
            ]
            logging.info(
                "D=%d: normalised error of exact gradient ascent: mean %.4f (per objective %s)",
                D,
                np.mean(errors),
                np.round(errors, 3).tolist(),
            )
    except (ConfigError, FileNotFoundError) as error:
        sys.exit(f"error: {error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Acquisition optimisation on GIBO's models: the closed-form gradient path vs the autograd path, same models.

(a) Records the models a short GIBO run builds (default: the Hopper config with the paper's acquisition slip,
    trial 0): at every acquisition optimisation its data, hyperparameters, θ, search box and torch RNG state.
    On each recorded model, for the default acquisition, the `acquisition_lengthscale_slip` variant and MPD's
    `ExpectedAscentStatistic`, it times one acquisition optimisation both ways, alternating which goes first:
      before: the acquisition with `analytic_gradient=False` (autograd through the batched formula) maximised
              by `optimize_acqf` called as the package called it before (default candidate generator);
      after:  the acquisition as GIBO builds it now, maximised by `optimize_gradient_information`.
    Both start from the same RNG state, so from the same raw samples and restarts. It prints the time per
    optimisation (and with the acquisition's construction), the ratio of the means and the median of the
    per-model ratios (less sensitive to a busy machine), and how far the chosen points lie apart
    (points more than 1e-6 apart whose values agree to 1e-9 are counted as ties: a flat acquisition).
(b) Runs the config for `--run-calls` calls both ways (the "before" run with the acquisition and optimiser of
    (a)) and prints each run's wall time over the time spent inside objective calls (episodes).

One torch thread, as the experiment runner uses. The machine's load is printed: on a shared machine absolute
times move; ratios measured in the same run, alternating, are what to compare.

Usage: python benchmarks/acquisition_speed.py [-c CONFIG] [--record-calls 400] [--every 1] [--run-calls 1000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from botorch.exceptions.warnings import OptimizationWarning
from botorch.optim import optimize_acqf

from gibo.acquisition_function import ExpectedAscentStatistic, GradientInformation, optimize_gradient_information
from gibo.config import load_experiment_config
from gibo.environment_api import EnvironmentObjective
from gibo.model import DerivativeExactGPSEModel
from gibo.optimizers import GIBO
from gibo.rl_experiment import run_trial, trials

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs/rl_experiment/hopper/gibo_acquisition_slip.yaml"
AGREEMENT = 1e-6  # chosen points closer than this (max norm) count as the same
TIE = 1e-9  # points further apart whose acquisition values agree to this (relative) are ties: equally good optima


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def optimize_as_before(acquisition, bounds, q=1, num_restarts=5, raw_samples=64, options=None):
    """The acquisition optimisation as the package ran it before the closed-form path: `optimize_acqf` with its
    default candidate generator (and the same options)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizationWarning)
        candidates, value = optimize_acqf(
            acquisition,
            bounds=bounds,
            q=q,
            num_restarts=num_restarts,
            raw_samples=raw_samples,
            options={"maxiter": 200, **(options or {})},
            retry_on_optimization_warning=False,
        )
    return candidates.detach(), value.detach()


@dataclass
class Snapshot:
    """One acquisition optimisation of a run: the model's window and hyperparameters, θ, the box, the RNG."""

    X: torch.Tensor
    targets: torch.Tensor
    lengthscale: torch.Tensor
    outputscale: torch.Tensor
    noise: torch.Tensor
    mean: torch.Tensor
    theta: torch.Tensor
    box: torch.Tensor
    rng: torch.Tensor
    q: int
    num_restarts: int
    raw_samples: int

    def model(self) -> DerivativeExactGPSEModel:
        model = DerivativeExactGPSEModel(self.X.shape[-1], dtype=self.X.dtype)
        model.initialize(
            **{
                "covar_module.base_kernel.lengthscale": self.lengthscale,
                "covar_module.outputscale": self.outputscale,
                "likelihood.noise": self.noise,
                "mean_module.constant": self.mean,
            }
        )
        model.set_data(self.X, self.targets)
        return model


def record(config, calls: int) -> list[Snapshot]:
    """Snapshots of every acquisition optimisation in the first `calls` calls of the config's trial 0."""
    snapshots: list[Snapshot] = []
    build_acquisition = GIBO._acquisition

    def recording(self, theta):
        model, cfg = self.model, self.optimize_acqf_config
        snapshots.append(
            Snapshot(
                *(t.detach().clone() for t in (model.train_x, model.train_targets, model.lengthscale)),
                *(t.detach().clone() for t in (model.outputscale, model.noise, model.prior_mean)),
                theta.detach().clone(),
                self.search_box().detach().clone(),
                torch.get_rng_state(),
                cfg["q"],
                cfg["num_restarts"],
                cfg["raw_samples"],
            )
        )
        return build_acquisition(self, theta)

    config = config.model_copy(update={"max_objective_calls": calls})
    GIBO._acquisition = recording
    try:
        run_trial(config, trials(config)[0])
    finally:
        GIBO._acquisition = build_acquisition
    return snapshots


VARIANTS: dict[str, Callable] = {
    "GIBO": lambda model, theta, analytic: GradientInformation(model, theta, analytic_gradient=analytic),
    "GIBO slip": lambda model, theta, analytic: GradientInformation(
        model, theta, lengthscale_slip=True, analytic_gradient=analytic
    ),
    "MPD": lambda model, theta, analytic: ExpectedAscentStatistic(model, theta, analytic_gradient=analytic),
}


def compare(snapshots: list[Snapshot], make: Callable) -> dict:
    """Time both paths on every snapshot (alternating which goes first); the distances of their chosen points."""
    times = {"before": [0.0, 0.0], "after": [0.0, 0.0]}  # [construction, optimisation] summed
    ratios, distances, value_gaps = [], [], []
    for i, snap in enumerate(snapshots):
        model = snap.model()
        chosen, took = {}, {}
        for path in ("before", "after") if i % 2 == 0 else ("after", "before"):
            torch.set_rng_state(snap.rng)
            start = time.perf_counter()
            acquisition = make(model, snap.theta, path == "after")
            built = time.perf_counter()
            optimize = optimize_gradient_information if path == "after" else optimize_as_before
            chosen[path] = optimize(
                acquisition, snap.box, q=snap.q, num_restarts=snap.num_restarts, raw_samples=snap.raw_samples
            )
            done = time.perf_counter()
            times[path][0] += built - start
            times[path][1] += done - built
            took[path] = done - built
        ratios.append(took["before"] / took["after"])
        (z_before, v_before), (z_after, v_after) = chosen["before"], chosen["after"]
        distances.append(float((z_before - z_after).abs().max()))
        value_gaps.append(float((v_before - v_after).abs() / v_before.abs().clamp_min(1e-300)))
    n = len(snapshots)
    return {
        "before_ms": 1e3 * times["before"][1] / n,
        "after_ms": 1e3 * times["after"][1] / n,
        "before_with_construction_ms": 1e3 * sum(times["before"]) / n,
        "after_with_construction_ms": 1e3 * sum(times["after"]) / n,
        "median_ratio": float(np.median(ratios)),
        "distances": np.array(distances),
        "value_gaps": np.array(value_gaps),
    }


def timed_run(config, calls: int, before: bool) -> tuple[float, float, int]:
    """(wall seconds, seconds inside objective calls, iterations) of the config's trial 0 for `calls` calls."""
    episode_seconds = [0.0]
    call = EnvironmentObjective.__call__

    def timed_call(self, params):
        start = time.perf_counter()
        try:
            return call(self, params)
        finally:
            episode_seconds[0] += time.perf_counter() - start

    build_acquisition = GIBO._acquisition
    replaced = []
    if before:  # the autograd acquisition and BoTorch's default candidate generator wherever GIBO looks them up
        GIBO._acquisition = lambda self, theta: GradientInformation(
            self.model, theta, lengthscale_slip=self.acquisition_lengthscale_slip, analytic_gradient=False
        )
        for module in list(sys.modules.values()):
            if getattr(module, "optimize_gradient_information", None) is optimize_gradient_information:
                replaced.append(module)
                module.optimize_gradient_information = optimize_as_before
    EnvironmentObjective.__call__ = timed_call
    config = config.model_copy(update={"max_objective_calls": calls})
    try:
        start = time.perf_counter()
        arrays = run_trial(config, trials(config)[0])
        wall = time.perf_counter() - start
    finally:
        EnvironmentObjective.__call__ = call
        GIBO._acquisition = build_acquisition
        for module in replaced:
            module.optimize_gradient_information = optimize_gradient_information
    return wall, episode_seconds[0], len(arrays["calls"]) - 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", default=str(CONFIG), help="a GIBO RL config (default: Hopper, slip)")
    parser.add_argument("--record-calls", type=int, default=400, help="calls of the run whose models are recorded")
    parser.add_argument("--every", type=int, default=1, help="time every k-th recorded model")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--run-calls", type=int, default=1000, help="calls of the two timed runs (0: none)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = load_experiment_config(args.config)
    if config.method != "gibo":
        parser.error(f"{args.config}: method {config.method!r}; this benchmark records GIBO's models")
    print(f"torch {torch.__version__}, 1 thread; {load()}")

    start = time.perf_counter()
    snapshots = record(config, args.record_calls)[:: args.every]
    print(
        f"recorded {len(snapshots)} models from {args.record_calls} calls of {Path(args.config).name} "
        f"(D = {snapshots[0].X.shape[-1]}, N up to {max(s.X.shape[0] for s in snapshots)}, "
        f"{snapshots[0].num_restarts} restarts, {snapshots[0].raw_samples} raw samples) "
        f"in {time.perf_counter() - start:.0f} s"
    )
    print(
        f"\n{'acquisition':<12}{'before [ms]':>12}{'after [ms]':>11}{'ratio':>7}{'median':>8}"
        f"{'with construction: before / after':>36}{'ratio':>7}"
        f"{'points apart > 1e-6':>21}{'(ties)':>8}{'max apart':>11}"
    )
    for name in args.variants:
        result = compare(snapshots, VARIANTS[name])
        d = result["distances"]
        ties = int(((d > AGREEMENT) & (result["value_gaps"] <= TIE)).sum())
        both = result["before_with_construction_ms"], result["after_with_construction_ms"]
        print(
            f"{name:<12}{result['before_ms']:>12.2f}{result['after_ms']:>11.2f}"
            f"{result['before_ms'] / result['after_ms']:>6.2f}x{result['median_ratio']:>7.2f}x"
            f"{both[0]:>24.2f} / {both[1]:<9.2f}"
            f"{both[0] / both[1]:>6.2f}x{f'{int((d > AGREEMENT).sum())} of {len(d)}':>21}"
            f"{f'({ties})':>8}{d.max():>11.1e}"
        )
    print(f"({load()})")

    if args.run_calls > 0:
        print(f"\nwhole run, {args.run_calls} calls of trial 0: wall time over the time inside objective calls")
        for path in ("after", "before"):
            wall, episodes, iterations = timed_run(config, args.run_calls, before=path == "before")
            print(
                f"{path:<7} {wall:7.1f} s wall, {episodes:6.1f} s in episodes: {wall / episodes:4.2f}x "
                f"({iterations} iterations)"
            )
        print(f"({load()})")


if __name__ == "__main__":
    main()

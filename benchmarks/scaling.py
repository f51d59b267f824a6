"""How GIBO's cost grows with D and N_max, and how a multi-unit run scales from 1 to 2 workers.

(a) cost: seconds per GIBO iteration, split into its parts, on a model whose window is full
    (N = N_max points drawn in the δ-box around θ = 0.5·1, smooth objective plus noise), with the
    learned-hyperparameters synthetic config (lengthscale and outputscale priors, fixed noise):
      update = (M + 1) × append_train_data + posterior_derivative (the gradient step),
      fit    = fit_hyperparameters (GIBO refits once per iteration once the window is full),
      acq    = M × [GradientInformation + optimize_gradient_information] (q 1, 5 restarts, 64 raw samples).
    Each part is timed `--repeats` times (mean); at most `--repeats` acquisition optimisations are timed
    and their mean is multiplied by M (the `acq timed` column says how many ran). One torch thread, as
    the runner uses. Sweeps D with N_max = 5D and M = D, then N_max at a fixed D.
(b) workers: 4 synthetic objectives at D = 16 (--dim) (GIBO, fixed hyperparameters, 300 calls each) run with
    1 worker (in process) and with 2 workers (local Ray, its start-up included) in this invocation;
    prints the ratio and checks that the two runs' result files hold identical arrays. Starting Ray
    and importing torch/BoTorch in each worker is a fixed cost that short units do not amortise.

Usage: python benchmarks/scaling.py [--part cost|workers|all] [--dims 4 16 36 64 128] [--repeats 3]
       [--nmax-dim 16] [--nmax 16 32 80 160 320 640] [--units 4] [--calls 300] [--rounds 1]
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from gibo.acquisition_function import GradientInformation, optimize_gradient_information
from gibo.build import model_kwargs, resolve_dimension
from gibo.config import load_data_config, load_experiment_config, parse_experiment_config
from gibo.model import DerivativeExactGPSEModel
from gibo.results import load_unit, unit_files
from gibo.runner import run_units
from gibo.synthetic_experiment import data_file, generate_data, run_unit, unit_file, units

REPO = Path(__file__).resolve().parents[1]
LEARNED = REPO / "configs/synthetic_experiment/gibo_learned_hypers.yaml"
FIXED = REPO / "configs/synthetic_experiment/gibo_default.yaml"
DELTA = 0.2
NOISE = 0.01


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


# ------------------------------------------------------------------------------------------------
# (a) cost per iteration
# ------------------------------------------------------------------------------------------------


def full_model(D: int, N_max: int, seed: int = 0):
    """A model built as the learned-hypers config builds it, holding N_max points around θ = 0.5·1."""
    resolved = resolve_dimension(load_experiment_config(LEARNED), D)
    model = DerivativeExactGPSEModel(
        D, N_max=N_max, dtype=torch.float64, **model_kwargs(resolved.optimizer_config.model_config_)
    )
    model.initialize(**{"likelihood.noise": NOISE})
    generator = torch.Generator().manual_seed(seed)
    theta = torch.full((D,), 0.5, dtype=torch.float64)
    X = theta + DELTA * (2 * torch.rand(N_max, D, generator=generator, dtype=torch.float64) - 1)
    model.set_data(X, smooth_objective(X) + NOISE**0.5 * torch.randn(N_max, generator=generator, dtype=torch.float64))
    return model, theta, generator


def smooth_objective(X: torch.Tensor) -> torch.Tensor:
    return torch.sin(6 * X).sum(-1) / X.shape[-1] ** 0.5


def timed(fn) -> np.ndarray:
    """(wall, CPU) seconds of one call; CPU time is what a loaded machine does not inflate."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return np.array([time.perf_counter() - wall, time.process_time() - cpu])


def cost_per_iteration(D: int, N_max: int, M: int, repeats: int) -> dict:
    model, theta, generator = full_model(D, N_max)
    box = torch.stack([theta - DELTA, theta + DELTA])

    def append():
        x = theta + DELTA * (2 * torch.rand(1, D, generator=generator, dtype=torch.float64) - 1)
        model.append_train_data(x, smooth_objective(x))

    t_append = np.mean([timed(append) for _ in range(repeats)], axis=0)
    t_posterior = np.mean([timed(lambda: model.posterior_derivative(theta)) for _ in range(repeats)], axis=0)
    initial = {k: v.clone() for k, v in model.state_dict().items()}

    def fit():
        model.load_state_dict(initial)
        model.fit_hyperparameters(fix_noise=True)

    t_fit = np.mean([timed(fit) for _ in range(repeats)], axis=0)
    n_acq = min(M, repeats)
    t_acq = np.mean(
        [timed(lambda: optimize_gradient_information(GradientInformation(model, theta), box)) for _ in range(n_acq)],
        axis=0,
    )
    parts = {"update": (M + 1) * t_append + t_posterior, "fit": t_fit, "acq": M * t_acq}
    total = sum(parts.values())
    wall = {name: t[0] for name, t in parts.items()}
    return dict(
        D=D, N_max=N_max, M=M, n_acq=n_acq, **wall, total=total[0], cpu=total[1], dominant=max(wall, key=wall.get)
    )


def print_cost_table(rows, title: str) -> None:
    print(f"\n{title}")
    print(
        f"{'D':>5} {'N_max':>6} {'M':>4} {'update s':>10} {'fit s':>9} {'acq s':>9} {'acq timed':>9} {'total s':>9} "
        f"{'CPU s':>9}  dominant (share)"
    )
    for r in rows:
        share = r[r["dominant"]] / r["total"]
        print(
            f"{r['D']:>5} {r['N_max']:>6} {r['M']:>4} {r['update']:>10.4f} {r['fit']:>9.3f} {r['acq']:>9.3f} "
            f"{r['n_acq']:>6}/{r['M']:<3}{r['total']:>9.3f} {r['cpu']:>9.3f}  {r['dominant']} ({share:.0%})",
            flush=True,
        )


def run_cost(args) -> None:
    print(
        "(a) seconds per GIBO iteration (wall; CPU s = the total's CPU time), M = D acquisition optimisations; one "
        f"torch thread; {load()}"
    )
    cost_per_iteration(2, 10, 2, 1)  # warm-up: first calls pay for lazy imports and caches
    rows = []
    for D in args.dims:
        rows.append(cost_per_iteration(D, 5 * D, D, args.repeats))
        if args.verbose:
            print_cost_table(rows[-1:], f"D = {D} done ({load()})")
    print_cost_table(rows, "growing D, N_max = 5D")
    D = args.nmax_dim
    rows = [cost_per_iteration(D, N_max, D, args.repeats) for N_max in args.nmax]
    print_cost_table(rows, f"growing N_max, D = {D}, M = {D}")
    print(f"({load()})")


# ------------------------------------------------------------------------------------------------
# (b) 1 vs 2 workers
# ------------------------------------------------------------------------------------------------


def identical(dir_a: Path, dir_b: Path) -> bool:
    files_a = [p.relative_to(dir_a) for p in unit_files(dir_a)]
    if not files_a or files_a != [p.relative_to(dir_b) for p in unit_files(dir_b)]:
        return False
    for name in files_a:
        a, b = load_unit(dir_a / name), load_unit(dir_b / name)
        if a.keys() != b.keys() or any(a[k].dtype != b[k].dtype or not np.array_equal(a[k], b[k]) for k in a):
            return False
    return True


def run_workers(args) -> None:
    import ray

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data_yaml = tmp / "data.yaml"
        data_yaml.write_text(
            yaml.safe_dump(
                dict(out_dir=str(tmp / "data"), dimensions=[args.dim], num_objectives=args.units, num_samples=256)
            )
        )
        data_config = load_data_config(data_yaml)
        data_file(data_config, args.dim).parent.mkdir(parents=True)
        generate_data(data_config, args.dim).save(data_file(data_config, args.dim))
        raw = yaml.safe_load(FIXED.read_text())
        raw["max_objective_calls"] = args.calls
        config = parse_experiment_config(raw, str(FIXED))
        todo = units(config, data_config)
        print(
            f"\n(b) {len(todo)} units: GIBO (fixed hyperparameters) on synthetic objectives, D = {args.dim}, "
            f"{args.calls} calls each"
        )

        def run(directory: Path, workers: int) -> float:
            start = time.perf_counter()
            run_units(
                todo,
                functools.partial(run_unit, config, data_config),
                functools.partial(unit_file, directory),
                progress=False,
                workers=workers,
            )
            return time.perf_counter() - start

        serial, parallel, startup = [], [], []
        for r in range(args.rounds):
            print(f"round {r + 1}: before 1 worker: {load()}", flush=True)
            serial.append(run(tmp / f"serial{r}", 1))
            print(f"round {r + 1}: 1 worker {serial[-1]:.1f} s; {load()}", flush=True)
            # what run_units does itself with workers=2 and no Ray running, split to show Ray's start-up
            start = time.perf_counter()
            ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
            startup.append(time.perf_counter() - start)
            try:
                parallel.append(startup[-1] + run(tmp / f"ray{r}", 2))
            finally:
                ray.shutdown()
            print(
                f"round {r + 1}: 2 workers {parallel[-1]:.1f} s (Ray start-up {startup[-1]:.1f} s); {load()}",
                flush=True,
            )
        same = all(
            identical(tmp / "serial0", tmp / d)
            for d in [f"serial{r}" for r in range(1, args.rounds)] + [f"ray{r}" for r in range(args.rounds)]
        )
        best_serial, best_parallel = min(serial), min(parallel)
        best_startup = startup[int(np.argmin(parallel))]
        print(
            f"1 worker: {best_serial:.1f} s   2 workers: {best_parallel:.1f} s (of which Ray start-up "
            f"{best_startup:.1f} s)"
        )
        print(
            f"ratio 2 workers / 1 worker = {best_parallel / best_serial:.2f} (target <= 0.65); without start-up "
            f"{(best_parallel - best_startup) / best_serial:.2f}"
        )
        print(f"result files identical: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["cost", "workers", "all"], default="all")
    parser.add_argument("--dims", type=int, nargs="+", default=[4, 16, 36, 64, 128])
    parser.add_argument(
        "--repeats", type=int, default=3, help="timings per part (acquisition: at most this many optimisations)"
    )
    parser.add_argument("--nmax-dim", type=int, default=16, help="D of the N_max sweep")
    parser.add_argument("--nmax", type=int, nargs="+", default=[16, 32, 80, 160, 320, 640])
    parser.add_argument("--units", type=int, default=4)
    parser.add_argument(
        "--dim",
        type=int,
        default=16,
        help="D of the workers benchmark (units of ~25 s on 2 cores; at D = 8 a unit lasts ~16 s and Ray's ~5 s "
        "start-up plus ~3 s of imports per worker weigh more)",
    )
    parser.add_argument(
        "--calls",
        type=int,
        default=300,
        help="objective calls per unit in the workers benchmark (the paper's budget; fewer calls leave Ray's fixed "
        "start-up cost unamortised)",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="alternating 1-worker / 2-worker rounds; the best of each is compared"
    )
    parser.add_argument("--verbose", action="store_true", help="print each D's row as it finishes")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.part in ("cost", "all"):
        run_cost(args)
    if args.part in ("workers", "all"):
        run_workers(args)


if __name__ == "__main__":
    main()

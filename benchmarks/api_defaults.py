"""GIBO's API defaults on problems no config of this project was tuned on, against MPD and CMA-ES.

Every method runs through `gibo.AskTell` with its default options only (`gibo.default_options`; CMA-ES
with pycma's defaults but σ0, which pycma leaves to the user and the API sets to 0.2 of the box), from the
same x0, with the same bounds and budget, over several seeds. After 25 / 50 / 100 % of the budget the
*noise-free* objective is read at what the method would deploy then (`AskTell.incumbent`: θ_t for GIBO and
MPD, the best evaluated point for CMA-ES), so noise does not flatter anybody.

Problems (all maximised):
- rosenbrock10: −1000 · Rosenbrock(x), D = 10, x0 = 0, bounds [−2, 2], noise std 100 (the optimum 0 at x = 1).
- quadratic30: −Σ c_i (x_i − x*_i)², D = 30, curvatures c_i log-spaced from 1 to 1000, x* uniform in
  [−1, 1] (one draw, fixed), x0 = 0, bounds [−2, 2], noise std 10.
- pendulum: the return of one episode of Gymnasium's InvertedDoublePendulum-v5 under the linear policy
  a = clip(W s + b, −1, 1) (10 parameters), each call a new random initial state; x0 = 0, bounds [−1, 1];
  noise-free value: the mean return over 20 fixed initial states.

Usage:
    python benchmarks/api_defaults.py                       # all problems, gibo mpd cmaes, 5 seeds
    python benchmarks/api_defaults.py --problems rosenbrock10 --methods gibo --seeds 0 1 --workers 2
    python benchmarks/api_defaults.py --json results.json   # also write every run's numbers
It prints one table: mean ± se over seeds at 25 / 50 / 100 % of the budget, and the wall time per run.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import time
from collections.abc import Callable

import numpy as np


class Problem:
    """A noisy objective f (called by the optimiser), its noise-free value, x0, bounds and budget."""

    def __init__(self, name: str, D: int, x0, bounds, budget: int):
        self.name, self.D, self.x0, self.bounds, self.budget = name, D, np.asarray(x0, dtype=np.float64), bounds, budget

    def noisy(self, seed: int) -> Callable[[np.ndarray], float]:
        raise NotImplementedError

    def true_value(self, x: np.ndarray) -> float:
        raise NotImplementedError


class Rosenbrock(Problem):
    NOISE = 100.0

    def __init__(self):
        super().__init__("rosenbrock10", 10, np.zeros(10), (-2.0, 2.0), budget=500)

    def true_value(self, x):
        return -1000.0 * float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))

    def noisy(self, seed):
        rng = np.random.default_rng(10_000 + seed)
        return lambda x: self.true_value(x) + self.NOISE * rng.standard_normal()


class Quadratic(Problem):
    NOISE = 10.0

    def __init__(self):
        super().__init__("quadratic30", 30, np.zeros(30), (-2.0, 2.0), budget=1000)
        self.curvature = np.logspace(0, 3, self.D)
        self.optimum = np.random.default_rng(2026).uniform(-1.0, 1.0, self.D)

    def true_value(self, x):
        return -float(np.sum(self.curvature * (x - self.optimum) ** 2))

    def noisy(self, seed):
        rng = np.random.default_rng(20_000 + seed)
        return lambda x: self.true_value(x) + self.NOISE * rng.standard_normal()


class DoublePendulum(Problem):
    ENV = "InvertedDoublePendulum-v5"

    def __init__(self):
        super().__init__("pendulum", 10, np.zeros(10), (-1.0, 1.0), budget=500)
        self._env = None

    @property
    def env(self):
        if self._env is None:
            import gymnasium as gym

            self._env = gym.make(self.ENV)
        return self._env

    def episode(self, x: np.ndarray, seed: int) -> float:
        W, b = x[:9].reshape(1, 9), x[9:]
        state, _ = self.env.reset(seed=seed)
        total = 0.0
        while True:
            state, reward, terminated, truncated, _ = self.env.step(np.clip(W @ state + b, -1.0, 1.0))
            total += reward
            if terminated or truncated:
                return total

    def true_value(self, x):
        return float(np.mean([self.episode(x, 1_000_000 + k) for k in range(20)]))

    def noisy(self, seed):
        rng = np.random.default_rng(30_000 + seed)
        return lambda x: self.episode(x, int(rng.integers(2**31)))


PROBLEMS: dict[str, Callable[[], Problem]] = {
    "rosenbrock10": Rosenbrock,
    "quadratic30": Quadratic,
    "pendulum": DoublePendulum,
}
FRACTIONS = (0.25, 0.5, 1.0)


def run_one(args) -> dict:
    """One (problem, method, seed): the noise-free value of the incumbent at each budget fraction."""
    import torch

    import gibo

    problem_name, method, seed, options = args
    torch.set_num_threads(1)
    problem = PROBLEMS[problem_name]()
    f = problem.noisy(seed)
    checkpoints = {max(1, round(fr * problem.budget)): fr for fr in FRACTIONS}
    start = time.perf_counter()
    run = gibo.AskTell(method, problem.x0, problem.budget, seed=seed, bounds=problem.bounds, **options)
    values = {}
    while not run.done:
        x = run.ask()
        run.tell(x, f(x))
        if run.calls in checkpoints:
            values[checkpoints[run.calls]] = problem.true_value(run.incumbent)
    wall = time.perf_counter() - start
    for fr in FRACTIONS:  # a run that ended early (it cannot here, but be safe) keeps its last value
        values.setdefault(fr, problem.true_value(run.incumbent))
    return {
        "problem": problem_name,
        "method": method,
        "seed": seed,
        "values": values,
        "wall_s": wall,
        "x0_value": problem.true_value(problem.x0),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    parser.add_argument("--methods", nargs="+", default=["gibo", "mpd", "cmaes"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--workers", type=int, default=1, help="runs at once (processes)")
    parser.add_argument("--options", default="{}", help="JSON mapping method → extra options (for experiments)")
    parser.add_argument("--json", help="write every run's numbers here")
    args = parser.parse_args(argv)
    extra = json.loads(args.options)
    jobs = [(p, m, s, extra.get(m, {})) for p in args.problems for m in args.methods for s in args.seeds]
    if args.workers > 1:
        with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
            runs = pool.map(run_one, jobs, chunksize=1)
    else:
        runs = [run_one(job) for job in jobs]
    print(
        f"{'problem':<14}{'method':<8}{'x0':>10}"
        + "".join(f"{f'{int(fr * 100)} %':>22}" for fr in FRACTIONS)
        + f"{'s / run':>10}"
    )
    for p in args.problems:
        for m in args.methods:
            rows = [r for r in runs if r["problem"] == p and r["method"] == m]
            cells = []
            for fr in FRACTIONS:
                v = np.array([r["values"][fr] for r in rows])
                se = v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else float("nan")
                cells.append(f"{v.mean():>12.4g} ± {se:<7.3g}")
            wall = np.mean([r["wall_s"] for r in rows])
            print(f"{p:<14}{m:<8}{rows[0]['x0_value']:>10.4g}" + "".join(f"{c:>22}" for c in cells) + f"{wall:>10.1f}")
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"args": vars(args), "runs": runs}, file, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

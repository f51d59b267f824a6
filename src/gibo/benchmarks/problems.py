"""The benchmark problems of GIBO's successors, as objectives to maximise on a box.

Every problem is maximised (the project's convention): minimisation problems (Ackley, Dixon-Price) are negated,
so their known optimum 0 is a maximum. A problem knows its dimension `D`, its box `lower`, `upper` (`D` each), its
known optimum `optimum` (None where none is known) and where it lies (`optimizer`), whether its calls are
noisy, and its value without noise (`noise_free`, what the suite's best-so-far curves are read on).

- `AnalyticFunction`: −Ackley and −Dixon-Price from `botorch.test_functions`, at LES's domains ([−32.768, 32.768]^D
  and [−10, 10]^D), noise-free.
- `GPSamplePath`: LES's GP samples: a path of a zero-mean SE-ARD GP (variance 1) on [0, 1]^D drawn with random
  Fourier features, lengthscales drawn from LES's log-normal prior of one of four complexity levels, observed
  with Gaussian noise of standard deviation 0.002.
- `GPPosteriorMean`: MPD's (and GIBO's) GP samples: the posterior mean of an SE-ARD GP given a prior draw at 1000
  Sobol points (`gibo.synthetic_functions`), observed with noise variance 0.01.
- `RoverTrajectory` (`gibo.benchmarks.rover`) and `LunarLander` (`gibo.benchmarks.lunar_lander`).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from gibo.benchmarks import lunar_lander, rover


class Problem:
    """f: [lower, upper] ⊂ R^D → R, to maximise; `f(x)` one (possibly noisy) call, `noise_free(x)` its exact value.

    Example:
        >>> problem = AnalyticFunction("ackley", D=5)
        >>> problem(np.zeros(5)), problem.optimum  # (≈ 0, 0.0)
    """

    name: str
    D: int
    lower: np.ndarray
    upper: np.ndarray
    optimum: float | None = None
    optimizer: np.ndarray | None = None
    noisy: bool = False

    def __call__(self, x: np.ndarray) -> float:
        return self.noise_free(x)

    def noise_free(self, x: np.ndarray) -> float:
        raise NotImplementedError

    def center(self) -> np.ndarray:
        return (self.lower + self.upper) / 2

    def _box(self, lower: float, upper: float) -> None:
        self.lower, self.upper = np.full(self.D, float(lower)), np.full(self.D, float(upper))


class AnalyticFunction(Problem):
    """−g(x) for BoTorch's Ackley or Dixon-Price g (both ≥ 0 with minimum 0), on LES's domains.

    Ackley: g(x) = −20 exp(−0.2 √(Σ x_i² / D)) − exp(Σ cos(2π x_i) / D) + 20 + e on [−32.768, 32.768]^D, 0 at x = 0.
    Dixon-Price: g(x) = (x_1 − 1)² + Σ_{i≥2} i (2 x_i² − x_{i−1})² on [−10, 10]^D, 0 at x_i = 2^(−(2^i − 2) / 2^i).
    """

    DOMAINS: ClassVar[dict[str, tuple[float, float]]] = {"ackley": (-32.768, 32.768), "dixon_price": (-10.0, 10.0)}

    def __init__(self, name: str, D: int):
        from botorch.test_functions import Ackley, DixonPrice

        if name not in self.DOMAINS:
            raise ValueError(f"unknown test function {name!r} (one of {', '.join(self.DOMAINS)})")
        self.name, self.D = name, int(D)
        self._box(*self.DOMAINS[name])
        self._function = (Ackley if name == "ackley" else DixonPrice)(dim=self.D)  # g, minimised
        self.optimum = 0.0
        i = np.arange(1, self.D + 1)
        self.optimizer = np.zeros(self.D) if name == "ackley" else 2.0 ** (-(2.0**i - 2) / 2.0**i)

    def noise_free(self, x: np.ndarray) -> float:
        import torch

        batch = torch.as_tensor(np.asarray(x, dtype=np.float64)).reshape(1, -1)
        return -float(self._function.evaluate_true(batch))  # maximised: −g


# LES's four complexity levels: lengthscales ℓ_d ~ LogNormal(μ + ln √D, σ) (μ, σ of the underlying normal).
COMPLEXITY = {
    "high": (-2.5 * math.sqrt(2), math.sqrt(3) / 5),
    "medium": (-2.0 * math.sqrt(2), math.sqrt(3) / 4),
    "low": (-1.0 * math.sqrt(2), math.sqrt(3) / 2),
    "extremely_low": (1.0 * math.sqrt(2), math.sqrt(3)),
}


class GPSamplePath(Problem):
    """f(x) = √(2/M) Σ_m w_m cos(ω_m · x + b_m): a path of the GP with k(x, x') = exp(−½ Σ_d (x_d − x'_d)² / ℓ_d²),
    drawn with M random Fourier features (ω_m ~ N(0, diag(ℓ⁻²)), b_m ~ U[0, 2π), w_m ~ N(0, 1)), observed as
    f(x) + ε, ε ~ N(0, noise_std²). Lengthscales ℓ_d ~ LogNormal(μ + ln √D, σ) of the complexity level.

    The instance is fixed by (seed, D, complexity); the observation noise has its own stream from the same seed.
    Example:
        >>> f = GPSamplePath(D=10, complexity="medium", seed=3)
        >>> f(np.full(10, 0.5)), f.noise_free(np.full(10, 0.5))
    """

    def __init__(self, D: int, complexity: str, seed: int, noise_std: float = 0.002, features: int = 1024):
        if complexity not in COMPLEXITY:
            raise ValueError(f"unknown complexity {complexity!r} (one of {', '.join(COMPLEXITY)})")
        self.name, self.D, self.complexity, self.seed = "les_gp_sample", int(D), complexity, int(seed)
        self._box(0.0, 1.0)
        self.noise_std, self.noisy = float(noise_std), noise_std > 0
        level = list(COMPLEXITY).index(complexity)
        rng = np.random.default_rng([self.seed, self.D, level])
        mu, sigma = COMPLEXITY[complexity]
        self.lengthscales = np.exp(mu + math.log(math.sqrt(self.D)) + sigma * rng.standard_normal(self.D))
        self.frequencies = rng.standard_normal((features, self.D)) / self.lengthscales  # M x D
        self.phases = rng.uniform(0.0, 2 * math.pi, features)
        self.weights = rng.standard_normal(features) * math.sqrt(2.0 / features)
        self._noise = np.random.default_rng([self.seed, self.D, level, 1])

    def values(self, X: np.ndarray) -> np.ndarray:
        """X: `n x D` → `n` noise-free values."""
        return np.cos(np.asarray(X, dtype=np.float64) @ self.frequencies.T + self.phases) @ self.weights

    def noise_free(self, x: np.ndarray) -> float:
        return float(self.values(np.asarray(x).reshape(1, -1))[0])

    def __call__(self, x: np.ndarray) -> float:
        return self.noise_free(x) + self.noise_std * float(self._noise.standard_normal())


class GPPosteriorMean(Problem):
    """J(x) = k(x, X) (k(X, X) + σp² I)⁻¹ y with y a draw of the SE-ARD GP prior at N Sobol points X of [0, 1]^D
    (GIBO's and MPD's synthetic objectives, `gibo.synthetic_functions.SyntheticObjective`), observed with noise of
    variance `noise_variance`. Lengthscales ~ U[f ℓ(D)(1 − γ), f ℓ(D)(1 + γ)], one draw per D (shared by the
    objectives of a dimension, as in those papers); objective `index` is the index-th draw.

    `optimum` is estimated (`estimate_optimum`: L-BFGS-B from the best 15 of the N points), on request.
    """

    def __init__(
        self,
        D: int,
        index: int,
        num_samples: int = 1000,
        noise_variance: float = 0.01,
        factor_lengthscale: float = 2.0,
        gamma: float = 0.3,
        outputscale: float = 1.0,
        data_seed: int = 0,
    ):
        import torch

        from gibo.synthetic_functions import (
            SyntheticObjective,
            sample_lengthscales,
            sample_paper_prior,
            sobol_points,
        )

        self.name, self.D, self.index = "mpd_gp_sample", int(D), int(index)
        self._box(0.0, 1.0)
        self.noisy = noise_variance > 0
        generator = torch.Generator().manual_seed(int(data_seed))  # as generate_dataset(seed=data_seed) draws
        lengthscale = sample_lengthscales(self.D, factor_lengthscale, gamma, generator)
        X = sobol_points(self.D, num_samples)
        self._y = sample_paper_prior(X, lengthscale, outputscale, seed=int(data_seed) * 100_003 + self.index)
        self.lengthscales = lengthscale.numpy()
        self.objective = SyntheticObjective(X, self._y, lengthscale, outputscale, noise_variance, seed=self.index)

    def noise_free(self, x: np.ndarray) -> float:
        import torch

        return float(self.objective.noise_free(torch.as_tensor(np.asarray(x, dtype=np.float64))))

    def __call__(self, x: np.ndarray) -> float:
        import torch

        return float(self.objective(torch.as_tensor(np.asarray(x, dtype=np.float64))))

    def estimate_optimum(self) -> float:
        """The largest value found by L-BFGS-B from the 15 best of the N points (GIBO's f*), kept as `optimum`."""
        from gibo.synthetic_functions import compute_optimum

        self.optimum, self.optimizer = compute_optimum(self.objective, self._y)
        return self.optimum


class RoverTrajectory(Problem):
    """The 60-D rover trajectory reward of `gibo.benchmarks.rover` (maximised; no known optimum, f ≤ 4.936)."""

    def __init__(self):
        self.name, self.D = "rover", rover.D
        self._box(0.0, 1.0)

    def noise_free(self, x: np.ndarray) -> float:
        return float(rover.reward(np.asarray(x, dtype=np.float64)))


class LunarLander(Problem):
    """The mean return of the 12-parameter heuristic lander over fixed episodes (`gibo.benchmarks.lunar_lander`),
    on [0, 1]^12; deterministic (the episodes' seeds are fixed), no known optimum."""

    def __init__(self, episodes: int):
        self.name, self.D = "lunar_lander", lunar_lander.D
        self._box(0.0, 1.0)
        self._return = lunar_lander.LunarLanderReturn(episodes)

    def noise_free(self, x: np.ndarray) -> float:
        return self._return(np.asarray(x, dtype=np.float64))

"""Synthetic objectives drawn from a GP prior (docs/experiments.md#synthetic-functions), and their optima.

An objective is the posterior mean of a zero-mean SE-ARD GP given y sampled from that GP's prior at
Sobol points X of [0, 1]^D, observed with additive Gaussian noise. Two samplers:

- "paper" (the benchmark the paper's numbers were measured on): X the first N points of the
  unscrambled Sobol sequence (the same X for every objective of a dimension); y drawn the way GPyTorch
  drew `MultivariateNormal(0, k(X, X)).sample()` under its 2020 defaults, through a Lanczos root
  decomposition of rank at most 100 for N > 800 (so y keeps only the leading eigen-directions of
  k(X, X) and is smoother than an exact draw); posterior noise GPyTorch's default likelihood noise
  softplus(0) + 1e-4 ≈ 0.6932, so the objective does not interpolate y.
- "exact" (the variant "exact GP samples"): scrambled Sobol X per objective, an exact Cholesky draw and
  an interpolating posterior (noise 1e-6): rougher objectives with more local optima.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import minimize
from torch.quasirandom import SobolEngine

from gibo.kernel import safe_cholesky, se_kernel

SAMPLERS = ("paper", "exact")
# Posterior noise of the objective per sampler: GPyTorch's default likelihood noise, softplus(0) + 1e-4,
# which the paper's code never changed; an (almost) interpolating posterior for exact samples.
POSTERIOR_NOISE = {"paper": math.log(2.0) + 1e-4, "exact": 1e-6}
# GPyTorch settings in force when the paper's objectives were drawn (its defaults of 2020; current
# BoTorch switches them at import): Cholesky only up to N = 800, otherwise a Lanczos root decomposition.
PAPER_MAX_CHOLESKY_SIZE = 800


def mean_distance_unit_cube(n: int) -> float:
    """δ(n) = sqrt(n/6) · sqrt((1 + 2 sqrt(1 − 3/(5n))) / 3) ≈ mean distance of two uniform points in [0, 1]^n."""
    return math.sqrt(n / 6.0) * math.sqrt((1.0 + 2.0 * math.sqrt(1.0 - 3.0 / (5.0 * n))) / 3.0)


def lengthscale_scale(D: int) -> float:
    """ℓ(D) = 0.1 · δ(D) / δ(2): the lengthscale unit that keeps objectives equally wiggly across D."""
    return 0.1 * mean_distance_unit_cube(D) / mean_distance_unit_cube(2)


def lengthscale_interval(D: int, factor_lengthscale: float = 2.0, gamma: float = 0.3) -> tuple[float, float]:
    """[factor·ℓ(D)(1 − γ), factor·ℓ(D)(1 + γ)]: support of the lengthscales (and of their uniform prior)."""
    center = factor_lengthscale * lengthscale_scale(D)
    return center * (1.0 - gamma), center * (1.0 + gamma)


def sample_lengthscales(D: int, factor_lengthscale: float, gamma: float, generator: torch.Generator) -> torch.Tensor:
    """`D` lengthscales, each uniform on `lengthscale_interval(D, factor_lengthscale, gamma)`."""
    low, high = lengthscale_interval(D, factor_lengthscale, gamma)
    return low + (high - low) * torch.rand(D, generator=generator, dtype=torch.float64)


def sobol_points(D: int, num_samples: int, scramble: bool = False, seed: int | None = None) -> torch.Tensor:
    """`num_samples x D` points of the Sobol sequence in [0, 1]^D (the first ones, unless scrambled)."""
    return SobolEngine(D, scramble=scramble, seed=seed).draw(num_samples, dtype=torch.float64)


def sample_paper_prior(X: torch.Tensor, lengthscale: torch.Tensor, outputscale: float, seed: int) -> torch.Tensor:
    """y ~ N(0, k(X, X)) as GPyTorch 2020 drew it: Cholesky up to 800 points, else a Lanczos root of rank ≤ 100.

    The Lanczos start vector and the standard-normal base sample both come from torch's global generator,
    which is seeded with `seed` inside a fork (the caller's random state is left untouched).

    Args:
        X: `N x D`; lengthscale: `D`.
    Returns:
        `N` draw (float64).
    """
    import gpytorch
    from gpytorch.distributions import MultivariateNormal
    from gpytorch.kernels import RBFKernel, ScaleKernel

    kernel = ScaleKernel(RBFKernel(ard_num_dims=X.shape[-1])).to(torch.float64)
    kernel.base_kernel.lengthscale = lengthscale.reshape(1, -1)
    kernel.outputscale = float(outputscale)
    with (
        torch.random.fork_rng(devices=[]),
        torch.no_grad(),
        gpytorch.settings.fast_computations(covar_root_decomposition=True),
        gpytorch.settings.max_cholesky_size(PAPER_MAX_CHOLESKY_SIZE),
    ):
        torch.manual_seed(seed)
        prior = MultivariateNormal(torch.zeros(X.shape[0], dtype=torch.float64), kernel(X))  # lazy covariance
        return prior.sample().reshape(-1)


def sample_prior_functions(
    D: int,
    num_objectives: int,
    num_samples: int,
    lengthscale: torch.Tensor,
    outputscale: float,
    seed: int,
    sampler: str = "paper",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw one y per objective from the zero-mean SE-ARD GP prior at Sobol points X (see the module docstring).

    Returns:
        X `num_objectives x num_samples x D`, y `num_objectives x num_samples` (float64).
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r} (expected one of {', '.join(SAMPLERS)})")
    xs, ys = [], []
    if sampler == "paper":
        X = sobol_points(D, num_samples)
        for i in range(num_objectives):
            xs.append(X)
            ys.append(sample_paper_prior(X, lengthscale, outputscale, seed=seed * 100_003 + i))
        return torch.stack(xs), torch.stack(ys)
    generator = torch.Generator().manual_seed(seed)
    for i in range(num_objectives):
        X = sobol_points(D, num_samples, scramble=True, seed=seed * 100_003 + i)
        K = se_kernel(X, X, lengthscale, torch.tensor(outputscale, dtype=torch.float64))
        chol = safe_cholesky(K + POSTERIOR_NOISE["exact"] * torch.eye(num_samples, dtype=torch.float64))
        z = torch.randn(num_samples, generator=generator, dtype=torch.float64)
        xs.append(X)
        ys.append(chol @ z)
    return torch.stack(xs), torch.stack(ys)


class SyntheticObjective:
    """J(x) = k(x, X) (k(X, X) + σp² I)⁻¹ y, observed as J(x) + ε, ε ~ N(0, noise_variance).

    σp² is the posterior noise of the sampler that drew y (`POSTERIOR_NOISE`).

    Example:
        >>> f = SyntheticObjective(X, y, lengthscale, outputscale=1.0, noise_variance=0.01, seed=0)
        >>> f(torch.full((D,), 0.5))          # noisy scalar
        >>> f.noise_free(torch.rand(10, D))   # 10 exact values
    """

    def __init__(
        self,
        X: torch.Tensor,
        y: torch.Tensor,
        lengthscale: torch.Tensor,
        outputscale: float,
        noise_variance: float,
        seed: int = 0,
        posterior_noise: float = POSTERIOR_NOISE["paper"],
    ):
        """X: `N x D` sample points; y: `N` prior draws; lengthscale: `D`; posterior_noise: σp²."""
        self.X = torch.as_tensor(X, dtype=torch.float64)
        self.lengthscale = torch.as_tensor(lengthscale, dtype=torch.float64)
        self.outputscale = torch.tensor(float(outputscale), dtype=torch.float64)
        self.noise_variance = float(noise_variance)
        K = se_kernel(self.X, self.X, self.lengthscale, self.outputscale)
        chol = safe_cholesky(K + float(posterior_noise) * torch.eye(self.X.shape[0], dtype=torch.float64))
        self.alpha = torch.cholesky_solve(torch.as_tensor(y, dtype=torch.float64).unsqueeze(-1), chol).squeeze(-1)
        self.generator = torch.Generator().manual_seed(int(seed))

    @property
    def D(self) -> int:
        return self.X.shape[-1]

    def noise_free(self, x: torch.Tensor) -> torch.Tensor:
        """x: `... x D` → `...` exact objective values."""
        x = torch.as_tensor(x, dtype=torch.float64)
        return (
            se_kernel(x.reshape(-1, self.D), self.X, self.lengthscale, self.outputscale)
            .matmul(self.alpha)
            .reshape(x.shape[:-1])
        )

    def __call__(self, params: torch.Tensor) -> torch.Tensor:
        """params: `D` → noisy scalar, in the dtype of params."""
        noise = math.sqrt(self.noise_variance) * torch.randn((), generator=self.generator, dtype=torch.float64)
        return (self.noise_free(params.detach()) + noise).to(params.dtype)


def compute_optimum(objective: SyntheticObjective, y: torch.Tensor, num_starts: int = 15) -> tuple[float, np.ndarray]:
    """f* = max(best sample, best of bounded L-BFGS-B runs on [0, 1]^D started at the `num_starts` best samples).

    Returns:
        (f*, x* `D`).
    """
    y = torch.as_tensor(y, dtype=torch.float64)
    order = torch.argsort(y, descending=True)[:num_starts]
    best_value = float(objective.noise_free(objective.X[order[0]]))
    best_x = objective.X[order[0]].numpy().copy()

    def negative(x: np.ndarray):
        xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        value = objective.noise_free(xt)
        (grad,) = torch.autograd.grad(value, xt)
        return -float(value.detach()), -grad.numpy()

    for start in objective.X[order].numpy():
        result = minimize(negative, start, jac=True, method="L-BFGS-B", bounds=[(0.0, 1.0)] * objective.D)
        if -result.fun > best_value:
            best_value, best_x = float(-result.fun), result.x
    return best_value, np.asarray(best_x)


@dataclass
class SyntheticDataset:
    """Everything stored for one dimension: X `n_obj x N x D`, y `n_obj x N`, lengthscale `D`,
    outputscale, noise_variance (observation noise), f_star `n_obj`, x_star `n_obj x D`, and the sampler
    that drew y with the posterior noise σp² of its objectives."""

    X: np.ndarray
    y: np.ndarray
    lengthscale: np.ndarray
    outputscale: float
    noise_variance: float
    f_star: np.ndarray
    x_star: np.ndarray
    sampler: str = "paper"
    posterior_noise: float = POSTERIOR_NOISE["paper"]

    @property
    def D(self) -> int:
        return self.X.shape[-1]

    @property
    def num_objectives(self) -> int:
        return self.X.shape[0]

    def objective(self, index: int, seed: int = 0) -> SyntheticObjective:
        return SyntheticObjective(
            torch.from_numpy(self.X[index]),
            torch.from_numpy(self.y[index]),
            torch.from_numpy(self.lengthscale),
            self.outputscale,
            self.noise_variance,
            seed=seed,
            posterior_noise=self.posterior_noise,
        )

    def save(self, path) -> None:
        np.savez(
            path,
            X=self.X,
            y=self.y,
            lengthscale=self.lengthscale,
            outputscale=self.outputscale,
            noise_variance=self.noise_variance,
            f_star=self.f_star,
            x_star=self.x_star,
            sampler=np.asarray(self.sampler),
            posterior_noise=self.posterior_noise,
        )

    @classmethod
    def load(cls, path) -> SyntheticDataset:
        with np.load(path, allow_pickle=False) as data:
            # Files written before the sampler was recorded hold exact draws.
            sampler = str(data["sampler"]) if "sampler" in data.files else "exact"
            noise = float(data["posterior_noise"]) if "posterior_noise" in data.files else POSTERIOR_NOISE["exact"]
            return cls(
                X=data["X"],
                y=data["y"],
                lengthscale=data["lengthscale"],
                outputscale=float(data["outputscale"]),
                noise_variance=float(data["noise_variance"]),
                f_star=data["f_star"],
                x_star=data["x_star"],
                sampler=sampler,
                posterior_noise=noise,
            )


def generate_dataset(
    D: int,
    num_objectives: int,
    num_samples: int,
    noise_variance: float,
    factor_lengthscale: float = 2.0,
    gamma: float = 0.3,
    outputscale: float = 1.0,
    num_optimizer_starts: int = 15,
    seed: int = 0,
    sampler: str = "paper",
    progress: Callable[[], object] | None = None,
) -> SyntheticDataset:
    """Sample the lengthscales for D, the objectives (with `sampler`) and their optima
    (docs/experiments.md#synthetic-functions)."""
    generator = torch.Generator().manual_seed(seed)
    lengthscale = sample_lengthscales(D, factor_lengthscale, gamma, generator)
    X, y = sample_prior_functions(D, num_objectives, num_samples, lengthscale, outputscale, seed, sampler=sampler)
    posterior_noise = POSTERIOR_NOISE[sampler]
    f_star, x_star = [], []
    for i in range(num_objectives):
        objective = SyntheticObjective(
            X[i], y[i], lengthscale, outputscale, noise_variance, posterior_noise=posterior_noise
        )
        value, x = compute_optimum(objective, y[i], num_optimizer_starts)
        f_star.append(value)
        x_star.append(x)
        if progress is not None:
            progress()
    return SyntheticDataset(
        X=X.numpy(),
        y=y.numpy(),
        lengthscale=lengthscale.numpy(),
        outputscale=float(outputscale),
        noise_variance=float(noise_variance),
        f_star=np.asarray(f_star),
        x_star=np.stack(x_star),
        sampler=sampler,
        posterior_noise=posterior_noise,
    )

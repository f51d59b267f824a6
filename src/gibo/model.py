"""Gaussian-process models: an exact SE-ARD GP and its extension with the Jacobian posterior.

Notation (docs/method.md#gp-model): data X (N x D), y (N), constant prior mean m, kernel
k(x, x') = σf² exp(−½ Σ_i (x_i − x'_i)² / l_i²), noise σn², K = k(X, X) + σn² I, Λ = diag(l²).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import gpytorch
import torch
from botorch.exceptions.errors import ModelFittingError
from botorch.exceptions.warnings import OptimizationWarning
from botorch.fit import fit_gpytorch_mll
from botorch.models.gpytorch import GPyTorchModel
from gpytorch.constraints import Interval
from gpytorch.distributions import MultivariateNormal
from gpytorch.kernels import RBFKernel, ScaleKernel
from gpytorch.likelihoods import GaussianLikelihood
from gpytorch.means import ConstantMean
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import Prior, UniformPrior

from gibo.kernel import (
    ClosedFormMarginalLogLikelihood,
    KernelSolve,
    WindowDistances,
    safe_cholesky,
    scaled_squared_distances,
    symmetric_squared_distances,
)
from gibo.window_factor import WindowFactor

logger = logging.getLogger(__name__)

# Relative margin by which an optional interval constraint sits inside a uniform prior's support:
# a sigmoid-transformed value may round onto the interval's edge, where the prior's log density is −inf.
_UNIFORM_MARGIN = 1e-6
# `DerivativeExactGPSEModel(squared_distances=...)`, `ExactGPSEModel(marginal_likelihood=...)`: their choices.
SQUARED_DISTANCES = ("differences", "inner_products")
FACTORIZATIONS = ("full", "incremental")
MARGINAL_LIKELIHOODS = ("gpytorch", "closed_form")


def _constraint_inside_uniform(prior: Prior | None, constraint):
    """With `constrain_to_prior_support`: a uniform prior without a constraint gets an interval constraint just
    inside its support."""
    if constraint is None and isinstance(prior, UniformPrior):
        a, b = float(prior.low), float(prior.high)
        margin = _UNIFORM_MARGIN * (b - a)
        return Interval(a + margin, b - margin)
    return constraint


def _without_validation(prior: Prior | None) -> Prior | None:
    """A uniform prior whose log density is −inf outside its support instead of raising there (torch's
    argument validation off): a fit without a matching constraint then stops at the edge, as the paper's
    fit did, rather than failing."""
    if isinstance(prior, UniformPrior) and getattr(prior, "_validate_args", False):
        return UniformPrior(prior.low, prior.high, validate_args=False)
    return prior


@contextlib.contextmanager
def diverted_warnings(category: type[Warning], handle: Callable[[warnings.WarningMessage], None]) -> Iterator[None]:
    """Warnings of `category` raised inside go to `handle` instead of stderr; all others are shown as usual."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", category)
        yield
    for warning in caught:
        if issubclass(warning.category, category):
            handle(warning)
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)


def fit_mll(mll, **options) -> None:
    """`fit_gpytorch_mll`, with the messages of L-BFGS-B attempts that ended abnormally in the debug log.

    BoTorch retries such an attempt from values drawn from the priors and re-emits scipy's message as a
    warning; whether the fit succeeded is what matters (a `ModelFittingError` when every attempt failed)."""

    def log(warning: warnings.WarningMessage) -> None:
        logger.debug("hyperparameter fit attempt: %s", str(warning.message).splitlines()[0])

    with diverted_warnings(OptimizationWarning, log):
        fit_gpytorch_mll(mll, **options)


class ExactGPSEModel(gpytorch.models.ExactGP, GPyTorchModel):
    """Exact GP with constant mean m and SE-ARD kernel: f ~ GP(m, σf² exp(−½ ‖(x − x')/l‖²)), y = f + ε, ε ~ N(0, σn²).

    The constant mean is fixed unless `train_prior_mean`. With a prior on a hyperparameter, its initial value
    is the prior's mean. Constraints are exactly those given (GPyTorch's positive default otherwise): a uniform
    prior without a constraint leaves the raw parameter free, and a fit stops where the prior's log density
    drops to −inf, as in the paper's model; `constrain_to_prior_support` adds an interval just inside the
    support of every such prior instead, so the fit can converge inside it.

    Example:
        >>> model = ExactGPSEModel(torch.rand(10, 2), torch.rand(10))
        >>> model.initialize(**{"covar_module.base_kernel.lengthscale": 0.3, "likelihood.noise": 0.01})
        >>> posterior = model.posterior(torch.rand(5, 2))
    """

    _num_outputs = 1
    if TYPE_CHECKING:  # set by GPyTorch's ExactGP, which carries no type information
        train_inputs: tuple[torch.Tensor, ...]
        train_targets: torch.Tensor

        def set_train_data(self, inputs=None, targets=None, strict: bool = True) -> None: ...
        def initialize(self, **kwargs) -> ExactGPSEModel: ...

    def __init__(
        self,
        train_x: torch.Tensor,
        train_y: torch.Tensor,
        lengthscale_constraint=None,
        lengthscale_hyperprior: Prior | None = None,
        outputscale_constraint=None,
        outputscale_hyperprior: Prior | None = None,
        noise_constraint=None,
        noise_hyperprior: Prior | None = None,
        ard_num_dims: int | None = None,
        prior_mean: float = 0.0,
        train_prior_mean: bool = False,
        constrain_to_prior_support: bool = False,
        marginal_likelihood: str = "gpytorch",
    ):
        """Args:
        train_x: `N x D` inputs; train_y: `N` observations (N may be 0).
        ard_num_dims: number of lengthscales (D for ARD, None for one shared lengthscale).
        prior_mean: the constant mean m; fixed unless `train_prior_mean`, in which case it is only the
            starting value of a hyperparameter fitted with the others.
        constrain_to_prior_support: add an interval constraint inside each unconstrained uniform prior.
        marginal_likelihood: what `fit_hyperparameters` maximises: "gpytorch", GPyTorch's exact marginal
            log-likelihood (every documented seeded run), or "closed_form", the same quantity with its gradient
            with respect to the kernel matrix in closed form, ½ (ααᵀ − K⁻¹), from one Cholesky factor, and the
            kernel matrix from inner products (`ClosedFormMarginalLogLikelihood`: several times faster for
            hundreds of points; equal to rounding, so the fitted values and seeded trajectories part).
        """
        if marginal_likelihood not in MARGINAL_LIKELIHOODS:
            raise ValueError(f"marginal_likelihood must be one of {MARGINAL_LIKELIHOODS}, got {marginal_likelihood!r}")
        self.marginal_likelihood = marginal_likelihood
        inside = _constraint_inside_uniform if constrain_to_prior_support else (lambda prior, constraint: constraint)
        lengthscale_hyperprior, outputscale_hyperprior, noise_hyperprior = (
            _without_validation(p) for p in (lengthscale_hyperprior, outputscale_hyperprior, noise_hyperprior)
        )
        likelihood = GaussianLikelihood(
            noise_prior=noise_hyperprior, noise_constraint=inside(noise_hyperprior, noise_constraint)
        )
        super().__init__(train_x, train_y, likelihood)
        self.mean_module = ConstantMean()
        self.mean_module.constant.data.fill_(float(prior_mean))
        self.mean_module.constant.requires_grad_(bool(train_prior_mean))
        self.covar_module = ScaleKernel(
            RBFKernel(
                ard_num_dims=ard_num_dims,
                lengthscale_prior=lengthscale_hyperprior,
                lengthscale_constraint=inside(lengthscale_hyperprior, lengthscale_constraint),
            ),
            outputscale_prior=outputscale_hyperprior,
            outputscale_constraint=inside(outputscale_hyperprior, outputscale_constraint),
        )
        if lengthscale_hyperprior is not None:
            self.covar_module.base_kernel.lengthscale = lengthscale_hyperprior.mean
        if outputscale_hyperprior is not None:
            self.covar_module.outputscale = outputscale_hyperprior.mean
        if noise_hyperprior is not None:
            self.likelihood.noise = noise_hyperprior.mean
        self.to(train_x)
        self.eval()

    def forward(self, x: torch.Tensor) -> MultivariateNormal:
        return MultivariateNormal(self.mean_module(x), self.covar_module(x))

    # Plain-tensor views of the hyperparameters, used by the analytic formulas.
    @property
    def lengthscale(self) -> torch.Tensor:
        """`D` (or `1`) lengthscales l."""
        return self.covar_module.base_kernel.lengthscale.reshape(-1)

    @property
    def outputscale(self) -> torch.Tensor:
        """Scalar σf²."""
        return self.covar_module.outputscale

    @property
    def noise(self) -> torch.Tensor:
        """Scalar σn²."""
        return self.likelihood.noise.reshape(())

    @property
    def prior_mean(self) -> torch.Tensor:
        return self.mean_module.constant.reshape(())

    def fit_hyperparameters(self, fix_noise: bool = False) -> str:
        """Maximise the exact marginal log-likelihood (plus log-priors) with L-BFGS-B through BoTorch.

        Returns:
            "moved" when some hyperparameter changed, "unchanged" when the fit ended where it started (e.g.
            stopped at a uniform prior's edge), "failed" when BoTorch gave up (the previous values are kept).
        """
        raw_noise = self.likelihood.noise_covar.raw_noise
        raw_noise.requires_grad_(not fix_noise)
        state = {k: v.clone() for k, v in self.state_dict().items()}
        try:
            mll = MLL_CLASSES[self.marginal_likelihood](self.likelihood, self)
            fit_mll(mll)
        except ModelFittingError as error:  # keep the previous hyperparameters rather than end the run
            logger.warning("hyperparameter fit failed (%s); keeping the previous values", str(error).splitlines()[0])
            self.load_state_dict(state)
            return "failed"
        finally:
            raw_noise.requires_grad_(True)
            self.eval()
        after = self.state_dict()
        moved = any(
            not torch.equal(state[k], after[k])
            for k in state
            if k.startswith(("covar_module", "likelihood", "mean_module"))
        )
        return "moved" if moved else "unchanged"


# `ExactGPSEModel(marginal_likelihood=...)`: what a hyperparameter fit maximises.
MLL_CLASSES = {"gpytorch": ExactMarginalLogLikelihood, "closed_form": ClosedFormMarginalLogLikelihood}


def standardization(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """shift and spread that standardise y, (y − shift) / spread: its mean and std (n − 1 divisor); the
    spread is 1 for fewer than 2 values or values all (numerically) equal."""
    one = torch.ones((), dtype=y.dtype, device=y.device)
    if y.numel() == 0:
        return 0 * one, one
    spread = y.std() if y.numel() > 1 else one
    if not bool(spread > 1e-12 * y.abs().max().clamp_min(1.0)):
        spread = one
    return y.mean(), spread


class DerivativeExactGPSEModel(ExactGPSEModel):
    """SE-ARD GP on a sliding window of the N_max newest points, with the posterior of its gradient.

    μ∇(x) = ∂k(x, X)/∂x · K⁻¹ (y − m),   Σ∇(x) = σf² Λ⁻¹ − ∂k(x, X)/∂x · K⁻¹ · ∂k(X, x)/∂x.
    With `standardize_outputs` the GP models the window's observations standardised afresh whenever the
    data change ((y − mean) / std over the window), so that hyperpriors need not know the objective's
    scale; y, μ∇ and Σ∇ are then in those standardised units.

    Example:
        >>> model = DerivativeExactGPSEModel(D=2, N_max=10)
        >>> model.append_train_data(torch.rand(4, 2), torch.rand(4))
        >>> mean, cov = model.posterior_derivative(torch.rand(3, 2))  # 3 x 2, 3 x 2 x 2
    """

    def __init__(
        self,
        D: int,
        N_max: int | None = None,
        train_x: torch.Tensor | None = None,
        train_y: torch.Tensor | None = None,
        dtype: torch.dtype = torch.float64,
        standardize_outputs: bool = False,
        gradient_mean: str = "centred",
        squared_distances: str = "differences",
        factorization: str = "full",
        **kwargs,
    ):
        """Args:
        D: input dimension; N_max: window size (None keeps every point);
        train_x: optional `N x D` initial data, train_y: `N`;
        standardize_outputs: model the window's observations standardised (see the class docstring);
        gradient_mean: "centred", the posterior's μ∇ = ∂k K⁻¹ (y − m); "uncentred", ∂k K⁻¹ y, what the paper's
            code computed (it left out the fitted constant mean m; a slip, kept only to measure its effect);
        squared_distances: how the acquisitions (`GradientInformation`, `ExpectedAscentStatistic`) compute the
            squared distances ‖(z − x_j) / l‖² of their candidates z to the window: "differences", from the
            coordinate differences (every documented seeded run; `n x N x D` work per evaluation of n
            candidates), or "inner_products", from ‖a‖² + ‖b‖² − 2 aᵀb about θ (matrix products: many times faster
            at large D and N; equal to rounding, so seeded trajectories part from the other way's). The window's
            own distances are always the differences, so a run's numbers do not depend on its history (a
            resumed run repeats an uninterrupted one);
        factorization: K's Cholesky factor in `kernel_solve`: "full", factorised afresh at every call (every
            documented seeded run), or "incremental", kept between calls while the hyperparameters stay (a new
            point adds a row, the oldest point's row leaves; `gibo.window_factor`): equal to rounding, and
            N² instead of N³ work per call for windows of hundreds of points;
        kwargs: as `ExactGPSEModel`.

        The window's squared distances are kept between calls: a new point adds its row, a point leaving the
        window takes its row away, and they are computed afresh only when the lengthscales or the data
        otherwise change; the kernel matrix is the same bit for bit as one computed from scratch.
        """
        if gradient_mean not in ("centred", "uncentred"):
            raise ValueError(f"gradient_mean must be 'centred' or 'uncentred', got {gradient_mean!r}")
        if squared_distances not in SQUARED_DISTANCES:
            raise ValueError(f"squared_distances must be one of {SQUARED_DISTANCES}, got {squared_distances!r}")
        if factorization not in FACTORIZATIONS:
            raise ValueError(f"factorization must be one of {FACTORIZATIONS}, got {factorization!r}")
        if train_x is None:
            train_x = torch.empty(0, D, dtype=dtype)
            train_y = torch.empty(0, dtype=dtype)
        elif train_y is None:
            raise ValueError("train_x needs train_y")
        kwargs.setdefault("ard_num_dims", D)
        super().__init__(train_x, train_y, **kwargs)
        self.D = D
        self.N_max = N_max
        self.standardize_outputs = standardize_outputs
        self.gradient_mean = gradient_mean
        self.squared_distances = squared_distances
        self.factorization = factorization
        self._factor: WindowFactor | None = None  # K's factor kept between calls (`factorization="incremental"`)
        self._serial_end = 0  # points ever added by `append_train_data`: tells the window's points apart
        self._distances: WindowDistances | None = None  # the window's, kept between calls (`window_distances`)
        self._observations: torch.Tensor | None = None  # the window's raw y when the targets are standardised
        self._standardization: tuple[torch.Tensor, torch.Tensor] | None = None  # its shift and spread
        if standardize_outputs:
            self.set_data(train_x, train_y)
        elif N_max is not None:
            self._truncate()

    @property
    def train_x(self) -> torch.Tensor:
        """`N x D` inputs currently in the window."""
        return self.train_inputs[0]

    @property
    def train_y(self) -> torch.Tensor:
        """`N` observations currently in the window (as observed; `train_targets` holds what the GP models)."""
        return self.train_targets if self._observations is None else self._observations

    @property
    def N(self) -> int:
        return self.train_targets.shape[-1]

    def set_data(self, train_x: torch.Tensor, train_y: torch.Tensor) -> None:
        """Replace the data (then keep only the N_max newest points). train_x: `N x D`, train_y: `N`."""
        if self.standardize_outputs:
            if self.N_max is not None:
                train_x, train_y = train_x[-self.N_max :], train_y[-self.N_max :]
            self._observations = train_y
            self._standardization = standardization(train_y)
            self.set_train_data(train_x, self.to_targets(train_y), strict=False)
            return
        self.set_train_data(train_x, train_y, strict=False)
        self._truncate()

    def to_targets(self, y: torch.Tensor | float) -> torch.Tensor | float:
        """Observations `...` in the units the GP models (the window's standardisation; y itself without it)."""
        if self._standardization is None:
            return y
        shift, spread = self._standardization
        return (y - shift) / spread

    def append_train_data(self, new_x: torch.Tensor, new_y: torch.Tensor) -> None:
        """Add observations; the oldest points drop out beyond N_max.

        new_x: `n x D` (or `D`), new_y: `n` (or scalar)."""
        new_x = new_x.reshape(-1, self.D).to(self.train_x)
        new_y = new_y.reshape(-1).to(self.train_y)
        if self.factorization == "incremental" and self._factor is not None:
            self._sync_factor()  # hyperparameters changed since the last solve: refactorise the window they saw
        kept = self._distances if self._distances is not None and self._distances.holds(self.train_x) else None
        self._serial_end += new_x.shape[0]
        old_N = self.N
        self.set_data(torch.cat([self.train_x, new_x]), torch.cat([self.train_y, new_y]))
        old_rows = self.N - new_x.shape[0]  # the old points still in the window: the last old_rows of them
        if kept is not None and old_rows >= 0:
            self._append_distances(kept, old_N, old_rows)
        if self.factorization == "incremental":
            self._sync_factor()

    def _append_distances(self, kept: WindowDistances, old_N: int, old_rows: int) -> None:
        """The kept window distances `kept` (of the window before the append, `old_N` points) brought up to the
        window whose first `old_rows` points are old ones."""
        with torch.no_grad():
            X = self.train_x
            new_rows = scaled_squared_distances(X[old_rows:], X, kept.lengthscale)  # n x N
            distances = torch.empty(self.N, self.N, dtype=X.dtype, device=X.device)
            distances[:old_rows, :old_rows] = kept.distances[old_N - old_rows :, old_N - old_rows :]
            distances[old_rows:] = new_rows
            distances[:old_rows, old_rows:] = new_rows[:, :old_rows].transpose(0, 1)
        self._distances = WindowDistances(X, X._version, kept.lengthscale, distances)

    def window_distances(self, lengthscale: torch.Tensor) -> torch.Tensor:
        """The window's scaled squared distances ‖(x_i − x_j) / l‖² `N x N` for these lengthscales: kept between
        calls, computed afresh when the data or the lengthscales changed otherwise than by `append_train_data`
        (and always when autograd is to flow through them)."""
        X = self.train_x
        if torch.is_grad_enabled() and (lengthscale.requires_grad or X.requires_grad):
            return scaled_squared_distances(X, X, lengthscale)
        cached = self._distances
        if cached is not None and cached.holds(X) and torch.equal(cached.lengthscale, lengthscale):
            return cached.distances
        with torch.no_grad():
            lengthscale = lengthscale.detach().clone()
            distances = symmetric_squared_distances(X, lengthscale)
        self._distances = WindowDistances(X, X._version, lengthscale, distances)
        return distances

    def _truncate(self) -> None:
        if self.N_max is not None and self.N > self.N_max:
            self.set_train_data(self.train_x[-self.N_max :], self.train_y[-self.N_max :], strict=False)

    def kernel_solve(self) -> KernelSolve:
        """Cholesky factor of K and K⁻¹(y − m) for the current data and hyperparameters (never cached:
        a refit or new data must not leave stale values behind)."""
        X, y = self.train_x, self.train_targets
        lengthscale = self.lengthscale.expand(self.D) if self.lengthscale.numel() == 1 else self.lengthscale
        outputscale, noise = self.outputscale, self.noise
        centre = self.prior_mean if self.gradient_mean == "centred" else torch.zeros_like(self.prior_mean)
        needs_graph = torch.is_grad_enabled() and any(
            t.requires_grad for t in (X, lengthscale, outputscale, noise, centre)
        )
        if self.factorization == "incremental" and not needs_graph and self.N > 0:
            return self._incremental_solve(centre)
        K = self._kernel_matrix(lengthscale, outputscale, noise)
        try:
            chol = safe_cholesky(K)
        except torch.linalg.LinAlgError as error:
            raise self._factorisation_error(error, lengthscale, outputscale, noise) from None
        alpha = torch.cholesky_solve((y - centre).unsqueeze(-1), chol).squeeze(-1)
        return KernelSolve(X, chol, alpha, lengthscale, outputscale, noise)

    def _kernel_matrix(self, lengthscale, outputscale, noise) -> torch.Tensor:
        """The window's K = k(X, X) + σn² I `N x N` for these hyperparameters."""
        K = torch.exp(-0.5 * self.window_distances(lengthscale))
        if torch.is_grad_enabled() and (K.requires_grad or outputscale.requires_grad or noise.requires_grad):
            return outputscale * K + noise * torch.eye(self.N, dtype=K.dtype, device=K.device)
        K.mul_(outputscale).diagonal().add_(noise)  # the same numbers without three N x N temporaries
        return K

    def _factorisation_error(self, error, lengthscale, outputscale, noise) -> torch.linalg.LinAlgError:
        """K's factorisation failed: the error, naming the hyperparameters in force (the usual culprit)."""
        ls = lengthscale.detach()
        return torch.linalg.LinAlgError(
            f"{error} ({self.N} points; lengthscale min {float(ls.min()):.3g} / max {float(ls.max()):.3g}, "
            f"outputscale {float(outputscale.detach()):.3g}, noise {float(noise.detach()):.3g})"
        )

    def _sync_factor(self, fresh: bool = False) -> WindowFactor:
        """The kept factor (`factorization="incremental"`) brought up to the window, refactorised where the
        hyperparameters changed, the update cannot serve, or `fresh`."""
        with torch.no_grad():
            X = self.train_x
            lengthscale = self.lengthscale.expand(self.D) if self.lengthscale.numel() == 1 else self.lengthscale
            hyper = (lengthscale.detach(), self.outputscale.detach(), self.noise.detach())
            factor = self._factor
            if (
                fresh
                or factor is None
                or not factor.holds_hyperparameters(hyper)
                or not factor.sync(X, self._serial_end)
            ):
                try:
                    factor = WindowFactor(X, self._serial_end, hyper, self._kernel_matrix(*hyper))
                except torch.linalg.LinAlgError as error:
                    raise self._factorisation_error(error, *hyper) from None
                self._factor = factor
            return factor

    def _incremental_solve(self, centre: torch.Tensor) -> KernelSolve:
        """`kernel_solve` from the kept factor (`gibo.window_factor`)."""
        with torch.no_grad():
            X, y = self.train_x, self.train_targets
            factor = self._sync_factor()
            view = factor.view(factor.kept(self.N, self._serial_end))
            if view is None:  # the added block needs jitter: refactorise the whole matrix
                factor = self._sync_factor(fresh=True)
                view = factor.view(factor.kept(self.N, self._serial_end))
                assert view is not None  # a fresh factor has no added block
            alpha = torch.cholesky_solve((y[view.order] - centre.detach()).unsqueeze(-1), view.chol).squeeze(-1)
            lengthscale, outputscale, noise = factor.hyper
            return KernelSolve(X[view.order], view.chol, alpha, lengthscale, outputscale, noise, view=view)

    def posterior_derivative(self, x: torch.Tensor, min_variance: float = 1e-9, solve: KernelSolve | None = None):
        """Gradient posterior at x: mean `n x D` and covariance `n x D x D`.

        Args:
            x: `n x D` (or `D`) points.
            min_variance: floor for the diagonal of the covariance only (off-diagonals may be negative).
            solve: this model's `kernel_solve()` for its current data, when the caller evaluates the posterior
                at many points without changing the data (MPD's walk); computed here when None.
        """
        x = x.reshape(-1, self.D).to(self.train_x)
        solve = self.kernel_solve() if solve is None else solve
        dk = solve.kernel_gradient(x, solve.X)  # n x N x D
        mean = torch.einsum("nkd,k->nd", dk, solve.alpha)
        v = torch.linalg.solve_triangular(solve.chol, dk, upper=False)  # n x N x D: L⁻¹ ∂k(X, x)/∂x
        prior_cov = torch.diag_embed((solve.outputscale / solve.lengthscale.pow(2)).expand(x.shape[0], self.D))
        cov = prior_cov - v.transpose(-1, -2) @ v
        diagonal = cov.diagonal(dim1=-2, dim2=-1)
        cov = cov - torch.diag_embed(diagonal) + torch.diag_embed(diagonal.clamp_min(min_variance))
        return mean, cov

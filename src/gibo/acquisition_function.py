"""Gradient-information acquisition (docs/method.md#gradient-information-acquisition) and its optimisation over a
box; closed-form EI for vanilla BO."""

from __future__ import annotations

import logging
import warnings

import torch
from botorch.acquisition import AcquisitionFunction
from botorch.acquisition.analytic import _ei_helper, _log_ei_helper
from botorch.exceptions.warnings import OptimizationWarning
from botorch.optim import optimize_acqf
from botorch.utils.transforms import t_batch_mode_transform

from gibo.model import DerivativeExactGPSEModel, _safe_cholesky

logger = logging.getLogger(__name__)


class _GradientAtTheta(AcquisitionFunction):
    """What the acquisitions about the gradient at θ share: the solve of the current data, computed once,
    and for candidates Z the predictive covariance S of y(Z) and V with Vᵀ = Cov(∇f(θ), f(Z) | X).

    With U = L⁻¹ k(X, Z) and W = L⁻¹ ∂k(X, θ)/∂θ (K = L Lᵀ): S = k(Z, Z) + σn² I − UᵀU, V = ∂k(θ, Z)/∂θ − UᵀW.
    Build a new instance after the model's data or hyperparameters change.
    """

    def __init__(self, model: DerivativeExactGPSEModel, theta: torch.Tensor):
        """Args: model: the derivative GP; theta: `D` (or `1 x D`) point whose gradient we want to learn."""
        super().__init__(model)
        with torch.no_grad():
            solve = model.kernel_solve()
            self.theta = theta.detach().reshape(1, -1).to(solve.X)
            self._solve = solve
            self._dk_theta = solve.kernel_gradient(self.theta, solve.X)[0]  # N x D
            self._W = torch.linalg.solve_triangular(solve.chol, self._dk_theta, upper=False)  # N x D

    def _cross_terms(self, Z: torch.Tensor):
        """Z: `b x q x D` → S `b x q x q`, V `b x q x D`."""
        solve = self._solve
        U = torch.linalg.solve_triangular(solve.chol, solve.kernel(solve.X, Z), upper=False)  # b x N x q
        eye = torch.eye(Z.shape[-2], dtype=Z.dtype, device=Z.device)
        S = solve.kernel(Z, Z) + solve.noise * eye - U.transpose(-1, -2) @ U  # b x q x q
        dk_theta_Z = solve.kernel_gradient(self.theta, Z).squeeze(-3)  # b x 1 x q x D → b x q x D
        return S, dk_theta_Z - U.transpose(-1, -2) @ self._W


class GradientInformation(_GradientAtTheta):
    """α(Z) = −tr Σ∇(θ | X ∪ Z): the gradient uncertainty at θ left after also observing Z.

    Batched through the Schur complement: with U = L⁻¹ k(X, Z), W = L⁻¹ ∂k(X, θ)/∂θ (K = L Lᵀ),
    S = k(Z, Z) + σn² I − UᵀU and V = ∂k(θ, Z)/∂θ − UᵀW,
    tr Σ∇(θ | X ∪ Z) = tr Σ∇(θ | X) − tr(Vᵀ S⁻¹ V). Needs no observation at Z.
    Everything that depends only on the model's data and hyperparameters is computed once, at
    construction: build a new instance after the model changes.

    Example:
        >>> acq = GradientInformation(model, theta)  # theta: D
        >>> values = acq(torch.rand(64, 1, D))        # 64
        >>> z, value = optimize_gradient_information(acq, bounds)
    """

    def __init__(self, model: DerivativeExactGPSEModel, theta: torch.Tensor, lengthscale_slip: bool = False):
        """Args: model: the derivative GP; theta: `D` (or `1 x D`) point whose gradient we want to learn;
        lengthscale_slip: emulate the acquisition of the paper's published runs, whose ∂k/∂θ_i divided by l_i
        instead of l_i²: every gradient entry's variance is then weighted by l_i², α = −Σ_i l_i² Σ∇,ii (same
        differences between values as that code's)."""
        super().__init__(model, theta)
        self._weights: torch.Tensor | None
        with torch.no_grad():
            solve = self._solve
            if lengthscale_slip:
                self._weights = solve.lengthscale.pow(2).expand(self._W.shape[-1])
                prior_variances = (solve.outputscale / solve.lengthscale.pow(2)).expand(self._W.shape[-1])
                self.current_trace = ((prior_variances - self._W.pow(2).sum(0)) * self._weights).sum(-1)
            else:
                self._weights = None
                self.current_trace = (solve.outputscale / solve.lengthscale.pow(2)).sum() - self._W.pow(2).sum()

    @t_batch_mode_transform()  # type: ignore[arg-type]  # BoTorch types it for the base class's forward
    def forward(self, Z: torch.Tensor) -> torch.Tensor:
        """Z: `b x q x D` candidates → `b` acquisition values."""
        S, V = self._cross_terms(Z)
        q = Z.shape[-2]
        # Two summation orders on purpose: the default one is what every documented seeded run used (a
        # reordered sum changes their rounding and so their trajectories); the slip path sums per entry.
        if self._weights is not None:  # per gradient entry, then l²-weighted
            entries = V.pow(2).sum(-2) / S[..., 0, :1] if q == 1 else (V * torch.linalg.solve(S, V)).sum(-2)
            return -(self.current_trace - (entries * self._weights).sum(-1))
        reduction = V.pow(2).sum((-1, -2)) / S[..., 0, 0] if q == 1 else (V * torch.linalg.solve(S, V)).sum((-1, -2))
        return -(self.current_trace - reduction)


def optimize_gradient_information(
    acquisition: AcquisitionFunction,
    bounds: torch.Tensor,
    q: int = 1,
    num_restarts: int = 5,
    raw_samples: int = 64,
    options: dict | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """argmax of the acquisition over a box with multi-start L-BFGS-B (BoTorch's `optimize_acqf`).

    Used for GIBO's `GradientInformation` and MPD's `ExpectedAscentStatistic` alike.

    Args:
        bounds: `2 x D` lower and upper corners.
    Returns:
        candidates `q x D` and the acquisition value at them (scalar).
    """
    # All restarts share one L-BFGS-B run (measured 3.5x faster than one restart at a time at D = 8 and 32,
    # same optima); optimisation warnings are not retried, which only costs time here.
    opts: dict[str, bool | float | int | str] = {"maxiter": 200}
    opts.update(options or {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizationWarning)
        candidates, value = optimize_acqf(
            acquisition,
            bounds=bounds,
            q=q,
            num_restarts=num_restarts,
            raw_samples=raw_samples,
            options=opts,
            retry_on_optimization_warning=False,
        )
    return candidates.detach(), value.detach()  # type: ignore[union-attr]  # values come with the candidates


# MPD (maximum probability of descent): its most probable ascent direction and its acquisition.


def _symmetrized(matrix: torch.Tensor) -> torch.Tensor:
    return 0.5 * (matrix + matrix.transpose(-1, -2))


def most_probable_ascent(mean: torch.Tensor, cov: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """v* = Σ⁻¹μ / ‖Σ⁻¹μ‖ maximises P(vᵀ∇f > 0) = Φ(vᵀμ / √(vᵀΣv)) over unit v; there it is Φ(√(μᵀΣ⁻¹μ)).

    With Σ = L Lᵀ and u = Lᵀv, vᵀμ / √(vᵀΣv) = uᵀ(L⁻¹μ) / ‖u‖ is largest for u ∝ L⁻¹μ, i.e. v ∝ L⁻ᵀL⁻¹μ,
    where it equals ‖L⁻¹μ‖. Σ is symmetrised and factored with the model's jittered Cholesky.

    Example:
        >>> mean, cov = model.posterior_derivative(theta)  # 1 x D, 1 x D x D
        >>> direction, probability = most_probable_ascent(mean, cov)
        >>> theta = theta + 0.01 * direction[0]

    Args:
        mean: `... x D` gradient means μ; cov: `... x D x D` gradient covariances Σ (positive definite).

    Returns:
        unit directions v* `... x D` (zero where μ = 0) and the ascent probabilities Φ(√(μᵀΣ⁻¹μ)) `...`.
    """
    chol = _safe_cholesky(_symmetrized(cov))
    whitened = torch.linalg.solve_triangular(chol, mean.unsqueeze(-1), upper=False)  # L⁻¹μ
    direction = torch.linalg.solve_triangular(chol.transpose(-1, -2), whitened, upper=True).squeeze(-1)  # Σ⁻¹μ
    probability = torch.special.ndtr(whitened.squeeze(-1).norm(dim=-1))
    norm = direction.norm(dim=-1, keepdim=True)
    return direction / torch.where(norm > 0, norm, torch.ones_like(norm)), probability


class ExpectedAscentStatistic(_GradientAtTheta):
    """α(Z) = E_{y(Z)}[s(θ | X ∪ Z)], s = μ∇ᵀΣ∇⁻¹μ∇ (ascent probability Φ(√s)) = ‖L⁻¹μ∇‖² + ‖L⁻¹A‖², L Lᵀ = Σ∇ − AAᵀ.

    MPD's acquisition (Nguyen et al., 2022), for the gradient at θ. With U = L_K⁻¹ k(X, Z), W = L_K⁻¹ ∂k(X, θ)/∂θ
    (K = L_K L_Kᵀ), the predictive covariance of y(Z) is S = k(Z, Z) + σn² I − UᵀU = C Cᵀ and
    Cov(∇f(θ), f(Z) | X) = Vᵀ with V = ∂k(θ, Z)/∂θ − UᵀW. Observing y(Z) moves the gradient mean to
    μ∇ + Vᵀ S⁻¹ (y(Z) − μ(Z)) = μ∇ + A ξ, A = Vᵀ C⁻ᵀ (`D x q`), ξ = C⁻¹(y(Z) − μ(Z)) ~ N(0, I), and its
    covariance to Σ∇(θ | X ∪ Z) = Σ∇ − AAᵀ (Schur complement; no observation needed), so
    E[s] = μ∇ᵀΣ'⁻¹μ∇ + tr(Σ'⁻¹AAᵀ). For q = 1, A is a(z) = Cov(∇f(θ), f(z) | X) / √(Var(f(z) | X) + σn²).
    Everything that depends only on the model's data and hyperparameters is computed once, at
    construction: build a new instance after the model changes.

    Example:
        >>> acq = ExpectedAscentStatistic(model, theta)  # theta: D
        >>> values = acq(torch.rand(64, 1, D))            # 64
        >>> z, value = optimize_gradient_information(acq, bounds)
    """

    def __init__(self, model: DerivativeExactGPSEModel, theta: torch.Tensor):
        """Args: model: the derivative GP; theta: `D` (or `1 x D`) point whose gradient we want to learn."""
        super().__init__(model, theta)
        with torch.no_grad():
            solve = self._solve
            self.gradient_mean = self._dk_theta.transpose(-1, -2) @ solve.alpha  # D
            prior_cov = torch.diag(solve.outputscale / solve.lengthscale.pow(2))
            self.gradient_cov = _symmetrized(prior_cov - self._W.transpose(-1, -2) @ self._W)  # D x D
            chol = _safe_cholesky(self.gradient_cov)
            whitened = torch.linalg.solve_triangular(chol, self.gradient_mean.unsqueeze(-1), upper=False)
            self.current_statistic = whitened.pow(2).sum()  # s(θ | X)

    @t_batch_mode_transform()  # type: ignore[arg-type]  # BoTorch types it for the base class's forward
    def forward(self, Z: torch.Tensor) -> torch.Tensor:
        """Z: `b x q x D` candidates → `b` acquisition values."""
        S, V = self._cross_terms(Z)
        A_t = torch.linalg.solve_triangular(_safe_cholesky(_symmetrized(S)), V, upper=False)  # b x q x D: C⁻¹V = Aᵀ
        cov_after = _symmetrized(self.gradient_cov - A_t.transpose(-1, -2) @ A_t)  # b x D x D
        chol = _safe_cholesky(cov_after)
        mean = self.gradient_mean.expand(*Z.shape[:-2], -1).unsqueeze(-1)  # b x D x 1
        mean_term = torch.linalg.solve_triangular(chol, mean, upper=False).pow(2).sum((-1, -2))
        spread_term = torch.linalg.solve_triangular(chol, A_t.transpose(-1, -2), upper=False).pow(2).sum((-1, -2))
        return mean_term + spread_term


class ClosedFormExpectedImprovement(AcquisitionFunction):
    """EI(x) = σ(x) (φ(u) + u Φ(u)), u = (μ(x) − best_f) / σ(x), from the GP's closed-form posterior (log EI optional).

    μ(x) = m + k(x, X) K⁻¹ (y − m) and σ²(x) = σf² − k(x, X) K⁻¹ k(X, x) (latent f, as BoTorch's analytic EI,
    whose `_ei_helper` / `_log_ei_helper` it uses). The Cholesky factor of K is computed once, at construction:
    the values equal BoTorch's `ExpectedImprovement` on the same GP, at a third of the cost per evaluation
    (no lazy-tensor machinery), which is what makes vanilla BO at D = 32 and 300 calls affordable.
    Build a new instance after the model's data or hyperparameters change.

    Example:
        >>> acq = ClosedFormExpectedImprovement(model, best_f=model.train_y.max())
        >>> values = acq(torch.rand(64, 1, D))  # 64
    """

    def __init__(self, model: DerivativeExactGPSEModel, best_f, log: bool = False):
        """model: SE-ARD GP with `kernel_solve()`; best_f: scalar incumbent; log: return log EI."""
        super().__init__(model)
        with torch.no_grad():
            self._solve = model.kernel_solve()
            self._prior_mean = model.prior_mean.detach().to(self._solve.X)
        self.best_f = torch.as_tensor(best_f).detach().to(self._solve.X)
        self.log = log

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """X: `b x 1 x D` candidates → `b` values."""
        if X.shape[-2] != 1:
            raise ValueError(f"expected improvement is analytic for q = 1 only, got q = {X.shape[-2]}")
        solve = self._solve
        k = solve.kernel(X, solve.X)  # b x 1 x N
        mean = (self._prior_mean + k @ solve.alpha).squeeze(-1)  # b
        v = torch.linalg.solve_triangular(solve.chol, k.transpose(-1, -2), upper=False)  # b x N x 1
        variance = solve.outputscale - v.pow(2).sum((-1, -2))
        sigma = variance.clamp_min(1e-12).sqrt()  # BoTorch's floor
        u = (mean - self.best_f) / sigma
        return _log_ei_helper(u) + sigma.log() if self.log else sigma * _ei_helper(u)

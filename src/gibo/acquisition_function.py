"""Gradient-information acquisition (docs/method.md#gradient-information-acquisition), MPD's expected ascent
statistic, and their optimisation over a box."""

from __future__ import annotations

import functools
import logging
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from botorch.acquisition import AcquisitionFunction
from botorch.exceptions.errors import OptimizationGradientError
from botorch.exceptions.warnings import OptimizationWarning
from botorch.generation.gen import _process_scipy_result, gen_candidates_scipy, get_reasons_against_fast_path
from botorch.optim import optimize_acqf
from botorch.optim.batched_lbfgs_b import fmin_l_bfgs_b_batched, translate_bounds_for_lbfgsb
from botorch.optim.utils import columnwise_clamp
from botorch.utils.transforms import t_batch_mode_transform
from scipy.linalg import get_blas_funcs
from threadpoolctl import ThreadpoolController
from torch.autograd.function import once_differentiable

from gibo.kernel import safe_cholesky
from gibo.model import DerivativeExactGPSEModel

logger = logging.getLogger(__name__)


class _ClosedFormGradient(torch.autograd.Function):
    """Values α(z) of a `_GradientAtTheta` acquisition for single candidates (`... x 1 x D` → `...`), with
    ∂α/∂z in closed form.

    The forward pass computes the values and, when the candidates require a gradient, ∂α/∂z with them (the two
    share every intermediate); the backward pass only scales that gradient. No autograd graph is built through
    the acquisition: building it and running its backward cost twice the forward pass on GIBO's hot path.
    """

    @staticmethod
    def forward(ctx, Z: torch.Tensor, acquisition: _GradientAtTheta) -> torch.Tensor:
        z = Z.detach().reshape(-1, Z.shape[-1]).numpy()
        values, gradient = acquisition._single_point(z, with_gradient=ctx.needs_input_grad[0])
        ctx.gradient = None if gradient is None else torch.from_numpy(gradient).reshape(Z.shape)
        return torch.from_numpy(values).reshape(Z.shape[:-2])

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: torch.Tensor):
        return grad_output.unsqueeze(-1).unsqueeze(-1) * ctx.gradient, None


@dataclass
class _PointTerms:
    """The terms of n single candidates z that their values and gradients share (NumPy arrays).

    zs = z / l `n x D`; k = k(z, X) `n x N`; u = L⁻¹ k(X, z) `N x n`; s = k(z, z) + σn² − uᵀu `n` (the predictive
    variance of y(z)); e = (θ − z) / l² `n x D`; k_theta = k(θ, z) `n`; v = ∂k(θ, z)/∂θ − Wᵀu `n x D`.
    """

    zs: np.ndarray
    k: np.ndarray
    u: np.ndarray
    s: np.ndarray
    e: np.ndarray
    k_theta: np.ndarray
    v: np.ndarray


class _GradientAtTheta(AcquisitionFunction):
    """What the acquisitions about the gradient at θ share: the solve of the current data, computed once,
    and for candidates Z the predictive covariance S of y(Z) and V with Vᵀ = Cov(∇f(θ), f(Z) | X).

    With U = L⁻¹ k(X, Z) and W = L⁻¹ ∂k(X, θ)/∂θ (K = L Lᵀ): S = k(Z, Z) + σn² I − UᵀU, V = ∂k(θ, Z)/∂θ − UᵀW.
    Build a new instance after the model's data or hyperparameters change.

    Single candidates (q = 1, what GIBO and MPD optimise) on the CPU take a faster path when `analytic_gradient`:
    s and v from one triangular solve for the whole batch, and ∂α/∂z in closed form (`_ClosedFormGradient`),
    in NumPy (L-BFGS-B asks for ~5 candidates at a time: there torch's per-operation cost outweighs the
    arithmetic). A subclass writes its value as a function of (s, v) and returns, with the values, w, c1 and c2
    such that ∂α/∂z = c1 wᵀ ∂v/∂z + c2 ∂s/∂z; `_point_gradient` does the rest:
    wᵀ ∂v/∂z = k(θ, z) (w / l² − (wᵀe) e) − βᵀ ∂k(X, z)/∂z with β = K⁻¹ ∂k(X, θ)/∂θ w, and
    ∂s/∂z = −2 aᵀ ∂k(X, z)/∂z with a = K⁻¹ k(X, z), where ∂k(X_j, z)/∂z = (X_j − z) / l² k(X_j, z).
    """

    def __init__(self, model: DerivativeExactGPSEModel, theta: torch.Tensor, analytic_gradient: bool = True):
        """Args: model: the derivative GP; theta: `D` (or `1 x D`) point whose gradient we want to learn;
        analytic_gradient: for q = 1 on the CPU, the single-candidate path with the closed-form gradient (False:
        autograd through the batched formula for any q, the path the tests and `benchmarks/acquisition_speed.py`
        compare against)."""
        super().__init__(model)
        with torch.no_grad():
            solve = model.kernel_solve()
            self.theta = theta.detach().reshape(1, -1).to(solve.X)
            self._solve = solve
            self._dk_theta, self._W = solve.gradient_solve(self.theta)  # ∂k(X, θ)/∂θ and L⁻¹ of it, N x D
            self.analytic_gradient = analytic_gradient and solve.X.device.type == "cpu"
            if self.analytic_gradient:  # NumPy views and copies (`_np`) of what the single-candidate path reads
                lengthscale = solve.lengthscale.numpy()
                self._lengthscale_np = lengthscale
                self._X_scaled_np = solve.X.numpy() / lengthscale  # N x D
                self._theta_scaled_np = self.theta[0].numpy() / lengthscale  # D
                # With the model's "inner_products" distances: X / l − θ / l and its squared row norms
                self._X_centred_np: np.ndarray | None = None
                if getattr(model, "squared_distances", "differences") == "inner_products":
                    self._X_centred_np = self._X_scaled_np - self._theta_scaled_np
                    self._X_centred_norms_np = np.einsum("nd,nd->n", self._X_centred_np, self._X_centred_np)
                self._outputscale_np = solve.outputscale.numpy()
                self._prior_variance_np = (solve.outputscale + solve.noise).numpy()  # k(z, z) + σn²
                self._chol_np = np.asfortranarray(solve.chol.numpy())  # the layout BLAS solves in place of a copy
                self._trsm = get_blas_funcs("trsm", (self._chol_np,))
                self._W_np = self._W.numpy()
                # N x D: K⁻¹ ∂k(X, θ)/∂θ, solved by torch here (BLAS threads are not limited outside the optimiser);
                # with "inner_products" `_point_gradient` folds it into its one solve per batch instead
                self._M_np: np.ndarray | None = None
                if self._X_centred_np is None:
                    self._M_np = torch.linalg.solve_triangular(solve.chol.mT, self._W, upper=True).numpy()

    def _cross_terms(self, Z: torch.Tensor):
        """Z: `b x q x D` → S `b x q x q`, V `b x q x D`."""
        solve = self._solve
        U = torch.linalg.solve_triangular(solve.chol, solve.kernel(solve.X, Z), upper=False)  # b x N x q
        eye = torch.eye(Z.shape[-2], dtype=Z.dtype, device=Z.device)
        S = solve.kernel(Z, Z) + solve.noise * eye - U.transpose(-1, -2) @ U  # b x q x q
        dk_theta_Z = solve.kernel_gradient(self.theta, Z).squeeze(-3)  # b x 1 x q x D → b x q x D
        return S, dk_theta_Z - U.transpose(-1, -2) @ self._W

    def _point_terms(self, z: np.ndarray) -> _PointTerms:
        """z: `n x D` single candidates → their `_PointTerms` (s and v equal `_cross_terms` for q = 1)."""
        zs = z / self._lengthscale_np
        if self._X_centred_np is None:
            diff = zs[:, None, :] - self._X_scaled_np  # n x N x D
            squared = np.einsum("bnd,bnd->bn", diff, diff)  # n x N
        else:  # ‖a‖² + ‖b‖² − 2 aᵀb about θ / l, floored at 0: no n x N x D tensor
            zc = zs - self._theta_scaled_np
            squared = (
                np.einsum("bd,bd->b", zc, zc)[:, None] + self._X_centred_norms_np - 2 * (zc @ self._X_centred_np.T)
            )
            np.maximum(squared, 0.0, out=squared)
        k = self._outputscale_np * np.exp(-0.5 * squared)  # n x N
        u = self._trsm(1.0, self._chol_np, k.T, lower=1)  # N x n: one solve for all candidates
        s = self._prior_variance_np - np.einsum("nb,nb->b", u, u)
        d = self._theta_scaled_np - zs  # (θ − z) / l
        k_theta = self._outputscale_np * np.exp(-0.5 * np.einsum("bd,bd->b", d, d))
        e = d / self._lengthscale_np
        v = -(e * k_theta[:, None]) - u.T @ self._W_np  # ∂k(θ, z)/∂θ = −(θ − z) / l² k(θ, z)
        return _PointTerms(zs, k, u, s, e, k_theta, v)

    def _point_gradient(self, t: _PointTerms, w: np.ndarray, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
        """∂α/∂z = c1 wᵀ ∂v/∂z + c2 ∂s/∂z (see the class docstring); w: `n x D`, c1, c2: `n` → `n x D`."""
        if self._M_np is None:  # L⁻ᵀ (W wᵀ c1 + 2 c2 u): the same weights from one solve
            gamma = self._trsm(1.0, self._chol_np, (self._W_np @ w.T) * c1 + t.u * (2 * c2), lower=1, trans_a=1)
        else:
            a = self._trsm(1.0, self._chol_np, t.u, lower=1, trans_a=1)  # N x n: K⁻¹ k(X, z)
            gamma = (self._M_np @ w.T) * c1 + a * (2 * c2)  # N x n: the weights of ∂k(X_j, z)/∂z, negated
        gk = gamma.T * t.k  # n x N
        kernel_part = (gk @ self._X_scaled_np - gk.sum(-1, keepdims=True) * t.zs) / self._lengthscale_np
        theta_part = w / self._lengthscale_np**2 - np.einsum("bd,bd->b", w, t.e)[:, None] * t.e
        return theta_part * (c1 * t.k_theta)[:, None] - kernel_part

    def _single_point(self, z: np.ndarray, with_gradient: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """z: `n x D` → values `n` and, with_gradient, ∂α/∂z `n x D`."""
        raise NotImplementedError

    @t_batch_mode_transform()  # type: ignore[arg-type]  # BoTorch types it for the base class's forward
    def forward(self, Z: torch.Tensor) -> torch.Tensor:
        """Z: `b x q x D` candidates → `b` acquisition values."""
        if self.analytic_gradient and Z.shape[-2] == 1:
            return _ClosedFormGradient.apply(Z, self)
        return self._batched_values(Z)

    def _batched_values(self, Z: torch.Tensor) -> torch.Tensor:
        """Z: `b x q x D` → `b` values, differentiable by autograd."""
        raise NotImplementedError


class GradientInformation(_GradientAtTheta):
    """α(Z) = −tr Σ∇(θ | X ∪ Z): the gradient uncertainty at θ left after also observing Z.

    Batched through the Schur complement: with U = L⁻¹ k(X, Z), W = L⁻¹ ∂k(X, θ)/∂θ (K = L Lᵀ),
    S = k(Z, Z) + σn² I − UᵀU and V = ∂k(θ, Z)/∂θ − UᵀW,
    tr Σ∇(θ | X ∪ Z) = tr Σ∇(θ | X) − tr(Vᵀ S⁻¹ V). Needs no observation at Z. For q = 1 this is
    α(z) = ‖v‖² / s − tr Σ∇(θ | X), with ∂α/∂z = (2/s) vᵀ ∂v/∂z − (‖v‖²/s²) ∂s/∂z in closed form.
    Everything that depends only on the model's data and hyperparameters is computed once, at
    construction: build a new instance after the model changes.

    Example:
        >>> acq = GradientInformation(model, theta)  # theta: D
        >>> values = acq(torch.rand(64, 1, D))        # 64
        >>> z, value = optimize_gradient_information(acq, bounds)
    """

    def __init__(
        self,
        model: DerivativeExactGPSEModel,
        theta: torch.Tensor,
        lengthscale_slip: bool = False,
        analytic_gradient: bool = True,
    ):
        """Args: model: the derivative GP; theta: `D` (or `1 x D`) point whose gradient we want to learn;
        lengthscale_slip: emulate the acquisition of the paper's published runs, whose ∂k/∂θ_i divided by l_i
        instead of l_i²: every gradient entry's variance is then weighted by l_i², α = −Σ_i l_i² Σ∇,ii (same
        differences between values as that code's); analytic_gradient: see `_GradientAtTheta`."""
        super().__init__(model, theta, analytic_gradient)
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
            if self.analytic_gradient:
                self._weights_np = None if self._weights is None else self._weights.numpy()
                self._current_trace_np = self.current_trace.numpy()

    def _single_point(self, z: np.ndarray, with_gradient: bool) -> tuple[np.ndarray, np.ndarray | None]:
        t = self._point_terms(z)
        w = t.v if self._weights_np is None else t.v * self._weights_np  # Ω v, Ω = I or diag(l²)
        reduction = np.einsum("bd,bd->b", t.v, w) / t.s
        values = reduction - self._current_trace_np
        if not with_gradient:
            return values, None
        return values, self._point_gradient(t, w, 2 / t.s, -reduction / t.s)

    def _batched_values(self, Z: torch.Tensor) -> torch.Tensor:
        S, V = self._cross_terms(Z)
        q = Z.shape[-2]
        # Two summation orders on purpose: the default one is what every documented seeded run used (a
        # reordered sum changes their rounding and so their trajectories); the slip path sums per entry.
        if self._weights is not None:  # per gradient entry, then l²-weighted
            entries = V.pow(2).sum(-2) / S[..., 0, :1] if q == 1 else (V * torch.linalg.solve(S, V)).sum(-2)
            return -(self.current_trace - (entries * self._weights).sum(-1))
        reduction = V.pow(2).sum((-1, -2)) / S[..., 0, 0] if q == 1 else (V * torch.linalg.solve(S, V)).sum((-1, -2))
        return -(self.current_trace - reduction)


@functools.cache
def _threadpool_controller() -> ThreadpoolController:
    """threadpoolctl's view of the loaded thread pools, made once: a fresh one scans every loaded library (1–5 ms)."""
    return ThreadpoolController()


def _generate_candidates(
    initial_conditions: torch.Tensor,
    acquisition_function: AcquisitionFunction,
    lower_bounds=None,
    upper_bounds=None,
    options: dict | None = None,
    fixed_features=None,
    timeout_sec: float | None = None,
    **constraints,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BoTorch's `gen_candidates_scipy` for `optimize_acqf`, with two of its costs taken out (same candidates).

    For a single-candidate `_GradientAtTheta` in double precision, where BoTorch would run its batched L-BFGS-B,
    this runs the same L-BFGS-B (same starts, bounds, options and stopping) on −α and its gradient taken from
    `_single_point` as NumPy arrays, without the round trip through torch and autograd that costs as much as an
    evaluation. Everything else goes to `gen_candidates_scipy` with no fixed features passed as None:
    `optimize_acqf` passes an empty dict, which `fix_features` applies by copying every column into a new
    tensor, in the forward and again in the backward pass (measured: more than the acquisition itself at D = 36).

    Args:
        initial_conditions: `b x q x D` starts; lower_bounds, upper_bounds: `D` box; the rest as in
            `gen_candidates_scipy`.
    Returns:
        candidates `b x q x D` and their acquisition values `b`.
    """
    options = {**(options or {}), "maxiter": (options or {}).get("maxiter", 2000)}
    minimize_options = {
        k: v
        for k, v in options.items()
        if k not in ("method", "callback", "with_grad", "max_optimization_problem_aggregation_size")
    }
    direct = (
        isinstance(acquisition_function, _GradientAtTheta)
        and acquisition_function.analytic_gradient
        and initial_conditions.dtype == torch.float64
        and initial_conditions.ndim == 3
        and initial_conditions.shape[-2] == 1
        and not fixed_features
        and not constraints
        and options.get("callback") is None
        and not get_reasons_against_fast_path(
            method=options.get("method", "L-BFGS-B"),
            with_grad=options.get("with_grad", True),
            minimize_options=minimize_options,
            timeout_sec=timeout_sec,
        )
    )
    if not direct:
        return gen_candidates_scipy(
            initial_conditions,
            acquisition_function,
            lower_bounds=lower_bounds,
            upper_bounds=upper_bounds,
            options=options,
            fixed_features=fixed_features or None,
            timeout_sec=timeout_sec,
            **constraints,
        )
    assert isinstance(acquisition_function, _GradientAtTheta)  # as `direct` says; for the type checker
    starts = columnwise_clamp(initial_conditions, lower_bounds, upper_bounds, raise_on_violation=True)
    b, _, D = starts.shape

    def negated(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # `b' x D` → −α `b'`, −∂α/∂z `b' x D`
        values, gradient = acquisition_function._single_point(x, with_gradient=True)
        assert gradient is not None  # asked for
        if np.isnan(gradient).any():
            raise OptimizationGradientError(f"{int(np.isnan(gradient).sum())} NaN gradient entries", current_x=x)
        return -values, -gradient

    xs, _, results = fmin_l_bfgs_b_batched(
        func=negated,
        x0=starts.detach().reshape(b, D).numpy().copy(),
        bounds=translate_bounds_for_lbfgsb(lower_bounds=lower_bounds, upper_bounds=upper_bounds, num_features=D, q=1),
        **minimize_options,
    )
    for result in results:
        _process_scipy_result(res=result, options=options)
    candidates = columnwise_clamp(
        torch.from_numpy(xs).view_as(starts).to(starts), lower_bounds, upper_bounds, raise_on_violation=True
    )
    with torch.no_grad():
        return candidates, acquisition_function(candidates)


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
    # One BLAS thread, as BoTorch's L-BFGS-B sets for itself: here also for the raw samples and the NumPy solves.
    with warnings.catch_warnings(), _threadpool_controller().limit(limits=1, user_api="blas"):
        warnings.simplefilter("ignore", OptimizationWarning)
        candidates, value = optimize_acqf(
            acquisition,
            bounds=bounds,
            q=q,
            num_restarts=num_restarts,
            raw_samples=raw_samples,
            options=opts,
            retry_on_optimization_warning=False,
            gen_candidates=_generate_candidates,
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
    chol = safe_cholesky(_symmetrized(cov))
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

    def __init__(self, model: DerivativeExactGPSEModel, theta: torch.Tensor, analytic_gradient: bool = True):
        """Args: model: the derivative GP; theta: `D` (or `1 x D`) point whose gradient we want to learn;
        analytic_gradient: see `_GradientAtTheta`."""
        super().__init__(model, theta, analytic_gradient)
        with torch.no_grad():
            solve = self._solve
            self.gradient_mean = self._dk_theta.transpose(-1, -2) @ solve.alpha  # D
            prior_cov = torch.diag(solve.outputscale / solve.lengthscale.pow(2))
            self.gradient_cov = _symmetrized(prior_cov - self._W.transpose(-1, -2) @ self._W)  # D x D
            chol = safe_cholesky(self.gradient_cov)
            whitened = torch.linalg.solve_triangular(chol, self.gradient_mean.unsqueeze(-1), upper=False)
            self.current_statistic = whitened.pow(2).sum()  # s(θ | X)
            if self.analytic_gradient:
                self._gradient_chol_np = np.asfortranarray(chol.numpy())  # L_Σ
                self._whitened_mean_np = whitened.squeeze(-1).numpy()  # L_Σ⁻¹ μ∇
                self._precision_mean_np = (
                    torch.linalg.solve_triangular(chol.mT, whitened, upper=True).squeeze(-1).numpy()
                )
                self._current_statistic_np = self.current_statistic.numpy()

    def _single_point(self, z: np.ndarray, with_gradient: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """q = 1 by Sherman–Morrison: with a = v / √s, Σ' = Σ∇ − a aᵀ, ṽ = L_Σ⁻¹ v, p = μ∇ᵀΣ∇⁻¹v and
        ρ = vᵀΣ∇⁻¹v / s: μ∇ᵀΣ'⁻¹μ∇ = s(θ | X) + p² / (s (1 − ρ)) and tr(Σ'⁻¹ a aᵀ) = ρ / (1 − ρ), so
        α = s(θ | X) + R with R = (p² + ‖ṽ‖²) / (s − ‖ṽ‖²); its gradient has w = p Σ∇⁻¹μ∇ + (1 + R) Σ∇⁻¹v,
        c1 = 2 / (s − ‖ṽ‖²), c2 = −R / (s − ‖ṽ‖²). Where Σ' is numerically singular (s − ‖ṽ‖² ≤ 1e-8 s) the
        batched formula, with its jittered Cholesky factor, gives the values and autograd the gradient."""
        t = self._point_terms(z)
        whitened_v = self._trsm(1.0, self._gradient_chol_np, t.v.T, lower=1)  # D x n: L_Σ⁻¹ v
        p = self._whitened_mean_np @ whitened_v
        spread = np.einsum("dn,dn->n", whitened_v, whitened_v)
        remaining = t.s - spread  # s (1 − ρ)
        if not (remaining > 1e-8 * t.s).all():
            return self._autograd_single_point(z, with_gradient)
        excess = (p**2 + spread) / remaining  # R
        values = self._current_statistic_np + excess
        if not with_gradient:
            return values, None
        precision_v = self._trsm(1.0, self._gradient_chol_np, whitened_v, lower=1, trans_a=1).T  # n x D: Σ∇⁻¹ v
        w = p[:, None] * self._precision_mean_np + (1 + excess)[:, None] * precision_v
        return values, self._point_gradient(t, w, 2 / remaining, -excess / remaining)

    def _autograd_single_point(self, z: np.ndarray, with_gradient: bool):
        with torch.enable_grad():
            Z = torch.from_numpy(z).unsqueeze(-2).requires_grad_(with_gradient)
            values = self._batched_values(Z)
            if not with_gradient:
                return values.detach().numpy(), None
            (gradient,) = torch.autograd.grad(values.sum(), Z)
        return values.detach().numpy(), gradient.squeeze(-2).numpy()

    def _batched_values(self, Z: torch.Tensor) -> torch.Tensor:
        S, V = self._cross_terms(Z)
        A_t = torch.linalg.solve_triangular(safe_cholesky(_symmetrized(S)), V, upper=False)  # b x q x D: C⁻¹V = Aᵀ
        cov_after = _symmetrized(self.gradient_cov - A_t.transpose(-1, -2) @ A_t)  # b x D x D
        chol = safe_cholesky(cov_after)
        mean = self.gradient_mean.expand(*Z.shape[:-2], -1).unsqueeze(-1)  # b x D x 1
        mean_term = torch.linalg.solve_triangular(chol, mean, upper=False).pow(2).sum((-1, -2))
        spread_term = torch.linalg.solve_triangular(chol, A_t.transpose(-1, -2), upper=False).pow(2).sum((-1, -2))
        return mean_term + spread_term

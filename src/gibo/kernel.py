"""The squared-exponential kernel's arithmetic: squared distances (whole or kept between calls), the kernel
matrix, the solves that every analytic formula shares (`KernelSolve`), a jittered Cholesky factor, and the
exact marginal log-likelihood with its gradient in closed form.

Notation as in `gibo.model`: k(x, x') = σf² exp(−½ Σ_i (x_i − x'_i)² / l_i²), K = k(X, X) + σn² I.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Protocol

import torch
from gpytorch.mlls import ExactMarginalLogLikelihood

logger = logging.getLogger(__name__)

# Most elements of the `n x m x D` tensor of scaled differences that `scaled_squared_distances` builds at once;
# beyond it the rows of x1 go in blocks (1000 x 1000 points at D = 200 would otherwise take 1.6 GB per temporary).
_BLOCK_ELEMENTS = 1 << 22


def scaled_squared_distances(x1: torch.Tensor, x2: torch.Tensor, lengthscale: torch.Tensor) -> torch.Tensor:
    """‖(x1 − x2) / l‖² from the coordinate differences, in blocks of rows of x1 when the difference tensor would
    be large. Every entry sums its own D squared differences in the same order whatever the blocks (and equals
    its transposed entry), so the result is the same bit for bit as the whole product's.

    Args:
        x1: `... x n x D`; x2: `... x m x D`; lengthscale: `D` (or `1 x D`).

    Returns:
        `... x n x m`.
    """
    ls = lengthscale.reshape(-1)
    n, m, D = x1.shape[-2], x2.shape[-2], x1.shape[-1]
    batch = torch.broadcast_shapes(x1.shape[:-2], x2.shape[:-2]).numel()
    rows = max(1, _BLOCK_ELEMENTS // max(1, batch * m * D))
    if rows >= n:
        return ((x1.unsqueeze(-2) - x2.unsqueeze(-3)) / ls).pow(2).sum(-1)
    blocks = [
        ((x1[..., start : start + rows, :].unsqueeze(-2) - x2.unsqueeze(-3)) / ls).pow(2).sum(-1)
        for start in range(0, n, rows)
    ]
    return torch.cat(blocks, dim=-2)


def se_kernel(x1: torch.Tensor, x2: torch.Tensor, lengthscale: torch.Tensor, outputscale: torch.Tensor) -> torch.Tensor:
    """k(x1, x2) = σf² exp(−½ ‖(x1 − x2) / l‖²).

    Args:
        x1: `... x n x D`; x2: `... x m x D`; lengthscale: `D` (or `1 x D`); outputscale: scalar.

    Returns:
        `... x n x m` kernel matrix.
    """
    return outputscale * torch.exp(-0.5 * scaled_squared_distances(x1, x2, lengthscale))


def se_kernel_gradient(
    x: torch.Tensor, x2: torch.Tensor, lengthscale: torch.Tensor, outputscale: torch.Tensor
) -> torch.Tensor:
    """∂k(x, x2_j)/∂x = −Λ⁻¹ (x − x2_j) k(x, x2_j).  x: `... x n x D`, x2: `... x m x D` → `... x n x m x D`."""
    k = se_kernel(x, x2, lengthscale, outputscale)
    diff = x.unsqueeze(-2) - x2.unsqueeze(-3)
    return -diff / lengthscale.pow(2) * k.unsqueeze(-1)


def symmetric_squared_distances(X: torch.Tensor, lengthscale: torch.Tensor) -> torch.Tensor:
    """`scaled_squared_distances(X, X, lengthscale)` (`N x N`, the same bits) from the blocks on and above the
    diagonal, mirrored: half the work."""
    N, D = X.shape
    rows = max(1, _BLOCK_ELEMENTS // max(1, N * D))
    distances = torch.empty(N, N, dtype=X.dtype, device=X.device)
    for start in range(0, N, rows):
        stop = min(N, start + rows)
        block = scaled_squared_distances(X[start:stop], X[start:], lengthscale)
        distances[start:stop, start:] = block
        distances[stop:, start:stop] = block[:, stop - start :].T
    return distances


@dataclass
class WindowDistances:
    """The window's scaled squared distances `N x N` for the inputs tensor X (at its in-place version) and the
    lengthscales they were computed with."""

    X: torch.Tensor
    version: int
    lengthscale: torch.Tensor
    distances: torch.Tensor

    def holds(self, X: torch.Tensor) -> bool:
        return self.X is X and self.version == X._version


class _GradientSolver(Protocol):
    """What `KernelSolve.gradient_solve` asks of a kept factor (`gibo.window_factor.FactorView`)."""

    def gradient_solve(self, theta: torch.Tensor, dk: torch.Tensor) -> torch.Tensor: ...


@dataclass
class KernelSolve:
    """Quantities of the current data that every analytic formula needs, computed once.

    X: `N x D`; chol: `N x N` lower Cholesky factor of K = k(X, X) + σn² I; alpha: `N` = K⁻¹ (y − m)
    (K⁻¹ y for a model with `gradient_mean="uncentred"`);
    lengthscale: `D`; outputscale, noise: scalars; view: the kept factor it came from (the model's
    `factorization="incremental"`), whose rows X follows, or None.
    """

    X: torch.Tensor
    chol: torch.Tensor
    alpha: torch.Tensor
    lengthscale: torch.Tensor
    outputscale: torch.Tensor
    noise: torch.Tensor
    view: _GradientSolver | None = None

    def kernel(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        return se_kernel(x1, x2, self.lengthscale, self.outputscale)

    def kernel_gradient(self, x: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """`se_kernel_gradient` with these hyperparameters."""
        return se_kernel_gradient(x, x2, self.lengthscale, self.outputscale)

    def gradient_solve(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """∂k(X, θ)/∂θ and L⁻¹ ∂k(X, θ)/∂θ (`N x D` each) for theta `1 x D` (the kept factor's base rows reused)."""
        dk = self.kernel_gradient(theta, self.X)[0]
        if self.view is None:
            return dk, torch.linalg.solve_triangular(self.chol, dk, upper=False)
        return dk, self.view.gradient_solve(theta, dk)


def safe_cholesky(matrix: torch.Tensor) -> torch.Tensor:
    """Cholesky factor, adding growing jitter to the diagonal where the matrix is not numerically PD.

    Raises `torch.linalg.LinAlgError` when no jitter up to 10 % of the mean diagonal gives a finite factor
    (or the matrix itself is not finite)."""
    factor, info = torch.linalg.cholesky_ex(matrix)
    # A non-finite entry of the factor (or of the lower triangle it is computed from) reaches the diagonal
    # through the later pivots: checking the diagonal suffices, and spares two passes over the matrix.
    if not bool(info.any()) and bool(torch.isfinite(factor.diagonal(dim1=-2, dim2=-1)).all()):
        return factor
    if not bool(torch.isfinite(matrix).all()):
        raise torch.linalg.LinAlgError("kernel matrix has non-finite entries")
    eye = torch.eye(matrix.shape[-1], dtype=matrix.dtype, device=matrix.device)
    scale = matrix.diagonal(dim1=-2, dim2=-1).mean().abs().clamp_min(1e-12)
    for exponent in range(-9, -1):
        factor, info = torch.linalg.cholesky_ex(matrix + (10.0**exponent) * scale * eye)
        if not bool(info.any()) and bool(torch.isfinite(factor).all()):
            logger.debug("Cholesky needed jitter %.1e", 10.0**exponent)
            return factor
    raise torch.linalg.LinAlgError("kernel matrix is not positive definite even with jitter")


class _SEMarginalLogLikelihood(torch.autograd.Function):
    """log N(r | 0, K), K = σf² exp(−½ ‖(x_i − x_j) / l‖²) + σn² I, as a function of (l, σf², σn², r), with its
    gradient in closed form from one Cholesky factor K = L Lᵀ: with α = K⁻¹ r, G = ½ (ααᵀ − K⁻¹) (the gradient
    with respect to K) and B = G ∘ (K − σn² I), ∂/∂σn² = tr G, ∂/∂σf² = Σ B / σf², ∂/∂r = −α and
    ∂/∂l_d = Σ_ij B_ij (a_id − a_jd)² / l_d = 2 (Σ_i a_id² (B1)_i − Σ_ij a_id B_ij a_jd) / l_d, a = (x − x̄) / l.
    No autograd graph through the kernel matrix or the factorisation: matrix products only (`N x N x D` work
    and memory become `N x N` memory)."""

    @staticmethod
    def forward(ctx, X, lengthscale, outputscale, noise, residual):
        scaled = (X - X.mean(-2, keepdim=True)) / lengthscale  # N x D
        squared = scaled.pow(2).sum(-1)
        distances = (squared.unsqueeze(-1) + squared.unsqueeze(-2) - 2 * (scaled @ scaled.T)).clamp_min_(0)
        distances.diagonal().zero_()
        signal = distances.mul_(-0.5).exp_().mul_(outputscale)  # σf² exp(−½ d²), in place of the distances
        K = signal.clone()
        K.diagonal().add_(noise)
        chol = safe_cholesky(K)
        alpha = torch.cholesky_solve(residual.unsqueeze(-1), chol).squeeze(-1)
        ctx.save_for_backward(scaled, lengthscale, outputscale, signal, chol, alpha)
        N = residual.shape[-1]
        return -0.5 * (residual @ alpha) - chol.diagonal().log().sum() - 0.5 * N * math.log(2 * math.pi)

    @staticmethod
    def backward(ctx, grad):
        scaled, lengthscale, outputscale, signal, chol, alpha = ctx.saved_tensors
        G = torch.cholesky_inverse(chol).mul_(-0.5)
        G.addr_(alpha, alpha, alpha=0.5)  # ½ (ααᵀ − K⁻¹)
        B = G * signal
        row_sums = B.sum(-1)
        weighted = (scaled.pow(2) * row_sums.unsqueeze(-1)).sum(-2) - (scaled * (B @ scaled)).sum(-2)  # D
        grad_lengthscale = grad * 2 * weighted / lengthscale
        grad_outputscale = grad * row_sums.sum() / outputscale
        grad_noise = grad * G.diagonal().sum()
        return None, grad_lengthscale, grad_outputscale, grad_noise, -grad * alpha


class ClosedFormMarginalLogLikelihood(ExactMarginalLogLikelihood):
    """GPyTorch's exact marginal log-likelihood of an `ExactGPSEModel` (log N(y | m, K + σn² I) plus the log
    hyperpriors, over N), computed by `_SEMarginalLogLikelihood` from the model's hyperparameters: the same value
    and gradient to rounding, at a fraction of the cost for hundreds of points (no lazy tensors, no autograd
    through the kernel matrix or its Cholesky factorisation)."""

    def forward(self, function_dist, target, *params, **kwargs):
        model = self.model
        X = model.train_inputs[0]
        lengthscale = model.lengthscale.expand(X.shape[-1])
        noise = model.likelihood.noise.reshape(())
        result = _SEMarginalLogLikelihood.apply(X, lengthscale, model.outputscale, noise, target - function_dist.mean)
        result = self._add_other_terms(result, params)
        return result.div_(target.shape[-1])

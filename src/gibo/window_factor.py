"""The sliding window's Cholesky factor kept between calls: a new point adds a row, the oldest point leaving the
window takes a row away, and the whole factor is computed afresh only when the hyperparameters change, the
data change otherwise, or the added rows grow past a quarter of the window.

Order of the factor's rows (a permutation of the window's): first the *base*, the window at the last full
factorisation with its newest point first, then the points added since, oldest first. In that order
K = [[K_BB, K_BE], [K_EB, K_EE]] = L Lᵀ with L = [[L_B, 0], [C, L_E]], C = K_EB L_B⁻ᵀ and
L_E = chol(K_EE − C Cᵀ). The oldest point of the window is the base's last row; it leaves by cutting L_B's
last row and column and C's last column, because the leading rows of a triangular factor (and of a forward
substitution with it) depend on nothing after them. So a call costs one `N`-row solve per new point and a
factorisation of the added block (at most N / 4 points), instead of K's N³ / 3 and its N² exponentials.

`L⁻¹ B` for a matrix B whose rows are a function of their point alone (such as ∂k(X, θ)/∂θ, the acquisitions'
N x D solve) reuses its base rows too while θ is unchanged: `FactorView.gradient_solve`.

The factor is K's in another order, so what it computes equals the full factorisation's to rounding (not bit
for bit); `DerivativeExactGPSEModel(factorization="incremental")` uses it.
"""

from __future__ import annotations

import torch

from gibo.kernel import safe_cholesky, se_kernel, se_kernel_gradient


class WindowFactor:
    """Cholesky factor of K = k(X, X) + σn² I for a sliding window, updated as points come and go.

    Points are told apart by serial numbers: the window of N points after `serial_end` points were ever added
    holds serials serial_end − N, …, serial_end − 1, oldest first. Every update checks the rows it keeps against
    the window's, so data changed any other way only costs a fresh factorisation, never a wrong one. The model
    syncs the factor whenever data are added and before every solve, and refactorises when the hyperparameters
    changed since: the factor is a function of the data's sequence and the hyperparameters' changes alone, not
    of when it was asked for, so a replayed run computes the same numbers as the uninterrupted one.
    """

    def __init__(self, X: torch.Tensor, serial_end: int, hyper: tuple[torch.Tensor, ...], K: torch.Tensor):
        """X: the window `N x D`, oldest first; serial_end: points added so far; hyper: (lengthscale `D`,
        outputscale, noise), as computed; K: the window's kernel matrix with the noise, in the window's order
        (overwritten)."""
        N, D = X.shape
        self.hyper = tuple(t.detach().clone() for t in hyper)
        self.base_X = X.flip(0)  # newest first
        self.base_chol = safe_cholesky(K.flip(0, 1))
        self.base_top = serial_end - 1  # serial of the base's first row
        self.capacity = max(16, N // 4)  # added rows before a fresh factorisation
        self.cross = torch.empty(self.capacity, N, dtype=X.dtype, device=X.device)  # C, against the whole base
        self.added_K = torch.empty(self.capacity, self.capacity, dtype=X.dtype, device=X.device)  # K_EE
        self.added_X = torch.empty(self.capacity, D, dtype=X.dtype, device=X.device)
        self.added = 0
        self.serial_end = serial_end
        self._gradient_base: tuple[torch.Tensor, torch.Tensor] | None = None  # (θ, L_B⁻¹ ∂k(X_B, θ)/∂θ) kept

    def holds_hyperparameters(self, hyper: tuple[torch.Tensor, ...]) -> bool:
        return all(torch.equal(kept, now.detach()) for kept, now in zip(self.hyper, hyper, strict=True))

    def sync(self, X: torch.Tensor, serial_end: int) -> bool:
        """Take in the points added to the window X (`N x D`, oldest first) since the last sync, `serial_end` points
        having been added in all, one row at a time (so the factor does not depend on how often it is synced).
        False where only a fresh factorisation serves: the base mostly gone, too many added rows, or data that are
        not this window's continuation."""
        N = X.shape[0]
        kept = self.kept(N, serial_end)
        new = serial_end - self.serial_end
        if kept < max(1, N // 2) or kept > self.base_X.shape[0] or new < 0 or self.added + new > self.capacity:
            return False
        if kept + self.added + new != N:
            return False
        if not torch.equal(X[:kept].flip(0), self.base_X[:kept]):
            return False
        if not torch.equal(X[kept : kept + self.added], self.added_X[: self.added]):
            return False
        for row in range(kept + self.added, N):
            self._add(X[row : row + 1])
        self.serial_end = serial_end
        return True

    def kept(self, N: int, serial_end: int) -> int:
        """How many base rows the window of N points after `serial_end` additions still holds (its first ones)."""
        return self.base_top - (serial_end - N) + 1

    def _add(self, x: torch.Tensor) -> None:
        """One point `1 x D` appended: its row of C (a solve with L_B) and of K_EE."""
        lengthscale, outputscale, noise = self.hyper
        row = self.added
        k_base = se_kernel(self.base_X, x, lengthscale, outputscale)  # N_B x 1
        self.cross[row] = torch.linalg.solve_triangular(self.base_chol, k_base, upper=False)[:, 0]
        self.added_X[row] = x[0]
        k_added = se_kernel(x, self.added_X[: row + 1], lengthscale, outputscale)[0]  # row + 1
        self.added_K[row, : row + 1] = k_added
        self.added_K[: row + 1, row] = k_added
        self.added_K[row, row] += noise
        self.added = row + 1

    def view(self, kept: int) -> FactorView | None:
        """The factor of the synced window whose first `kept` rows are base rows; None where the added block is not
        numerically positive definite (a fresh factorisation then applies its jitter to the whole matrix)."""
        cross = self.cross[: self.added, :kept]
        schur = self.added_K[: self.added, : self.added] - cross @ cross.T
        added_chol, info = torch.linalg.cholesky_ex(schur)
        if bool(info) or not bool(torch.isfinite(added_chol.diagonal()).all()):
            return None
        N = kept + self.added
        chol = torch.zeros(N, N, dtype=cross.dtype, device=cross.device)
        chol[:kept, :kept] = self.base_chol[:kept, :kept]
        chol[kept:, :kept] = cross
        chol[kept:, kept:] = added_chol
        order = torch.cat([torch.arange(kept - 1, -1, -1), torch.arange(kept, N)]).to(cross.device)
        return FactorView(self, kept, chol, added_chol, order)

    def base_gradient_solve(self, theta: torch.Tensor) -> torch.Tensor:
        """L_B⁻¹ ∂k(X_B, θ)/∂θ for theta `1 x D` over the whole base (`N_B x D`, rows that have left the window
        included), kept while θ is unchanged. Always solved for every base row: a triangular solve's rows depend
        in their rounding on the size of the solve, so solving only the rows still in the window would make the
        result depend on when it was first asked for (a replay, which skips acquisitions, would part from the
        uninterrupted run)."""
        cached = self._gradient_base
        if cached is None or not torch.equal(cached[0], theta):
            lengthscale, outputscale, _ = self.hyper
            dk = se_kernel_gradient(theta, self.base_X, lengthscale, outputscale)[0]  # N_B x D
            cached = (theta.detach().clone(), torch.linalg.solve_triangular(self.base_chol, dk, upper=False))
            self._gradient_base = cached
        return cached[1]


class FactorView:
    """The window's factor at one call: `chol` (`N x N`, rows in `order`, window indices) and the solves that
    reuse the base."""

    def __init__(self, factor: WindowFactor, kept: int, chol: torch.Tensor, added_chol, order: torch.Tensor):
        self.factor, self.kept, self.chol, self.added_chol, self.order = factor, kept, chol, added_chol, order

    def gradient_solve(self, theta: torch.Tensor, dk: torch.Tensor) -> torch.Tensor:
        """L⁻¹ dk for dk = ∂k(X, θ)/∂θ `N x D` in this factor's order: the base rows' solve is kept for θ."""
        kept = self.kept
        base = self.factor.base_gradient_solve(theta)[:kept]
        # column-major, as a full solve returns it: the acquisitions' products with it take the faster BLAS path
        solved = torch.empty(dk.shape[1], dk.shape[0], dtype=dk.dtype, device=dk.device).T
        solved[:kept] = base
        if kept < dk.shape[0]:
            rest = dk[kept:] - self.chol[kept:, :kept] @ base
            solved[kept:] = torch.linalg.solve_triangular(self.added_chol, rest, upper=False)
        return solved

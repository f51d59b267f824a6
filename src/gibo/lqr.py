"""Analysis of the linear quadratic regulator experiment (SPEC §3.3).

Policy orientation, used by the whole project: a linear policy without bias has the flat
parameter vector ``params`` (n_action * n_state,) and acts ``u = K x`` with
``K = params.reshape(n_action, n_state)`` (row-major). For the paper's system that is 9
parameters and K of shape (3, 3). Every function here takes K in that orientation.

System: x' = A x + B u + w, w ~ N(0, W); cost per step x^T Q x + u^T R u (the ``lqr-v0``
environment of the ``gym_lqr`` package, whose reward is minus this cost).

Example:
    >>> P, K_opt = riccati(A, B, Q, R)
    >>> metrics = lqr_metrics(params_history, A, B, Q, R)
    >>> lqr_figures([params_history], [calls], "lqr.pdf")
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import gym_lqr
import numpy as np
import scipy.linalg
from matplotlib.axes import Axes
from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

#: Environment steps per objective call (one episode of ``lqr-v0``).
STEPS_PER_CALL = gym_lqr.EPISODE_STEPS

#: Published reference points from other papers, drawn in the figures (timesteps, relative cost).
REFERENCE_POINTS = {
    "LSPI": {"stable_at_timesteps": 10_000, "final_relative_cost": 0.08},
    "ARS": {"stable_at_timesteps": 29_000, "final_relative_cost": 0.06},
}


def default_system() -> dict[str, np.ndarray]:
    """Return the paper's system {"A", "B", "Q", "R", "W"} as used by ``lqr-v0``."""
    return gym_lqr.LQREnv().get_params()


def riccati(
    A: np.ndarray, B: np.ndarray, Q: np.ndarray, R: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """P = A^T P A - A^T P B (R + B^T P B)^-1 B^T P A + Q and K* = -(R + B^T P B)^-1 B^T P A.

    Args:
        A: n_state x n_state, B: n_state x n_action, Q: n_state x n_state, R: n_action x n_action.

    Returns:
        (P: n_state x n_state, K_opt: n_action x n_state), the optimal policy being u = K_opt x.
    """
    P = scipy.linalg.solve_discrete_are(A, B, Q, R)
    K_opt = -np.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)
    return P, K_opt


def is_stable(A: np.ndarray, B: np.ndarray, K: np.ndarray) -> bool:
    """Closed loop x' = (A + B K) x is stable: spectral radius rho(A + B K) < 1.

    Args:
        A: n_state x n_state, B: n_state x n_action, K: n_action x n_state.
    """
    return bool(np.max(np.abs(np.linalg.eigvals(A + B @ K))) < 1.0)


def stationary_covariance(
    A: np.ndarray, B: np.ndarray, K: np.ndarray, W: np.ndarray | None = None
) -> np.ndarray:
    """Sigma_K = (A + B K) Sigma_K (A + B K)^T + W, the stationary state covariance (stable K only).

    Args:
        A: n_state x n_state, B: n_state x n_action, K: n_action x n_state,
        W: n_state x n_state noise covariance (default I).

    Returns:
        Sigma_K: n_state x n_state.
    """
    W = np.eye(A.shape[0]) if W is None else W
    return scipy.linalg.solve_discrete_lyapunov(A + B @ K, W)


def relative_cost(
    A: np.ndarray,
    B: np.ndarray,
    Q: np.ndarray,
    R: np.ndarray,
    K: np.ndarray,
    W: np.ndarray | None = None,
) -> float:
    """(J(K) - J*) / J* = tr(Sigma_K (K - K*)^T (R + B^T P B) (K - K*)) / tr(W P); inf if unstable.

    J(K) is the average cost per step of u = K x, J* = tr(W P) that of the optimal gain K*.

    Args:
        A: n_state x n_state, B: n_state x n_action, Q: n_state x n_state, R: n_action x n_action,
        K: n_action x n_state, W: n_state x n_state noise covariance (default I).
    """
    W = np.eye(A.shape[0]) if W is None else W
    if not is_stable(A, B, K):
        return float("inf")
    P, K_opt = riccati(A, B, Q, R)
    sigma = stationary_covariance(A, B, K, W)
    delta = K - K_opt
    excess = np.trace(sigma @ delta.T @ (R + B.T @ P @ B) @ delta)
    return float(excess / np.trace(W @ P))


def lqr_metrics(
    params_history: np.ndarray,
    A: np.ndarray,
    B: np.ndarray,
    Q: np.ndarray,
    R: np.ndarray,
    W: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per iterate t: stable_t = rho(A + B K_t) < 1 and relative_cost_t, K_t = params_t.reshape(n_action, n_state).

    Args:
        params_history: T x (n_action * n_state) policy parameters, one row per iterate.
        A, B, Q, R, W: the system (see ``relative_cost``).

    Returns:
        {"stable": (T,) bool, "relative_cost": (T,) float64, inf where unstable}.
    """
    params_history = np.asarray(params_history, dtype=np.float64)
    shape = (B.shape[1], A.shape[0])
    if params_history.ndim != 2 or params_history.shape[1] != shape[0] * shape[1]:
        raise ValueError(
            f"lqr_metrics: params_history must have shape (T, {shape[0] * shape[1]}), "
            f"got {params_history.shape}"
        )
    gains = params_history.reshape(-1, *shape)
    stable = np.array([is_stable(A, B, K) for K in gains], dtype=bool)
    cost = np.array([relative_cost(A, B, Q, R, K, W) for K in gains], dtype=np.float64)
    return {"stable": stable, "relative_cost": cost}


def step_function(values: np.ndarray, calls: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """f(n) = values[t] for the last iterate t with calls[t] <= n; NaN for n < calls[0].

    Args:
        values: (T,) value of each iterate (bool is converted to 0/1).
        calls: (T,) non-decreasing cumulative number of objective calls after each iterate.
        grid: (G,) numbers of calls at which to read the function.

    Returns:
        (G,) float64.
    """
    values = np.asarray(values, dtype=np.float64)
    calls = np.asarray(calls)
    grid = np.asarray(grid)
    if values.shape != calls.shape or values.ndim != 1:
        raise ValueError(
            f"step_function: values and calls must be 1-D of equal length, "
            f"got {values.shape} and {calls.shape}"
        )
    if np.any(np.diff(calls) < 0):
        raise ValueError("step_function: calls must be non-decreasing")
    index = np.searchsorted(calls, grid, side="right") - 1
    out = np.full(grid.shape, np.nan)
    known = index >= 0
    out[known] = values[index[known]]
    return out


def stability_frequency(stable_on_grid: np.ndarray) -> np.ndarray:
    """freq(n) = mean over trials of stable(n), ignoring trials without an iterate yet (NaN).

    Args:
        stable_on_grid: trials x G, 0/1 (or bool), NaN where a trial has no iterate yet.

    Returns:
        (G,) fraction of trials with a stable policy; NaN where no trial has an iterate.
    """
    stable_on_grid = np.asarray(stable_on_grid, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN, as documented
        return np.nanmean(stable_on_grid, axis=0)


def cost_percentiles(
    cost_on_grid: np.ndarray, q: Sequence[float] = (2, 50, 98)
) -> np.ndarray:
    """Percentiles over trials (linear interpolation, as numpy's default) with inf kept as inf.

    Unstable iterates have cost inf; any percentile that interpolates towards inf is inf.
    NaN (no iterate yet) is ignored.

    Args:
        cost_on_grid: trials x G relative costs.
        q: (Q,) percentiles in [0, 100].

    Returns:
        Q x G; NaN where a column has no value.
    """
    cost_on_grid = np.asarray(cost_on_grid, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    out = np.full((q.size, cost_on_grid.shape[1]), np.nan)
    for column in range(cost_on_grid.shape[1]):
        values = np.sort(cost_on_grid[:, column][~np.isnan(cost_on_grid[:, column])])
        if values.size == 0:
            continue
        position = (values.size - 1) * q / 100.0
        low = np.floor(position).astype(int)
        high = np.ceil(position).astype(int)
        fraction = position - low
        with np.errstate(invalid="ignore"):
            interpolated = values[low] + (values[high] - values[low]) * fraction
        out[:, column] = np.where(
            fraction == 0, values[low], np.where(np.isinf(values[high]), np.inf, interpolated)
        )
    return out


def lqr_curves(
    params_histories: Sequence[np.ndarray],
    calls: Sequence[np.ndarray],
    grid: np.ndarray | None = None,
    system: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Stability frequency and relative-cost percentiles (2, 50, 98) over trials, on a grid of calls.

    Args:
        params_histories: one (T_i, n_action * n_state) array of iterates per trial.
        calls: one (T_i,) array of cumulative objective calls per trial.
        grid: (G,) numbers of calls (default 1, 2, ..., the largest number of calls).
        system: {"A", "B", "Q", "R"[, "W"]} (default: the paper's system, ``default_system()``).

    Returns:
        {"calls": (G,), "timesteps": (G,) = calls * 300, "stability_frequency": (G,),
        "cost_percentiles": (3, G)}.
    """
    if len(params_histories) != len(calls):
        raise ValueError(
            f"lqr_curves: {len(params_histories)} parameter histories but {len(calls)} call arrays"
        )
    system = default_system() if system is None else system
    if grid is None:
        grid = np.arange(1, max(int(np.max(c)) for c in calls) + 1)
    grid = np.asarray(grid)
    stable_on_grid = np.empty((len(calls), grid.size))
    cost_on_grid = np.empty((len(calls), grid.size))
    for trial, (history, trial_calls) in enumerate(zip(params_histories, calls)):
        metrics = lqr_metrics(
            history, system["A"], system["B"], system["Q"], system["R"], system.get("W")
        )
        stable_on_grid[trial] = step_function(metrics["stable"], trial_calls, grid)
        cost_on_grid[trial] = step_function(metrics["relative_cost"], trial_calls, grid)
    return {
        "calls": grid,
        "timesteps": grid * STEPS_PER_CALL,
        "stability_frequency": stability_frequency(stable_on_grid),
        "cost_percentiles": cost_percentiles(cost_on_grid),
    }


def _new_axes() -> Axes:
    """Axes on a fresh Figure that does not touch pyplot's global state (works with Agg)."""
    return Figure(figsize=(5, 3.5), layout="constrained").subplots()


def plot_stability(
    timesteps: np.ndarray, frequency: np.ndarray, ax: Axes | None = None
) -> Axes:
    """Plot the frequency of stable policies over timesteps, with LSPI's and ARS's published points.

    Args:
        timesteps: (G,) environment steps (calls * 300).
        frequency: (G,) fraction of trials with a stable policy.
        ax: axes to draw on (default: a new figure).
    """
    ax = _new_axes() if ax is None else ax
    ax.plot(timesteps, frequency, label="GIBO")
    for (name, reference), marker in zip(REFERENCE_POINTS.items(), ("o", "s")):
        ax.plot(
            reference["stable_at_timesteps"], 1.0, marker=marker, linestyle="none",
            color="black", label=f"{name} (stable)",
        )
    ax.set_xlabel("timesteps")
    ax.set_ylabel("frequency of stability")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(loc="lower right")
    return ax


def plot_relative_cost(
    timesteps: np.ndarray, percentiles: np.ndarray, ax: Axes | None = None
) -> Axes:
    """Plot the median relative cost and its 2nd-98th percentile band (log scale) over timesteps.

    Infinite percentiles (unstable policies) are drawn at the top edge of the axes. The final
    relative costs of LSPI and ARS are drawn as horizontal lines.

    Args:
        timesteps: (G,) environment steps (calls * 300).
        percentiles: 3 x G rows (2nd, 50th, 98th percentile), e.g. from ``cost_percentiles``.
        ax: axes to draw on (default: a new figure).
    """
    ax = _new_axes() if ax is None else ax
    percentiles = np.asarray(percentiles, dtype=np.float64)
    finite = percentiles[np.isfinite(percentiles) & (percentiles > 0)]
    top = 3.0 * finite.max() if finite.size else 1.0
    references = [r["final_relative_cost"] for r in REFERENCE_POINTS.values()]
    top = max(top, 2.0 * max(references))
    shown = np.where(np.isposinf(percentiles), top, percentiles)
    low, median, high = shown
    ax.fill_between(timesteps, low, high, alpha=0.3, label="2nd–98th percentile")
    ax.plot(timesteps, median, label="GIBO (median)")
    for (name, cost), style in zip(
        ((n, r["final_relative_cost"]) for n, r in REFERENCE_POINTS.items()), (":", "--")
    ):
        ax.axhline(cost, color="black", linestyle=style, linewidth=1, label=f"{name} (final)")
    ax.set_yscale("log")
    ax.set_ylim(top=top)
    ax.set_xlabel("timesteps")
    ax.set_ylabel("relative cost")
    ax.legend(loc="upper right")
    return ax


def lqr_figures(
    params_histories: Sequence[np.ndarray],
    calls: Sequence[np.ndarray],
    path: str | Path,
    grid: np.ndarray | None = None,
    system: dict[str, np.ndarray] | None = None,
) -> Figure:
    """Write the stability and relative-cost panels of the LQR experiment side by side to ``path``.

    Args:
        params_histories: one (T_i, n_action * n_state) array of iterates per trial.
        calls: one (T_i,) array of cumulative objective calls per trial.
        path: output file; the format follows its suffix (.pdf, .png, ...).
        grid: (G,) numbers of calls (see ``lqr_curves``).
        system: the LQR system (see ``lqr_curves``).

    Returns:
        The figure.
    """
    curves = lqr_curves(params_histories, calls, grid, system)
    figure = Figure(figsize=(10, 3.5), layout="constrained")
    stability_ax, cost_ax = figure.subplots(1, 2)
    plot_stability(curves["timesteps"], curves["stability_frequency"], ax=stability_ax)
    plot_relative_cost(curves["timesteps"], curves["cost_percentiles"], ax=cost_ax)
    figure.savefig(path)
    logger.info("wrote LQR figure for %d trials to %s", len(calls), path)
    return figure

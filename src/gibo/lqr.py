"""Analysis of the linear quadratic regulator experiment (docs/experiments.md#linear-quadratic-regulator).

Policy orientation, used by the whole project: a linear policy without bias has the flat
parameter vector ``params`` (n_action * n_state,) and acts ``u = K x`` with
``K = params.reshape(n_action, n_state)`` (row-major). For the paper's system that is 9
parameters and K of shape (3, 3). Every function here takes K in that orientation.

System: x' = A x + B u + w, w ~ N(0, W); cost per step x^T Q x + u^T R u (the ``lqr-v0``
environment of the ``gym_lqr`` package, whose reward is minus this cost).

Iterates are read as step functions of the number of objective calls with the project's shared
``gibo.evaluate.step_function``; one call is one 300-step episode.

Example:
    >>> P, K_opt = riccati(A, B, Q, R)
    >>> params_histories, calls = load_lqr_run("experiments/lqr_experiment/gibo")
    >>> lqr_figures(params_histories, calls, "lqr.pdf")

Command line (numbers at 20/40/60/90/130 calls, and the figure):
    python -m gibo.lqr figures experiments/lqr_experiment/gibo --figure lqr.pdf lqr.png
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.linalg
import yaml
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

import gym_lqr
from gibo.cli import PATHS_NOTE, add_verbosity, setup_logging
from gibo.evaluate import step_function
from gibo.results import CONFIG_FILE, DamagedUnit, read_unit, run_budget, unit_files

logger = logging.getLogger("gibo.lqr")  # same name when run as python -m gibo.lqr

#: Environment steps per objective call (one episode of ``lqr-v0``).
STEPS_PER_CALL = gym_lqr.EPISODE_STEPS

#: Calls at which the command line reports the numbers.
REPORT_CALLS = (20, 40, 60, 90, 130)

#: Trial files written by ``run_rl_experiment.py`` (one per trial).
TRIAL_PATTERN = "trial[0-9][0-9][0-9].npz"

#: Environment ids whose runs this module can analyse.
LQR_ENV_IDS = ("lqr-v0", "gym_lqr:lqr-v0")

#: Published reference points from other papers, drawn in the figures (timesteps, relative cost).
REFERENCE_POINTS = {
    "LSPI": {"stable_at_timesteps": 10_000, "final_relative_cost": 0.08},
    "ARS": {"stable_at_timesteps": 29_000, "final_relative_cost": 0.06},
}


def default_system() -> dict[str, np.ndarray]:
    """Return the paper's system {"A", "B", "Q", "R", "W"} as used by ``lqr-v0``."""
    return gym_lqr.LQREnv().get_params()


def riccati(A: np.ndarray, B: np.ndarray, Q: np.ndarray, R: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def stationary_covariance(A: np.ndarray, B: np.ndarray, K: np.ndarray, W: np.ndarray | None = None) -> np.ndarray:
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
            f"lqr_metrics: params_history must have shape (T, {shape[0] * shape[1]}), got {params_history.shape}"
        )
    gains = params_history.reshape(-1, *shape)
    stable = np.array([is_stable(A, B, K) for K in gains], dtype=bool)
    cost = np.array([relative_cost(A, B, Q, R, K, W) for K in gains], dtype=np.float64)
    return {"stable": stable, "relative_cost": cost}


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


def cost_percentiles(cost_on_grid: ArrayLike, q: ArrayLike = (2, 50, 98)) -> np.ndarray:
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
        out[:, column] = np.where(fraction == 0, values[low], np.where(np.isinf(values[high]), np.inf, interpolated))
    return out


def lqr_curves(
    params_histories: Sequence[np.ndarray],
    calls: Sequence[np.ndarray],
    grid: np.ndarray | None = None,
    system: dict[str, np.ndarray] | None = None,
    limit: int | None = None,
) -> dict[str, np.ndarray]:
    """Stability frequency and relative-cost percentiles (2, 50, 98) over trials, on a grid of calls.

    Args:
        params_histories: one (T_i, n_action * n_state) array of iterates per trial.
        calls: one (T_i,) array of cumulative objective calls per trial.
        grid: (G,) numbers of calls (default: every integer from the smallest first entry of
            ``calls`` to the largest last entry).
        limit: the run's call budget: grid points beyond it get no value (NaN, printed as n/a).
        system: {"A", "B", "Q", "R"[, "W"]} (default: the paper's system, ``default_system()``).

    Returns:
        {"calls": (G,), "timesteps": (G,) = calls * 300, "stability_frequency": (G,),
        "cost_percentiles": (3, G), and per trial "stable_on_grid" (trials x G, 0/1, NaN before the
        first iterate) and "cost_on_grid" (trials x G relative costs, inf where unstable)}.
    """
    if len(params_histories) != len(calls):
        raise ValueError(f"lqr_curves: {len(params_histories)} parameter histories but {len(calls)} call arrays")
    for trial, (history, trial_calls) in enumerate(zip(params_histories, calls)):
        if len(history) != len(trial_calls):
            raise ValueError(
                f"lqr_curves: trial {trial} has {len(history)} iterates but {len(trial_calls)} call counts"
            )
    system = default_system() if system is None else system
    if grid is None:
        first = min(int(np.min(c)) for c in calls)
        grid = np.arange(first, max(int(np.max(c)) for c in calls) + 1)
    grid = np.asarray(grid)
    stable_on_grid = np.empty((len(calls), grid.size))
    cost_on_grid = np.empty((len(calls), grid.size))
    for trial, (history, trial_calls) in enumerate(zip(params_histories, calls)):
        metrics = lqr_metrics(history, system["A"], system["B"], system["Q"], system["R"], system.get("W"))
        stable_on_grid[trial] = step_function(metrics["stable"], trial_calls, grid, limit)
        cost_on_grid[trial] = step_function(metrics["relative_cost"], trial_calls, grid, limit)
    return {
        "calls": grid,
        "timesteps": grid * STEPS_PER_CALL,
        "stability_frequency": stability_frequency(stable_on_grid),
        "cost_percentiles": cost_percentiles(cost_on_grid),
        "stable_on_grid": stable_on_grid,
        "cost_on_grid": cost_on_grid,
    }


def _new_axes() -> Axes:
    """Axes on a fresh Figure that does not touch pyplot's global state (works with Agg)."""
    return Figure(figsize=(5, 3.5), layout="constrained").subplots()


def plot_stability(timesteps: np.ndarray, frequency: np.ndarray, ax: Axes | None = None) -> Axes:
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
            reference["stable_at_timesteps"],
            1.0,
            marker=marker,
            linestyle="none",
            color="black",
            label=f"{name} (stable)",
        )
    ax.set_xlabel("timesteps")
    ax.set_ylabel("frequency of stability")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(loc="lower right")
    return ax


def plot_relative_cost(timesteps: np.ndarray, percentiles: np.ndarray, ax: Axes | None = None) -> Axes:
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
    for (name, cost), style in zip(((n, r["final_relative_cost"]) for n, r in REFERENCE_POINTS.items()), (":", "--")):
        ax.axhline(cost, color="black", linestyle=style, linewidth=1, label=f"{name} (final)")
    ax.set_yscale("log")
    ax.set_ylim(top=top)
    ax.set_xlabel("timesteps")
    ax.set_ylabel("relative cost")
    ax.legend(loc="upper right")
    return ax


def plot_lqr_curves(curves: dict[str, np.ndarray]) -> Figure:
    """Draw the stability panel and the relative-cost panel of ``lqr_curves``' output side by side.

    Args:
        curves: {"timesteps": (G,), "stability_frequency": (G,), "cost_percentiles": (3, G)}.

    Returns:
        A new figure (not registered with pyplot).
    """
    figure = Figure(figsize=(10, 3.5), layout="constrained")
    stability_ax, cost_ax = figure.subplots(1, 2)
    plot_stability(curves["timesteps"], curves["stability_frequency"], ax=stability_ax)
    plot_relative_cost(curves["timesteps"], curves["cost_percentiles"], ax=cost_ax)
    return figure


def lqr_figures(
    params_histories: Sequence[np.ndarray],
    calls: Sequence[np.ndarray],
    path: str | Path | Sequence[str | Path],
    grid: np.ndarray | None = None,
    system: dict[str, np.ndarray] | None = None,
) -> Figure:
    """Write the stability and relative-cost panels of the LQR experiment side by side to ``path``.

    Args:
        params_histories: one (T_i, n_action * n_state) array of iterates per trial.
        calls: one (T_i,) array of cumulative objective calls per trial.
        path: output file, or several; the format follows the suffix (.pdf, .png, ...).
        grid: (G,) numbers of calls (see ``lqr_curves``).
        system: the LQR system (see ``lqr_curves``).

    Returns:
        The figure.
    """
    figure = plot_lqr_curves(lqr_curves(params_histories, calls, grid, system))
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    for one in paths:
        figure.savefig(one)
        logger.info("wrote LQR figure for %d trials to %s", len(calls), one)
    return figure


def load_lqr_run(run_dir: str | Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The iterates and call counts of every trial that ``run_rl_experiment.py`` saved in ``run_dir``.

    Args:
        run_dir: a directory with ``trialNNN.npz`` files (and usually ``config.yaml``).

    Returns:
        (params_histories, calls): per trial (sorted by trial number) a (T_i, 9) array of iterates
        theta_0, theta_1, ... and a (T_i,) array of cumulative objective calls after each.

    Raises:
        FileNotFoundError: ``run_dir`` or its trials are missing (one line naming the path).
        ValueError: the run is not on ``lqr-v0``, or a trial file is damaged (``DamagedUnit``: unreadable, without
            ``params``/``calls``, more calls than the run's budget).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: run directory not found")
    saved = run_dir / CONFIG_FILE
    if saved.is_file():
        record = yaml.safe_load(saved.read_text()) or {}
        environment = (record.get("experiment") or {}).get("environment_name")
        if environment is not None and environment not in LQR_ENV_IDS:
            raise ValueError(f"{saved}: environment_name is {environment!r}, not an LQR run ({LQR_ENV_IDS[0]})")
    trial_files = unit_files(run_dir, TRIAL_PATTERN)
    if not trial_files:
        raise FileNotFoundError(f"{run_dir}: no trial files ({TRIAL_PATTERN})")
    params_histories, calls = [], []
    budget = run_budget(run_dir)
    for path in trial_files:
        try:
            arrays = read_unit(path, ("params", "calls"), budget)
        except DamagedUnit as error:
            raise DamagedUnit(
                f"{error} (run_rl_experiment.py with --resume --out-dir {run_dir} sets it aside and runs it again)"
            ) from None
        params_histories.append(np.asarray(arrays["params"], dtype=np.float64))
        calls.append(np.asarray(arrays["calls"]))
    return params_histories, calls


def lqr_table(curves: dict[str, np.ndarray]) -> str:
    """One row per grid point of ``lqr_curves``: calls, timesteps, stable fraction, cost percentiles."""
    rows = [f"{'calls':>6} {'timesteps':>10} {'stable':>7} {'cost p2':>9} {'median':>9} {'p98':>9}"]
    for n, steps, frequency, (low, median, high) in zip(
        curves["calls"], curves["timesteps"], curves["stability_frequency"], curves["cost_percentiles"].T
    ):
        if np.isnan(frequency):  # before the first iterate or past the run's budget
            rows.append(f"{int(n):>6d} {int(steps):>10d} {'n/a':>7} {'n/a':>9} {'n/a':>9} {'n/a':>9}")
            continue
        rows.append(f"{int(n):>6d} {int(steps):>10d} {frequency:>7.1%} {low:>9.4f} {median:>9.4f} {high:>9.4f}")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gibo.lqr figures RUN_DIR --figure FIG.pdf``: print the numbers, write the figure."""
    parser = argparse.ArgumentParser(
        prog="python -m gibo.lqr",
        description="Numbers and figures of an LQR run (docs/experiments.md#linear-quadratic-regulator).",
        epilog=PATHS_NOTE,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    figures = sub.add_parser("figures", help="stability frequency and relative cost of a run's iterates over calls")
    figures.add_argument("run_dir", help="directory with the trial files of run_rl_experiment.py")
    figures.add_argument(
        "--figure",
        nargs="+",
        default=[],
        metavar="FILE",
        help="figure file(s) to write; the format follows the suffix (.pdf, .png)",
    )
    figures.add_argument(
        "--calls",
        type=int,
        nargs="+",
        default=list(REPORT_CALLS),
        help="numbers of calls at which to print the numbers (default: %(default)s)",
    )
    add_verbosity(figures)
    args = parser.parse_args(argv)
    setup_logging(args)
    try:
        params_histories, calls = load_lqr_run(args.run_dir)
        table = lqr_curves(params_histories, calls, grid=np.asarray(args.calls), limit=run_budget(args.run_dir))
        sys.stdout.write(f"{args.run_dir}: {len(calls)} trials\n{lqr_table(table)}\n")
        sys.stdout.flush()
        if args.figure:
            lqr_figures(params_histories, calls, args.figure)
    except (OSError, ValueError) as error:
        sys.exit(f"error: {error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One run's numbers over calls: step functions on a grid of calls, best-so-far, the normalised error
against f* and its summary per dimension."""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

F_STAR_MARGIN = 0.01


def step_function(values: ArrayLike, calls: ArrayLike, grid: ArrayLike, limit: int | None = None) -> np.ndarray:
    """v(n) = values[t] for the largest t with calls[t] ≤ n (NaN before the first iterate, and beyond `limit`,
    the run's budget: a run says nothing about calls it never made).

    values: `T` (or `T x ...`, one row per iterate); calls: `T` non-decreasing; grid: `G` → `G` (or `G x ...`).
    """
    values = np.asarray(values, dtype=np.float64)
    calls = np.asarray(calls)
    if np.any(np.diff(calls) < 0):
        raise ValueError("calls must be non-decreasing")
    grid = np.asarray(grid)
    index = np.searchsorted(calls, grid, side="right") - 1
    found = (index >= 0) & (grid <= (np.inf if limit is None else limit))
    return np.where(found.reshape((-1,) + (1,) * (values.ndim - 1)), values[np.clip(index, 0, None)], np.nan)


def cell(value: float, fmt: str = ".4f", width: int = 10) -> str:
    """A table cell; NaN (no value: before the first iterate, past the budget) prints as n/a."""
    return f"{'n/a' if np.isnan(value) else format(value, fmt):>{width}}"


def best_so_far(values: np.ndarray) -> np.ndarray:
    """Running maximum: b_t = max_{s ≤ t} values[s]. `T` → `T`."""
    return np.maximum.accumulate(np.asarray(values, dtype=np.float64))


def corrected_f_star(f_star: np.ndarray, best_values: Sequence[np.ndarray]) -> np.ndarray:
    """f* raised to (best seen + 0.01) for each objective where a method's iterate beat it.

    f_star: `n`; best_values: per method, `n` best noise-free values seen.
    """
    f_star = np.asarray(f_star, dtype=np.float64).copy()
    for best in best_values:
        beaten = best > f_star
        f_star[beaten] = best[beaten] + F_STAR_MARGIN
    return f_star


def normalized_error_curves(
    values: Sequence[np.ndarray],
    calls: Sequence[np.ndarray],
    f_star: np.ndarray,
    grid: np.ndarray,
    limit: int | None = None,
) -> np.ndarray:
    """(f* − best-so-far J)/f* on the call grid, per objective: `n x G` (NaN past `limit`, the budget)."""
    curves = np.stack([step_function(best_so_far(v), c, grid, limit) for v, c in zip(values, calls)])
    f_star = np.asarray(f_star, dtype=np.float64)[:, None]
    return (f_star - curves) / f_star


@dataclass
class SyntheticSummary:
    """Mean normalised error per dimension at the given calls (and the per-objective errors)."""

    calls: list[int]
    mean_error: dict[int, list[float]] = field(default_factory=dict)
    errors: dict[int, list[list[float]]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"calls": self.calls, "mean_error": self.mean_error, "errors": self.errors}, indent=1)


def summarize_synthetic(
    results: Mapping[int, dict],
    calls: Sequence[int] | None = None,
    max_calls: int | None = None,
    other_methods: Sequence[Mapping[int, dict]] = (),
) -> SyntheticSummary:
    """Normalised error at `calls` (default: 100, 200, … up to max_calls) for one method's results
    ({D: {"values", "calls", "f_star"}} as `synthetic_experiment.load_results` returns). f* is corrected
    with this method's and `other_methods`' best values."""
    if calls is None:
        top = max_calls or max(int(c[-1]) for entry in results.values() for c in entry["calls"])
        calls = list(range(100, top + 1, 100)) or [top]
    grid = np.asarray(calls)
    summary = SyntheticSummary(calls=[int(c) for c in calls])
    for D, entry in results.items():
        bests = [np.array([np.max(v) for v in entry["values"]])]
        bests += [np.array([np.max(v) for v in other[D]["values"]]) for other in other_methods if D in other]
        f_star = corrected_f_star(entry["f_star"], bests)
        errors = normalized_error_curves(
            entry["values"], entry["calls"], f_star, grid, limit=max_calls or entry.get("budget")
        )
        summary.errors[int(D)] = errors.tolist()
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (past the budget) give NaN
            summary.mean_error[int(D)] = np.nanmean(errors, axis=0).tolist()
    return summary


def format_summary(summary: SyntheticSummary) -> str:
    header = "D".rjust(4) + "".join(f"{c:>10d}" for c in summary.calls)
    rows = [header]
    for D, means in summary.mean_error.items():
        n = len(summary.errors[D])
        rows.append(f"{D:>4d}" + "".join(cell(m) for m in means) + f"   ({n} objectives)")
    return "\n".join(rows)

"""Post-processing shared by the command line and the notebooks: step functions over calls, best-so-far,
normalised error against f*, and summaries.

Command line: `python -m gibo.evaluate synthetic RUN_DIR [RUN_DIR ...] --calls 100 200 300`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

logger = logging.getLogger(__name__)

F_STAR_MARGIN = 0.01


def step_function(values: np.ndarray, calls: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """v(n) = values[t] for the largest t with calls[t] ≤ n (NaN before the first iterate).

    values: `T`; calls: `T` non-decreasing; grid: `G` → `G`.
    """
    values = np.asarray(values, dtype=np.float64)
    calls = np.asarray(calls)
    if np.any(np.diff(calls) < 0):
        raise ValueError("calls must be non-decreasing")
    index = np.searchsorted(calls, np.asarray(grid), side="right") - 1
    out = np.where(index >= 0, values[np.clip(index, 0, None)], np.nan)
    return out


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
    values: Sequence[np.ndarray], calls: Sequence[np.ndarray], f_star: np.ndarray, grid: np.ndarray
) -> np.ndarray:
    """(f* − best-so-far J)/f* on the call grid, per objective: `n x G`."""
    curves = np.stack([step_function(best_so_far(v), c, grid) for v, c in zip(values, calls)])
    f_star = np.asarray(f_star, dtype=np.float64)[:, None]
    return (f_star - curves) / f_star


@dataclass
class SyntheticSummary:
    """Mean normalised error per dimension at the given calls (and the per-objective errors)."""

    calls: List[int]
    mean_error: Dict[int, List[float]] = field(default_factory=dict)
    errors: Dict[int, List[List[float]]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"calls": self.calls, "mean_error": self.mean_error, "errors": self.errors}, indent=1)


def summarize_synthetic(
    results: Mapping[int, dict],
    calls: Optional[Sequence[int]] = None,
    max_calls: Optional[int] = None,
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
        errors = normalized_error_curves(entry["values"], entry["calls"], f_star, grid)
        summary.errors[int(D)] = errors.tolist()
        summary.mean_error[int(D)] = np.nanmean(errors, axis=0).tolist()
    return summary


def format_summary(summary: SyntheticSummary) -> str:
    header = "D".rjust(4) + "".join(f"{c:>10d}" for c in summary.calls)
    rows = [header]
    for D, means in summary.mean_error.items():
        n = len(summary.errors[D])
        rows.append(f"{D:>4d}" + "".join(f"{m:>10.4f}" for m in means) + f"   ({n} objectives)")
    return "\n".join(rows)


def main(argv=None) -> int:
    from gibo.synthetic_experiment import load_results

    parser = argparse.ArgumentParser(prog="python -m gibo.evaluate", description="Summaries and figures of saved runs.")
    sub = parser.add_subparsers(dest="experiment", required=True)
    synthetic = sub.add_parser("synthetic", help="mean normalised error of synthetic runs")
    synthetic.add_argument("run_dirs", nargs="+")
    synthetic.add_argument("--calls", type=int, nargs="+", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    all_results = {}
    for run_dir in args.run_dirs:
        results = load_results(run_dir)
        if not results:
            sys.exit(f"error: {run_dir}: no results found")
        all_results[run_dir] = results
    for run_dir, results in all_results.items():
        others = [r for d, r in all_results.items() if d != run_dir]
        summary = summarize_synthetic(results, calls=args.calls, other_methods=others)
        sys.stdout.write(f"{run_dir}\n{format_summary(summary)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

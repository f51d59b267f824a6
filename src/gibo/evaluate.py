"""Post-processing shared by the command line and the notebooks: step functions over calls, best-so-far,
normalised error against f*, and summaries.

Command line:
    python -m gibo.evaluate synthetic RUN_DIR [RUN_DIR ...] --calls 100 200 300
    python -m gibo.evaluate synthetic-figures --runs gibo=DIR rs=DIR vbo=DIR cmaes=DIR --out FIG_DIR
    python -m gibo.evaluate hypers RUN_DIR --calls 40 80 130     # GIBO's GP hyperparameters over calls
    python -m gibo.evaluate iterations RUN_DIR [RUN_DIR ...]     # iterations and GIBO's early stops
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from gibo.cli import PATHS_NOTE, add_verbosity, setup_logging
from gibo.results import run_budget

logger = logging.getLogger(__name__)

F_STAR_MARGIN = 0.01


def step_function(values: np.ndarray, calls: np.ndarray, grid: np.ndarray, limit: Optional[int] = None) -> np.ndarray:
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
    limit: Optional[int] = None,
) -> np.ndarray:
    """(f* − best-so-far J)/f* on the call grid, per objective: `n x G` (NaN past `limit`, the budget)."""
    curves = np.stack([step_function(best_so_far(v), c, grid, limit) for v, c in zip(values, calls)])
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


# ----------------------------------------------------------------------------------------------
# Several methods on the same objectives: f* corrected across all of them, and the two figures
# of the synthetic study (docs/experiments.md#synthetic-functions)
# ----------------------------------------------------------------------------------------------

# method label → {D: {"values", "calls", "f_star"}} as `synthetic_experiment.load_results` returns
MethodResults = Mapping[str, Mapping[int, dict]]


def load_synthetic_methods(runs: Mapping[str, object]) -> Dict[str, Dict[int, dict]]:
    """{label: results} for {label: run directory}; a directory without results raises FileNotFoundError naming it."""
    from gibo.synthetic_experiment import load_results

    methods = {}
    for label, run_dir in runs.items():
        results = load_results(run_dir)
        if not results:
            raise FileNotFoundError(f"{run_dir}: no results (dim*/objective*.npz) found for method {label!r}")
        for D, entry in results.items():
            # load_results keeps file order (objective000, objective001, …); the indices let partial runs line up.
            entry.setdefault(
                "index",
                np.array(
                    sorted(int(p.stem[len("objective") :]) for p in Path(run_dir, f"dim{D}").glob("objective*.npz"))
                ),
            )
            if len(entry["index"]) != len(entry["values"]):
                raise ValueError(f"{run_dir}/dim{D}: objective files changed while loading; load again")
        methods[label] = results
    return methods


def _objective_indices(entry: dict) -> np.ndarray:
    # Without saved indices (results not from `load_synthetic_methods`), assume the first n objectives.
    return np.asarray(entry.get("index", np.arange(len(entry["values"]))), dtype=np.int64)


def synthetic_error_curves(methods: MethodResults, grid: np.ndarray) -> Dict[str, Dict[int, np.ndarray]]:
    """Normalised error (f* − best-so-far J)/f* on the call grid: {label: {D: `n_label x G`}}.

    For each dimension, f* of every objective is corrected with the best value that *any* method saw
    (`corrected_f_star`), so all methods are measured against the same f*. Methods may hold different
    subsets of the objectives (a partial run); their stored f* must agree where they overlap.
    """
    grid = np.asarray(grid)
    dims = sorted({int(D) for results in methods.values() for D in results})
    curves: Dict[str, Dict[int, np.ndarray]] = {label: {} for label in methods}
    for D in dims:
        present = {label: results[D] for label, results in methods.items() if D in results}
        f_star: Dict[int, float] = {}
        for label, entry in present.items():
            for i, value in zip(_objective_indices(entry), entry["f_star"]):
                if int(i) in f_star and not np.isclose(f_star[int(i)], value):
                    raise ValueError(
                        f"D={D}, objective {i}: method {label!r} has f* {value}, another method {f_star[int(i)]}; "
                        "were the runs made on the same data?"
                    )
                f_star[int(i)] = float(value)
        order = np.array(sorted(f_star))
        position = {i: k for k, i in enumerate(order)}
        bests = []
        for entry in present.values():
            best = np.full(len(order), -np.inf)
            best[[position[int(i)] for i in _objective_indices(entry)]] = [np.max(v) for v in entry["values"]]
            bests.append(best)
        corrected = corrected_f_star(np.array([f_star[i] for i in order]), bests)
        for label, entry in present.items():
            rows = [position[int(i)] for i in _objective_indices(entry)]
            curves[label][D] = normalized_error_curves(
                entry["values"], entry["calls"], corrected[rows], grid, limit=entry.get("budget")
            )
    return curves


def max_calls_of(methods: MethodResults) -> int:
    """The largest cumulative call count any run reached (the budget when runs completed)."""
    return max(int(c[-1]) for results in methods.values() for entry in results.values() for c in entry["calls"])


def mean_error_table(methods: MethodResults, calls: Sequence[int]) -> Dict[str, Dict[int, List[float]]]:
    """{label: {D: mean normalised error at each of `calls`}} (mean over that method's objectives)."""
    curves = synthetic_error_curves(methods, np.asarray(calls))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (past a budget) give NaN: n/a
        return {
            label: {D: np.nanmean(errors, axis=0).tolist() for D, errors in per_dim.items()}
            for label, per_dim in curves.items()
        }


def format_error_table(table: Mapping[str, Mapping[int, Sequence[float]]], calls: Sequence[int]) -> str:
    """Plain-text table: one row per (method, D), one column per call count."""
    width = max([len("method")] + [len(label) for label in table])
    rows = ["method".ljust(width) + "    D" + "".join(f"{c:>10d}" for c in calls)]
    for label, per_dim in table.items():
        for D, means in per_dim.items():
            rows.append(label.ljust(width) + f"{D:>5d}" + "".join(cell(m) for m in means))
    return "\n".join(rows)


def _panel_grid(n: int, ncols: int) -> Tuple[int, int]:
    ncols = max(1, min(ncols, n))
    return -(-n // ncols), ncols


def _method_colors(labels: Sequence[str]) -> Dict[str, str]:
    cycle = ["C0", "C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9"]
    return {label: cycle[k % len(cycle)] for k, label in enumerate(labels)}


def plot_error_curves(methods: MethodResults, max_calls: Optional[int] = None, ncols: int = 3, panel_size=(3.6, 2.8)):
    """Figure: mean normalised error vs number of calls, one panel per dimension, log y-scale, one line per method.

    Returns a `matplotlib.figure.Figure` (no pyplot state is touched).
    """
    from matplotlib.figure import Figure

    max_calls = max_calls or max_calls_of(methods)
    grid = np.arange(0, max_calls + 1)
    curves = synthetic_error_curves(methods, grid)
    dims = sorted({D for per_dim in curves.values() for D in per_dim})
    nrows, ncols = _panel_grid(len(dims), ncols)
    fig = Figure(figsize=(panel_size[0] * ncols, panel_size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    colors = _method_colors(list(curves))
    for ax, D in zip(axes.flat, dims):
        for label, per_dim in curves.items():
            if D in per_dim:
                ax.plot(grid, np.nanmean(per_dim[D], axis=0), color=colors[label], label=label)
        ax.set_yscale("log")
        ax.set_title(f"D = {D}")
        ax.set_xlim(0, max_calls)
        ax.grid(True, which="major", alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("function calls")
    for ax in axes[:, 0]:
        ax.set_ylabel("normalised error")
    for ax in list(axes.flat)[len(dims) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels))
    return fig


def plot_final_error_boxes(
    methods: MethodResults, calls: Optional[int] = None, ncols: int = 3, panel_size=(3.6, 2.8), log_scale: bool = True
):
    """Figure: box plots of the normalised error at `calls` (default: the final call), one panel per dimension,
    one box per method. Returns a `matplotlib.figure.Figure`."""
    from matplotlib.figure import Figure

    calls = calls or max_calls_of(methods)
    curves = synthetic_error_curves(methods, np.asarray([calls]))
    dims = sorted({D for per_dim in curves.values() for D in per_dim})
    nrows, ncols = _panel_grid(len(dims), ncols)
    fig = Figure(figsize=(panel_size[0] * ncols, panel_size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    colors = _method_colors(list(curves))
    for ax, D in zip(axes.flat, dims):
        labels = [label for label, per_dim in curves.items() if D in per_dim]
        data = [curves[label][D][:, 0] for label in labels]
        data = [d[np.isfinite(d)] for d in data]
        if len({len(d) for d in data}) > 1:  # partial runs: say how many objectives each box holds
            tick_labels = [f"{label}\n(n={len(d)})" for label, d in zip(labels, data)]
        else:
            tick_labels = labels
        boxes = ax.boxplot(data, patch_artist=True, medianprops={"color": "black"})
        ax.set_xticks(range(1, len(data) + 1), tick_labels)  # (boxplot's own label keyword changed name in 3.9)
        for patch, label in zip(boxes["boxes"], labels):
            patch.set_facecolor(colors[label])
            patch.set_alpha(0.6)
        if log_scale and all(np.all(d > 0) for d in data if len(d)):
            ax.set_yscale("log")
        ax.set_title(f"D = {D}, {calls} calls")
        ax.grid(True, axis="y", which="major", alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("normalised error")
    for ax in list(axes.flat)[len(dims) :]:
        ax.set_visible(False)
    return fig


def save_figure(fig, path_stem, formats: Sequence[str] = ("pdf", "png"), dpi: int = 150) -> List[Path]:
    """Write `fig` as PATH_STEM.pdf, PATH_STEM.png, …; return the paths."""
    path_stem = Path(path_stem)
    path_stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = path_stem.with_suffix(f".{fmt}")
        fig.savefig(path, dpi=dpi)
        paths.append(path)
    return paths


def synthetic_figures(runs: Mapping[str, object], out_dir, calls: Sequence[int] = (100, 200, 300)) -> Dict[str, object]:
    """Load the runs {label: dir}, write both figures (PDF and PNG) and the mean-error table (text and JSON) to out_dir."""
    methods = load_synthetic_methods(runs)
    out_dir = Path(out_dir)
    written = save_figure(plot_error_curves(methods), out_dir / "normalized_error_curves")
    written += save_figure(plot_final_error_boxes(methods), out_dir / "final_error_boxes")
    table = mean_error_table(methods, calls)
    text = format_error_table(table, calls)
    (out_dir / "mean_errors.txt").write_text(text + "\n")
    (out_dir / "mean_errors.json").write_text(json.dumps({"calls": list(calls), "mean_error": table}, indent=1))
    return {"files": written + [out_dir / "mean_errors.txt", out_dir / "mean_errors.json"], "table": text}


def parse_runs(items: Sequence[str]) -> Dict[str, str]:
    """{label: run_dir} from "LABEL=RUN_DIR" items (command line, notebook parameters)."""
    runs = {}
    for item in items:
        label, sep, run_dir = item.partition("=")
        if not sep or not label or not run_dir:
            raise ValueError(f"--runs {item!r}: expected LABEL=RUN_DIR")
        if label in runs:
            raise ValueError(f"--runs: label {label!r} given twice")
        runs[label] = run_dir
    return runs


GP_ARRAYS = ("gp_lengthscale", "gp_outputscale", "gp_noise", "gp_mean")


def hyperparameters_at(unit: Mapping[str, np.ndarray], calls: Sequence[int]) -> Dict[str, np.ndarray]:
    """The GP hyperparameters in force after `calls` objective calls of one saved GIBO unit.

    Row t of the `gp_*` arrays belongs to iteration t, which ended after `unit["calls"][t + 1]` calls; the
    values after n calls are those of the last iteration that ended by then (NaN before the first).

    Returns:
        {"lengthscale": `len(calls) x D`, "outputscale", "noise", "mean": `len(calls)`}, and "fit_status"
        (`len(calls)`, see `GIBO.hyperparameter_arrays`) for runs that recorded it.
    """
    missing = [name for name in (*GP_ARRAYS, "calls") if name not in unit]
    if missing:
        raise ValueError(f"no GP hyperparameters saved (missing {missing}); only GIBO runs record them")
    ended = np.asarray(unit["calls"])[1:]
    names = GP_ARRAYS + (("gp_fit_status",) if "gp_fit_status" in unit else ())
    return {name[len("gp_") :]: step_function(unit[name], ended, calls) for name in names}


def hyperparameter_table(units: Sequence[Mapping[str, np.ndarray]], calls: Sequence[int]) -> str:
    """Medians over units of the GP hyperparameters in force after each number of calls.

    Columns: outputscale σf², noise σn², constant mean m, and per unit the geometric mean, minimum and
    maximum of its lengthscales (then the median over units); for runs that recorded it, "fit moved %":
    the share of units whose hyperparameter fit of the iteration in force changed the values (a fit that
    stalls at a prior's edge shows as a low share).
    """
    if not units:
        raise ValueError("no units to summarise")
    per_unit = [hyperparameters_at(unit, calls) for unit in units]

    def median(values: List[np.ndarray]) -> np.ndarray:
        stacked = np.stack(values)
        result = np.full(stacked.shape[1], np.nan)
        some = ~np.all(np.isnan(stacked), axis=0)
        result[some] = np.nanmedian(stacked[:, some], axis=0)
        return result

    columns = {
        "outputscale": median([h["outputscale"] for h in per_unit]),
        "noise": median([h["noise"] for h in per_unit]),
        "mean": median([h["mean"] for h in per_unit]),
        "ls gmean": median([np.exp(np.log(h["lengthscale"]).mean(axis=1)) for h in per_unit]),
        "ls min": median([h["lengthscale"].min(axis=1) for h in per_unit]),
        "ls max": median([h["lengthscale"].max(axis=1) for h in per_unit]),
    }
    if all("fit_status" in h for h in per_unit):
        status = np.stack([h["fit_status"] for h in per_unit])  # units x calls, NaN before the first iteration
        fitted = (status == 1) | (status == 2) | (status == 3)
        with np.errstate(invalid="ignore", divide="ignore"):
            columns["fit moved %"] = np.where(fitted.any(0), 100.0 * (status == 1).sum(0) / fitted.sum(0), np.nan)
    rows = [f"{'calls':>6} " + " ".join(f"{name:>11}" for name in columns)]
    for i, n in enumerate(calls):
        rows.append(f"{int(n):>6d} " + " ".join(f"{values[i]:>11.4g}" for values in columns.values()))
    return "\n".join(rows)


def iteration_counts(
    units: Sequence[Mapping[str, np.ndarray]], calls: int, max_samples: Optional[int] = None
) -> Dict[str, float]:
    """How the first `calls` objective calls of each unit split into iterations.

    Iteration t ended after `unit["calls"][t + 1]` calls; counted are the iterations that ended by `calls`.
    For GIBO and MPD an iteration's calls are the evaluation of the iterate it starts at plus its samples.
    The shares leave out a unit's last iteration when it ended exactly at `calls` and nothing followed (with
    `calls` the budget, its samples may have been capped at the calls left).

    Returns:
        {"units", "iterations" (mean per unit), "calls per iteration" (mean over all counted iterations),
        "2-sample %" (share of iterations with exactly 3 calls: ε's earliest stop, after 2 samples),
        "early stop %" (share with fewer than `max_samples` samples; NaN without `max_samples`)}.
    """
    if not units:
        raise ValueError("no units to summarise")
    per_iteration, full = [], []
    for unit in units:
        ended = np.asarray(unit["calls"])
        ended = ended[ended <= calls]
        spent = np.diff(ended)
        per_iteration.append(spent)
        budget_cut = len(ended) == len(unit["calls"]) and len(spent) and int(unit["calls"][-1]) == calls
        full.append(spent[:-1] if budget_cut else spent)
    spent, uncut = np.concatenate(per_iteration), np.concatenate(full)
    with np.errstate(invalid="ignore"):
        return {
            "units": float(len(units)),
            "iterations": float(np.mean([len(s) for s in per_iteration])),
            "calls per iteration": float(spent.mean()) if spent.size else np.nan,
            "2-sample %": 100.0 * float(np.mean(uncut == 3)) if uncut.size else np.nan,
            "early stop %": 100.0 * float(np.mean(uncut < max_samples + 1)) if max_samples and uncut.size else np.nan,
        }


def _saved_resolved(run_dir) -> dict:
    """The `resolved` section of a saved run's config.yaml ({} without one)."""
    import yaml

    saved = Path(run_dir) / "config.yaml"
    resolved = (yaml.safe_load(saved.read_text()) or {}).get("resolved") if saved.is_file() else None
    return resolved if isinstance(resolved, dict) else {}


def _max_samples_of(resolved: dict, group: str) -> Optional[int]:
    """max_samples_per_iteration for a unit folder ("dim12": the section of D = 12; "." for RL trials: all of it)."""
    if group.startswith("dim") and group[3:].isdigit():
        resolved = resolved.get(int(group[3:]), resolved.get(group[3:]))
    value = resolved.get("max_samples_per_iteration") if isinstance(resolved, dict) else None
    return value if isinstance(value, int) else None


def iteration_table(run_dir, calls: Optional[int] = None) -> str:
    """`iteration_counts` per unit folder of a saved run, one line each (calls: default the run's budget)."""
    groups = load_gp_units(run_dir)
    calls = calls or run_budget(run_dir) or max(int(u["calls"][-1]) for units in groups.values() for u in units)
    names = ("units", "iterations", "calls per iteration", "2-sample %", "early stop %")
    rows = [f"{'group':>8} " + " ".join(f"{name:>{max(8, len(name))}}" for name in names) + f"   (first {calls} calls)"]
    resolved = _saved_resolved(run_dir)
    for group, units in groups.items():
        counts = iteration_counts(units, calls, _max_samples_of(resolved, group))
        cells = [f"{int(counts['units']):>8d}", *(cell(counts[name], ".1f", max(8, len(name))) for name in names[1:])]
        rows.append(f"{group if group != '.' else 'trials':>8} " + " ".join(cells))
    return "\n".join(rows)


def load_gp_units(run_dir) -> Dict[str, List[Dict[str, np.ndarray]]]:
    """Every unit file of a run (RL trials or synthetic objectives; offline caches skipped), grouped by the
    folder they sit in relative to `run_dir` ("." for RL trials, "dim8", "dim16", ... for synthetic runs)."""
    from gibo.results import DamagedUnit, read_unit, unit_files

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: run directory not found")
    paths = [p for p in unit_files(run_dir) if not p.name.endswith(".offline.npz")]
    if not paths:
        raise FileNotFoundError(f"{run_dir}: no result files (*.npz)")
    budget = run_budget(run_dir)
    groups: Dict[str, List[Dict[str, np.ndarray]]] = {}
    for path in paths:
        try:
            unit = read_unit(path, ("params", "calls"), budget)
        except DamagedUnit as error:
            raise DamagedUnit(
                f"{error} (the run script with --resume --out-dir {run_dir} sets it aside and runs it again)"
            ) from None
        groups.setdefault(path.parent.relative_to(run_dir).as_posix(), []).append(unit)
    return {name: groups[name] for name in sorted(groups, key=_natural_key)}


def _natural_key(name: str) -> list:
    """Sort key that orders dim8 before dim16."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def main(argv=None) -> int:
    from gibo.results import DamagedUnit
    from gibo.synthetic_experiment import load_results

    parser = argparse.ArgumentParser(
        prog="python -m gibo.evaluate", description="Summaries and figures of saved runs.", epilog=PATHS_NOTE
    )
    sub = parser.add_subparsers(dest="experiment", required=True)
    synthetic = sub.add_parser("synthetic", help="mean normalised error of synthetic runs")
    synthetic.add_argument("run_dirs", nargs="+", help="result directories of run_synthetic_experiment.py")
    synthetic.add_argument(
        "--calls",
        type=int,
        nargs="+",
        default=None,
        help="numbers of calls of the table (default: 100, 200, ... up to the budget)",
    )
    figures = sub.add_parser(
        "synthetic-figures", help="error-vs-calls and final-error box-plot figures of several methods"
    )
    figures.add_argument(
        "--runs", nargs="+", required=True, metavar="LABEL=RUN_DIR", help="e.g. GIBO=experiments/.../gibo"
    )
    figures.add_argument(
        "--out", required=True, metavar="DIR", help="directory for the PDF/PNG figures and the mean-error table"
    )
    figures.add_argument(
        "--calls",
        type=int,
        nargs="+",
        default=[100, 200, 300],
        help="calls of the mean-error table (default: %(default)s)",
    )
    hypers = sub.add_parser("hypers", help="medians of GIBO's GP hyperparameters over calls (RL or synthetic run)")
    hypers.add_argument("run_dir", help="result directory of a GIBO run")
    hypers.add_argument(
        "--calls",
        type=int,
        nargs="+",
        default=None,
        help="numbers of calls (default: 1/8, 1/4, 1/2 and all of the budget)",
    )
    iterations = sub.add_parser("iterations", help="iterations per unit and how often GIBO's ε stopped sampling early")
    iterations.add_argument("run_dirs", nargs="+", help="result directories (synthetic or RL runs)")
    iterations.add_argument(
        "--calls", type=int, default=None, help="count the first N calls (default: the run's budget)"
    )
    for command in (synthetic, figures, hypers, iterations):
        add_verbosity(command)
    args = parser.parse_args(argv)
    setup_logging(args)
    if args.experiment == "hypers":
        try:
            groups = load_gp_units(args.run_dir)
            if args.calls is None:
                budget = run_budget(args.run_dir) or max(
                    int(u["calls"][-1]) for units in groups.values() for u in units
                )
                args.calls = sorted({max(1, round(budget * f)) for f in (0.125, 0.25, 0.5, 1.0)})
            for group, units in groups.items():
                name = args.run_dir if group == "." else f"{args.run_dir}/{group}"
                sys.stdout.write(f"{name}: {len(units)} units\n{hyperparameter_table(units, args.calls)}\n")
        except (FileNotFoundError, DamagedUnit) as error:  # its message names the path
            sys.exit(f"error: {error}")
        except ValueError as error:
            sys.exit(f"error: {args.run_dir}: {error}")
        return 0
    if args.experiment == "iterations":
        for run_dir in args.run_dirs:
            try:
                sys.stdout.write(f"{run_dir}\n{iteration_table(run_dir, args.calls)}\n")
            except (FileNotFoundError, DamagedUnit) as error:  # its message names the path
                sys.exit(f"error: {error}")
        return 0
    if args.experiment == "synthetic-figures":
        try:
            written = synthetic_figures(parse_runs(args.runs), args.out, calls=args.calls)
        except (ValueError, FileNotFoundError) as error:
            sys.exit(f"error: {error}")
        sys.stdout.write(written["table"] + "\n")
        for path in written["files"]:
            logger.info("wrote %s", path)
        return 0
    all_results = {}
    for run_dir in args.run_dirs:
        try:
            results = load_results(run_dir)
        except DamagedUnit as error:
            sys.exit(f"error: {error}")
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

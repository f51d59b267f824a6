"""Several methods on the same objectives: f* corrected across all of them, and the two figures of the
synthetic study (docs/experiments.md#synthetic-functions)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gibo.evaluate.curves import (
    cell,
    corrected_f_star,
    normalized_error_curves,
)

# method label → {D: {"values", "calls", "f_star"}} as `synthetic_experiment.load_results` returns
MethodResults = Mapping[str, Mapping[int, dict]]


def load_synthetic_methods(runs: Mapping[str, str | Path]) -> dict[str, dict[int, dict]]:
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


def synthetic_error_curves(methods: MethodResults, grid: np.ndarray) -> dict[str, dict[int, np.ndarray]]:
    """Normalised error (f* − best-so-far J)/f* on the call grid: {label: {D: `n_label x G`}}.

    For each dimension, f* of every objective is corrected with the best value that *any* method saw
    (`corrected_f_star`), so all methods are measured against the same f*. Methods may hold different
    subsets of the objectives (a partial run); their stored f* must agree where they overlap.
    """
    grid = np.asarray(grid)
    dims = sorted({int(D) for results in methods.values() for D in results})
    curves: dict[str, dict[int, np.ndarray]] = {label: {} for label in methods}
    for D in dims:
        present = {label: results[D] for label, results in methods.items() if D in results}
        f_star: dict[int, float] = {}
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


def mean_error_table(methods: MethodResults, calls: Sequence[int]) -> dict[str, dict[int, list[float]]]:
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


def _panel_grid(n: int, ncols: int) -> tuple[int, int]:
    ncols = max(1, min(ncols, n))
    return -(-n // ncols), ncols


def _method_colors(labels: Sequence[str]) -> dict[str, str]:
    cycle = ["C0", "C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9"]
    return {label: cycle[k % len(cycle)] for k, label in enumerate(labels)}


def plot_error_curves(methods: MethodResults, max_calls: int | None = None, ncols: int = 3, panel_size=(3.6, 2.8)):
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
    methods: MethodResults, calls: int | None = None, ncols: int = 3, panel_size=(3.6, 2.8), log_scale: bool = True
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


def save_figure(fig, path_stem, formats: Sequence[str] = ("pdf", "png"), dpi: int = 150) -> list[Path]:
    """Write `fig` as PATH_STEM.pdf, PATH_STEM.png, …; return the paths."""
    path_stem = Path(path_stem)
    path_stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = path_stem.with_suffix(f".{fmt}")
        fig.savefig(path, dpi=dpi)
        paths.append(path)
    return paths


def synthetic_figures(
    runs: Mapping[str, str | Path], out_dir, calls: Sequence[int] = (100, 200, 300)
) -> dict[str, Any]:
    """Load the runs {label: dir}, write both figures (PDF and PNG) and the mean-error table (text and JSON) to
    out_dir."""
    methods = load_synthetic_methods(runs)
    out_dir = Path(out_dir)
    written = save_figure(plot_error_curves(methods), out_dir / "normalized_error_curves")
    written += save_figure(plot_final_error_boxes(methods), out_dir / "final_error_boxes")
    table = mean_error_table(methods, calls)
    text = format_error_table(table, calls)
    (out_dir / "mean_errors.txt").write_text(text + "\n")
    (out_dir / "mean_errors.json").write_text(json.dumps({"calls": list(calls), "mean_error": table}, indent=1))
    return {"files": [*written, out_dir / "mean_errors.txt", out_dir / "mean_errors.json"], "table": text}


def parse_runs(items: Sequence[str]) -> dict[str, str]:
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

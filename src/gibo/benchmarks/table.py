"""What a results folder of the suite holds, as a markdown table and a figure of best-so-far curves.

The table has one row per problem × D × method: the number of seeds (cells) found, the best noise-free value found
within the budget (mean ± standard deviation over the seeds), the known optimum where there is one, and the mean wall
time of a cell. The figure has one panel per problem × D: the mean best-so-far over the calls, ± one standard
deviation shaded, per method. Both read only the cell files, so they show the runs actually made.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from gibo.benchmarks.suite import CELL_ARRAYS, cell_meta
from gibo.results import read_unit, unit_files

METHOD_NAMES = {
    "gibo": "GIBO",
    "mpd": "MPD",
    "les": "LES",
    "turbo": "TuRBO",
    "cmaes": "CMA-ES",
    "ars": "ARS",
    "vbo": "vanilla BO",
    "ngopt": "NGOpt",
}


def load_cells(results_dir) -> dict[tuple[str, int, int, str], list[dict]]:
    """(problem, D, budget, method) → the cells found under `results_dir`, each {"best_so_far", "wall_time",
    "optimum", "seed"}; FileNotFoundError when there are none."""
    directory = Path(results_dir)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no such results folder")
    groups: dict[tuple[str, int, int, str], list[dict]] = defaultdict(list)
    for path in unit_files(directory):
        arrays = read_unit(path, required=CELL_ARRAYS)
        meta = cell_meta(arrays)
        spec = meta["spec"]
        groups[(spec["problem"], spec["D"], spec["budget"], spec["method"])].append(
            {
                "best_so_far": arrays["best_so_far"],
                "wall_time": float(arrays["wall_time"]),
                "optimum": meta.get("optimum"),
                "seed": spec["seed"],
            }
        )
    if not groups:
        raise FileNotFoundError(f"{directory}: no cell files (*.npz) found")
    return dict(sorted(groups.items(), key=lambda item: (item[0][0], item[0][1], _method_order(item[0][3]))))


def select_cells(
    groups: dict[tuple[str, int, int, str], list[dict]],
    problems: list[str] | None = None,
    dimensions: list[int] | None = None,
    methods: list[str] | None = None,
    seeds: list[int] | None = None,
) -> dict[tuple[str, int, int, str], list[dict]]:
    """The groups of `load_cells` for these problems, dimensions, methods and seeds only (None: all), so that
    methods can be compared on the same seeds; FileNotFoundError naming the first asked-for value that no cell has,
    or when nothing is left."""
    wanted = {0: problems, 1: dimensions, 3: methods}  # position in a group's key -> the values asked for
    asked_for = [(name, wanted[i], {key[i] for key in groups}) for i, name in ((0, "problem"), (1, "D"), (3, "method"))]
    asked_for.append(("seed", seeds, {cell["seed"] for found in groups.values() for cell in found}))
    for name, asked, present in asked_for:
        absent = [value for value in asked or [] if value not in present]
        if absent:
            have = ", ".join(str(value) for value in sorted(present))
            raise FileNotFoundError(f"no cells with {name} {absent[0]} (the folder has {have})")
    selected = {}
    for key, found in groups.items():
        if all(asked is None or key[i] in asked for i, asked in wanted.items()):
            kept = [cell for cell in found if seeds is None or cell["seed"] in seeds]
            if kept:
                selected[key] = kept
    if not selected:
        raise FileNotFoundError("no cells with these problems, dimensions, methods and seeds together")
    return selected


def _method_order(method: str) -> int:
    return list(METHOD_NAMES).index(method) if method in METHOD_NAMES else len(METHOD_NAMES)


def _number(value: float) -> str:
    return f"{value:.4g}"


def markdown_table(groups: dict[tuple[str, int, int, str], list[dict]]) -> str:
    """One row per problem × D × method (see the module docstring)."""
    lines = [
        "| problem | D | budget | method | seeds | best found at the budget (mean ± std) | optimum "
        "| wall time per cell (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (problem, D, budget, method), found in groups.items():
        finals = np.array([c["best_so_far"][-1] for c in found])
        complete = sum(len(c["best_so_far"]) >= budget for c in found)
        seeds = str(len(found)) + ("" if complete == len(found) else f" ({len(found) - complete} short of the budget)")
        optima = [c["optimum"] for c in found if c["optimum"] is not None]
        if not optima:
            optimum = "not known"
        elif len(set(optima)) == 1:
            optimum = _number(optima[0])
        else:
            optimum = f"{_number(float(np.mean(optima)))} (mean over the instances)"
        spread = _number(float(finals.std(ddof=1))) if len(finals) > 1 else "n/a"
        wall = float(np.mean([c["wall_time"] for c in found]))
        name = METHOD_NAMES.get(method, method)
        lines.append(
            f"| {problem} | {D} | {budget} | {name} | {seeds} | {_number(float(finals.mean()))} ± {spread} "
            f"| {optimum} | {wall:.1f} |"
        )
    return "\n".join(lines)


def _symlog_width(mean_curves: list[np.ndarray]) -> float | None:
    """The linear width of a symmetric log axis for these mean curves, or None for a linear axis.

    A linear axis shows only the first calls of a panel whose values shrink by orders of magnitude (Dixon-Price
    from −10⁵ to −1): where the largest |value| exceeds the smallest final |value| a thousandfold, the axis is
    logarithmic beyond the smallest final |value| (at least 1e-6) and linear within it."""
    largest = max(float(np.abs(curve).max()) for curve in mean_curves)
    smallest_final = max(min(float(abs(curve[-1])) for curve in mean_curves), 1e-6)
    return smallest_final if largest > 1e3 * smallest_final else None


def curves_figure(groups: dict[tuple[str, int, int, str], list[dict]], path) -> Path:
    """One panel per problem × D: mean best-so-far against calls, ± one std shaded (within the seeds' range),
    one line per method; a symmetric log axis where a panel's values span orders of magnitude (`_symlog_width`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels: dict[tuple[str, int], list] = defaultdict(list)
    for (problem, D, _, method), found in groups.items():
        panels[(problem, D)].append((method, found))
    # one colour per method in every panel (a method missing from a panel must not shift the others' colours)
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    methods = list(METHOD_NAMES) + sorted({m for (_, _, _, m) in groups} - set(METHOD_NAMES))
    colour = {method: cycle[i % len(cycle)] for i, method in enumerate(methods)}
    columns = 2 if len(panels) == 4 else min(3, len(panels))  # four panels (LES's complexity levels) as 2 x 2
    rows = -(-len(panels) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    for ax, ((problem, D), lines) in zip(axes.flat, panels.items()):
        means = []
        for method, found in lines:
            n = min(len(c["best_so_far"]) for c in found)
            curves = np.stack([c["best_so_far"][:n] for c in found])
            calls = np.arange(1, n + 1)
            mean, std = curves.mean(0), curves.std(0)
            means.append(mean)
            ax.plot(calls, mean, color=colour[method], label=f"{METHOD_NAMES.get(method, method)} ({len(found)})")
            # ± one std, within what the seeds reached (a band above the best seed would claim values never seen)
            band = np.clip(mean - std, curves.min(0), None), np.clip(mean + std, None, curves.max(0))
            ax.fill_between(calls, *band, color=colour[method], alpha=0.2)
        ax.set_title(f"{problem}, D = {D}", fontsize=9)
        ax.set_xlabel("calls")
        ax.set_ylabel("best value so far")
        linear_width = _symlog_width(means)
        if linear_width is not None:
            ax.set_yscale("symlog", linthresh=linear_width, linscale=0.5)
            ax.set_ylabel("best value so far (symmetric log scale)")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path

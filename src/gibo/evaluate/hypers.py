"""GIBO's runs from the inside: the GP hyperparameters in force over calls, and the iterations per run with
the early stops of ε."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from gibo.evaluate.curves import cell, step_function
from gibo.results import run_budget

GP_ARRAYS = ("gp_lengthscale", "gp_outputscale", "gp_noise", "gp_mean")


def hyperparameters_at(unit: Mapping[str, np.ndarray], calls: Sequence[int]) -> dict[str, np.ndarray]:
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

    def median(values: list[np.ndarray]) -> np.ndarray:
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
    units: Sequence[Mapping[str, np.ndarray]], calls: int, max_samples: int | None = None
) -> dict[str, float]:
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


def _max_samples_of(resolved: dict, group: str) -> int | None:
    """max_samples_per_iteration for a unit folder ("dim12": the section of D = 12; "." for RL trials: all of it)."""
    section: dict | None = resolved
    if group.startswith("dim") and group[3:].isdigit():
        section = resolved.get(int(group[3:]), resolved.get(group[3:]))
    value = section.get("max_samples_per_iteration") if isinstance(section, dict) else None
    return value if isinstance(value, int) else None


def iteration_table(run_dir, calls: int | None = None) -> str:
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


def load_gp_units(run_dir) -> dict[str, list[dict[str, np.ndarray]]]:
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
    groups: dict[str, list[dict[str, np.ndarray]]] = {}
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

"""Run a benchmark suite: every problem × dimension × method × seed cell of a config, one result file per cell.

A cell runs its method through the public API, `gibo.maximize(f, x0, budget, method, seed=seed, bounds=box)`, with
the method's API defaults (and the config's `method_options`, if any), or Nevergrad's NGOpt (`ngopt`) on the same
box and budget. Its file, `<out_dir>/<problem>/D<D>/<method>/seed<seed>.npz` (no pickle), holds:

- `x` (calls × D), `values` (what each call returned), `true_values` (the same points without observation noise;
  equal to `values` for noise-free problems), `best_so_far` (running maximum of `true_values`), `calls` (1 … n),
  `elapsed` (seconds since the cell started, at each call), `wall_time` (seconds for the whole cell), `x0`,
  `deployed` (what the method would deploy at the end: `result.x`);
- `meta`: a JSON string with the cell's spec (problem, its settings, D, method, seed, budget, x0 rule, option
  overrides), the method's options as resolved (the full `optimizer_config` after the API defaults), the problem's
  box and known optimum (estimated for `mpd_gp_sample`), the library versions, the machine's load when it started.

Cells whose file exists are skipped (an invocation resumes the last one). A file made with other settings than the
config now gives for that cell is never overwritten: the run stops with one line naming it. A damaged file is moved
aside (`<name>.npz.damaged`) and its cell runs again. With `workers > 1` cells run in parallel on Ray
(`gibo.runner.run_units`).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from gibo.benchmarks.config import API_METHODS, Entry, LunarLanderEntry, SuiteConfig
from gibo.benchmarks.lunar_lander import MissingExtra, require_box2d
from gibo.benchmarks.problems import GPPosteriorMean, Problem
from gibo.progress import report_calls
from gibo.results import (
    DamagedUnit,
    RunDirInUse,
    RunLock,
    check_arrays,
    describe_holder,
    read_unit,
    write_yaml,
)

logger = logging.getLogger(__name__)

CELL_ARRAYS = ("x", "values", "true_values", "best_so_far", "calls", "elapsed", "wall_time", "meta")
MISSING_NEVERGRAD = 'the ngopt method needs Nevergrad: pip install "nevergrad>=1.0"'


class CellMismatch(ValueError):
    """A cell's existing file was made with other settings than the config now gives (one line naming it)."""


@dataclass(frozen=True)
class Cell:
    """One run: a problem at dimension D, a method, a seed (which also picks the instance of a GP-sample problem)."""

    entry: Entry
    D: int
    method: str
    seed: int
    budget: int
    x0: str
    options: dict = field(default_factory=dict, hash=False)

    @property
    def name(self) -> str:
        return f"{self.entry.label}/D{self.D}/{self.method}/seed{self.seed:03d}"

    def spec(self) -> dict:
        return {
            "problem": self.entry.label,
            "settings": self.entry.settings(),
            "D": self.D,
            "method": self.method,
            "seed": self.seed,
            "budget": self.budget,
            "x0": self.x0,
            "options": self.options,
        }


def cells(
    config: SuiteConfig,
    methods: list[str] | None = None,
    seeds: list[int] | None = None,
    dimensions: list[int] | None = None,
    problems: list[str] | None = None,
) -> list[Cell]:
    """The config's cells, restricted to `methods`, `seeds`, `dimensions` and `problems` (labels, e.g. ackley or
    les_gp_sample-high) where given, in the config's order."""
    chosen = []
    for entry in config.problems:
        if problems is not None and entry.label not in problems:
            continue
        for D in entry.dimensions:
            if dimensions is not None and D not in dimensions:
                continue
            for method in methods if methods is not None else config.methods:
                for seed in seeds if seeds is not None else config.seed_list():
                    options = config.method_options.get(method, {})
                    chosen.append(Cell(entry, D, method, seed, config.budget_for(D), config.x0, options))
    return chosen


def start_point(problem: Problem, seed: int, rule: str) -> np.ndarray:
    """x0: the box's centre, or uniform in the box from a generator of (seed, D) alone (the same for every method)."""
    if rule == "center":
        return problem.center()
    u = np.random.default_rng([seed, problem.D, 7]).random(problem.D)
    return problem.lower + u * (problem.upper - problem.lower)


def resolved_options(method: str, D: int, budget: int, seed: int, overrides: dict) -> dict:
    """The method's full `optimizer_config` as `gibo.maximize` builds it (API defaults with `overrides` laid over)."""
    from gibo.api.defaults import METHODS as CONFIG_NAMES
    from gibo.api.defaults import default_options, merged_options
    from gibo.config import config_to_dict, parse_experiment_config

    data = {
        "method": CONFIG_NAMES[method],
        "out_dir": "",
        "seed": seed,
        "max_objective_calls": budget,
        "optimizer_config": merged_options(default_options(method, D, True), overrides),
    }
    return config_to_dict(parse_experiment_config(data, source=f"method_options.{method}").optimizer_config)


def versions() -> dict:
    """The versions of the libraries a cell used (gibo, torch, GPyTorch, BoTorch, numpy, Python; pycma, Nevergrad,
    Gymnasium, Box2D where loaded)."""
    from gibo.api.state import library_versions

    found = library_versions()
    for module in ("nevergrad", "gymnasium", "Box2D"):
        if module in sys.modules:
            found[module.lower()] = str(getattr(sys.modules[module], "__version__", "?"))
    return found


def _ngopt(f, x0: np.ndarray, problem: Problem, budget: int, seed: int) -> tuple[np.ndarray, dict]:
    """Nevergrad's NGOpt on the box (it minimises: it is told −f); returns its recommendation and its settings.

    The parameter is Nevergrad's bounded array from x0: its σ is a sixth of the box's side (Nevergrad's rule when
    both bounds are given)."""
    import nevergrad as ng

    parametrization = ng.p.Array(init=x0, lower=problem.lower, upper=problem.upper)
    parametrization.random_state = np.random.RandomState(seed)
    optimizer = ng.optimizers.NGOpt(parametrization=parametrization, budget=budget, num_workers=1)
    for _ in range(budget):
        candidate = optimizer.ask()
        optimizer.tell(candidate, -f(np.asarray(candidate.value, dtype=np.float64)))
    chosen = getattr(optimizer, "optim", None)  # the algorithm NGOpt picked for this dimension and budget
    settings = {"optimizer": "NGOpt", "num_workers": 1, "chosen": getattr(chosen, "name", None)}
    return np.asarray(optimizer.provide_recommendation().value, dtype=np.float64), settings


def run_cell(cell: Cell) -> dict:
    """Run one cell; its arrays (the module docstring lists them)."""
    import gibo

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    problem = cell.entry.build(cell.D, cell.seed)
    x0 = start_point(problem, cell.seed, cell.x0)
    xs: list[np.ndarray] = []
    values: list[float] = []
    true_values: list[float] = []
    elapsed: list[float] = []
    best = [-np.inf]
    start = time.perf_counter()

    def f(x: np.ndarray) -> float:
        value = float(problem(x))
        true = float(problem.noise_free(x)) if problem.noisy else value
        xs.append(np.array(x, dtype=np.float64))
        values.append(value)
        true_values.append(true)
        elapsed.append(time.perf_counter() - start)
        best[0] = max(best[0], true)
        report_calls(len(values), best[0])
        return value

    if cell.method == "ngopt":
        deployed, options = _ngopt(f, x0, problem, cell.budget, cell.seed)
    else:
        options = resolved_options(cell.method, cell.D, cell.budget, cell.seed, cell.options)
        result = gibo.maximize(
            f,
            x0,
            cell.budget,
            cell.method,
            seed=cell.seed,
            bounds=(problem.lower, problem.upper),
            progress=False,
            **cell.options,
        )
        deployed = result.x
    wall_time = time.perf_counter() - start
    if isinstance(problem, GPPosteriorMean):
        problem.estimate_optimum()  # after the clock stops: not part of the method's time
    meta = {
        "spec": cell.spec(),
        "name": cell.name,
        "method_options": options,
        "lower": problem.lower.tolist(),
        "upper": problem.upper.tolist(),
        "optimum": problem.optimum,
        "noisy": problem.noisy,
        "versions": versions(),
        "load_average": load,
        "cpus": os.cpu_count(),
    }
    true = np.asarray(true_values)
    return {
        "x": np.asarray(xs).reshape(len(xs), cell.D),
        "values": np.asarray(values),
        "true_values": true,
        "best_so_far": np.maximum.accumulate(true),
        "calls": np.arange(1, len(values) + 1),
        "elapsed": np.asarray(elapsed),
        "wall_time": np.asarray(wall_time),
        "x0": x0,
        "deployed": np.asarray(deployed, dtype=np.float64),
        "meta": np.asarray(json.dumps(meta)),
    }


def cell_meta(arrays: dict) -> dict:
    return json.loads(str(arrays["meta"]))


def check_cell(cell: Cell, path: Path) -> None:
    """A cell's existing file: `DamagedUnit` when it cannot be used, `CellMismatch` when made with other settings."""
    arrays = read_unit(path, required=CELL_ARRAYS)  # the budget is checked once the spec is known to agree
    try:
        spec = cell_meta(arrays)["spec"]
    except (ValueError, KeyError, TypeError):
        raise DamagedUnit(f"{path}: its 'meta' is not the JSON of a suite cell") from None
    here = json.loads(json.dumps(cell.spec()))
    if spec != here:
        key = next(k for k in here if spec.get(k) != here[k])
        raise CellMismatch(
            f"{path}: made with {key} {spec.get(key)!r}, the config now gives {here[key]!r}; "
            "it is kept: give another --out-dir (or restore the config it was made with)"
        )
    check_arrays(arrays, path, budget=cell.budget)


def check_available(chosen: list[Cell]) -> None:
    """Refuse at once (one line naming the extra) when a chosen cell needs an optional package that is missing."""
    if any(c.method == "ngopt" for c in chosen):
        try:
            import nevergrad  # noqa: F401 - only whether it imports
        except ImportError:
            raise MissingExtra(MISSING_NEVERGRAD) from None
    if any(isinstance(c.entry, LunarLanderEntry) for c in chosen):
        require_box2d()
    for cell in chosen:
        if cell.method in API_METHODS and cell.options:
            resolved_options(cell.method, cell.D, cell.budget, cell.seed, cell.options)


def _record_config(out_dir: Path, config: SuiteConfig) -> None:
    """Save the resolved config as suite.yaml; a different config of a later invocation goes to suite-2.yaml, …"""
    content = config.model_dump(mode="json")
    n = 1
    while True:
        path = out_dir / ("suite.yaml" if n == 1 else f"suite-{n}.yaml")
        if not path.exists():
            write_yaml(path, content)
            return
        if yaml.safe_load(path.read_text()) == content:
            return
        n += 1


def run_suite(
    config: SuiteConfig,
    out_dir: str | None = None,
    methods: list[str] | None = None,
    seeds: list[int] | None = None,
    dimensions: list[int] | None = None,
    problems: list[str] | None = None,
    workers: int = 1,
    ray_address: str | None = None,
    progress: bool = True,
) -> list[Path]:
    """Run the cells of `config` (restricted as `cells` says) that have no file yet; return every chosen cell's file.

    Raises (each with one line): `MissingExtra` (nevergrad or box2d missing), `ConfigError` (bad method options),
    `CellMismatch`, `RunDirInUse` (another invocation runs in `out_dir`), and what `gibo.runner.run_units` raises.
    """
    from gibo.runner import run_units

    directory = Path(out_dir if out_dir is not None else config.out_dir)
    chosen = cells(config, methods, seeds, dimensions, problems)
    if not chosen:
        labels = ", ".join(e.label for e in config.problems)
        raise ValueError(f"no cells: the methods, seeds, dimensions or problems given match none (problems: {labels})")
    check_available(chosen)
    directory.mkdir(parents=True, exist_ok=True)
    lock, holder = RunLock.acquire(directory)
    if lock is None:
        raise RunDirInUse(f"{directory}: another suite run writes there ({describe_holder(holder)})")
    try:
        _record_config(directory, config)
        budgets = {c.budget for c in chosen}

        def path_of(cell: Cell) -> Path:
            return directory / f"{cell.name}.npz"

        return run_units(
            chosen,
            run_cell,
            path_of,
            name_of=lambda cell: cell.name,
            description=config.name,
            progress=progress,
            workers=workers,
            ray_address=ray_address,
            calls_per_unit=budgets.pop() if len(budgets) == 1 else None,
            check=lambda cell: check_cell(cell, path_of(cell)),
        )
    finally:
        lock.release()

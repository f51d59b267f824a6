"""GIBO and the methods beside it on any objective: `maximize` / `minimize` (one call) and `AskTell` (the caller
evaluates).

Both drive the same iterations as the experiment scripts (`loop.IterationDriver` over each optimizer's
`iterate()` generator); only the defaults differ. The paper's configs know the scale of their benchmarks;
here nothing is known about the objective, so the optimizers work in *unit coordinates*
u = (x − lower) / (upper − lower) with `bounds` (u = (x − x0) / scale without them) and the GP methods
standardise the observed values and learn their hyperparameters under priors set in those units
(`default_options`, explained in docs/api.md).

A run is repeatable: its own seeded random state (torch's and numpy's global generators are swapped in
around every ask and tell, so the caller's use of them does not matter) and one torch thread. A saved run
(`AskTell.save`) is the run's settings and its told values in JSON; `AskTell.load` replays them and checks
that every recomputed point equals the recorded one.

Example:
    >>> result = gibo.maximize(lambda x: -((x - 0.3) ** 2).sum(), np.zeros(4), budget=100, bounds=(-1, 1))
    >>> result.x, result.value, result.calls
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from gibo.config import ConfigError, parse_experiment_config
from gibo.loop import BudgetSpent, IterationDriver

logger = logging.getLogger(__name__)

# The API's method names → the config's (`ars` is the config's `rs`).
METHODS = {"gibo": "gibo", "mpd": "mpd", "turbo": "turbo", "ars": "rs", "vbo": "vbo", "cmaes": "cmaes"}
# Methods whose `result.x` is their last iterate θ_T; the others report the best evaluated point.
LOCAL_METHODS = ("gibo", "mpd", "ars")
# Methods that search a box and therefore need `bounds`.
BOX_METHODS = ("turbo", "vbo")

STATE_FORMAT = "gibo.AskTell"
STATE_VERSION = 1

Bounds = tuple[Any, Any] | Sequence[Sequence[float]] | np.ndarray


class AskTellError(ValueError):
    """A call that does not fit the run's state (a tell without an ask, a point other than the one asked,
    a non-finite value, a wrong shape); the run's state is unchanged."""


class StateFileError(ValueError):
    """A state file that cannot be loaded: missing, truncated, foreign, damaged, or no longer replaying."""


def _gamma(mean: float, concentration: float) -> dict:
    """A gamma hyperprior with this mean, in the config's vocabulary."""
    return {"prior": "gamma", "kwargs": {"concentration": concentration, "rate": concentration / mean}}


def _interval(low: float, high: float) -> dict:
    return {"constraint": "interval", "kwargs": {"lower_bound": low, "upper_bound": high}}


def default_options(method: str, D: int, bounded: bool) -> dict:
    """The options `maximize` and `AskTell` use unless told otherwise: `optimizer_config` of `method` in unit
    coordinates (lengths in units of the box's sides, or of `scale`) for a D-dimensional problem.

    GIBO and MPD: GP hyperparameters learned at every iteration from D + 1 points on (not only once the
    window of N_max = 5D points is full, as in the paper's learned set, which knew its objectives' scale from
    its priors), on standardised values, under priors in unit coordinates: lengthscales around 0.5 (gamma,
    interval [0.01, 10]), outputscale around 1 and noise variance around 0.05 of the window's variance;
    the δ-box of half-width 0.1 (a tenth of the box's side) and θ kept inside the bounds. GIBO: ⌈D/2⌉
    samples per iteration and a normalised gradient step of 0.25 lengthscales; MPD: D samples and its walk
    (steps of 0.01) at most 100 steps long, one side of the box. CMA-ES: σ0 = 0.2 (pycma's advice: the optimum
    within x0 ± 3σ0), bounds handed to pycma. ARS: step 0.02, exploration noise 0.02, 1 + D // 8 directions,
    scaled by the rewards' std. Vanilla BO: as GIBO's model without the window; TuRBO: its own defaults (it
    standardises and fits on its own).
    """
    gp_model = {
        "prior_mean": 0.0,
        "train_prior_mean": True,
        "standardize_outputs": True,
        "lengthscale_hyperprior": _gamma(0.5, 3.0),
        "lengthscale_constraint": _interval(0.01, 10.0),
        "outputscale_hyperprior": _gamma(1.0, 2.0),
        "outputscale_constraint": {"constraint": "greather_than", "kwargs": {"lower_bound": 1e-4}},
        "noise_hyperprior": _gamma(0.05, 1.5),
        "noise_constraint": {"constraint": "greather_than", "kwargs": {"lower_bound": 1e-6}},
    }
    learned = {"optimize_hyperparameters": True, "no_noise_optimization": False}
    unit_box = {"lower_bound": 0.0, "upper_bound": 1.0}
    if method in ("gibo", "mpd"):
        options = {
            "max_samples_per_iteration": D,
            "delta": 0.1,
            "model_config": {**gp_model, "N_max": 5 * D},
            "hyperparameter_config": learned,
            "min_points_for_fit": D + 1,
        }
        if method == "gibo":
            options.update(
                max_samples_per_iteration=max(1, (D + 1) // 2),
                optimizer_torch_config={"lr": 0.25},
                normalize_gradient=True,
            )
        else:
            options.update(max_walk_steps=100)
        if bounded:
            options.update(bounds=unit_box, clip_to_bounds=True)
        return options
    if method == "cmaes":
        return {"sigma": 0.2, **({"bounds": unit_box} if bounded else {})}
    if method == "ars":
        return {
            "step_size": 0.02,
            "exploration_noise": 0.02,
            "samples_per_iteration": 1 + D // 8,
            "standard_deviation_scaling": True,
        }
    if method == "vbo":
        return {
            "model_config": gp_model,
            "hyperparameter_config": learned,
            "generate_initial_data": D,
            "optimize_acqf_config": {"bounds": unit_box},
        }
    if method == "turbo":
        return {"bounds": unit_box}
    raise ConfigError(f"unknown method {method!r} (one of {', '.join(METHODS)})")


def _merged(defaults: dict, options: dict) -> dict:
    """defaults with options laid over them, nested mappings merged key by key."""
    merged = copy.deepcopy(defaults)
    for key, value in options.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class History(NamedTuple):
    """Every evaluation in order: x `calls x D`, values `calls` (as the objective returned them)."""

    x: np.ndarray
    values: np.ndarray


@dataclass
class Result:
    """What `maximize` / `minimize` return.

    x: what to deploy: the last iterate θ_T for GIBO, MPD and ARS (a point these methods have not
        necessarily evaluated: the end of their ascent), the best evaluated point for TuRBO, vanilla BO, CMA-ES.
    value: the best value observed (the largest for maximize, the smallest for minimize), at `best_x`:
        one noisy observation, so for a noisy objective an optimistic estimate of J(best_x).
    calls, iterations: objective calls made, iterations finished.
    history: every evaluated point and its value, in order.
    iterates: `iterations + 1 x D` θ_0 … θ_T; iterate_calls: the calls made after each.
    """

    x: np.ndarray
    value: float
    best_x: np.ndarray
    calls: int
    iterations: int
    history: History
    iterates: np.ndarray
    iterate_calls: np.ndarray
    method: str


@contextlib.contextmanager
def _single_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    if threads != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if threads != 1:
            torch.set_num_threads(threads)


class AskTell:
    """Ask–tell driving of one method: `ask()` the next point, evaluate it anywhere, `tell(x, value)`.

    Example:
        >>> opt = gibo.AskTell("gibo", x0, budget=300, seed=0, bounds=(lower, upper))
        >>> while not opt.done:
        ...     x = opt.ask(); opt.tell(x, measure(x))
        >>> opt.incumbent, opt.best; opt.save("run.gibo"); opt = gibo.AskTell.load("run.gibo")
    """

    def __init__(
        self,
        method: str,
        x0,
        budget: int,
        *,
        seed: int = 0,
        bounds: Bounds | None = None,
        scale=None,
        direction: str = "maximize",
        **options,
    ):
        """Args:
        method: gibo, mpd, turbo, ars, vbo or cmaes.
        x0: `D` starting point (its length sets D).
        budget: objective calls (tells) at most.
        seed: the run's random seed (the same seed gives the same points).
        bounds: (lower, upper), each a number or `D` numbers: the box to search (needed by turbo and vbo;
            GIBO and MPD keep θ and their samples inside it, CMA-ES repairs its samples into it).
        scale: without bounds, the width of the region to search in each coordinate (a number or `D`
            numbers; default 1): the unit of the optimizers' coordinates. With bounds their sides are.
        direction: "maximize" or "minimize".
        options: the method's `optimizer_config` keys (as in the YAML configs), laid over `default_options`;
            nested mappings are merged key by key.
        """
        where = f"gibo.AskTell(method={method!r})"
        if method not in METHODS:
            raise ConfigError(f"{where}: unknown method (one of {', '.join(METHODS)})")
        if direction not in ("maximize", "minimize"):
            raise ConfigError(f"{where}: direction must be 'maximize' or 'minimize', got {direction!r}")
        x0 = np.array(x0, dtype=np.float64)
        if x0.ndim != 1 or x0.size == 0 or not np.isfinite(x0).all():
            raise ValueError(f"{where}: x0 must be a non-empty 1-D array of finite numbers, got shape {x0.shape}")
        if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
            raise ValueError(f"{where}: budget must be a positive integer, got {budget!r}")
        D = x0.size
        self._settings = dict(
            method=method,
            x0=x0.tolist(),
            budget=int(budget),
            seed=int(seed),
            direction=direction,
            bounds=None,
            scale=None,
            options=_jsonable(options),
        )
        if bounds is not None:
            lower, upper = _box(bounds, D, where)
            if not ((lower <= x0) & (x0 <= upper)).all():
                raise ValueError(f"{where}: x0 lies outside the bounds")
            self._offset, self._width = lower, upper - lower
            self._settings["bounds"] = [lower.tolist(), upper.tolist()]
        else:
            if method in BOX_METHODS:
                raise ValueError(f"{where}: {method} searches a box: give bounds=(lower, upper)")
            width = np.broadcast_to(np.asarray(1.0 if scale is None else scale, dtype=np.float64), (D,)).copy()
            if not (np.isfinite(width).all() and (width > 0).all()):
                raise ValueError(f"{where}: scale must be positive and finite")
            self._offset, self._width = x0, width
            self._settings["scale"] = None if scale is None else width.tolist()
        self.method = method
        self.direction = direction
        self.D = D
        self._sign = 1.0 if direction == "maximize" else -1.0

        data = {
            "method": METHODS[method],
            "out_dir": "",
            "seed": int(seed),
            "max_objective_calls": int(budget),
            "optimizer_config": _merged(default_options(method, D, bounds is not None), options),
        }
        try:
            config = parse_experiment_config(data, source=where)
        except ConfigError as error:
            raise ConfigError(
                str(error)
                .replace("optimizer_config.", "")
                .replace("optimizer_config: ", "")
                .replace("unknown key", "unknown option")
            ) from None
        from gibo.build import build_optimizer, resolve_dimension

        self._torch_state = torch.Generator().manual_seed(int(seed)).get_state()
        self._numpy_state = np.random.RandomState(int(seed) % 2**32).get_state()
        with self._own_random_state():
            u0 = torch.as_tensor(self._to_unit(x0), dtype=torch.float64)
            try:
                optimizer = build_optimizer(resolve_dimension(config, D), u0, objective=None)
            except ValueError as error:
                raise ConfigError(f"{where}: {error}") from None
        self._driver = IterationDriver(optimizer, max_objective_calls=int(budget))
        self._asked: np.ndarray | None = None
        self._xs: list = []
        self._values: list = []

    # -- coordinates ------------------------------------------------------------------------------

    def _to_unit(self, x: np.ndarray) -> np.ndarray:
        return (x - self._offset) / self._width

    def _from_unit(self, u) -> np.ndarray:
        """`... x D` unit coordinates (tensor or array) → the caller's."""
        u = u.detach().cpu().numpy() if isinstance(u, torch.Tensor) else np.asarray(u)
        return self._offset + self._width * u.astype(np.float64)

    @contextlib.contextmanager
    def _own_random_state(self) -> Iterator[None]:
        """Swap this run's torch and numpy random states in (and the caller's back out), on one torch thread."""
        outer_torch, outer_numpy = torch.get_rng_state(), np.random.get_state()
        torch.set_rng_state(self._torch_state)
        np.random.set_state(self._numpy_state)
        try:
            with _single_thread():
                yield
        finally:
            self._torch_state, self._numpy_state = torch.get_rng_state(), np.random.get_state()
            torch.set_rng_state(outer_torch)
            np.random.set_state(outer_numpy)

    # -- ask and tell -----------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        """True once the budget is spent (or no further iteration can start)."""
        return self._driver.done

    @property
    def calls(self) -> int:
        """Values told so far."""
        return self._driver.calls

    def ask(self) -> np.ndarray:
        """The next point to evaluate (`D`, a fresh copy); the same point until its value is told.

        Raises:
            BudgetSpent: the budget is spent.
        """
        if self._asked is None:
            if self._driver.done:
                raise BudgetSpent(f"ask: the budget of {self._settings['budget']} calls is spent")
            with self._own_random_state():
                self._asked = self._from_unit(self._driver.ask())
        return self._asked.copy()

    def tell(self, x, value) -> None:
        """The measured value at x, the point `ask()` returned (to 1e-9 relative).

        Raises:
            AskTellError: no point was asked, x is not that point or has the wrong shape, or the value is
                not one finite number; nothing changes, and `ask()` returns the same point again.
        """
        if self._asked is None:
            raise AskTellError("tell: no point is waiting for its value (call ask() first)")
        x = (
            np.asarray(x, dtype=np.float64)
            if not isinstance(x, torch.Tensor)
            else x.detach().cpu().numpy().astype(np.float64)
        )
        if x.shape != (self.D,):
            raise AskTellError(f"tell: x must have shape ({self.D},), got {x.shape}")
        tolerance = 1e-9 * np.maximum(np.abs(self._asked), 1e-300) + 1e-12 * self._width
        if not (np.abs(x - self._asked) <= tolerance).all():
            raise AskTellError(
                f"tell: x is not the point asked (largest difference {np.abs(x - self._asked).max():.3g}); "
                "tell the value of the point ask() returned"
            )
        value = _scalar(value)
        if value is None or not math.isfinite(value):
            raise AskTellError(f"tell: the value at call {self.calls + 1} must be one finite number, got {value!r}")
        with self._own_random_state():
            self._driver.tell(torch.tensor(self._sign * value, dtype=torch.float64))
        self._xs.append(self._asked)
        self._values.append(value)
        self._asked = None

    # -- what the run has found -------------------------------------------------------------------

    @property
    def history(self) -> History:
        """Every evaluation so far, in order."""
        x = np.array(self._xs, dtype=np.float64).reshape(-1, self.D)
        return History(x, np.array(self._values, dtype=np.float64))

    @property
    def best(self) -> tuple[np.ndarray, float] | None:
        """(x, value) of the best evaluation so far (largest value for maximize, smallest for minimize); None before
        any."""
        if not self._values:
            return None
        i = int(np.argmax(self._sign * np.asarray(self._values)))
        return self._xs[i].copy(), float(self._values[i])

    @property
    def incumbent(self) -> np.ndarray:
        """What to deploy now: θ_t (GIBO, MPD, ARS: the last finished iterate) or the best evaluated point
        (the other methods; x0 before any evaluation)."""
        if self.method in LOCAL_METHODS or not self._values:
            return self._from_unit(self._driver.optimizer.params_history[-1])
        return self.best[0]  # type: ignore[index]  # values exist here, so best is not None

    def result(self) -> Result:
        """The run so far (finished or not) as a `Result`."""
        best_x, value = self.best or (np.asarray(self._settings["x0"], dtype=np.float64), math.nan)
        iterates = self._driver.result()
        return Result(
            x=self.incumbent,
            value=value,
            best_x=best_x,
            calls=self.calls,
            iterations=self._driver.iterations,
            history=self.history,
            iterates=self._from_unit(iterates.params),
            iterate_calls=iterates.calls,
            method=self.method,
        )

    # -- saving and loading -----------------------------------------------------------------------

    def save(self, path) -> Path:
        """Write the run's settings and every told value to `path` (JSON, written atomically); returns the path."""
        content = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "settings": self._settings,
            "libraries": _library_versions(),
            "x": [x.tolist() for x in self._xs],
            "values": list(self._values),
            "pending": None if self._asked is None else self._asked.tolist(),
        }
        content["sha256"] = _digest(content)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(content, indent=1) + "\n")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path) -> AskTell:
        """The run saved at `path`, continued exactly where it was saved (its tells replayed and checked).

        Raises:
            StateFileError: the file is missing, truncated, not a state file, damaged, or its run no longer
                replays here (other code or library versions compute other points).
        """
        path = Path(path)
        if not path.is_file():
            raise StateFileError(f"{path}: no such state file")
        try:
            content = json.loads(path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise StateFileError(f"{path}: not a gibo ask-tell state file, or truncated ({error})") from None
        if not isinstance(content, dict) or content.get("format") != STATE_FORMAT:
            raise StateFileError(f"{path}: not a gibo ask-tell state file")
        if content.get("version") != STATE_VERSION:
            raise StateFileError(
                f"{path}: state file version {content.get('version')!r}; this gibo reads version {STATE_VERSION}"
            )
        if content.get("sha256") != _digest({k: v for k, v in content.items() if k != "sha256"}):
            raise StateFileError(f"{path}: damaged (its checksum does not match its content)")
        settings = dict(content["settings"])
        options = settings.pop("options")
        run = cls(**settings, **options)
        saved = content["libraries"]
        for k, (x, value) in enumerate(zip(content["x"], content["values"]), start=1):
            asked = run.ask()
            if not np.array_equal(asked, np.asarray(x, dtype=np.float64)):
                raise StateFileError(_no_replay(path, k, asked, x, saved))
            run.tell(asked, value)
        if content["pending"] is not None:
            asked = run.ask()
            if not np.array_equal(asked, np.asarray(content["pending"], dtype=np.float64)):
                raise StateFileError(_no_replay(path, run.calls + 1, asked, content["pending"], saved))
        return run


def _no_replay(path, call: int, asked, recorded, saved: dict) -> str:
    here = _library_versions()
    changed = [f"{name} {saved.get(name)} → {version}" for name, version in here.items() if saved.get(name) != version]
    why = (
        "versions changed: " + ", ".join(changed)
        if changed
        else "same library versions: another machine or thread setup?"
    )
    difference = float(np.abs(np.asarray(asked) - np.asarray(recorded, dtype=np.float64)).max())
    return (
        f"{path}: the saved run does not replay here: call {call} asks another point "
        f"(largest difference {difference:.3g}; {why})"
    )


def _library_versions() -> dict[str, str]:
    import botorch
    import gpytorch

    from gibo._version import __version__

    versions = {
        "gibo": __version__,
        "torch": torch.__version__,
        "gpytorch": gpytorch.__version__,
        "botorch": botorch.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
    }
    cma = sys.modules.get("cma")
    if cma is not None:
        versions["cma"] = cma.__version__
    return versions


def _digest(content: dict) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _jsonable(value):
    """Options as plain JSON data (arrays and numpy numbers to lists and floats); anything else is refused."""
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, (int, np.integer)) else int(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return np.asarray(value).tolist()
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ConfigError(f"option value {value!r}: only numbers, strings, lists and mappings can be options")


def _scalar(value) -> float | None:
    """One number from a float, a numpy or torch scalar or a one-element array; None otherwise."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return float(array.reshape(())) if array.size == 1 else None


def _box(bounds, D: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        lower, upper = (np.broadcast_to(np.asarray(b, dtype=np.float64), (D,)).copy() for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: bounds must be (lower, upper), each a number or {D} numbers") from None
    if not (np.isfinite(lower).all() and np.isfinite(upper).all() and (lower < upper).all()):
        raise ValueError(f"{where}: bounds must be finite with lower < upper in every coordinate")
    return lower, upper


def maximize(
    f: Callable[[np.ndarray], float],
    x0,
    budget: int,
    method: str = "gibo",
    *,
    seed: int = 0,
    bounds: Bounds | None = None,
    scale=None,
    progress: bool | None = None,
    **options,
) -> Result:
    """Maximise f from x0 with at most `budget` calls of f.

    f takes a `D` numpy array (a copy) and returns a number. The other arguments are those of `AskTell`;
    progress: a progress bar over the calls (default: when stderr is a terminal).

    Example:
        >>> result = gibo.maximize(lambda x: -((x - 0.3) ** 2).sum(), np.zeros(4), budget=100, bounds=(-1, 1))
        >>> result.x  # θ_T, near 0.3
    """
    return _optimize(f, x0, budget, method, "maximize", seed, bounds, scale, progress, options)


def minimize(
    f: Callable[[np.ndarray], float],
    x0,
    budget: int,
    method: str = "gibo",
    *,
    seed: int = 0,
    bounds: Bounds | None = None,
    scale=None,
    progress: bool | None = None,
    **options,
) -> Result:
    """Minimise f: the same run as `maximize` of −f, with f's values reported (`value` is the smallest)."""
    return _optimize(f, x0, budget, method, "minimize", seed, bounds, scale, progress, options)


def _optimize(f, x0, budget, method, direction, seed, bounds, scale, progress, options) -> Result:
    from tqdm import tqdm

    run = AskTell(method, x0, budget, seed=seed, bounds=bounds, scale=scale, direction=direction, **options)
    show = sys.stderr.isatty() if progress is None else progress
    with tqdm(total=budget, desc=f"{method}", unit="call", disable=not show, leave=False) as bar:
        while not run.done:
            x = run.ask()
            value = f(x.copy())
            try:
                run.tell(x, value)
            except AskTellError:
                raise ValueError(
                    f"f returned {value!r} at call {run.calls + 1} (x = {x.tolist()}); it must return one finite number"
                ) from None
            bar.update(1)
            if run.best is not None:
                bar.set_postfix_str(f"best {run.best[1]:.6g}", refresh=False)
    return run.result()

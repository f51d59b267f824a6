"""`AskTell`: one method driven point by point, the objective evaluated by the caller."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gibo.api.defaults import BOX_METHODS, LOCAL_METHODS, METHODS, default_options, merged_options
from gibo.api.result import History, Result
from gibo.api.state import (
    StateFileError,
    jsonable,
    library_versions,
    no_replay,
    random_state_from_json,
    random_state_to_json,
    read_state,
    replay_differs,
    write_state,
)
from gibo.config import ConfigError, parse_experiment_config
from gibo.loop import BudgetSpent, IterationDriver

Bounds = tuple[Any, Any] | Sequence[Sequence[float]] | np.ndarray

logger = logging.getLogger(__name__)


class AskTellError(ValueError):
    """A call that does not fit the run's state (a tell without an ask, a point other than the one asked,
    a non-finite value, a wrong shape); the run's state is unchanged."""


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
        method: gibo, mpd, les, turbo, ars, vbo or cmaes.
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
            options=jsonable(options),
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
            "optimizer_config": merged_options(default_options(method, D, bounds is not None), options),
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
        self._swapped_in = False  # inside `_own_random_state`
        with self._own_random_state():
            u0 = torch.as_tensor(self._to_unit(x0), dtype=torch.float64)
            try:
                optimizer = build_optimizer(resolve_dimension(config, D), u0, objective=None)
            except ValueError as error:
                raise ConfigError(f"{where}: {error}") from None
        self._driver = IterationDriver(optimizer, max_objective_calls=int(budget))
        self._asked: np.ndarray | None = None
        self._xs: list = []
        self._units: list = []  # the same points in the optimizer's own coordinates, exact (for a replay)
        self._values: list = []
        self._broken = False  # an ask or tell was interrupted inside the optimizer: replay before going on
        # Replaying: the recorded point (optimizer coordinates) that the optimizer takes with the next value told.
        self._fed: np.ndarray | None = None

    # -- coordinates ------------------------------------------------------------------------------

    def _to_unit(self, x: np.ndarray) -> np.ndarray:
        return (x - self._offset) / self._width

    def _from_unit(self, u) -> np.ndarray:
        """`... x D` unit coordinates (tensor or array) → the caller's."""
        u = u.detach().cpu().numpy() if isinstance(u, torch.Tensor) else np.asarray(u)
        return self._offset + self._width * u.astype(np.float64)

    @contextlib.contextmanager
    def _own_random_state(self) -> Iterator[None]:
        """Swap this run's torch and numpy random states in (and the caller's back out), on one torch thread; inside
        an outer swap of this run (a replay's) nothing is swapped again."""
        if self._swapped_in:
            yield
            return
        self._swapped_in = True
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
            self._swapped_in = False

    # -- ask and tell -----------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        """True once the budget is spent (or no further iteration can start)."""
        self._mend()
        return self._driver.done

    @property
    def calls(self) -> int:
        """Values told so far."""
        return len(self._values)

    def _mend(self) -> None:
        """After an exception (Ctrl-C) inside the optimizer's work in `ask` or `tell`, its iteration is lost midway:
        rebuild the run by replaying the told values (as `load` does; it costs the optimizer's work once more)."""
        if self._broken:
            replayed = self._replayed(self._settings, self._xs, self._values, self._asked, "the interrupted run")
            self.__dict__.update(replayed.__dict__)

    def ask(self) -> np.ndarray:
        """The next point to evaluate (`D`, a fresh copy); the same point until its value is told.

        Raises:
            BudgetSpent: the budget is spent.
        """
        self._mend()
        if self._asked is None:
            if self._driver.done:
                raise BudgetSpent(f"ask: the budget of {self._settings['budget']} calls is spent")
            with self._own_random_state(), self._breaks():
                self._asked = self._from_unit(self._driver.ask())
        return self._asked.copy()

    @contextlib.contextmanager
    def _breaks(self) -> Iterator[None]:
        """Mark the run for a replay when the body (the optimizer's work) ends in an exception other than the
        end of the budget: its iteration's generator is gone."""
        try:
            yield
        except BudgetSpent:
            raise
        except BaseException:
            self._broken = True
            raise

    def tell(self, x, value) -> None:
        """The measured value at x, the point `ask()` returned (to 1e-9 relative).

        Raises:
            AskTellError: no point was asked, x is not that point or has the wrong shape, or the value is
                not one finite number; nothing changes, and `ask()` returns the same point again.
        """
        self._mend()
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
        asked, self._asked = self._asked, None
        unit = self._driver.pending.detach().cpu().numpy().astype(np.float64)  # type: ignore[union-attr]  # asked
        if self._fed is not None:  # replaying: the optimizer goes on from the recorded point, not its own
            unit, self._fed = self._fed, None
            self._driver.optimizer.recorded_point = torch.as_tensor(unit, dtype=torch.float64)
        self._units.append(unit)
        self._xs.append(asked)  # recorded first: a tell interrupted inside the optimizer keeps the value
        self._values.append(value)
        with self._own_random_state(), self._breaks():
            self._driver.tell(torch.tensor(self._sign * value, dtype=torch.float64))

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
        """Write the run's settings, every point asked and value told, the point waiting for its value and the
        run's random states to `path` (JSON, written atomically); returns the path."""
        units = [u.tolist() for u in self._units]  # the points in the optimizer's coordinates, exact
        resume: dict[str, Any]
        if self._broken:  # the optimiser's state is cut off midway: the file is loaded by recomputing every point
            resume = {"units": units}
        else:
            pending = self._fed if self._fed is not None else self._driver.pending
            resume = {
                **random_state_to_json(self._torch_state, self._numpy_state),
                "optimizer": self._driver.optimizer.replay_state(),
                "units": units,
                # the optimizer's next point when it has one (asked or not yet), in its coordinates
                "next": None if pending is None else np.asarray(pending, dtype=np.float64).tolist(),
            }
        return write_state(path, self._settings, self._xs, self._values, self._asked, resume)

    @classmethod
    def load(cls, path, *, strict: bool = False) -> AskTell:
        """The run saved at `path`, continued where it was saved, on this machine or another.

        The recorded points and values are the truth: the optimiser is driven through them again, every point
        it asks replaced by the recorded one (its acquisition optimisations, whose only product is that point,
        skipped), and the run's random states are restored from the file. Where a point it computes differs
        from the recorded one (another CPU's arithmetic, other library versions), one warning line names the
        first call that differs and by how much, and the run goes on from the recorded history.

        Args:
            strict: recompute every point in full and refuse the file unless each equals its record bit for bit.

        Raises:
            StateFileError: the file is missing, truncated, not a state file, damaged, or (`strict`) its run no
                longer replays here bit for bit.
        """
        content = read_state(path)
        return cls._replayed(
            content["settings"],
            content["x"],
            content["values"],
            content["pending"],
            path,
            content["libraries"],
            resume=content.get("resume"),
            strict=strict,
        )

    @classmethod
    def _replayed(
        cls,
        settings: dict,
        xs,
        values,
        pending,
        source,
        libraries: dict | None = None,
        *,
        resume: dict | None = None,
        strict: bool = True,
    ) -> AskTell:
        """A new run with `settings`, told `values` at `xs` and asked `pending` where not None.

        strict: every point recomputed and checked bit for bit (`StateFileError` naming `source` when one
        differs). Otherwise each point asked is replaced by its record (one warning line when one differs);
        with `resume` (the saved run's random states and its optimiser's `replay_state`, restored at the end)
        the optimiser also skips its acquisition optimisations and (GIBO, MPD) sets its recorded
        hyperparameter fits. The recorded points are fed in the optimiser's own coordinates where `resume`
        holds them (`units`; a run saved while broken holds only these), so no rounding of the conversion from
        the user's coordinates enters the replay.
        """
        settings = dict(settings)
        options = settings.pop("options")
        run = cls(**settings, **options)
        saved = library_versions() if libraries is None else libraries
        optimizer = run._driver.optimizer
        # A whole resume, not only the units (those of a run saved while broken)
        full_resume: dict | None = resume if resume is not None and "optimizer" in resume else None
        if full_resume is not None and not strict:
            optimizer.begin_replay(full_resume["optimizer"])
        first: tuple[int, float] | None = None
        largest = 0.0

        units = None if resume is None else resume.get("units")

        def differs(call: int, asked: np.ndarray, recorded: np.ndarray) -> None:
            nonlocal first, largest
            if strict:
                raise StateFileError(no_replay(source, call, asked, recorded, saved))
            if not np.isnan(asked).all():  # all NaN: a point the optimiser left to the record
                difference = float(np.abs(asked - recorded).max()) if np.isfinite(asked).all() else math.inf
                first = first or (call, difference)
                largest = max(largest, difference)

        def ask_recorded(call: int, recorded, unit) -> None:
            recorded = np.asarray(recorded, dtype=np.float64)
            try:
                asked = run.ask()
            except BudgetSpent:
                raise StateFileError(
                    f"{source}: the saved run does not replay here: it ends before call {call}"
                ) from None
            if not np.array_equal(asked, recorded):
                differs(call, asked, recorded)
                run._asked = recorded.copy()
            if not strict:
                run._fed = np.asarray(unit, dtype=np.float64) if unit is not None else run._to_unit(recorded)

        with run._own_random_state():  # once for the whole replay, not at every ask and tell
            for k, (x, value) in enumerate(zip(xs, values), start=1):
                ask_recorded(k, x, None if units is None else units[k - 1])
                run.tell(run._asked, value)
        following = None if full_resume is None else full_resume["next"]
        if pending is not None:
            ask_recorded(len(values) + 1, pending, following)
        elif following is not None and run._driver.pending is not None:  # computed inside the last tell, not asked
            unit = np.asarray(following, dtype=np.float64)
            computed = run._driver.pending.detach().cpu().numpy()
            if not np.array_equal(computed, unit):
                differs(len(values) + 1, run._from_unit(computed), run._from_unit(unit))
            if not strict:
                run._driver.pending = torch.as_tensor(unit, dtype=torch.float64)
                run._fed = unit
        optimizer.end_replay()
        if full_resume is not None:
            run._torch_state, run._numpy_state = random_state_from_json(full_resume)
        if first is not None:
            logger.warning(replay_differs(source, first[0], first[1], largest, saved))
        return run


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

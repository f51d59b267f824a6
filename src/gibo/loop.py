"""The optimisation loop shared by every method and by ask–tell: call budget, iteration limit, history."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Generator
from dataclasses import dataclass

import numpy as np
import torch

from gibo.progress import report_calls

logger = logging.getLogger(__name__)


class BudgetExhausted(Exception):
    """Raised by a `CountingObjective` asked for one call more than its budget allows."""


class NonFiniteObjective(ValueError):
    """The objective returned NaN or ±inf at call `call` (1-based) with parameters `params` (list of floats,
    raw-state coordinates), which the runner saves beside the unit so the call can be reproduced."""

    def __init__(self, message: str, call: int, params: list):
        super().__init__(message, call, params)  # all in args: survives pickling (Ray)
        self.call, self.params = call, params

    def __str__(self) -> str:
        return self.args[0]


class CountingObjective:
    """J(θ) with a call counter and an optional hard budget; other attributes pass through to the wrapped objective.

    Example:
        >>> f = CountingObjective(lambda p: -(p ** 2).sum(), max_calls=10)
        >>> f(torch.zeros(3)); f.calls, f.remaining
        (1, 9)
    """

    def __init__(self, objective: Callable[[torch.Tensor], torch.Tensor], max_calls: int | None = None):
        self.objective = objective
        self.max_calls = max_calls
        self.calls = 0
        self.best: float | None = None  # the largest value returned so far

    def best_so_far(self) -> float | None:
        """For progress reports: the wrapped objective's own notion (an environment's best raw return) or `best`."""
        own = getattr(self.objective, "best_return", None)
        return own if own is not None else self.best

    @property
    def remaining(self) -> float:
        """Calls left in the budget (inf without a budget)."""
        return math.inf if self.max_calls is None else self.max_calls - self.calls

    def __call__(self, params: torch.Tensor) -> torch.Tensor:
        """params: `D` → scalar tensor."""
        if self.remaining <= 0:
            raise BudgetExhausted(f"budget of {self.max_calls} objective calls spent")
        self.calls += 1
        value = torch.as_tensor(self.objective(params))
        if not bool(torch.isfinite(value).all()):
            raw = getattr(self.objective, "params_to_raw", lambda p: p)(params.detach())
            raise NonFiniteObjective(
                f"objective returned {value.item()} at call {self.calls}", self.calls, raw.reshape(-1).tolist()
            )
        self.best = float(value) if self.best is None else max(self.best, float(value))
        return value

    def __getattr__(self, name):
        # Only reached for attributes not set on the wrapper itself (state-normalisation hooks, etc.).
        if name == "objective":
            raise AttributeError(name)
        return getattr(self.objective, name)


@dataclass
class OptimizationResult:
    """params: `T+1 x D` iterates θ_0 … θ_T (raw-state coordinates); calls: `T+1` cumulative objective calls
    after each iteration (0 for θ_0)."""

    params: np.ndarray
    calls: np.ndarray


class BudgetSpent(RuntimeError):
    """`IterationDriver.ask` after the run is done (its call budget spent or its iterations done)."""


class IterationDriver:
    """Drives an optimizer's iterations point by point: `ask()` gives the next point, `tell(value)` takes its value.

    The one loop behind every run: `run_optimization` asks, calls the objective and tells; `gibo.AskTell`
    hands the points to someone else. The optimizer's `iterate()` generator is started by `ask` when no
    iteration is running, and resumed by `tell` up to its next point (or its end, which records θ_{t+1}).

    The budget is hard: `max_objective_calls` tells at most, and an iteration that would need more calls is
    cut off (its generator closed, nothing recorded), as are the iterations after `max_iterations`.
    `optimizer.calls_left` is kept at the calls the budget still allows.

    Example:
        >>> driver = IterationDriver(optimizer, max_objective_calls=100)
        >>> while not driver.done:
        ...     x = driver.ask(); driver.tell(J(x))
        >>> driver.result().params  # θ_0 … θ_T
    """

    def __init__(
        self,
        optimizer,
        max_iterations: int | None = None,
        max_objective_calls: int | None = None,
        on_iteration: Callable[[IterationDriver], None] | None = None,
    ):
        """on_iteration: called after every finished iteration (progress reports)."""
        if max_iterations is None and max_objective_calls is None:
            raise ValueError("set max_iterations or max_objective_calls")
        self.optimizer = optimizer
        self.max_iterations = max_iterations
        self.max_objective_calls = max_objective_calls
        self.on_iteration = on_iteration
        self.calls = 0
        self.calls_after_iteration: list[int] = [0]  # after θ_0, θ_1, …
        self._points: Generator[torch.Tensor, torch.Tensor, None] | None = None  # the running iteration
        self.pending: torch.Tensor | None = None  # asked, not yet told

    @property
    def iterations(self) -> int:
        return len(self.calls_after_iteration) - 1

    @property
    def remaining(self) -> float:
        """Calls left in the budget (inf without a call budget)."""
        return math.inf if self.max_objective_calls is None else self.max_objective_calls - self.calls

    @property
    def done(self) -> bool:
        """No point is pending and no further iteration may start."""
        if self.pending is not None:
            return False
        if self.optimizer.stopped:  # the method's own stopping rule fired
            return True
        return self.remaining <= 0 or (self.max_iterations is not None and self.iterations >= self.max_iterations)

    def ask(self) -> torch.Tensor:
        """The point to evaluate next (`D`, the optimizer's coordinates); the same one until it is told.

        Raises:
            BudgetSpent: the run is done.
        """
        while self.pending is None:
            if self.done:
                raise BudgetSpent(self._spent())
            self.optimizer.calls_left = self.remaining
            self._points = self.optimizer.iterate()
            self._advance(None)
        return self.pending

    def tell(self, value: torch.Tensor) -> None:
        """The value of the pending point; runs the optimizer up to its next point (or the iteration's end)."""
        if self.pending is None:
            raise RuntimeError("tell without a pending ask")
        self.calls += 1
        self.optimizer.calls_left = self.remaining
        self._advance(value)
        if self.pending is not None and self.remaining <= 0:  # the iteration wants more calls than are left
            assert self._points is not None  # a pending point belongs to a running iteration
            self._points.close()
            self._points, self.pending = None, None

    def _advance(self, value: torch.Tensor | None) -> None:
        points = self._points
        assert points is not None  # `ask` starts an iteration before advancing it, `tell` needs a pending point
        try:
            self.pending = next(points) if value is None else points.send(value)
        except StopIteration:
            self._points, self.pending = None, None
            self.calls_after_iteration.append(self.calls)
            if self.on_iteration is not None:
                self.on_iteration(self)

    def _spent(self) -> str:
        if self.optimizer.stopped:
            return f"{type(self.optimizer).__name__} stopped by its own stopping rule"
        if self.remaining <= 0:
            return f"budget of {self.max_objective_calls} objective calls spent"
        return f"all {self.max_iterations} iterations done"

    def result(self) -> OptimizationResult:
        """The iterates θ_0 … θ_T of the finished iterations and the calls after each."""
        history = self.optimizer.params_history[: len(self.calls_after_iteration)]
        if len(history) != len(self.calls_after_iteration):
            raise RuntimeError(
                f"{type(self.optimizer).__name__} recorded {len(history)} iterates for {self.iterations} iterations"
            )
        params = torch.stack([p.detach() for p in history]).cpu().numpy()
        return OptimizationResult(params=params, calls=np.asarray(self.calls_after_iteration, dtype=np.int64))


def run_optimization(
    optimizer,
    max_iterations: int | None = None,
    max_objective_calls: int | None = None,
    on_iteration: Callable[[IterationDriver], None] | None = None,
) -> OptimizationResult:
    """Run `optimizer` on its `objective` until `max_iterations` iterations are done or `max_objective_calls` calls
    are spent. `on_iteration(driver)` is called after every finished iteration (a trial's checkpoints).

    The budget is hard (`IterationDriver`): an iteration that would need more calls is cut off and not
    recorded. Each value goes through a `CountingObjective` (non-finite values raise `NonFiniteObjective`).
    After every iteration the calls spent and the best value so far go to `progress.report_calls` (a
    runner's bar).
    """
    objective = CountingObjective(optimizer.objective)

    def report(driver: IterationDriver) -> None:
        report_calls(objective.calls, objective.best_so_far())
        if on_iteration is not None:
            on_iteration(driver)

    driver = IterationDriver(optimizer, max_iterations, max_objective_calls, on_iteration=report)
    while not driver.done:
        driver.tell(objective(driver.ask()))
    return driver.result()

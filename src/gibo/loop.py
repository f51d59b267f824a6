"""The optimisation loop shared by every method: call budget, iteration limit, history."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Callable, Optional

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

    def __init__(self, objective: Callable[[torch.Tensor], torch.Tensor], max_calls: Optional[int] = None):
        self.objective = objective
        self.max_calls = max_calls
        self.calls = 0
        self.best: Optional[float] = None  # the largest value returned so far

    def best_so_far(self) -> Optional[float]:
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
            raise NonFiniteObjective(f"objective returned {value.item()} at call {self.calls}", self.calls, raw.reshape(-1).tolist())
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


def run_optimization(
    optimizer,
    max_iterations: Optional[int] = None,
    max_objective_calls: Optional[int] = None,
) -> OptimizationResult:
    """Step `optimizer` until `max_iterations` iterations are done or `max_objective_calls` calls are spent.

    The budget is hard: an iteration that would need more calls is cut off by `BudgetExhausted` and
    not recorded. The optimizer's `objective` is wrapped in a `CountingObjective` here. After every
    iteration the calls spent and the best value so far go to `progress.report_calls` (a runner's bar).
    """
    if max_iterations is None and max_objective_calls is None:
        raise ValueError("set max_iterations or max_objective_calls")
    objective = CountingObjective(optimizer.objective, max_objective_calls)
    optimizer.objective = objective
    calls = [0]
    iteration = 0
    try:
        while max_iterations is None or iteration < max_iterations:
            if objective.remaining <= 0:
                break
            try:
                optimizer.step()
            except BudgetExhausted:
                break
            iteration += 1
            calls.append(objective.calls)
            report_calls(objective.calls, objective.best_so_far())
    finally:
        optimizer.objective = objective.objective
    history = torch.stack([p.detach() for p in optimizer.params_history[: len(calls)]])
    if history.shape[0] != len(calls):
        raise RuntimeError(f"{type(optimizer).__name__} recorded {history.shape[0]} iterates for {len(calls)} iterations")
    return OptimizationResult(params=history.cpu().numpy(), calls=np.asarray(calls, dtype=np.int64))

"""The optimisation loop shared by every method: call budget, iteration limit, history."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)


class BudgetExhausted(Exception):
    """Raised by a `CountingObjective` asked for one call more than its budget allows."""


class NonFiniteObjective(ValueError):
    """The objective returned NaN or ±inf."""


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
            raise NonFiniteObjective(f"objective returned {value.item()} at call {self.calls}")
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
    progress: bool = False,
    description: str = "",
) -> OptimizationResult:
    """Step `optimizer` until `max_iterations` iterations are done or `max_objective_calls` calls are spent.

    The budget is hard: an iteration that would need more calls is cut off by `BudgetExhausted` and
    not recorded. The optimizer's `objective` is wrapped in a `CountingObjective` here.
    """
    if max_iterations is None and max_objective_calls is None:
        raise ValueError("set max_iterations or max_objective_calls")
    objective = CountingObjective(optimizer.objective, max_objective_calls)
    optimizer.objective = objective
    calls = [0]
    bar = tqdm(total=max_objective_calls, desc=description, disable=not progress, leave=False, unit="call")
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
            bar.update(objective.calls - calls[-1])
            calls.append(objective.calls)
    finally:
        bar.close()
        optimizer.objective = objective.objective
    history = torch.stack([p.detach() for p in optimizer.params_history[: len(calls)]])
    if history.shape[0] != len(calls):
        raise RuntimeError(f"{type(optimizer).__name__} recorded {history.shape[0]} iterates for {len(calls)} iterations")
    return OptimizationResult(params=history.cpu().numpy(), calls=np.asarray(calls, dtype=np.int64))

"""What `maximize` / `minimize` return."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


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

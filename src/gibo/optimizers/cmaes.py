"""CMA-ES through pycma's ask/tell interface (docs/method.md#baselines)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from gibo.optimizers.base import Iteration, Optimizer


class CMAES(Optimizer):
    """(μ/μ_w, λ)-CMA-ES through pycma (ask/tell) on −J; λ = 4 + ⌊3 ln D⌋ unless given.

    Records each generation's best point.

    pycma's seed is `seed` combined with one draw from torch's global generator, so runs whose runner seeds
    torch per unit (each synthetic objective, each RL trial) get different, repeatable sample streams.

    Example:
        >>> es = CMAES(torch.full((D,), 0.5), objective, sigma=0.1, seed=0)
        >>> es.step()  # λ objective calls
    """

    def __init__(
        self,
        params_init: torch.Tensor,
        objective: Callable[[torch.Tensor], torch.Tensor],
        sigma: float,
        population_size: int | None = None,
        seed: int = 0,
        bounds: torch.Tensor | None = None,
    ):
        """sigma: initial step size σ0; population_size: λ (default 4 + ⌊3 ln D⌋); seed: combined with torch's
        generator (see the class docstring); bounds: `2 x D` box handed to pycma (its boundary handling keeps
        the evaluated points inside)."""
        import cma

        super().__init__(params_init, objective)
        # pycma treats seed 0 as "seed from the clock": keep it ≥ 1.
        cma_seed = 1 + (int(seed) * 1_000_003 + int(torch.randint(0, 2**30, ()))) % (2**31 - 2)
        options: dict[str, Any] = {
            "seed": cma_seed,
            "verbose": -9,
            "verb_disp": 0,
            "verb_log": 0,
            "tolfun": 0,
            "tolx": 0,
            "tolfunhist": 0,
        }
        if population_size is not None:
            options["popsize"] = int(population_size)
        if bounds is not None:
            options["bounds"] = [bounds[0].tolist(), bounds[1].tolist()]
        self.es = cma.CMAEvolutionStrategy(self.params.numpy().astype(np.float64), float(sigma), options)

    def iterate(self) -> Iteration:
        candidates = self.es.ask()
        values = []
        for x in candidates:
            values.append(float((yield from self._evaluate(torch.as_tensor(x, dtype=self.params.dtype)))))
        self.es.tell(candidates, [-v for v in values])
        best = candidates[int(np.argmax(values))]
        self.params = torch.as_tensor(np.asarray(best), dtype=self.params.dtype)
        self._record()

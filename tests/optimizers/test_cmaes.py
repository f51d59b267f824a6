"""CMA-ES (docs/method.md#baselines) on a smooth function."""

import math

import numpy as np
import torch

from gibo.loop import run_optimization
from gibo.optimizers import CMAES
from tests.optimizers.objectives import RecordingObjective, quadratic


def test_cmaes_improves_records_generation_best_and_respects_the_budget():
    objective = RecordingObjective(quadratic)
    es = CMAES(torch.full((2,), 0.5, dtype=torch.float64), objective, sigma=0.2)
    popsize = 4 + int(3 * math.log(2))  # 6
    result = run_optimization(es, max_objective_calls=10 * popsize + 3)
    assert len(objective.values) == 10 * popsize + 3  # the 11th generation is cut off after 3 calls
    np.testing.assert_array_equal(result.calls, popsize * np.arange(11))
    for t in range(1, 11):
        generation = objective.values[(t - 1) * popsize : t * popsize]
        best = int(np.argmax(generation))
        torch.testing.assert_close(torch.from_numpy(result.params[t]), objective.points[(t - 1) * popsize + best])
    assert max(objective.values) > -0.01


def test_cmaes_samples_follow_torch_seed():
    def history(seed):
        torch.manual_seed(seed)
        es = CMAES(torch.full((2,), 0.5, dtype=torch.float64), quadratic, sigma=0.1)
        return run_optimization(es, max_iterations=3).params

    np.testing.assert_array_equal(history(1), history(1))
    assert not np.allclose(history(1), history(2))

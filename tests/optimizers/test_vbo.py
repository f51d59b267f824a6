"""Vanilla BO (docs/method.md#baselines) on a smooth function."""

import numpy as np
import pytest
import torch

from gibo.loop import run_optimization
from gibo.optimizers import VanillaBO
from tests.optimizers.objectives import RecordingObjective, quadratic


def _vanilla_bo(objective, **kwargs):
    bounds = torch.stack([torch.zeros(2), torch.ones(2)]).double()
    hypers = {"covar_module.base_kernel.lengthscale": 0.4, "covar_module.outputscale": 1.0, "likelihood.noise": 1e-4}
    return VanillaBO(torch.full((2,), 0.5, dtype=torch.float64), objective, bounds=bounds, hypers=hypers, **kwargs)


@pytest.mark.parametrize("acquisition_function", ["expected_improvement", "log_expected_improvement"])
def test_vanilla_bo_improves_a_quadratic_within_the_budget(acquisition_function):
    objective = RecordingObjective(quadratic)
    bo = _vanilla_bo(objective, acquisition_function=acquisition_function)
    result = run_optimization(bo, max_objective_calls=15)
    assert len(objective.values) == 15
    np.testing.assert_array_equal(result.calls, [0, *range(2, 16)])  # θ_0 and the first query in step 1
    # The history is θ_0, then each query point, inside the box.
    torch.testing.assert_close(torch.from_numpy(result.params[1:]), torch.stack(objective.points[1:]))
    assert np.all((result.params >= 0) & (result.params <= 1))
    assert max(objective.values) > objective.values[0] + 0.1  # J(θ_0) = −0.18, optimum 0
    assert max(objective.values) > -0.02


def test_vanilla_bo_fits_hyperparameters_once_more_than_20_points_exist():
    from gpytorch.priors import UniformPrior

    objective = RecordingObjective(quadratic)
    bounds = torch.stack([torch.zeros(2), torch.ones(2)]).double()
    bo = VanillaBO(
        torch.full((2,), 0.5, dtype=torch.float64),
        objective,
        bounds=bounds,
        model_kwargs={
            "lengthscale_hyperprior": UniformPrior(0.05, 2.0),
            "outputscale_hyperprior": UniformPrior(0.1, 5.0),
        },
        hypers={"likelihood.noise": 1e-4},
        optimize_hyperparameters=True,
        no_noise_optimization=True,
    )
    run_optimization(bo, max_objective_calls=20)
    initial = bo.model.lengthscale.detach().clone()
    torch.testing.assert_close(initial, torch.full((2,), 1.025, dtype=torch.float64))  # prior mean, not fitted yet
    run_optimization(bo, max_objective_calls=3)  # now 21+ points: refit every step
    assert not torch.allclose(bo.model.lengthscale.detach(), initial)
    torch.testing.assert_close(bo.model.noise.detach(), torch.tensor(1e-4, dtype=torch.float64))


def test_vanilla_bo_rejects_an_unknown_acquisition_function():
    with pytest.raises(ValueError, match="acquisition_function"):
        _vanilla_bo(quadratic, acquisition_function="ucb")

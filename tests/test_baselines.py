"""The baselines (docs/method.md#baselines): ARS against hand computations, vanilla BO and CMA-ES on a smooth function."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from botorch.acquisition import ExpectedImprovement, LogExpectedImprovement

from gibo.build import build_optimizer, resolve_dimension
from gibo.config import load_experiment_config
from gibo.loop import run_optimization
from gibo.model import DerivativeExactGPSEModel, ExactGPSEModel
from gibo.acquisition_function import ClosedFormExpectedImprovement
from gibo.optimizers import ARS, CMAES, VanillaBO

ROOT = Path(__file__).resolve().parents[1]
CENTER = torch.tensor([0.2, 0.8], dtype=torch.float64)


def quadratic(x: torch.Tensor) -> torch.Tensor:
    """J(x) = −‖x − c‖², maximum 0 at c = (0.2, 0.8) inside [0, 1]²."""
    return -(x - CENTER).pow(2).sum()


class RecordingObjective:
    """J with a log of every evaluated point and value."""

    def __init__(self, function):
        self.function = function
        self.points, self.values = [], []

    def __call__(self, x):
        value = self.function(x)
        self.points.append(x.detach().clone())
        self.values.append(float(value))
        return value


# ----------------------------------------------------------------------------------------------
# ARS
# ----------------------------------------------------------------------------------------------


def test_ars_update_equals_hand_computation():
    ars = ARS(
        torch.zeros(3, dtype=torch.float64),
        quadratic,
        step_size=0.1,
        samples_per_iteration=2,
        exploration_noise=0.05,
        standard_deviation_scaling=True,
    )
    directions = torch.tensor([[1.0, 0.0, 2.0], [0.0, -1.0, 1.0]], dtype=torch.float64)
    r_plus = torch.tensor([3.0, 1.0], dtype=torch.float64)
    r_minus = torch.tensor([1.0, 2.0], dtype=torch.float64)
    # σ_R: std of the 4 used rewards {3, 1, 1, 2}: mean 1.75, squared deviations 2.75, n − 1 divisor.
    sigma = math.sqrt(2.75 / 3)
    expected = 0.1 / (2 * sigma) * ((3 - 1) * directions[0] + (1 - 2) * directions[1])
    torch.testing.assert_close(ars.update(directions, r_plus, r_minus), expected)


def test_ars_update_without_std_scaling():
    ars = ARS(
        torch.zeros(2, dtype=torch.float64), quadratic, step_size=0.5, samples_per_iteration=2, exploration_noise=0.1
    )
    directions = torch.tensor([[1.0, 1.0], [2.0, -1.0]], dtype=torch.float64)
    step = ars.update(
        directions, torch.tensor([1.0, 4.0], dtype=torch.float64), torch.tensor([2.0, 1.0], dtype=torch.float64)
    )
    torch.testing.assert_close(step, 0.5 / 2 * (-1.0 * directions[0] + 3.0 * directions[1]))


@pytest.mark.parametrize("divisor, sigma", [("n-1", 8.0**0.5), ("n", 2.0)])
def test_ars_top_directions_use_only_the_best_by_max_reward(divisor, sigma):
    ars = ARS(
        torch.zeros(2, dtype=torch.float64),
        quadratic,
        step_size=0.1,
        samples_per_iteration=3,
        exploration_noise=0.1,
        standard_deviation_scaling=True,
        num_top_directions=1,
        reward_std_divisor=divisor,
    )
    directions = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    r_plus = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    r_minus = torch.tensor([0.0, 5.0, 1.0], dtype=torch.float64)  # max(r+, r−) = 0, 5, 2: direction 1 wins
    # Used rewards {1, 5}: squared deviations 4 + 4, so σ_R = √(8 / 1) with the n − 1 divisor, √(8 / 2) with n.
    expected = 0.1 / (1 * sigma) * (1.0 - 5.0) * directions[1]
    torch.testing.assert_close(ars.update(directions, r_plus, r_minus), expected)


def test_ars_rejects_an_unknown_std_divisor():
    with pytest.raises(ValueError, match="reward_std_divisor"):
        ARS(
            torch.zeros(2),
            quadratic,
            step_size=0.1,
            samples_per_iteration=1,
            exploration_noise=0.1,
            reward_std_divisor="n+1",
        )


def test_ars_step_matches_hand_computation_with_fixed_directions():
    c = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    linear = RecordingObjective(lambda x: c @ x)
    theta0 = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)
    ars = ARS(
        theta0, linear, step_size=0.02, samples_per_iteration=2, exploration_noise=0.1, standard_deviation_scaling=True
    )
    torch.manual_seed(7)
    directions = torch.randn(2, 3, dtype=torch.float64)
    torch.manual_seed(7)
    ars.step()
    # Evaluations: θ + ν δ_k for every k, then θ − ν δ_k.
    points = torch.stack(linear.points)
    torch.testing.assert_close(points, torch.cat([theta0 + 0.1 * directions, theta0 - 0.1 * directions]))
    r_plus, r_minus = (theta0 + 0.1 * directions) @ c, (theta0 - 0.1 * directions) @ c
    used = torch.cat([r_plus, r_minus])
    sigma = ((used - used.mean()).pow(2).sum() / (len(used) - 1)).sqrt()  # the default n − 1 divisor
    expected = theta0 + 0.02 / (2 * sigma) * ((r_plus - r_minus)[:, None] * directions).sum(0)
    torch.testing.assert_close(ars.params_history[-1], expected)
    assert len(ars.params_history) == 2


def test_ars_never_perturbs_ignored_indices():
    objective = RecordingObjective(quadratic)
    theta0 = torch.tensor([0.5, 0.5], dtype=torch.float64)
    ars = ARS(theta0, objective, step_size=0.05, samples_per_iteration=3, exploration_noise=0.1, param_args_ignore=[1])
    assert torch.all(ars.sample_directions()[:, 1] == 0)
    run_optimization(ars, max_iterations=5)
    points = torch.stack(objective.points)
    assert torch.all(points[:, 1] == 0.5)
    assert torch.all(torch.stack(ars.params_history)[:, 1] == 0.5)
    assert not torch.allclose(ars.params_history[-1][0], theta0[0])


def test_ars_updates_the_state_normalizer_every_iteration():
    class NormalizingObjective:
        updates = 0

        def __call__(self, x):
            return quadratic(x)

        def update_state_normalizer(self):
            self.updates += 1
            return True

    objective = NormalizingObjective()
    ars = ARS(
        torch.zeros(2, dtype=torch.float64), objective, step_size=0.02, samples_per_iteration=2, exploration_noise=0.1
    )
    result = run_optimization(ars, max_iterations=3)
    assert objective.updates == 3
    np.testing.assert_array_equal(result.calls, [0, 4, 8, 12])


def test_ars_rejects_more_top_directions_than_samples():
    with pytest.raises(ValueError, match="num_top_directions"):
        ARS(
            torch.zeros(2),
            quadratic,
            step_size=0.1,
            samples_per_iteration=2,
            exploration_noise=0.1,
            num_top_directions=3,
        )


def test_ars_improves_and_respects_the_budget():
    objective = RecordingObjective(quadratic)
    ars = ARS(
        torch.full((2,), 0.5, dtype=torch.float64),
        objective,
        step_size=0.02,
        samples_per_iteration=1,
        exploration_noise=0.05,
        standard_deviation_scaling=True,
    )
    result = run_optimization(ars, max_objective_calls=61)
    assert len(objective.values) <= 61
    assert result.calls[-1] == 60  # 2 calls per iteration: the 31st iteration is cut off
    values = [float(quadratic(torch.from_numpy(p))) for p in result.params]
    assert max(values) > values[0] + 0.05


# ----------------------------------------------------------------------------------------------
# Vanilla BO
# ----------------------------------------------------------------------------------------------


def _gp_pair(D=4, N=20):
    g = torch.Generator().manual_seed(3)
    X = torch.rand(N, D, generator=g, dtype=torch.float64)
    y = torch.sin(4 * X).sum(-1)
    hypers = {
        "covar_module.base_kernel.lengthscale": 0.2 + torch.rand(D, generator=g, dtype=torch.float64),
        "covar_module.outputscale": 1.7,
        "likelihood.noise": 0.03,
    }
    plain = ExactGPSEModel(X, y, ard_num_dims=D, prior_mean=0.3)
    plain.initialize(**hypers)
    derivative = DerivativeExactGPSEModel(D, train_x=X, train_y=y, prior_mean=0.3)
    derivative.initialize(**hypers)
    return plain, derivative, y


@pytest.mark.filterwarnings("ignore:ExpectedImprovement has known numerical issues")
@pytest.mark.parametrize("log, reference", [(False, ExpectedImprovement), (True, LogExpectedImprovement)])
def test_closed_form_expected_improvement_equals_botorch(log, reference):
    plain, derivative, y = _gp_pair()
    Z = torch.rand(40, 1, 4, dtype=torch.float64)
    Z[:3, 0] = plain.train_inputs[0][:3]  # at data points, where σ is small
    expected = reference(plain, best_f=y.max())(Z)
    actual = ClosedFormExpectedImprovement(derivative, y.max(), log=log)(Z)
    torch.testing.assert_close(actual, expected, rtol=1e-9, atol=1e-12)


def test_closed_form_expected_improvement_rejects_batches_of_candidates():
    _, derivative, y = _gp_pair()
    with pytest.raises(ValueError, match="q = 1"):
        ClosedFormExpectedImprovement(derivative, y.max())(torch.rand(5, 2, 4, dtype=torch.float64))


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
    np.testing.assert_array_equal(result.calls, [0] + list(range(2, 16)))  # θ_0 and the first query in step 1
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


# ----------------------------------------------------------------------------------------------
# CMA-ES
# ----------------------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------------------
# Configs of the synthetic study
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["rs", "vbo", "cmaes"])
@pytest.mark.parametrize("setting", ["fixed_hypers", "learned_hypers", "default"])
def test_baseline_configs_build(name, setting):
    config = load_experiment_config(ROOT / f"configs/synthetic_experiment/{name}_{setting}.yaml")
    assert config.max_objective_calls == 300
    resolved = resolve_dimension(config, 16)
    optimizer = build_optimizer(resolved, torch.full((16,), 0.5), lambda x: -(x - 0.3).pow(2).sum())
    assert optimizer.D == 16
    assert {"rs": ARS, "vbo": VanillaBO, "cmaes": CMAES}[name] is type(optimizer)


def test_baseline_config_values_follow_the_paper():
    from gibo.synthetic_functions import lengthscale_scale

    ars = resolve_dimension(
        load_experiment_config(ROOT / "configs/synthetic_experiment/rs_fixed_hypers.yaml"), 16
    ).optimizer_config
    assert (ars.step_size, ars.samples_per_iteration, ars.standard_deviation_scaling) == (0.02, 3, True)
    assert ars.exploration_noise == pytest.approx(0.1 * 2 * lengthscale_scale(16))
    assert (
        resolve_dimension(
            load_experiment_config(ROOT / "configs/synthetic_experiment/rs_learned_hypers.yaml"), 16
        ).optimizer_config.exploration_noise
        == 0.01
    )
    cmaes = resolve_dimension(
        load_experiment_config(ROOT / "configs/synthetic_experiment/cmaes_fixed_hypers.yaml"), 16
    ).optimizer_config
    assert cmaes.sigma == pytest.approx(0.3 * lengthscale_scale(16))
    assert (
        load_experiment_config(ROOT / "configs/synthetic_experiment/cmaes_learned_hypers.yaml").optimizer_config.sigma
        == 0.5
    )
    vbo = load_experiment_config(ROOT / "configs/synthetic_experiment/vbo_fixed_hypers.yaml")
    assert vbo.set_hypers and not vbo.optimizer_config.hyperparameter_config.optimize_hyperparameters
    learned = load_experiment_config(ROOT / "configs/synthetic_experiment/vbo_learned_hypers.yaml")
    assert learned.only_set_noise_hyper and learned.optimizer_config.hyperparameter_config.no_noise_optimization

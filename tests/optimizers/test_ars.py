"""ARS (docs/method.md#baselines) against hand computations, and on a smooth function."""

import math

import numpy as np
import pytest
import torch

from gibo.loop import run_optimization
from gibo.optimizers import ARS
from tests.optimizers.objectives import RecordingObjective, quadratic


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

"""TuRBO-1: the trust-region state on hand-made sequences, the call budget, candidates, progress and repeatability."""

import math

import numpy as np
import pytest
import torch

from gibo.loop import run_optimization
from gibo.optimizers import TuRBO, TurboState
from tests.optimizers.objectives import RecordingObjective

pytestmark = pytest.mark.usefixtures("one_torch_thread")


CENTER = torch.tensor([0.2, 0.8, 0.6, 0.3], dtype=torch.float64)


def quadratic(x):
    """Maximum 0 at the first D entries of CENTER."""
    return -(x - CENTER[: x.shape[-1]]).pow(2).sum()


class WorseEveryCall:
    """J = −(number of calls so far): every batch after the first is a failure."""

    def __init__(self):
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        return torch.tensor(-float(self.calls), dtype=torch.float64)


def unit_box(D):
    return torch.stack([torch.zeros(D), torch.ones(D)]).double()


def make_turbo(D=2, objective=quadratic, bounds=None, **kwargs):
    options = dict(n_candidates=300, fit_maxiter=20)
    options.update(kwargs)
    return TuRBO(
        torch.full((D,), 0.5, dtype=torch.float64), objective, unit_box(D) if bounds is None else bounds, **options
    )


# ----------------------------------------------------------------------------------------------
# TurboState without a GP
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("D,q,expected", [(2, 1, 4), (4, 1, 4), (32, 1, 32), (10, 3, 4), (8, 4, 2), (3, 8, 1)])
def test_failure_tolerance_is_the_papers(D, q, expected):
    assert TurboState(D, batch_size=q).failure_tolerance == expected == math.ceil(max(4 / q, D / q))


def test_region_grows_after_three_successes_and_stops_at_length_max():
    state = TurboState(D=4)
    state.reset(best_value=0.0)
    for value in (1.0, 2.0):
        assert state.update(torch.tensor([value]))
    assert state.length == 0.8 and state.success_counter == 2
    state.update(torch.tensor([3.0]))
    assert state.length == 1.6 and state.success_counter == 0
    for value in (4.0, 5.0, 6.0):
        state.update(torch.tensor([value]))
    assert state.length == 1.6  # min(3.2, length_max)
    assert state.best_value == 6.0


def test_region_shrinks_after_failure_tolerance_failures_in_a_row():
    state = TurboState(D=4)  # τ_fail = 4
    state.reset(best_value=1.0)
    for _ in range(3):
        assert not state.update(torch.tensor([0.5, 1.0005]))  # within 1e-3·|best|: a failure
    assert state.length == 0.8 and state.failure_counter == 3
    assert state.best_value == pytest.approx(1.0005)  # the incumbent still rises
    state.update(torch.tensor([0.0]))
    assert state.length == 0.4 and state.failure_counter == 0


def test_a_success_resets_the_failure_count_and_vice_versa():
    state = TurboState(D=4)
    state.reset(best_value=1.0)
    for success in (True, True, False, True, True, False, False, False, True, False, False, False):
        state.register(success)
    assert state.length == 0.8  # never 3 successes nor 4 failures in a row
    assert (state.success_counter, state.failure_counter) == (0, 3)


def test_restart_once_the_side_falls_below_length_min():
    state = TurboState(D=2)  # τ_fail = 4; 0.8 / 2^7 < 0.5^7 <= 0.8 / 2^6
    for _ in range(27):
        state.register(False)
    assert not state.restart_triggered and state.length == pytest.approx(0.8 / 2**6)
    state.register(False)
    assert state.restart_triggered and state.length == pytest.approx(0.8 / 2**7)
    state.reset()
    assert (state.length, state.failure_counter, state.restart_triggered, state.best_value) == (
        0.8,
        0,
        False,
        -math.inf,
    )


def test_trust_region_is_weighted_by_lengthscales_and_clipped():
    state = TurboState(D=3)
    center = torch.full((3,), 0.5, dtype=torch.float64)
    box = state.trust_region(center, torch.full((3,), 0.3, dtype=torch.float64))
    torch.testing.assert_close(box, torch.stack([center - 0.4, center + 0.4]))
    lengthscale = torch.tensor([0.1, 0.2, 0.4], dtype=torch.float64)
    state.length = 0.2
    box = state.trust_region(center, lengthscale)
    sides = box[1] - box[0]
    torch.testing.assert_close(sides.prod(), torch.tensor(0.2**3, dtype=torch.float64))  # volume L^D before clipping
    torch.testing.assert_close(sides / sides[0], lengthscale / lengthscale[0])
    box = state.trust_region(torch.tensor([0.0, 0.95, 0.5], dtype=torch.float64), lengthscale)
    assert torch.all(box >= 0) and torch.all(box <= 1) and box[0, 0] == 0 and box[1, 1] == 1


# ----------------------------------------------------------------------------------------------
# The optimizer
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "budget, expected_calls, restarts",
    [
        (10, [0, 4, 5, 9, 10], [0, 1, 1, 2]),  # design, query (fails: restart), design, query
        (7, [0, 4, 5, 7], [0, 1, 1]),  # the restart's design gets only the 2 calls left
    ],
)
def test_call_budget_is_spent_exactly_across_restarts(budget, expected_calls, restarts):
    objective = WorseEveryCall()
    turbo = make_turbo(2, objective, n_init=4, failure_tolerance=1, length_min=0.5)  # one failure collapses the region
    result = run_optimization(turbo, max_objective_calls=budget)
    assert objective.calls == budget
    assert result.calls.tolist() == expected_calls
    arrays = turbo.turbo_arrays()
    assert arrays["turbo_restarts"].tolist() == restarts
    lengths = arrays["turbo_length"]
    assert np.isnan(lengths[0]) and lengths[1] == 0.8 and np.isnan(lengths[2])
    # the best point is the very first evaluation (every later value is worse), kept across restarts
    assert result.params.shape == (len(expected_calls), 2)
    np.testing.assert_array_equal(result.params[1:], np.repeat(result.params[1:2], len(expected_calls) - 1, axis=0))


def test_initial_design_larger_than_the_budget():
    objective = RecordingObjective(quadratic)
    turbo = make_turbo(3, objective)  # n_init = 2 D = 6
    result = run_optimization(turbo, max_objective_calls=4)
    assert len(objective.values) == 4 and result.calls.tolist() == [0, 4]
    best = int(np.argmax(objective.values))
    torch.testing.assert_close(torch.from_numpy(result.params[1]), objective.points[best])


def test_candidates_lie_in_the_box_and_the_trust_region():
    bounds = torch.tensor([[-1.0, 2.0, 0.0, 5.0], [3.0, 2.5, 1.0, 9.0]], dtype=torch.float64)

    def shifted(x):
        return quadratic((x - bounds[0]) / (bounds[1] - bounds[0]))

    objective = RecordingObjective(shifted)
    turbo = make_turbo(4, objective, bounds=bounds, n_candidates=500, perturbation_probability=0.5, batch_size=3)
    run_optimization(turbo, max_iterations=4)
    points = torch.stack(objective.points)
    assert points.shape == (8 + 3 * 3, 4)
    assert torch.all(points >= bounds[0]) and torch.all(points <= bounds[1])
    model = turbo.fit_model()
    lengthscale = model.covar_module.base_kernel.lengthscale.detach().reshape(-1)
    center = turbo.X[turbo.Y.argmax()]
    region = turbo.state.trust_region(center, lengthscale)
    candidates = turbo.candidate_set(lengthscale)
    assert candidates.shape == (500, 4)
    assert torch.all(candidates >= region[0]) and torch.all(candidates <= region[1])
    assert torch.all((candidates != center).any(-1))  # every candidate perturbs some coordinate
    share = float((candidates != center).double().mean())
    assert 0.4 < share < 0.65  # p_pert = 0.5, plus the forced coordinate where none was drawn
    chosen = turbo.thompson_candidates(model, 3)
    assert chosen.shape == (3, 4) and torch.unique(chosen, dim=0).shape[0] == 3
    assert torch.all(chosen >= region[0]) and torch.all(chosen <= region[1])


@pytest.mark.parametrize("D, budget, sampling", [(2, 20, "exact"), (4, 30, "pathwise")])
def test_improves_over_the_initial_design_and_records_best_so_far(D, budget, sampling):
    objective = RecordingObjective(quadratic)
    turbo = make_turbo(D, objective, thompson_sampling=sampling)
    result = run_optimization(turbo, max_objective_calls=budget)
    assert len(objective.values) == budget
    initial_best = max(objective.values[: 2 * D])
    assert turbo.best_value > initial_best + 0.01
    assert turbo.best_value > -0.02
    # iterate t is the best point evaluated by then
    for t, calls in enumerate(result.calls[1:], start=1):
        best = int(np.argmax(objective.values[:calls]))
        torch.testing.assert_close(torch.from_numpy(result.params[t]), objective.points[best])


def test_repeatable_with_a_fixed_torch_seed():
    histories = []
    for seed in (3, 3, 4):
        torch.manual_seed(seed)
        histories.append(run_optimization(make_turbo(2), max_objective_calls=8).params)
    np.testing.assert_array_equal(histories[0], histories[1])
    assert not np.array_equal(histories[0], histories[2])


def test_fixed_hyperparameters_in_objective_units():
    bounds = torch.stack([torch.zeros(2), torch.full((2,), 2.0)]).double()
    hypers = {
        "covar_module.base_kernel.lengthscale": [0.4, 0.8],
        "covar_module.outputscale": 1.5,
        "likelihood.noise": 0.01,
    }
    turbo = make_turbo(2, bounds=bounds, kernel="rbf", optimize_hyperparameters=False, hypers=hypers)
    run_optimization(turbo, max_iterations=1)
    model = turbo.fit_model()
    lengthscale = model.covar_module.base_kernel.lengthscale.detach().reshape(-1)
    torch.testing.assert_close(lengthscale, torch.tensor([0.2, 0.4], dtype=torch.float64))  # divided by the widths
    assert float(model.covar_module.outputscale) == pytest.approx(1.5)
    assert not hasattr(model, "outcome_transform")
    torch.testing.assert_close(model.likelihood.noise.detach().reshape(-1), torch.full((4,), 0.01, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"likelihood.noise"):
        make_turbo(
            2,
            optimize_hyperparameters=False,
            hypers={"covar_module.outputscale": 1.0, "covar_module.base_kernel.lengthscale": 0.3},
        )


def test_known_noise_is_scaled_with_the_standardisation():
    turbo = make_turbo(2, no_noise_optimization=True, hypers={"likelihood.noise": 0.01})
    run_optimization(turbo, max_iterations=1)
    model = turbo.fit_model()
    std = float(model.outcome_transform.stdvs.reshape(()))
    assert std == pytest.approx(float(turbo.Y.std()), rel=1e-9)
    torch.testing.assert_close(
        model.likelihood.noise.detach().reshape(-1), torch.full((4,), 0.01 / std**2, dtype=torch.float64)
    )

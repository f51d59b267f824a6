"""GIBO on smooth test functions; the loop's budget; learning-rate schedules; state-normalisation hooks."""

import itertools
import math

import pytest
import torch

from gibo.loop import BudgetExhausted, CountingObjective, NonFiniteObjective, run_optimization
from gibo.model import DerivativeExactGPSEModel
from gibo.optimizers import GIBO, lr_factor


def quadratic(params):
    """Smooth objective with maximum 0 at 0.7·1."""
    return -((params - 0.7) ** 2).sum()


def make_gibo(D=3, objective=quadratic, **kwargs):
    model = DerivativeExactGPSEModel(D, N_max=5 * D)
    model.initialize(
        **{"covar_module.base_kernel.lengthscale": 0.5, "covar_module.outputscale": 1.0, "likelihood.noise": 1e-4}
    )
    options = dict(max_samples_per_iteration=D, delta=0.1, optimizer_torch_config={"lr": 0.5}, normalize_gradient=True)
    options.update(kwargs)
    return GIBO(torch.full((D,), 0.1, dtype=torch.float64), objective, model, **options)


def test_gibo_climbs_a_quadratic_within_budget():
    gibo = make_gibo()
    result = run_optimization(gibo, max_objective_calls=60)
    start, end = quadratic(torch.from_numpy(result.params[0])), quadratic(torch.from_numpy(result.params[-1]))
    assert float(start) == pytest.approx(-3 * 0.36)
    assert float(end) > -0.05
    assert result.calls[-1] <= 60
    assert len(result.calls) == result.params.shape[0]
    assert all(b - a == 4 for a, b in zip(result.calls[:-1], result.calls[1:]))  # 1 + M per full iteration


def test_gibo_with_hyperparameter_fitting_and_adam():
    from gpytorch.priors import NormalPrior, UniformPrior

    model = DerivativeExactGPSEModel(
        2, N_max=10, lengthscale_hyperprior=UniformPrior(0.05, 1.0), outputscale_hyperprior=NormalPrior(1.0, 0.5)
    )
    model.likelihood.noise = 1e-3
    gibo = GIBO(
        torch.zeros(2, dtype=torch.float64),
        quadratic,
        model,
        max_samples_per_iteration=2,
        delta=0.1,
        OptimizerTorch=torch.optim.Adam,
        optimizer_torch_config={"lr": 0.05},
        optimize_hyperparameters=True,
        no_noise_optimization=True,
        normalize_gradient=True,
    )
    before = model.lengthscale.detach().clone()
    result = run_optimization(gibo, max_iterations=8)
    assert not torch.allclose(before, model.lengthscale.detach())
    assert float(model.noise) == pytest.approx(1e-3, rel=1e-6)
    # the recorded hyperparameters: prior means until the window (N_max = 10, 3 calls per iteration) is
    # full at iteration 3, the fitted values from then on, the fixed noise and m = 0 throughout
    hypers = gibo.hyperparameter_arrays()
    T = len(result.calls) - 1
    assert hypers["gp_lengthscale"].shape == (T, 2) and hypers["gp_outputscale"].shape == (T,)
    assert (hypers["gp_lengthscale"][:3] == pytest.approx(0.525)) and (
        hypers["gp_outputscale"][:3] == pytest.approx(1.0)
    )
    assert hypers["gp_lengthscale"][3:] != pytest.approx(0.525)
    assert hypers["gp_lengthscale"][-1] == pytest.approx(model.lengthscale.detach().numpy())
    assert hypers["gp_noise"] == pytest.approx(1e-3, rel=1e-6) and (hypers["gp_mean"] == 0).all()
    assert quadratic(torch.from_numpy(result.params[-1])) > quadratic(torch.from_numpy(result.params[0]))


def test_budget_is_hard_and_cut_iteration_not_recorded():
    gibo = make_gibo(D=2)
    result = run_optimization(gibo, max_objective_calls=10)  # iterations of 3 calls
    assert result.calls.tolist() == [0, 3, 6, 9, 10]  # the last iteration samples only what is left
    assert result.params.shape == (5, 2)


def test_max_iterations():
    result = run_optimization(make_gibo(D=2), max_iterations=2)
    assert result.calls.tolist() == [0, 3, 6]


def test_counting_objective():
    f = CountingObjective(quadratic, max_calls=2)
    f(torch.zeros(2)), f(torch.zeros(2))
    assert f.calls == 2 and f.remaining == 0
    with pytest.raises(BudgetExhausted):
        f(torch.zeros(2))
    with pytest.raises(NonFiniteObjective, match="nan"):
        CountingObjective(lambda p: torch.tensor(math.nan))(torch.zeros(2))


def test_epsilon_early_stop_samples_fewer_points():
    eager = make_gibo(D=4)
    run_optimization(eager, max_iterations=3)
    lazy = make_gibo(D=4, epsilon_diff_acq_value=1e6)
    result = run_optimization(lazy, max_iterations=3)
    assert all(len(v) == 4 for v in eager.acquisition_values)
    assert all(len(v) == 2 for v in lazy.acquisition_values)  # stops after the second sample
    assert result.calls.tolist() == [0, 3, 6, 9]
    # the acquisition values of successive samples increase (uncertainty shrinks)
    assert all(b > a for v in eager.acquisition_values for a, b in itertools.pairwise(v))


def test_gradient_step_normalisation_and_schedule():
    gibo = make_gibo(D=3, lr_schedular={0: 0.5, 2: 0.1})
    theta = gibo.params.detach().clone()
    gibo.step()
    lengthscale = gibo.model.lengthscale.detach()
    step = gibo.params.detach() - theta
    # a normalised step has length lr · factor · ‖l ⊙ unit direction‖ = 0.5 · 0.5 · 0.5 here (isotropic l = 0.5)
    assert float(step.norm()) == pytest.approx(0.5 * 0.5 * float(lengthscale[0]), rel=1e-9)
    mean, _ = gibo.model.posterior_derivative(theta)
    cos = torch.nn.functional.cosine_similarity(step, mean[0], dim=0)
    assert float(cos) == pytest.approx(1.0, abs=1e-9)


def test_standard_deviation_scaling_divides_by_variance():
    plain = make_gibo(D=2, normalize_gradient=False)
    scaled = make_gibo(D=2, normalize_gradient=False, standard_deviation_scaling=True)
    torch.manual_seed(0)
    plain.step()
    torch.manual_seed(0)
    scaled.step()
    theta = torch.full((2,), 0.1, dtype=torch.float64)
    mean, cov = scaled.model.posterior_derivative(theta)
    expected = theta + 0.5 * mean[0] / cov[0].diagonal()
    torch.testing.assert_close(scaled.params.detach(), expected)


@pytest.mark.parametrize("t,factor", [(0, 0.8), (2, 0.8), (3, 0.3), (100, 0.3)])
def test_lr_factor(t, factor):
    assert lr_factor({0: 0.8, 3: 0.3}, t) == factor


def test_lr_factor_before_first_key_and_none():
    assert lr_factor({5: 0.1}, 2) == 1.0
    assert lr_factor(None, 7) == 1.0


class ShiftedObjective:
    """Objective in 'normalised' coordinates p = raw − shift, with a shift that changes on update (like state
    normalisation)."""

    def __init__(self):
        self.shift = torch.zeros(2, dtype=torch.float64)
        self.updates = 0

    def __call__(self, params):
        return quadratic(params + self.shift)

    def params_to_raw(self, params):
        return params + self.shift

    def params_from_raw(self, params):
        return params - self.shift

    def update_state_normalizer(self):
        self.updates += 1
        self.shift = self.shift + 0.05
        return True


def test_state_normalisation_hooks_keep_data_consistent():
    objective = ShiftedObjective()
    gibo = make_gibo(D=2, objective=objective)
    run_optimization(gibo, max_iterations=3)
    assert objective.updates == 3
    # every stored observation still equals the objective at the stored (re-expressed) input
    for x, y in zip(gibo.model.train_x, gibo.model.train_y):
        assert float(objective(x)) == pytest.approx(float(y), abs=1e-12)
    # history is in raw coordinates
    raw_last = objective.params_to_raw(gibo.params.detach())
    torch.testing.assert_close(gibo.params_history[-1], raw_last)


@pytest.mark.parametrize("D", [2, 3, 4])
def test_autograd_acquisition_gradient_takes_the_same_steps(D):
    """`acquisition_gradient="autograd"` optimises the acquisition with autograd gradients (BoTorch's own candidate
    generation) instead of the closed form: the same points to the optimiser's tolerance on a short run. D initial
    points first: with θ alone in the window the acquisition is mirror-symmetric about θ and rounding picks one of
    two equal optima (there the paths may part, as any change of arithmetic makes them)."""
    runs = {}
    for path in ("closed_form", "autograd"):
        torch.manual_seed(0)
        gibo = make_gibo(D, acquisition_gradient=path, generate_initial_data=D)
        assert gibo._acquisition(gibo.params.detach()).analytic_gradient is (path == "closed_form")
        runs[path] = run_optimization(gibo, max_objective_calls=8 * (D + 1))
    closed, autograd = runs["closed_form"], runs["autograd"]
    assert list(closed.calls) == list(autograd.calls)
    torch.testing.assert_close(torch.from_numpy(autograd.params), torch.from_numpy(closed.params), rtol=0, atol=1e-6)


def test_unknown_acquisition_gradient_is_refused():
    with pytest.raises(ValueError, match="acquisition_gradient must be 'closed_form' or 'autograd', got 'numeric'"):
        make_gibo(acquisition_gradient="numeric")


def test_state_normalisation_per_call_keeps_theta_in_normalised_coordinates():
    """`state_normalization_update="call"` folds the statistics in after every call and re-expresses only the GP
    data: θ moves by the gradient steps alone (its raw policy moves with the statistics), each stored observation
    still equals the objective at its stored input, and the history is θ's raw policy when it was recorded."""
    objective = ShiftedObjective()
    gibo = make_gibo(D=2, objective=objective, state_normalization_update="call")
    steps, raw_recorded = [], []
    for _ in range(3):
        before = gibo.params.detach().clone()
        calls_before = objective.updates
        run_optimization(gibo, max_iterations=1)
        steps.append(gibo.params.detach() - before)
        raw_recorded.append(objective.params_to_raw(gibo.params.detach()))
        calls = len(gibo.acquisition_values[-1]) + 1  # θ's evaluation and the samples
        assert objective.updates - calls_before == calls  # one update per call
    for x, y in zip(gibo.model.train_x, gibo.model.train_y):
        assert float(objective(x)) == pytest.approx(float(y), abs=1e-12)
    torch.testing.assert_close(torch.stack(gibo.params_history[1:]), torch.stack(raw_recorded))
    # θ was never re-expressed: after 3 iterations it is θ_0 plus the 3 steps
    torch.testing.assert_close(gibo.params.detach(), torch.full((2,), 0.1, dtype=torch.float64) + sum(steps))
    # with the per-iteration update, θ is re-expressed: its raw policy is kept across the update instead
    per_iteration = make_gibo(D=2, objective=ShiftedObjective())
    run_optimization(per_iteration, max_iterations=1)
    assert per_iteration.objective.updates == 1


def test_unknown_state_normalisation_update_is_refused():
    with pytest.raises(ValueError, match="state_normalization_update must be one of"):
        make_gibo(state_normalization_update="episode")

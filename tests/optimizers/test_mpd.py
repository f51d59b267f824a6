"""MPD: the most probable ascent direction, its acquisition against brute force and Monte Carlo, the walk, the
optimizer."""

import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from scipy.stats import norm

from gibo.acquisition_function import ExpectedAscentStatistic, most_probable_ascent, optimize_gradient_information
from gibo.loop import run_optimization
from gibo.model import DerivativeExactGPSEModel
from gibo.optimizers import MPD
from tests.test_model import make_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def random_spd(D, generator, batch=()):
    A = torch.randn(*batch, D, D, generator=generator, dtype=torch.float64)
    return A @ A.transpose(-1, -2) + 0.1 * torch.eye(D, dtype=torch.float64)


def statistic(mean, cov):
    """μᵀΣ⁻¹μ by a plain linear solve (no Cholesky)."""
    return float(mean.detach() @ torch.linalg.solve(cov.detach(), mean.detach()))


# ----------------------------------------------------------------------------------------------
# Direction and probability
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("D", [2, 4])
def test_most_probable_ascent_maximises_the_probability(D):
    g = torch.Generator().manual_seed(D)
    mean = torch.randn(3, D, generator=g, dtype=torch.float64)
    cov = random_spd(D, g, batch=(3,))
    direction, probability = most_probable_ascent(mean, cov)
    assert direction.shape == (3, D) and probability.shape == (3,)
    torch.testing.assert_close(direction.norm(dim=-1), torch.ones(3, dtype=torch.float64))
    for m, S, v, p in zip(mean.numpy(), cov.numpy(), direction.numpy(), probability.numpy()):

        def negative_ratio(u):
            return -(u @ m) / np.sqrt(u @ S @ u)  # noqa: B023 - called only within this iteration

        starts = np.random.default_rng(D).normal(size=(8, D))
        best = min((minimize(negative_ratio, u0, method="BFGS") for u0 in starts), key=lambda r: r.fun)
        u = best.x / np.linalg.norm(best.x)
        assert u @ v == pytest.approx(1.0, abs=1e-6)  # same unit direction
        assert p == pytest.approx(norm.cdf(-best.fun), abs=1e-8)
        # no random unit direction does better
        others = np.random.default_rng(0).normal(size=(20_000, D))
        ratios = (others @ m) / np.sqrt(np.einsum("nd,de,ne->n", others, S, others))
        assert norm.cdf(ratios.max()) <= p + 1e-12
        assert norm.cdf(-negative_ratio(v)) == pytest.approx(p, abs=1e-12)


def test_most_probable_ascent_at_a_zero_mean():
    direction, probability = most_probable_ascent(
        torch.zeros(3, dtype=torch.float64), torch.eye(3, dtype=torch.float64)
    )
    assert torch.all(direction == 0) and float(probability) == pytest.approx(0.5)


# ----------------------------------------------------------------------------------------------
# Acquisition
# ----------------------------------------------------------------------------------------------


def model_with(model, Z):
    """The same GP with Z appended (y = 0: the gradient covariance does not depend on y)."""
    other = DerivativeExactGPSEModel(model.D, dtype=model.train_x.dtype)
    other.load_state_dict(model.state_dict(), strict=False)
    other.set_data(torch.cat([model.train_x, Z]), torch.cat([model.train_y, torch.zeros(Z.shape[0], dtype=Z.dtype)]))
    return other


def brute_force_alpha(model, theta, Z):
    """E[μ'ᵀΣ'⁻¹μ'] with μ' ~ N(μ, Σ − Σ'): μᵀΣ'⁻¹μ + tr(Σ'⁻¹Σ) − D, Σ' from a rebuilt GP."""
    mean, cov = model.posterior_derivative(theta, min_variance=-1e300)
    _, cov_after = model_with(model, Z).posterior_derivative(theta, min_variance=-1e300)
    mean, cov, cov_after = mean[0], cov[0], cov_after[0]
    return statistic(mean, cov_after) + float(torch.linalg.solve(cov_after, cov).trace()) - model.D


@pytest.mark.parametrize("D,N,q", [(1, 4, 1), (3, 12, 1), (5, 25, 1), (3, 12, 3)])
def test_ascent_statistic_batched_equals_brute_force(D, N, q):
    model = make_model(D, N)
    theta = torch.rand(D, dtype=torch.float64)
    acquisition = ExpectedAscentStatistic(model, theta)
    Z = theta + 0.4 * (torch.rand(8, q, D, dtype=torch.float64) - 0.5)
    values = acquisition(Z)
    assert values.shape == (8,)
    expected = torch.tensor([brute_force_alpha(model, theta, z) for z in Z], dtype=torch.float64)
    torch.testing.assert_close(values, expected, rtol=1e-7, atol=1e-8)
    # observing anything can only raise the expected statistic: Σ' ⪯ Σ and the spread term is ≥ 0
    mean, cov = model.posterior_derivative(theta, min_variance=-1e300)
    current = statistic(mean[0], cov[0])
    assert float(acquisition.current_statistic) == pytest.approx(current, rel=1e-9)
    assert torch.all(values >= current - 1e-9)


def predictive(model, z):
    """Mean and variance of y(z) | X through GPyTorch/BoTorch's posterior (observation noise included)."""
    posterior = model.posterior(z.reshape(1, -1), observation_noise=True)
    return posterior.mean.reshape(()), posterior.variance.reshape(())


def gradient_cross_covariance(model, theta, z):
    """Cov(∇f(θ), f(z) | X) = ∇_θ Cov(f(θ), f(z) | X), by autograd through GPyTorch's posterior covariance."""
    theta = theta.clone().requires_grad_(True)
    covariance = model.posterior(torch.stack([theta, z])).mvn.covariance_matrix[0, 1]
    (gradient,) = torch.autograd.grad(covariance, theta)
    return gradient


def test_gradient_mean_after_an_observation_is_mean_plus_a_xi():
    """μ∇(θ | X ∪ {(z, y)}) = μ∇(θ | X) + a(z) ξ with ξ = (y − μ(z)) / √(Var(f(z)) + σn²): a standard normal under
    the predictive distribution of y."""
    model = make_model(3, 10)
    theta = torch.rand(3, dtype=torch.float64)
    z = theta + 0.1
    mean_z, var_z = predictive(model, z)
    a = gradient_cross_covariance(model, theta, z) / var_z.sqrt()
    mean, _ = model.posterior_derivative(theta)
    for y in (-1.3, 0.2, 2.5):
        updated = model_with(model, z.reshape(1, -1))
        updated.set_data(updated.train_x, torch.cat([model.train_y, torch.tensor([y], dtype=torch.float64)]))
        mean_after, _ = updated.posterior_derivative(theta)
        xi = (y - mean_z) / var_z.sqrt()
        torch.testing.assert_close(mean_after[0], mean[0] + a * xi, rtol=1e-8, atol=1e-10)


def updated_gradient_means(updated, theta, ys):
    """μ∇(θ) of the GP `updated` (data X ∪ {z}) for each value y of its last observation: `n x D`.

    The standard posterior mean ∂k(θ, X')/∂θ · K'⁻¹ (y' − m) on the augmented data, for all y at once.
    """
    solve = updated.kernel_solve()
    targets = torch.cat([updated.train_y[:-1].expand(ys.shape[0], -1), ys.unsqueeze(-1)], dim=-1)  # n x (N + 1)
    alpha = torch.cholesky_solve((targets - updated.prior_mean).unsqueeze(-1), solve.chol).squeeze(-1)
    return alpha @ solve.kernel_gradient(theta.reshape(1, -1), solve.X)[0]


def test_ascent_statistic_matches_monte_carlo():
    """α(z) against the average of μ∇ᵀΣ∇⁻¹μ∇ over GPs updated with y(z) drawn from the predictive distribution."""
    model = make_model(2, 8, seed=3)
    theta = torch.tensor([0.4, 0.6], dtype=torch.float64)
    z = torch.tensor([0.5, 0.5], dtype=torch.float64)
    alpha = float(ExpectedAscentStatistic(model, theta)(z.reshape(1, 1, 2)))
    mean_z, var_z = predictive(model, z)
    generator = torch.Generator().manual_seed(11)
    ys = mean_z + var_z.sqrt() * torch.randn(20_000, generator=generator, dtype=torch.float64)
    updated = model_with(model, z.reshape(1, -1))
    means = updated_gradient_means(updated, theta, ys)
    _, cov_after = updated.posterior_derivative(theta, min_variance=-1e300)
    # the batched update is the model's own: check it on a few draws through set_data and posterior_derivative
    for y, mean_batched in zip(ys[:5], means[:5]):
        updated.set_data(updated.train_x, torch.cat([model.train_y, y.reshape(1)]))
        mean_after, _ = updated.posterior_derivative(theta)
        torch.testing.assert_close(mean_after[0], mean_batched, rtol=1e-9, atol=1e-12)
    values = (means * torch.linalg.solve(cov_after[0], means.T).T).sum(-1).detach().numpy()
    standard_error = values.std(ddof=1) / math.sqrt(len(values))
    assert abs(values.mean() - alpha) < 4 * standard_error
    # the spread term matters here: the expectation differs clearly from the value at ξ = 0
    mean, _ = model.posterior_derivative(theta)
    assert alpha - statistic(mean[0], cov_after[0]) > 10 * standard_error


def test_acquisition_optimum_within_box_and_better_than_random():
    model = make_model(3, 10)
    theta = torch.full((3,), 0.5, dtype=torch.float64)
    bounds = torch.stack([theta - 0.2, theta + 0.2])
    acquisition = ExpectedAscentStatistic(model, theta)
    z, value = optimize_gradient_information(acquisition, bounds)
    assert torch.all(z >= bounds[0] - 1e-12) and torch.all(z <= bounds[1] + 1e-12)
    random = bounds[0] + torch.rand(200, 1, 3, dtype=torch.float64) * (bounds[1] - bounds[0])
    assert float(value) >= float(acquisition(random).max()) - 1e-9


# ----------------------------------------------------------------------------------------------
# The walk
# ----------------------------------------------------------------------------------------------

CENTER = torch.tensor([0.7, 0.3], dtype=torch.float64)


def quadratic(params):
    """Maximum 0 at (0.7, 0.3)."""
    return -((params - CENTER[: params.shape[-1]]) ** 2).sum()


def quadratic_model(D=2, N=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    model = DerivativeExactGPSEModel(D)
    model.initialize(
        **{"covar_module.base_kernel.lengthscale": 0.5, "covar_module.outputscale": 1.0, "likelihood.noise": 1e-3}
    )
    X = torch.rand(N, D, generator=g, dtype=torch.float64)
    model.append_train_data(X, torch.stack([quadratic(x) for x in X]))
    return model


def make_mpd(model, theta, objective=quadratic, **kwargs):
    options = dict(max_samples_per_iteration=model.D, delta=0.1)
    options.update(kwargs)
    return MPD(theta, objective, model, **options)


def authors_statistic(mean, cov):
    """v̂ᵀμ with v̂ = Σ⁻¹μ / ‖Σ⁻¹μ‖: the value under the root in the authors' code."""
    direction = torch.linalg.solve(cov.detach(), mean.detach())
    return float(direction @ mean.detach() / direction.norm())


def reference_walk(model, theta, step_size, p_min, max_steps, value=statistic):
    """Every point of the walk, with the probabilities from a plain linear solve."""
    points, probabilities = [theta.clone()], []
    while True:
        mean, cov = model.posterior_derivative(points[-1])
        mean, cov = mean[0], cov[0]
        probabilities.append(norm.cdf(math.sqrt(value(mean, cov))))
        if probabilities[-1] < p_min or len(points) > max_steps:
            return points, probabilities
        direction = torch.linalg.solve(cov, mean)
        points.append(points[-1] + step_size * direction / direction.norm())


def test_walk_stops_once_the_probability_falls_below_p_min():
    model = quadratic_model()
    theta = torch.tensor([0.2, 0.8], dtype=torch.float64)
    mpd = make_mpd(model, theta, step_size=0.02, ascent_probability=0.9)
    end, steps, probability = mpd.walk(theta)
    points, probabilities = reference_walk(model, theta, 0.02, 0.9, 10_000)
    assert steps == len(points) - 1 > 5
    torch.testing.assert_close(end, points[-1], rtol=1e-9, atol=1e-9)
    assert probability == pytest.approx(probabilities[-1], abs=1e-9)
    # checked before each step: every point left behind had p ≥ p_min, the end point has p < p_min
    assert min(probabilities[:-1]) >= 0.9 > probability
    # every step has length η, and the walk went towards the maximum
    lengths = torch.stack(points).diff(dim=0).norm(dim=-1)
    torch.testing.assert_close(lengths, torch.full_like(lengths, 0.02))
    assert float((end - CENTER).norm()) < float((theta - CENTER).norm()) - 0.1
    # a lower threshold walks on further
    _, more_steps, _ = make_mpd(model, theta, step_size=0.02, ascent_probability=0.6).walk(theta)
    assert more_steps > steps


def test_walk_stays_put_when_the_probability_is_already_low_and_obeys_the_step_cap():
    model = quadratic_model()
    theta = torch.tensor([0.2, 0.8], dtype=torch.float64)
    mean, cov = model.posterior_derivative(theta)
    p0 = norm.cdf(math.sqrt(statistic(mean[0], cov[0])))
    assert p0 < 0.999999
    end, steps, probability = make_mpd(model, theta, ascent_probability=min(1.0, p0 + 1e-7)).walk(theta)
    assert steps == 0 and torch.equal(end, theta) and probability == pytest.approx(p0, abs=1e-9)
    end, steps, _ = make_mpd(model, theta, step_size=0.01, max_walk_steps=3).walk(theta)
    points, _ = reference_walk(model, theta, 0.01, 0.65, 3)
    assert steps == 3
    torch.testing.assert_close(end, points[3])


def test_walk_with_the_authors_statistic():
    model = quadratic_model()
    theta = torch.tensor([0.2, 0.8], dtype=torch.float64)
    mpd = make_mpd(model, theta, step_size=0.02, ascent_probability=0.65, ascent_statistic="authors")
    end, steps, probability = mpd.walk(theta)
    points, probabilities = reference_walk(model, theta, 0.02, 0.65, 10_000, value=authors_statistic)
    assert steps == len(points) - 1 > 0
    torch.testing.assert_close(end, points[-1], rtol=1e-9, atol=1e-9)
    assert probability == pytest.approx(probabilities[-1], abs=1e-9)
    # for Σ = s I the authors' value is Φ(√‖μ‖) whatever s; the paper's is Φ(‖μ‖ / √s)
    mean = torch.tensor([0.3, -0.4], dtype=torch.float64)
    for s in (0.01, 1.0, 100.0):
        assert authors_statistic(mean, s * torch.eye(2, dtype=torch.float64)) == pytest.approx(0.5)
        assert statistic(mean, s * torch.eye(2, dtype=torch.float64)) == pytest.approx(0.25 / s)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"ascent_statistic": "code"}, "ascent_statistic"),
        ({"ascent_probability": 0.5}, "ascent_probability"),
        ({"step_size": 0.0}, "step_size"),
        ({"max_walk_steps": -1}, "max_walk_steps"),
    ],
)
def test_mpd_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_mpd(quadratic_model(N=3), torch.zeros(2, dtype=torch.float64), **kwargs)


# ----------------------------------------------------------------------------------------------
# The optimizer
# ----------------------------------------------------------------------------------------------


def fresh_model(D):
    model = DerivativeExactGPSEModel(D, N_max=5 * D)
    model.initialize(
        **{"covar_module.base_kernel.lengthscale": 0.5, "covar_module.outputscale": 1.0, "likelihood.noise": 1e-4}
    )
    return model


def test_mpd_step_goes_uphill_on_a_quadratic():
    theta = torch.tensor([0.2, 0.8], dtype=torch.float64)
    mpd = make_mpd(fresh_model(2), theta, step_size=0.01)
    mpd.step()
    assert len(mpd.params_history) == 2 and mpd.model.N == 3  # θ_0 and M = 2 samples
    assert mpd.walk_steps[0] > 0
    assert float(quadratic(mpd.params_history[1])) > float(quadratic(theta))
    # the walk ended where its probability first fell below p_min (or at the step cap)
    assert mpd.walk_probabilities[0] < 0.65 or mpd.walk_steps[0] == 10_000
    # each sample maximised MPD's acquisition
    assert len(mpd.acquisition_values[0]) == 2


def test_mpd_respects_the_budget_and_records_per_iteration():
    mpd = make_mpd(fresh_model(2), torch.tensor([0.2, 0.8], dtype=torch.float64))
    result = run_optimization(mpd, max_objective_calls=10)
    assert result.calls.tolist() == [0, 3, 6, 9, 10]  # the last iteration samples only what is left
    arrays = mpd.mpd_arrays()
    assert arrays["mpd_walk_steps"].shape == (4,) and arrays["mpd_walk_steps"].dtype == np.int64
    assert arrays["mpd_ascent_probability"].shape == (4,)
    assert np.all((arrays["mpd_ascent_probability"] >= 0.5) & (arrays["mpd_ascent_probability"] <= 1))
    assert mpd.hyperparameter_arrays()["gp_lengthscale"].shape == (4, 2)
    assert float(quadratic(torch.from_numpy(result.params[-1]))) > float(quadratic(torch.from_numpy(result.params[0])))


def test_mpd_refits_when_the_window_is_full():
    from gpytorch.priors import UniformPrior

    model = DerivativeExactGPSEModel(2, N_max=6, lengthscale_hyperprior=UniformPrior(0.05, 1.0))
    model.likelihood.noise = 1e-3
    mpd = make_mpd(
        model, torch.tensor([0.2, 0.8], dtype=torch.float64), optimize_hyperparameters=True, no_noise_optimization=True
    )
    run_optimization(mpd, max_iterations=3)
    status = mpd.hyperparameter_arrays()["gp_fit_status"].tolist()
    assert status[:2] == [0, 0] and status[2] != 0  # N after observing θ_t: 1, 4, 6 (window full): fit in iteration 2
    assert float(model.noise) == pytest.approx(1e-3, rel=1e-6)

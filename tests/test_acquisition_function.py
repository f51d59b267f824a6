"""The batched gradient-information acquisition against a brute-force recomputation; the single-candidate path
(closed-form gradient) against autograd and finite differences; the closed-form expected improvement against
BoTorch's."""

import warnings

import numpy as np
import pytest
import torch
from botorch.acquisition import ExpectedImprovement, LogExpectedImprovement
from botorch.exceptions.warnings import OptimizationWarning
from botorch.optim import optimize_acqf

from gibo.acquisition_function import (
    ExpectedAscentStatistic,
    GradientInformation,
    optimize_gradient_information,
)
from gibo.expected_improvement import ClosedFormExpectedImprovement
from gibo.model import DerivativeExactGPSEModel, ExactGPSEModel
from tests.test_model import make_model


def brute_force_trace(model, theta, Z):
    """tr Σ∇(θ | X ∪ Z) by refitting a fresh model on the augmented data (fresh Cholesky)."""
    other = DerivativeExactGPSEModel(model.D, dtype=model.train_x.dtype)
    other.load_state_dict(model.state_dict(), strict=False)
    other.set_data(torch.cat([model.train_x, Z]), torch.cat([model.train_y, torch.zeros(Z.shape[0], dtype=Z.dtype)]))
    _, cov = other.posterior_derivative(theta, min_variance=-1e300)
    return cov[0].trace()


@pytest.mark.parametrize("D,N", [(1, 4), (3, 15), (6, 30)])
def test_batched_acquisition_equals_brute_force(D, N):
    model = make_model(D, N)
    theta = torch.rand(D, dtype=torch.float64)
    acquisition = GradientInformation(model, theta)
    Z = theta + 0.3 * (torch.rand(16, 1, D, dtype=torch.float64) - 0.5)
    values = acquisition(Z)
    assert values.shape == (16,)
    expected = torch.stack([-brute_force_trace(model, theta, z) for z in Z])
    torch.testing.assert_close(values, expected, rtol=1e-8, atol=1e-8)


def test_batched_acquisition_q_greater_than_one():
    model = make_model(3, 12)
    theta = torch.rand(3, dtype=torch.float64)
    acquisition = GradientInformation(model, theta)
    Z = torch.rand(5, 3, 3, dtype=torch.float64)
    expected = torch.stack([-brute_force_trace(model, theta, z) for z in Z])
    torch.testing.assert_close(acquisition(Z), expected, rtol=1e-8, atol=1e-8)


def test_current_trace_matches_posterior():
    model = make_model(4, 10)
    theta = torch.rand(4, dtype=torch.float64)
    _, cov = model.posterior_derivative(theta, min_variance=-1e300)
    torch.testing.assert_close(GradientInformation(model, theta).current_trace, cov[0].trace())


def test_optimum_within_box_and_better_than_random():
    model = make_model(3, 10)
    theta = torch.full((3,), 0.5, dtype=torch.float64)
    bounds = torch.stack([theta - 0.1, theta + 0.1])
    acquisition = GradientInformation(model, theta)
    z, value = optimize_gradient_information(acquisition, bounds)
    assert z.shape == (1, 3)
    assert torch.all(z >= bounds[0] - 1e-12) and torch.all(z <= bounds[1] + 1e-12)
    random = bounds[0] + torch.rand(200, 1, 3, dtype=torch.float64) * (bounds[1] - bounds[0])
    assert float(value) >= float(acquisition(random).max()) - 1e-9
    torch.testing.assert_close(value, acquisition(z.unsqueeze(0))[0])
    # observing anything can only reduce the gradient uncertainty
    assert float(value) > -float(acquisition.current_trace)


def paper_reduction(model, theta, Z):
    """tr(G K⁻¹ Gᵀ) over X ∪ Z with G_i = −(θ_i − x_i) / l_i · k(θ, x): the variance reduction as the paper's
    published runs computed it (l_i where the derivative of the SE kernel has l_i²), written out directly."""
    X = torch.cat([model.train_x, Z])
    lengthscale, outputscale, noise = (
        v.detach() for v in (model.lengthscale.reshape(-1), model.outputscale, model.noise)
    )

    def kernel(a, b):
        return outputscale * torch.exp(-0.5 * (((a[:, None] - b[None]) / lengthscale) ** 2).sum(-1))

    K = kernel(X, X) + noise * torch.eye(len(X), dtype=X.dtype)
    G = -((theta[None] - X) / lengthscale * kernel(theta[None], X).T).T  # D x N'
    return torch.trace(G @ torch.linalg.solve(K, G.T))


def test_lengthscale_slip_equals_the_papers_acquisition():
    """Under `lengthscale_slip` the values are the paper's variance reductions up to one constant (D σf²),
    so argmax and the differences the ε early stop compares are that code's."""
    model = make_model(3, 12)
    model.initialize(**{"covar_module.base_kernel.lengthscale": torch.tensor([0.2, 0.5, 1.3], dtype=torch.float64)})
    theta = torch.rand(3, dtype=torch.float64)
    Z = theta + 0.3 * (torch.rand(8, 1, 3, dtype=torch.float64) - 0.5)
    values = GradientInformation(model, theta, lengthscale_slip=True)(Z)
    expected = torch.stack([paper_reduction(model, theta, z) for z in Z]) - 3 * model.outputscale.detach()
    torch.testing.assert_close(values, expected, rtol=1e-8, atol=1e-10)
    assert not torch.allclose(GradientInformation(model, theta)(Z), values)  # the correct acquisition differs


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


# ----------------------------------------------------------------------------------------------
# The single-candidate path: closed-form gradient, and the optimiser that uses it
# ----------------------------------------------------------------------------------------------

ACQUISITIONS = {
    "gradient information": lambda model, theta, **kw: GradientInformation(model, theta, **kw),
    "lengthscale slip": lambda model, theta, **kw: GradientInformation(model, theta, lengthscale_slip=True, **kw),
    "expected ascent": lambda model, theta, **kw: ExpectedAscentStatistic(model, theta, **kw),
}


def candidates_near(model, theta, n=6, width=0.6, seed=1):
    """`n x 1 x D` candidates around θ, one of them on a data point (where ∂k(X_j, z)/∂z vanishes for that j)."""
    g = torch.Generator().manual_seed(seed)
    Z = theta + width * (torch.rand(n, 1, model.D, generator=g, dtype=torch.float64) - 0.5)
    Z[0, 0] = model.train_x[-1]
    return Z


@pytest.mark.parametrize("distances", ["differences", "inner_products"])
@pytest.mark.parametrize("name", list(ACQUISITIONS))
@pytest.mark.parametrize("D,N", [(1, 3), (4, 20), (7, 35)])
def test_closed_form_gradient_equals_autograd(name, D, N, distances):
    """Values and ∂α/∂z of the single-candidate path against autograd through the batched formula (float64), with
    either way of computing squared distances (the batched formula always takes the differences)."""
    model = make_model(D, N, seed=D, squared_distances=distances)
    theta = torch.rand(D, dtype=torch.float64)
    Z = candidates_near(model, theta)
    closed, reference = ACQUISITIONS[name](model, theta), ACQUISITIONS[name](model, theta, analytic_gradient=False)
    gradients = []
    for acquisition in (closed, reference):
        Zg = Z.clone().requires_grad_(True)
        values = acquisition(Zg)
        (gradient,) = torch.autograd.grad(values.sum(), Zg)
        gradients.append((values.detach(), gradient))
    (values, gradient), (expected_values, expected_gradient) = gradients
    torch.testing.assert_close(values, expected_values, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(gradient, expected_gradient, rtol=1e-8, atol=1e-10 * expected_gradient.abs().max())


@pytest.mark.parametrize("distances", ["differences", "inner_products"])
@pytest.mark.parametrize("name", list(ACQUISITIONS))
def test_closed_form_gradient_equals_finite_differences(name, distances):
    """∂α/∂z against central differences of the values alone (step 1e-6, float64)."""
    D = 3
    model = make_model(D, 12, seed=5, squared_distances=distances)
    theta = torch.rand(D, dtype=torch.float64)
    acquisition = ACQUISITIONS[name](model, theta)
    Z = candidates_near(model, theta, n=4, width=0.4).requires_grad_(True)
    (gradient,) = torch.autograd.grad(acquisition(Z).sum(), Z)
    step = 1e-6
    eye = torch.eye(D, dtype=torch.float64)
    with torch.no_grad():
        central = torch.stack(
            [(acquisition(Z + step * eye[i]) - acquisition(Z - step * eye[i])) / (2 * step) for i in range(D)], -1
        )
    torch.testing.assert_close(gradient[:, 0], central, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", list(ACQUISITIONS))
def test_optimizer_chooses_the_points_of_the_autograd_path(name):
    """`optimize_gradient_information` (the L-BFGS-B run on NumPy values and gradients) ends where BoTorch's own
    candidate generation ends with the autograd acquisition, from the same raw samples and restarts."""
    D = 4
    model = make_model(D, 24, seed=2)
    theta = torch.full((D,), 0.5, dtype=torch.float64)
    bounds = torch.stack([theta - 0.2, theta + 0.2])
    chosen = []
    for analytic in (True, False):
        torch.manual_seed(0)
        acquisition = ACQUISITIONS[name](model, theta, analytic_gradient=analytic)
        if analytic:
            z, value = optimize_gradient_information(acquisition, bounds)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizationWarning)
                z, value = optimize_acqf(
                    acquisition, bounds, q=1, num_restarts=5, raw_samples=64, options={"maxiter": 200}
                )
        chosen.append((z, value))
    (z, value), (expected_z, expected_value) = chosen
    torch.testing.assert_close(z, expected_z, rtol=0, atol=1e-6)
    torch.testing.assert_close(value, expected_value, rtol=1e-10, atol=0)


def test_expected_ascent_fallback_equals_closed_form():
    """Where Σ∇ − a aᵀ is numerically singular, values and gradients come from the batched formula by autograd:
    on a regular case the two agree."""
    model = make_model(3, 12, seed=4)
    theta = torch.rand(3, dtype=torch.float64)
    acquisition = ExpectedAscentStatistic(model, theta)
    z = candidates_near(model, theta)[:, 0].numpy()
    values, gradient = acquisition._single_point(z, with_gradient=True)
    fallback_values, fallback_gradient = acquisition._autograd_single_point(z, with_gradient=True)
    np.testing.assert_allclose(values, fallback_values, rtol=1e-10)
    np.testing.assert_allclose(gradient, fallback_gradient, rtol=1e-8, atol=1e-10 * np.abs(gradient).max())


def test_single_precision_takes_the_same_path():
    """A float32 model: the single-candidate values agree with the batched formula to float32 precision, and the
    optimiser (BoTorch's own candidate generation there) returns a point in the box."""
    model = make_model(3, 12, dtype=torch.float32)
    theta = torch.full((3,), 0.5, dtype=torch.float32)
    Z = candidates_near(model, theta).to(torch.float32)
    values = GradientInformation(model, theta)(Z)
    assert values.dtype == torch.float32
    torch.testing.assert_close(
        values, GradientInformation(model, theta, analytic_gradient=False)(Z), rtol=1e-4, atol=1e-5
    )
    bounds = torch.stack([theta - 0.1, theta + 0.1])
    z, _ = optimize_gradient_information(GradientInformation(model, theta), bounds)
    assert torch.all(z >= bounds[0] - 1e-6) and torch.all(z <= bounds[1] + 1e-6)


def test_single_candidates_skip_the_autograd_generator_and_batches_use_it(monkeypatch):
    """q = 1 runs L-BFGS-B on the NumPy values directly; q > 1 goes through BoTorch's `gen_candidates_scipy`."""
    import gibo.acquisition_function as module

    model = make_model(3, 10)
    theta = torch.full((3,), 0.5, dtype=torch.float64)
    bounds = torch.stack([theta - 0.1, theta + 0.1])
    calls = []
    original = module.gen_candidates_scipy
    monkeypatch.setattr(module, "gen_candidates_scipy", lambda *a, **k: calls.append(k) or original(*a, **k))
    z, _ = optimize_gradient_information(GradientInformation(model, theta), bounds)
    assert z.shape == (1, 3) and calls == []
    z, value = optimize_gradient_information(GradientInformation(model, theta), bounds, q=2)
    assert z.shape == (2, 3) and len(calls) == 1 and calls[0]["fixed_features"] is None
    assert torch.all(z >= bounds[0] - 1e-12) and torch.all(z <= bounds[1] + 1e-12)
    torch.testing.assert_close(value, GradientInformation(model, theta)(z.unsqueeze(0))[0])

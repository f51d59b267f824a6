"""The batched gradient-information acquisition against a brute-force recomputation; the closed-form expected
improvement against BoTorch's."""

import pytest
import torch
from botorch.acquisition import ExpectedImprovement, LogExpectedImprovement

from gibo.acquisition_function import ClosedFormExpectedImprovement, GradientInformation, optimize_gradient_information
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

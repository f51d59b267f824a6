"""The derivative GP against autograd and finite differences of the GP posterior."""

import logging

import pytest
import torch
from gpytorch.constraints import GreaterThan, Interval, Positive
from gpytorch.priors import NormalPrior, UniformPrior

import gibo.kernel
from gibo.kernel import scaled_squared_distances, se_kernel
from gibo.model import DerivativeExactGPSEModel, ExactGPSEModel


def make_model(D, N, dtype=torch.float64, N_max=None, seed=0, **kwargs):
    g = torch.Generator().manual_seed(seed)
    model = DerivativeExactGPSEModel(D, N_max=N_max, dtype=dtype, **kwargs)
    lengthscale = (0.2 + 0.6 * torch.rand(D, generator=g, dtype=torch.float64)).to(dtype)
    model.initialize(
        **{
            "covar_module.base_kernel.lengthscale": lengthscale,
            "covar_module.outputscale": 1.7,
            "likelihood.noise": 0.03,
        }
    )
    model.mean_module.constant.data.fill_(0.3)
    X = torch.rand(N, D, generator=g, dtype=torch.float64).to(dtype)
    y = torch.sin(3 * X).sum(-1) + 0.1 * torch.randn(N, generator=g, dtype=torch.float64).to(dtype)
    model.append_train_data(X, y)
    return model


def test_se_kernel_matches_gpytorch():
    model = make_model(3, 7)
    X = model.train_x
    expected = model.covar_module(X, X).to_dense()
    actual = se_kernel(X, X, model.lengthscale, model.outputscale)
    torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("D,N", [(1, 3), (2, 10), (5, 25), (8, 40)])
def test_gradient_mean_equals_autograd_of_posterior_mean(D, N):
    model = make_model(D, N)
    x = torch.rand(4, D, dtype=torch.float64)
    mean, _ = model.posterior_derivative(x)
    xr = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model.posterior(xr).mean.sum(), xr)
    torch.testing.assert_close(mean, grad, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("D,N", [(2, 10), (5, 25)])
def test_uncentred_gradient_mean_is_the_zero_mean_posteriors_gradient(D, N):
    """`gradient_mean="uncentred"` gives ∂k K⁻¹ y: the gradient (autograd) of the posterior mean of the same GP with
    its constant mean set to 0; the centred mean differs from it by m ∂k K⁻¹ 1, and the covariance is the same."""
    uncentred = make_model(D, N, gradient_mean="uncentred")
    zero_mean = make_model(D, N)
    zero_mean.mean_module.constant.data.fill_(0.0)
    x = torch.rand(4, D, dtype=torch.float64)
    mean, cov = uncentred.posterior_derivative(x)
    xr = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(zero_mean.posterior(xr).mean.sum(), xr)
    torch.testing.assert_close(mean, grad, rtol=1e-8, atol=1e-10)
    centred_mean, centred_cov = make_model(D, N).posterior_derivative(x)
    assert (centred_mean - mean).abs().max() > 1e-3  # m = 0.3 is not negligible here
    torch.testing.assert_close(cov, centred_cov, rtol=0, atol=0)


def test_unknown_gradient_mean_is_refused():
    with pytest.raises(ValueError, match="gradient_mean must be 'centred' or 'uncentred', got 'raw'"):
        DerivativeExactGPSEModel(2, gradient_mean="raw")


def fresh_solve(model):
    """`kernel_solve()` of a new model with the same hyperparameters and data (nothing kept from earlier calls)."""
    other = DerivativeExactGPSEModel(
        model.D, N_max=model.N_max, dtype=model.train_x.dtype, squared_distances=model.squared_distances
    )
    other.load_state_dict(model.state_dict(), strict=False)
    other.set_data(model.train_x.clone(), model.train_y.clone())
    with torch.no_grad():
        return other.kernel_solve()


def assert_same_solve(model):
    with torch.no_grad():
        solve = model.kernel_solve()
    fresh = fresh_solve(model)
    assert torch.equal(solve.chol, fresh.chol) and torch.equal(solve.alpha, fresh.alpha)


def test_kept_window_distances_give_the_kernel_matrix_of_a_fresh_computation():
    """Through appends (one and several points, the window sliding), a lengthscale change, new data and an in-place
    change of the inputs, the kept distances give the Cholesky factor and K⁻¹(y − m) of a model computed from
    scratch, bit for bit; a refit is noticed (the distances follow the new lengthscales)."""
    D, N_max = 5, 12
    model = make_model(D, 9, N_max=N_max)
    g = torch.Generator().manual_seed(3)
    assert_same_solve(model)
    kept = model._distances
    model.append_train_data(torch.rand(1, D, generator=g, dtype=torch.float64), torch.tensor([0.5]))
    assert model._distances is not kept and model._distances.distances.shape == (10, 10)  # extended, not dropped
    assert_same_solve(model)
    for n in (1, 3, 2, 1):  # the window fills and slides
        model.append_train_data(torch.rand(n, D, generator=g, dtype=torch.float64), torch.rand(n, generator=g))
        assert_same_solve(model)
    assert model.N == N_max
    model.initialize(**{"covar_module.base_kernel.lengthscale": torch.full((D,), 0.35, dtype=torch.float64)})
    assert_same_solve(model)
    model.set_data(model.train_x * 1.5, model.train_y)
    assert_same_solve(model)
    with torch.no_grad():
        model.train_x[0, 0] += 0.25
    assert_same_solve(model)
    model.fit_hyperparameters()
    assert_same_solve(model)


def test_kernel_solve_under_autograd_is_differentiable_in_the_hyperparameters():
    model = make_model(3, 8)
    solve = model.kernel_solve()
    (gradient,) = torch.autograd.grad(solve.chol.diagonal().log().sum(), model.covar_module.base_kernel.raw_lengthscale)
    assert torch.isfinite(gradient).all() and gradient.abs().sum() > 0
    assert torch.equal(solve.chol.detach(), fresh_solve(model).chol)


def test_distances_in_blocks_equal_the_whole_product(monkeypatch):
    g = torch.Generator().manual_seed(0)
    x1, x2 = torch.rand(2, 9, 7, generator=g, dtype=torch.float64), torch.rand(6, 7, generator=g, dtype=torch.float64)
    lengthscale = 0.2 + torch.rand(7, generator=g, dtype=torch.float64)
    whole = scaled_squared_distances(x1, x2, lengthscale)
    monkeypatch.setattr(gibo.kernel, "_BLOCK_ELEMENTS", 100)  # blocks of one row of x1
    blocks = scaled_squared_distances(x1, x2, lengthscale)
    assert torch.equal(blocks, whole) and whole.shape == (2, 9, 6)
    expected = ((x1.unsqueeze(-2) - x2.unsqueeze(-3)) / lengthscale).pow(2).sum(-1)
    assert torch.equal(whole, expected)


def test_inner_product_distances_give_the_acquisitions_of_the_differences():
    """Points far from the origin and close together (where ‖a‖² + ‖b‖² − 2 aᵀb cancels most): the acquisitions'
    values with "inner_products" equal those with "differences" to rounding; the window's own factor is the same."""
    from gibo.acquisition_function import ExpectedAscentStatistic, GradientInformation

    D, N = 30, 40
    models = {}
    for distances in ("differences", "inner_products"):
        model = make_model(D, N, squared_distances=distances)
        with torch.no_grad():
            model.set_data(100.0 + 0.1 * model.train_x, model.train_y)
        models[distances] = model
    theta = models["differences"].train_x[:5].mean(0)
    Z = theta + 0.02 * (torch.rand(16, 1, D, generator=torch.Generator().manual_seed(2), dtype=torch.float64) - 0.5)
    Z[0, 0] = models["differences"].train_x[3]  # on a data point: distance 0
    for acquisition in (GradientInformation, ExpectedAscentStatistic):
        values = {name: acquisition(model, theta)(Z) for name, model in models.items()}
        torch.testing.assert_close(values["inner_products"], values["differences"], rtol=1e-9, atol=1e-12)
    with torch.no_grad():
        assert torch.equal(models["inner_products"].kernel_solve().chol, models["differences"].kernel_solve().chol)


def test_window_distances_from_the_upper_blocks_equal_the_whole_product(monkeypatch):
    model = make_model(6, 23)
    monkeypatch.setattr(gibo.kernel, "_BLOCK_ELEMENTS", 6 * 23 * 4)  # blocks of 4 rows
    with torch.no_grad():
        distances = model.window_distances(model.lengthscale)
    assert torch.equal(distances, scaled_squared_distances(model.train_x, model.train_x, model.lengthscale.detach()))


def test_unknown_squared_distances_are_refused():
    with pytest.raises(ValueError, match="squared_distances"):
        DerivativeExactGPSEModel(2, squared_distances="gram")


def solved_in_window_order(solve):
    """K, K⁻¹(y − m) and L⁻¹-free quantities of a `KernelSolve`, its rows put back in the window's order."""
    order = solve.view.order if solve.view is not None else torch.arange(solve.X.shape[0])
    back = torch.empty_like(order)
    back[order] = torch.arange(order.numel())
    K = solve.chol @ solve.chol.T
    return solve.X[back], K[back][:, back], solve.alpha[back]


def test_kept_factor_equals_a_fresh_factorisation_through_appends_refits_and_rebuilds():
    """With `factorization="incremental"` the solve through appends of one and several points, the window
    sliding past a whole turnover, a lengthscale change, data replaced and an in-place change equals the full
    factorisation's to rounding (K, K⁻¹(y − m), the gradient posterior and L⁻¹ ∂k(X, θ)); the factor is kept
    (not refactorised) between appends while the hyperparameters stay, and refactorised after a change."""
    D, N_max = 5, 24
    full = make_model(D, 10, N_max=N_max)
    incremental = make_model(D, 10, N_max=N_max, factorization="incremental")
    g = torch.Generator().manual_seed(3)
    theta = torch.rand(1, D, generator=g, dtype=torch.float64)
    factors = []

    def check():
        with torch.no_grad():
            a, b = full.kernel_solve(), incremental.kernel_solve()
            X, K, alpha = solved_in_window_order(b)
            assert torch.equal(X, full.train_x)
            torch.testing.assert_close(K, a.chol @ a.chol.T, rtol=0, atol=1e-12)
            torch.testing.assert_close(alpha, a.alpha, rtol=1e-9, atol=1e-9)
            for got, want in zip(incremental.posterior_derivative(theta), full.posterior_derivative(theta)):
                torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-11)
            W_full, W_kept = a.gradient_solve(theta)[1], b.gradient_solve(theta)[1]
            torch.testing.assert_close(W_kept.T @ W_kept, W_full.T @ W_full, rtol=1e-9, atol=1e-11)
        factors.append(incremental._factor)

    check()
    for n in (1, 3, 1, 2, 1, 4, 1, 1, 5, 1, 2, 3, 1, 6, 2, 7):  # fills the window, then slides it by 28 points
        x = torch.rand(n, D, generator=g, dtype=torch.float64)
        y = torch.rand(n, generator=g, dtype=torch.float64)
        full.append_train_data(x, y)
        incremental.append_train_data(x, y)
        check()
    assert incremental.N == N_max and factors[1] is factors[2]  # kept while the hyperparameters stayed
    assert len(set(map(id, factors))) > 2  # refactorised when its base had mostly left the window
    for model in (full, incremental):
        model.initialize(**{"covar_module.base_kernel.lengthscale": torch.full((D,), 0.35, dtype=torch.float64)})
    check()
    assert incremental._factor is not factors[-2]
    for model in (full, incremental):
        model.set_data(model.train_x * 1.5, model.train_y)
    check()
    for model in (full, incremental):
        with torch.no_grad():
            model.train_x[0, 0] += 0.25
    check()


def test_kept_factor_does_not_depend_on_when_it_is_asked_for():
    """Two models fed the same points and the same hyperparameter change, one solved after every point and one
    only at the end, give the same solve bit for bit: a replayed run (which skips solves) repeats the
    uninterrupted one."""
    D = 4
    often = make_model(D, 8, N_max=12, factorization="incremental")
    rarely = make_model(D, 8, N_max=12, factorization="incremental")
    g = torch.Generator().manual_seed(5)
    for step in range(20):
        x, y = torch.rand(1, D, generator=g, dtype=torch.float64), torch.rand(1, generator=g, dtype=torch.float64)
        if step == 9:
            for model in (often, rarely):
                model.initialize(**{"likelihood.noise": 0.02})
        for model in (often, rarely):
            model.append_train_data(x, y)
        with torch.no_grad():
            often.kernel_solve()
    with torch.no_grad():
        a, b = often.kernel_solve(), rarely.kernel_solve()
    assert torch.equal(a.chol, b.chol) and torch.equal(a.alpha, b.alpha) and torch.equal(a.X, b.X)


def test_kept_gradient_solve_does_not_depend_on_when_it_is_asked_for():
    """L⁻¹ ∂k(X, θ)/∂θ from the kept factor (the acquisitions' N x D solve), asked for after every point of an
    iteration or only at its end (a replay skips the acquisitions of its recorded points), is the same bit for
    bit, for a window large enough that a triangular solve's rows depend on the size of the solve."""
    D, N_max = 3, 400
    often = make_model(D, N_max, N_max=N_max, factorization="incremental")
    rarely = make_model(D, N_max, N_max=N_max, factorization="incremental")
    theta = torch.full((1, D), 0.5, dtype=torch.float64)
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for _ in range(30):  # the window slides by 30 points: the base loses its last 30 rows
            x, y = torch.rand(1, D, generator=g, dtype=torch.float64), torch.rand(1, generator=g, dtype=torch.float64)
            for model in (often, rarely):
                model.append_train_data(x, y)
            often.kernel_solve().gradient_solve(theta)
        a, b = often.kernel_solve().gradient_solve(theta), rarely.kernel_solve().gradient_solve(theta)
    assert often._factor.added == rarely._factor.added == 30  # the same kept factors, none refactorised
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_kept_factor_whose_added_block_fails_refactorises_the_whole_matrix(monkeypatch):
    """Where the added block's factorisation fails (numerically not positive definite), the solve comes from a
    fresh factorisation of the whole matrix (which applies its jitter there), equal to the full one's."""
    from gibo.window_factor import WindowFactor

    full = make_model(3, 6, N_max=10)
    model = make_model(3, 6, N_max=10, factorization="incremental")
    x, y = torch.rand(2, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64), torch.tensor([0.1, 0.2])
    for m in (full, model):
        m.append_train_data(x, y.double())
    kept = model._factor
    assert kept.added == 2
    view = WindowFactor.view
    monkeypatch.setattr(WindowFactor, "view", lambda self, n: None if self.added else view(self, n))
    with torch.no_grad():
        solve = model.kernel_solve()
        _, K, alpha = solved_in_window_order(solve)
        reference = full.kernel_solve()
    assert model._factor is not kept and model._factor.added == 0
    torch.testing.assert_close(K, reference.chol @ reference.chol.T, rtol=0, atol=1e-12)
    torch.testing.assert_close(alpha, reference.alpha, rtol=1e-9, atol=1e-9)


def test_unknown_factorization_is_refused():
    with pytest.raises(ValueError, match="factorization"):
        DerivativeExactGPSEModel(2, factorization="qr")


@pytest.mark.parametrize("D,N", [(2, 6), (4, 20)])
def test_gradient_covariance_equals_mixed_second_derivative_of_posterior_covariance(D, N):
    """Σ∇(x) = ∂²/∂a∂b cov_post(f(a), f(b)) at a = b = x, computed by autograd on the GP posterior."""
    model = make_model(D, N)
    x = torch.rand(D, dtype=torch.float64)
    _, cov = model.posterior_derivative(x)

    def posterior_cov(a, b):
        return model.posterior(torch.stack([a, b])).mvn.covariance_matrix[0, 1]

    hessian = torch.autograd.functional.jacobian(
        lambda a: torch.autograd.functional.jacobian(lambda b: posterior_cov(a, b), x, create_graph=True), x
    )
    torch.testing.assert_close(cov[0], hessian, rtol=1e-6, atol=1e-8)
    assert torch.allclose(cov[0], cov[0].T)


def test_gradient_covariance_by_finite_differences():
    D = 3
    model = make_model(D, 15)
    x = torch.rand(D, dtype=torch.float64)
    _, cov = model.posterior_derivative(x)
    h = 1e-4
    eye = torch.eye(D, dtype=torch.float64)
    fd = torch.empty(D, D, dtype=torch.float64)
    for i in range(D):
        for j in range(D):
            pts = torch.stack([x + h * eye[i], x - h * eye[i], x + h * eye[j], x - h * eye[j]])
            c = model.posterior(pts).mvn.covariance_matrix
            fd[i, j] = (c[0, 2] - c[0, 3] - c[1, 2] + c[1, 3]) / (4 * h * h)
    torch.testing.assert_close(cov[0], fd, rtol=1e-4, atol=1e-5)


def test_float32_close_to_float64():
    m64 = make_model(3, 12)
    m32 = make_model(3, 12, dtype=torch.float32)
    x = torch.rand(2, 3, dtype=torch.float64)
    mean64, cov64 = m64.posterior_derivative(x)
    mean32, cov32 = m32.posterior_derivative(x.float())
    assert mean32.dtype == torch.float32 and cov32.dtype == torch.float32
    torch.testing.assert_close(mean32.double(), mean64, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(cov32.double(), cov64, rtol=1e-3, atol=1e-3)


def test_diagonal_guard_only_touches_the_diagonal():
    model = make_model(2, 30)
    # Far more data than noise allows: variances near zero; off-diagonals keep their sign.
    _, cov = model.posterior_derivative(model.train_x[:1], min_variance=1e3)
    assert torch.all(cov[0].diagonal() == 1e3)
    _, raw = model.posterior_derivative(model.train_x[:1], min_variance=-1e9)
    assert cov[0, 0, 1] == raw[0, 0, 1]


def test_window_keeps_newest_points():
    model = DerivativeExactGPSEModel(2, N_max=5)
    X = torch.arange(16, dtype=torch.float64).reshape(8, 2)
    y = torch.arange(8, dtype=torch.float64)
    for i in range(8):
        model.append_train_data(X[i], y[i])
        assert model.N == min(i + 1, 5)
    torch.testing.assert_close(model.train_x, X[3:])
    torch.testing.assert_close(model.train_y, y[3:])


def test_prior_means_initialise_and_uniform_prior_adds_no_constraint_by_default():
    model = ExactGPSEModel(
        torch.rand(4, 2, dtype=torch.float64),
        torch.rand(4, dtype=torch.float64),
        lengthscale_hyperprior=UniformPrior(0.1, 0.3),
        outputscale_hyperprior=NormalPrior(2.0, 1.0),
        ard_num_dims=2,
    )
    torch.testing.assert_close(model.lengthscale, torch.full((2,), 0.2, dtype=torch.float64))
    assert float(model.outputscale) == pytest.approx(2.0)
    # exactly the constraints the caller gave: GPyTorch's positive default for the raw lengthscale
    constraint = model.covar_module.base_kernel.raw_lengthscale_constraint
    assert isinstance(constraint, Positive) and float(constraint.upper_bound) == float("inf")
    # outside its support the prior's log density is −inf instead of an error
    assert float(model.covar_module.base_kernel.lengthscale_prior.log_prob(torch.tensor(0.5))) == float("-inf")


def test_constrain_to_prior_support_adds_an_interval_inside_the_uniform_prior():
    model = ExactGPSEModel(
        torch.rand(4, 2, dtype=torch.float64),
        torch.rand(4, dtype=torch.float64),
        lengthscale_hyperprior=UniformPrior(0.1, 0.3),
        ard_num_dims=2,
        constrain_to_prior_support=True,
    )
    constraint = model.covar_module.base_kernel.raw_lengthscale_constraint
    assert isinstance(constraint, Interval)
    assert 0.1 < float(constraint.lower_bound) < 0.1001 and 0.2999 < float(constraint.upper_bound) < 0.3
    # a constraint the caller gives is kept
    given = GreaterThan(0.05)
    model = ExactGPSEModel(
        torch.rand(4, 2, dtype=torch.float64),
        torch.rand(4, dtype=torch.float64),
        lengthscale_hyperprior=UniformPrior(0.1, 0.3),
        lengthscale_constraint=given,
        ard_num_dims=2,
        constrain_to_prior_support=True,
    )
    assert model.covar_module.base_kernel.raw_lengthscale_constraint is given


@pytest.mark.parametrize("constrain", [False, True])
def test_fit_runs_with_and_without_the_interval_and_a_fit_that_cannot_improve_keeps_the_values(constrain):
    g = torch.Generator().manual_seed(1)
    X = torch.rand(40, 2, generator=g, dtype=torch.float64)
    y = torch.sin(6 * X[:, 0]) + 0.01 * torch.randn(40, generator=g, dtype=torch.float64)
    model = DerivativeExactGPSEModel(
        2,
        lengthscale_hyperprior=UniformPrior(0.05, 2.0),
        outputscale_hyperprior=NormalPrior(1.0, 1.0),
        constrain_to_prior_support=constrain,
    )
    model.likelihood.noise = 0.01
    model.append_train_data(X, y)
    assert model.fit_hyperparameters(fix_noise=True) == "moved"
    fitted = {k: v.clone() for k, v in model.state_dict().items()}
    assert torch.all(model.lengthscale > 0.05) and torch.all(model.lengthscale < 2.0)
    # from the optimum on the same data nothing improves: the status says so and the values stay
    assert model.fit_hyperparameters(fix_noise=True) == "unchanged"
    for name, value in model.state_dict().items():
        assert torch.equal(value, fitted[name]), name


def test_failed_fit_keeps_previous_hyperparameters(monkeypatch):
    from botorch.exceptions.errors import ModelFittingError

    import gibo.model as gibo_model

    model = make_model(2, 10)
    before = {k: v.clone() for k, v in model.state_dict().items()}

    def failing_fit(mll):
        mll.model.covar_module.outputscale = 123.0  # a fit that wandered off before giving up
        raise ModelFittingError("All attempts to fit the model have failed.")

    monkeypatch.setattr(gibo_model, "fit_gpytorch_mll", failing_fit)
    assert model.fit_hyperparameters() == "failed"
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name


def test_abnormal_fit_attempt_goes_to_debug_log_not_to_stderr(monkeypatch, caplog):
    import warnings

    from botorch.exceptions.warnings import OptimizationWarning

    import gibo.model as gibo_model

    model = make_model(2, 10)

    def retried_fit(mll):  # BoTorch re-emits an abnormal L-BFGS-B end as a warning, then retries
        warnings.warn("`scipy_minimize` terminated with status FAILURE: ABNORMAL:", OptimizationWarning, stacklevel=1)
        mll.model.covar_module.outputscale = 2.0

    monkeypatch.setattr(gibo_model, "fit_gpytorch_mll", retried_fit)
    with warnings.catch_warnings(record=True) as shown, caplog.at_level(logging.DEBUG, logger="gibo.model"):
        warnings.simplefilter("always")
        assert model.fit_hyperparameters(fix_noise=True) == "moved"
    assert not [w for w in shown if issubclass(w.category, OptimizationWarning)]
    assert any("ABNORMAL" in r.getMessage() and r.levelno == logging.DEBUG for r in caplog.records)


def test_fit_moves_lengthscales_inside_uniform_prior_and_keeps_fixed_noise():
    g = torch.Generator().manual_seed(1)
    X = torch.rand(40, 2, generator=g, dtype=torch.float64)
    y = torch.sin(6 * X[:, 0]) + 0.01 * torch.randn(40, generator=g, dtype=torch.float64)
    model = DerivativeExactGPSEModel(
        2, lengthscale_hyperprior=UniformPrior(0.05, 2.0), outputscale_hyperprior=NormalPrior(1.0, 1.0)
    )
    model.likelihood.noise = 0.01
    model.append_train_data(X, y)
    before = model.lengthscale.detach().clone()
    model.fit_hyperparameters(fix_noise=True)
    after = model.lengthscale.detach()
    assert not torch.allclose(before, after, rtol=1e-3)
    assert torch.all(after > 0.05) and torch.all(after < 2.0)
    # the irrelevant second input gets the longer lengthscale
    assert after[1] > after[0]
    assert float(model.noise) == pytest.approx(0.01, rel=1e-6)


@pytest.mark.parametrize("train", [False, True])
def test_constant_mean_is_fitted_only_when_asked(train):
    g = torch.Generator().manual_seed(2)
    X = torch.rand(30, 2, generator=g, dtype=torch.float64)
    y = -50.0 + torch.sin(6 * X[:, 0]) + 0.01 * torch.randn(30, generator=g, dtype=torch.float64)
    model = DerivativeExactGPSEModel(2, outputscale_hyperprior=NormalPrior(1.0, 0.5), train_prior_mean=train)
    model.likelihood.noise = 0.01
    model.append_train_data(X, y)
    model.fit_hyperparameters(fix_noise=True)
    if train:  # the offset of the data goes into the mean, not into a huge outputscale
        assert float(model.prior_mean) == pytest.approx(-50.0, abs=2.0)
        assert float(model.outputscale) < 10.0
    else:
        assert float(model.prior_mean) == 0.0


def model_with_priors(marginal_likelihood, D=4, N=30):
    g = torch.Generator().manual_seed(7)
    X = torch.rand(N, D, generator=g, dtype=torch.float64)
    y = torch.sin(4 * X).sum(-1) + 0.05 * torch.randn(N, generator=g, dtype=torch.float64)
    model = DerivativeExactGPSEModel(
        D,
        train_x=X,
        train_y=y,
        lengthscale_hyperprior=UniformPrior(0.05, 2.0),
        outputscale_hyperprior=NormalPrior(1.5, 0.5),
        noise_constraint=GreaterThan(1e-5),
        train_prior_mean=True,
        marginal_likelihood=marginal_likelihood,
    )
    model.initialize(**{"covar_module.base_kernel.lengthscale": 0.2 + 0.1 * torch.arange(D), "likelihood.noise": 0.02})
    model.mean_module.constant.data.fill_(0.4)
    return model


def test_closed_form_marginal_likelihood_equals_gpytorchs_value_and_gradient():
    """The closed-form marginal log-likelihood and its gradient in every raw hyperparameter (constant mean
    included) against GPyTorch's exact one, priors included."""
    from gpytorch.mlls import ExactMarginalLogLikelihood

    from gibo.kernel import ClosedFormMarginalLogLikelihood

    results = []
    for cls in (ClosedFormMarginalLogLikelihood, ExactMarginalLogLikelihood):
        model = model_with_priors("gpytorch")
        model.train()
        mll = cls(model.likelihood, model)
        value = mll(model(*model.train_inputs), model.train_targets)
        names, parameters = zip(*[(n, p) for n, p in model.named_parameters() if p.requires_grad])
        gradients = torch.autograd.grad(value, parameters)
        results.append((value.detach(), dict(zip(names, gradients))))
    (value, gradients), (expected_value, expected_gradients) = results
    torch.testing.assert_close(value, expected_value, rtol=1e-10, atol=0)
    assert gradients.keys() == expected_gradients.keys() and len(gradients) == 4
    for name, gradient in gradients.items():
        torch.testing.assert_close(gradient, expected_gradients[name], rtol=1e-7, atol=1e-10, msg=name)


def test_closed_form_fit_lands_where_gpytorchs_does():
    fitted = []
    for marginal_likelihood in ("closed_form", "gpytorch"):
        model = model_with_priors(marginal_likelihood)
        assert model.fit_hyperparameters() == "moved"
        fitted.append({n: p.detach().clone() for n, p in model.named_parameters()})
    for name, value in fitted[0].items():
        torch.testing.assert_close(value, fitted[1][name], rtol=1e-3, atol=1e-4, msg=name)


def test_unknown_marginal_likelihood_is_refused():
    with pytest.raises(ValueError, match="marginal_likelihood"):
        DerivativeExactGPSEModel(2, marginal_likelihood="sparse")

"""Tests of gibo.lqr against independent computations (float64)."""

import matplotlib
import numpy as np
import pytest

from gibo import lqr
from gym_lqr import LQREnv

matplotlib.use("Agg")

SYSTEM = lqr.default_system()
A, B, Q, R, W = (SYSTEM[k] for k in "ABQRW")

# A system where the orientation of K matters: with the paper's symmetric A and B = R = I,
# u = K x and u = K^T x give nearly the same cost, so a transposition bug would go unnoticed.
A_ASYM = np.array([[0.9, 0.6, 0.0], [0.0, 0.8, 0.5], [0.1, 0.0, 1.05]])
B_ASYM = np.array([[1.0, 0.0, 0.0], [0.5, 1.0, 0.0], [0.0, 0.3, 1.0]])
Q_ASYM = np.diag([1.0, 0.5, 0.2])
R_ASYM = np.diag([1.0, 2.0, 0.5])
PARAMS_ASYM = np.array([-0.5, -0.3, 0.0, 0.0, -0.4, -0.2, 0.2, 0.0, -0.6])


def _stationary_covariance_by_vectorisation(F, W):
    """vec(Sigma) = (I - F kron F)^-1 vec(W): independent of scipy's Lyapunov solver."""
    n = F.shape[0]
    return np.linalg.solve(np.eye(n * n) - np.kron(F, F), W.reshape(-1)).reshape(n, n)


def _average_cost(A, B, Q, R, K, W):
    """J(K) = tr((Q + K^T R K) Sigma_K), the average cost per step of u = K x."""
    sigma = _stationary_covariance_by_vectorisation(A + B @ K, W)
    return np.trace((Q + K.T @ R @ K) @ sigma)


def test_riccati_solves_the_dare():
    P, K_opt = lqr.riccati(A, B, Q, R)
    gain = np.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)
    residual = A.T @ P @ A - A.T @ P @ B @ gain + Q - P
    np.testing.assert_allclose(residual, 0, atol=1e-12)
    np.testing.assert_allclose(P, P.T, atol=1e-14)
    assert np.all(np.linalg.eigvalsh(P) > 0)
    np.testing.assert_allclose(K_opt, -gain, atol=1e-14)
    assert lqr.is_stable(A, B, K_opt)


def test_optimal_gain_minimises_average_cost():
    P, K_opt = lqr.riccati(A, B, Q, R)
    assert _average_cost(A, B, Q, R, K_opt, W) == pytest.approx(np.trace(W @ P), rel=1e-10)
    rng = np.random.default_rng(0)
    for _ in range(5):
        K = K_opt + 0.005 * rng.standard_normal((3, 3))  # K* is barely stable: rho(A + B K*) = 0.98
        assert lqr.is_stable(A, B, K)
        assert _average_cost(A, B, Q, R, K, W) > np.trace(W @ P)


def test_relative_cost_zero_at_optimum():
    _, K_opt = lqr.riccati(A, B, Q, R)
    assert lqr.relative_cost(A, B, Q, R, K_opt) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    "system, scales",
    [
        ((A, B, Q, R, W), (0.002, 0.005, 0.01)),
        ((A_ASYM, B_ASYM, Q_ASYM, R_ASYM, np.diag([1.0, 2.0, 0.5])), (0.01, 0.1, 0.2)),
    ],
    ids=["paper", "asymmetric"],
)
def test_relative_cost_matches_direct_average_cost(system, scales):
    A_, B_, Q_, R_, W_ = system
    P, K_opt = lqr.riccati(A_, B_, Q_, R_)
    rng = np.random.default_rng(1)
    for scale in scales:
        K = K_opt + scale * rng.standard_normal(K_opt.shape)
        assert lqr.is_stable(A_, B_, K)
        J_star = np.trace(W_ @ P)
        expected = (_average_cost(A_, B_, Q_, R_, K, W_) - J_star) / J_star
        got = lqr.relative_cost(A_, B_, Q_, R_, K, W_)
        assert got > 0
        assert got == pytest.approx(expected, rel=1e-8)


def test_unstable_gain_has_infinite_relative_cost():
    K = 0.1 * np.eye(3)  # A + K has spectral radius > 1
    assert not lqr.is_stable(A, B, K)
    assert lqr.relative_cost(A, B, Q, R, K) == np.inf
    assert not lqr.is_stable(A, B, np.zeros((3, 3)))  # open loop is unstable
    assert lqr.is_stable(A, B, -0.5 * np.eye(3))


def test_lqr_metrics_reshapes_row_major():
    _, K_opt = lqr.riccati(A, B, Q, R)
    K_asym = np.array([[-0.5, 0.3, 0.0], [0.0, -0.5, 0.0], [0.0, 0.0, -0.5]])
    history = np.stack([np.zeros(9), K_opt.reshape(-1), K_asym.reshape(-1)])
    metrics = lqr.lqr_metrics(history, A, B, Q, R)
    np.testing.assert_array_equal(metrics["stable"], [False, True, True])
    assert metrics["stable"].dtype == bool
    assert metrics["relative_cost"][0] == np.inf
    assert metrics["relative_cost"][1] == pytest.approx(0.0, abs=1e-12)
    assert metrics["relative_cost"][2] == pytest.approx(lqr.relative_cost(A, B, Q, R, K_asym))
    with pytest.raises(ValueError, match="params_history"):
        lqr.lqr_metrics(np.zeros((2, 8)), A, B, Q, R)


def test_orientation_rollout_average_cost_matches_analysis():
    """u = params.reshape(3, 3) @ x in the environment has the cost the analysis predicts for K."""
    K = PARAMS_ASYM.reshape(3, 3)
    for gain in (K, K.T):
        assert lqr.is_stable(A_ASYM, B_ASYM, gain)
    sigma = lqr.stationary_covariance(A_ASYM, B_ASYM, K)
    predicted = np.trace((Q_ASYM + K.T @ R_ASYM @ K) @ sigma)
    predicted_transposed = _average_cost(A_ASYM, B_ASYM, Q_ASYM, R_ASYM, K.T, np.eye(3))
    assert abs(predicted_transposed - predicted) > 0.5 * predicted  # orientation matters here

    env = LQREnv(A=A_ASYM, B=B_ASYM, Q=Q_ASYM, R=R_ASYM)
    x, _ = env.reset(seed=2021)
    burn_in, steps = 100, 40_000
    costs = np.empty(steps)
    for t in range(burn_in + steps):
        x, reward, *_ = env.step(K @ x)
        if t >= burn_in:
            costs[t - burn_in] = -reward
    batch_means = costs.reshape(40, -1).mean(axis=1)
    standard_error = batch_means.std(ddof=1) / np.sqrt(batch_means.size)
    assert abs(costs.mean() - predicted) < 5 * standard_error
    assert abs(costs.mean() - predicted) < 0.05 * predicted


def test_lqr_curves_read_iterates_as_step_functions_of_calls():
    """An iterate counts from the call after which it exists; before the first one there is no value."""
    _, K_opt = lqr.riccati(A, B, Q, R)
    history = np.stack([np.zeros(9), K_opt.reshape(-1)])  # unstable, then optimal
    curves = lqr.lqr_curves([history], [np.array([1, 3])], grid=np.array([0, 1, 2, 3, 4]))
    np.testing.assert_array_equal(curves["stability_frequency"], [np.nan, 0.0, 0.0, 1.0, 1.0])
    median = curves["cost_percentiles"][1]
    assert np.isnan(median[0]) and np.all(median[1:3] == np.inf)
    np.testing.assert_allclose(median[3:], 0.0, atol=1e-12)
    with pytest.raises(ValueError, match="non-decreasing"):
        lqr.lqr_curves([history], [np.array([3, 1])])
    with pytest.raises(ValueError, match="trial 0 has 2 iterates but 3 call counts"):
        lqr.lqr_curves([history], [np.array([1, 2, 3])])


def test_stability_frequency_ignores_missing_trials():
    stable_on_grid = np.array([[np.nan, 0.0, 1.0, 1.0], [np.nan, np.nan, 0.0, 1.0]])
    np.testing.assert_array_equal(lqr.stability_frequency(stable_on_grid), [np.nan, 0.0, 0.5, 1.0])
    np.testing.assert_array_equal(lqr.stability_frequency(np.array([[True, False], [True, True]])), [1.0, 0.5])


def test_cost_percentiles_match_numpy_and_keep_inf():
    rng = np.random.default_rng(3)
    finite = rng.exponential(size=(100, 6))
    np.testing.assert_allclose(lqr.cost_percentiles(finite), np.percentile(finite, [2, 50, 98], axis=0), rtol=1e-12)
    column = np.array([[0.1], [0.2], [0.3], [np.inf], [np.inf], [np.nan]])
    # 5 values: positions 0.08, 2, 3.92 -> 0.1 + 0.08 * 0.1, exactly 0.3, towards inf
    np.testing.assert_allclose(lqr.cost_percentiles(column), [[0.108], [0.3], [np.inf]], rtol=1e-12)
    assert np.isnan(lqr.cost_percentiles(np.full((2, 1), np.nan))).all()


def _fake_trials(n_trials=4, n_iterates=10):
    """Gains moving from unstable (0) to optimal, with calls as GIBO counts them (1 + M each)."""
    _, K_opt = lqr.riccati(A, B, Q, R)
    rng = np.random.default_rng(4)
    histories, calls = [], []
    for _ in range(n_trials):
        weights = np.linspace(0.0, 1.0, n_iterates)[:, None]
        noise = 0.001 * rng.standard_normal((n_iterates, 9))
        histories.append(weights * K_opt.reshape(1, -1) + noise)
        calls.append(1 + 10 * np.arange(n_iterates))
    return histories, calls


def test_lqr_curves_shapes_and_values():
    histories, calls = _fake_trials()
    curves = lqr.lqr_curves(histories, calls)
    G = 91
    np.testing.assert_array_equal(curves["calls"], np.arange(1, G + 1))
    np.testing.assert_array_equal(curves["timesteps"], 300 * np.arange(1, G + 1))
    assert curves["stability_frequency"].shape == (G,)
    assert curves["cost_percentiles"].shape == (3, G)
    assert curves["stability_frequency"][0] == 0.0 and curves["stability_frequency"][-1] == 1.0
    assert np.all(curves["cost_percentiles"][:, 0] == np.inf)
    assert np.all(curves["cost_percentiles"][:, -1] < 0.01)
    assert curves["stable_on_grid"].shape == curves["cost_on_grid"].shape == (4, G)  # per trial
    np.testing.assert_array_equal(curves["stability_frequency"], curves["stable_on_grid"].mean(axis=0))


@pytest.mark.parametrize("suffix", [".pdf", ".png"])
def test_lqr_figures_write_a_file(tmp_path, suffix):
    histories, calls = _fake_trials()
    path = tmp_path / f"lqr{suffix}"
    lqr.lqr_figures(histories, calls, path)
    assert path.stat().st_size > 0


def test_single_panels_draw_on_new_axes():
    timesteps = 300 * np.arange(1, 11)
    ax = lqr.plot_stability(timesteps, np.linspace(0, 1, 10))
    assert ax.get_xlabel() == "timesteps" and ax.get_ylabel() == "frequency of stability"
    percentiles = np.vstack([np.full(10, 0.05), np.full(10, 0.1), np.r_[np.inf, np.full(9, 0.2)]])
    ax = lqr.plot_relative_cost(timesteps, percentiles)
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "relative cost"

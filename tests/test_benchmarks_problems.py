"""The benchmark problems: known optima, the rover's described cases, LES's and MPD's GP samples seeded and right."""

import math

import numpy as np
import pytest

from gibo.benchmarks import rover
from gibo.benchmarks.problems import COMPLEXITY, AnalyticFunction, GPPosteriorMean, GPSamplePath, RoverTrajectory

# --- Ackley and Dixon-Price (negated: maximised)


@pytest.mark.parametrize("D", [2, 5, 30])
def test_ackley_is_zero_at_its_optimum_and_negative_elsewhere(D):
    f = AnalyticFunction("ackley", D)
    assert f(f.optimizer) == pytest.approx(0.0, abs=1e-12) and f.optimum == 0.0
    assert np.allclose(f.optimizer, 0.0) and np.allclose(f.lower, -32.768) and np.allclose(f.upper, 32.768)
    x = np.random.default_rng(D).uniform(f.lower, f.upper, size=(20, D))
    assert all(f(row) < -1.0 for row in x)


def test_ackley_matches_its_formula():
    f, x = AnalyticFunction("ackley", 3), np.array([1.0, -2.0, 0.5])
    g = -20 * math.exp(-0.2 * math.sqrt((x**2).mean())) - math.exp(np.cos(2 * math.pi * x).mean()) + 20 + math.e
    assert f(x) == pytest.approx(-g, rel=1e-12)


@pytest.mark.parametrize("D", [2, 5, 30])
def test_dixon_price_is_zero_at_its_known_optimum(D):
    f = AnalyticFunction("dixon_price", D)
    i = np.arange(1, D + 1)
    assert np.allclose(f.optimizer, 2.0 ** (-(2.0**i - 2) / 2.0**i))
    assert f(f.optimizer) == pytest.approx(0.0, abs=1e-10) and f.optimum == 0.0
    assert np.allclose(f.lower, -10.0) and np.allclose(f.upper, 10.0)
    x = np.random.default_rng(D).uniform(f.lower, f.upper, size=(20, D))
    assert all(f(row) < 0.0 for row in x)


def test_dixon_price_matches_its_formula():
    f, x = AnalyticFunction("dixon_price", 3), np.array([1.0, -2.0, 0.5])
    g = (x[0] - 1) ** 2 + sum((k + 1) * (2 * x[k] ** 2 - x[k - 1]) ** 2 for k in range(1, 3))
    assert f(x) == pytest.approx(-g, rel=1e-12)


# --- the rover


def _corridor_points() -> np.ndarray:
    """30 design points from s along the bottom edge to (0.95, 0.05), then up the right edge to g: no obstacle."""
    along = np.linspace(0.05, 0.95, 15)
    bottom = np.stack([along, np.full(15, 0.05)], 1)
    right = np.stack([np.full(15, 0.95), np.linspace(0.05, 0.95, 16)[1:]], 1)
    return np.concatenate([bottom, right])


def test_rover_free_trajectory_costs_its_length_only():
    x = _corridor_points().ravel()
    assert rover.cost_density(rover.trajectory(x)).max() == rover.FREE_COST
    value = RoverTrajectory()(x)
    assert value == pytest.approx(5.0 - 0.05 * float(rover.trajectory_length(x)), rel=1e-12)
    assert 4.90 < value < rover.UPPER_BOUND  # the L-shaped path is about 1.8 long


def test_rover_straight_line_crosses_four_obstacles():
    t = np.linspace(0.0, 1.0, 30)[:, None]
    x = (rover.START + (rover.GOAL - rover.START) * t).ravel()
    inside = 4 * 0.1 * math.sqrt(2)  # four obstacles of side 0.1, crossed along their diagonals
    length = 0.9 * math.sqrt(2)
    expected = 5.0 - 0.05 * (length - inside) - 20.0 * inside
    assert RoverTrajectory()(x) == pytest.approx(expected, abs=0.05)  # quadrature at 1000 points


def test_rover_penalises_ends_away_from_start_and_goal():
    x = _corridor_points()
    moved = x.copy()
    moved[0] = [0.15, 0.05]  # the first design point 0.1 away from s (L1), still on the free bottom edge
    moved[-1] = [0.95, 0.90]  # the last 0.05 away from g
    shorter = float(rover.trajectory_length(x.ravel()) - rover.trajectory_length(moved.ravel()))
    difference = RoverTrajectory()(moved.ravel()) - RoverTrajectory()(x.ravel())
    assert difference == pytest.approx(-10.0 * 0.15 + 0.05 * shorter, abs=1e-9)


def test_rover_is_finite_and_below_its_bound_on_random_trajectories():
    X = np.random.default_rng(0).random((200, 60))
    values = rover.reward(X)
    assert np.isfinite(values).all() and (values < rover.UPPER_BOUND).all()
    assert values[3] == RoverTrajectory()(X[3])  # batched and single calls agree
    with pytest.raises(ValueError, match="60 numbers"):
        rover.reward(np.zeros(10))


# --- LES's GP samples


def test_les_gp_sample_is_seeded_and_repeatable():
    x = np.full(5, 0.3)
    a, b = GPSamplePath(5, "medium", seed=4), GPSamplePath(5, "medium", seed=4)
    assert a.noise_free(x) == b.noise_free(x)
    assert [a(x) for _ in range(3)] == [b(x) for _ in range(3)]  # the noise too
    assert GPSamplePath(5, "medium", seed=5).noise_free(x) != a.noise_free(x)
    assert GPSamplePath(5, "low", seed=4).noise_free(x) != a.noise_free(x)
    noise = np.array([a(x) for _ in range(400)]) - a.noise_free(x)
    assert abs(noise.std() - 0.002) < 0.0003


def test_les_gp_sample_features_reproduce_the_se_kernel():
    """φ(x)·φ(x') of the random Fourier features approximates exp(−½ Σ (x − x')² / ℓ²) (error ~ 1/√M)."""
    f = GPSamplePath(3, "low", seed=0, features=20000)
    rng = np.random.default_rng(1)
    for _ in range(5):
        x, y = rng.random(3), rng.random(3)
        features = [np.sqrt(2.0 / 20000) * np.cos(f.frequencies @ z + f.phases) for z in (x, y)]
        kernel = math.exp(-0.5 * (((x - y) / f.lengthscales) ** 2).sum())
        assert features[0] @ features[1] == pytest.approx(kernel, abs=0.03)


@pytest.mark.parametrize("complexity", list(COMPLEXITY))
def test_les_gp_sample_lengthscales_follow_the_level(complexity):
    mu, sigma = COMPLEXITY[complexity]
    logs = np.concatenate([np.log(GPSamplePath(20, complexity, seed=s, features=1).lengthscales) for s in range(50)])
    assert logs.mean() == pytest.approx(mu + math.log(math.sqrt(20)), abs=4 * sigma / math.sqrt(logs.size))
    assert logs.std() == pytest.approx(sigma, rel=0.1)


# --- MPD's GP samples


def test_mpd_gp_sample_is_the_projects_synthetic_objective_and_repeatable():
    from gibo.synthetic_functions import generate_dataset

    f = GPPosteriorMean(3, index=1, num_samples=50, data_seed=2)
    data = generate_dataset(3, num_objectives=2, num_samples=50, noise_variance=0.01, seed=2)
    x = np.array([0.2, 0.5, 0.7])
    assert f.noise_free(x) == pytest.approx(float(data.objective(1).noise_free(x)), rel=1e-12)
    assert np.allclose(f.lengthscales, data.lengthscale)
    g = GPPosteriorMean(3, index=1, num_samples=50, data_seed=2)
    assert [f(x) for _ in range(3)] == [g(x) for _ in range(3)]
    assert f.estimate_optimum() == pytest.approx(float(data.f_star[1]), rel=1e-9)

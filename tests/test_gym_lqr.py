"""Tests of the gym-lqr package: dynamics, cost, episode length, seeding, Gymnasium API."""

import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.utils.seeding import np_random

import gym_lqr
from gym_lqr import LQREnv

A_PAPER = np.array([[1.01, 0.01, 0.0], [0.01, 1.01, 0.01], [0.0, 0.01, 1.01]])


def test_default_parameters_are_the_papers():
    params = gym_lqr.LQREnv().get_params()
    np.testing.assert_array_equal(params["A"], A_PAPER)
    np.testing.assert_array_equal(params["B"], np.eye(3))
    np.testing.assert_array_equal(params["Q"], np.eye(3) / 1000)
    np.testing.assert_array_equal(params["R"], np.eye(3))
    np.testing.assert_array_equal(params["W"], np.eye(3))
    # open-loop unstable, spectral radius about 1.024
    assert np.max(np.abs(np.linalg.eigvals(params["A"]))) == pytest.approx(1.0241, abs=1e-4)


def test_one_step_by_hand_with_seeded_rng():
    W = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.1], [0.0, 0.1, 0.5]])
    Q = np.diag([1.0, 2.0, 3.0])
    R = np.diag([0.5, 1.5, 2.5])
    env = LQREnv(Q=Q, R=R, W=W)
    x0, info = env.reset(seed=123)
    assert info == {}

    rng, _ = np_random(123)
    expected_x0 = rng.standard_normal(3)
    np.testing.assert_allclose(x0, expected_x0, rtol=0, atol=0)
    assert x0.dtype == np.float64

    u = np.array([0.3, -1.2, 0.7])
    x1, reward, terminated, truncated, _ = env.step(u)
    expected_x1 = A_PAPER @ x0 + u + np.linalg.cholesky(W) @ rng.standard_normal(3)
    np.testing.assert_allclose(x1, expected_x1, rtol=1e-14, atol=1e-14)
    assert reward == pytest.approx(-(x0 @ Q @ x0 + u @ R @ u), rel=1e-14)
    assert isinstance(reward, float)
    assert not terminated and not truncated


def test_step_returns_copies_and_rejects_bad_action_shape():
    env = LQREnv()
    x0, _ = env.reset(seed=0)
    x0[:] = 1e6
    x1, *_ = env.step(np.zeros(3))
    assert np.all(np.abs(x1) < 100)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(2))


def test_registered_episode_is_truncated_after_300_steps():
    env = gymnasium.make("lqr-v0")
    assert env.spec.max_episode_steps == 300
    x, _ = env.reset(seed=0)
    steps = 0
    while True:
        x, _, terminated, truncated, _ = env.step(-0.5 * x)
        steps += 1
        assert not terminated
        if truncated:
            break
    assert steps == 300


def test_make_with_module_prefix_and_kwargs():
    env = gymnasium.make("gym_lqr:lqr-v0", Q=np.eye(3))
    np.testing.assert_array_equal(env.unwrapped.get_params()["Q"], np.eye(3))


def test_registration_is_idempotent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_lqr.register_envs()


def _rollout(seed, steps=20):
    env = gymnasium.make("lqr-v0")
    x, _ = env.reset(seed=seed)
    states, rewards = [x], []
    for _ in range(steps):
        x, reward, *_ = env.step(-0.3 * x)
        states.append(x)
        rewards.append(reward)
    return np.array(states), np.array(rewards)


def test_seeding_reproducibility():
    states_a, rewards_a = _rollout(7)
    states_b, rewards_b = _rollout(7)
    np.testing.assert_array_equal(states_a, states_b)
    np.testing.assert_array_equal(rewards_a, rewards_b)
    states_c, _ = _rollout(8)
    assert not np.allclose(states_a, states_c)


def test_invalid_matrices_raise_readable_errors():
    with pytest.raises(ValueError, match="Q must have shape"):
        LQREnv(Q=np.eye(2))
    with pytest.raises(ValueError, match="W must be symmetric positive definite"):
        LQREnv(W=-np.eye(3))


def test_gymnasium_env_checker_passes():
    with warnings.catch_warnings():
        # the unbounded Box spaces are intended; check_env warns about them
        warnings.simplefilter("ignore", UserWarning)
        check_env(LQREnv())
        check_env(gymnasium.make("lqr-v0").unwrapped)

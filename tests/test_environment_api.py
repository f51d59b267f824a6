"""Environment objective, state normaliser and offline evaluation against hand-rolled Gymnasium loops."""

import importlib.util
import logging
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from gibo import environment_api as env_api
from gibo.environment_api import EnvironmentObjective, StateNormalizer, offline_rewards
from gibo.policy_parameterizations import MLP

CARTPOLE_BALANCING = torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64)


def reset_seeds(seed, n):
    """The documented reset sequence: seed, then draws from default_rng(seed)."""
    rng = np.random.default_rng(seed)
    return [seed] + [int(rng.integers(2**31 - 1)) for _ in range(n - 1)]


def hand_rolled_episode(env_id, act, seed, reward_fn=lambda r: r):
    env = gym.make(env_id)
    obs, _ = env.reset(seed=seed)
    total, steps = 0.0, 0
    while True:
        obs, r, terminated, truncated, _ = env.step(act(obs))
        total += reward_fn(r)
        steps += 1
        if terminated or truncated:
            env.close()
            return total, steps


class NaNRewardEnv(gym.Env):
    """Two-dimensional toy env whose third reward is NaN."""

    observation_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float64)
    action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float64)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2), {}

    def step(self, action):
        self.t += 1
        reward = math.nan if self.t == 3 else 1.0
        return np.zeros(2), reward, False, self.t >= 10, {}


# --- StateNormalizer ---


def test_state_normalizer_matches_numpy_over_several_batches():
    rng = np.random.default_rng(0)
    normalizer = StateNormalizer(4)
    np.testing.assert_array_equal(normalizer.mean, np.zeros(4))
    np.testing.assert_array_equal(normalizer.std, np.ones(4))

    batches = [rng.normal(loc=[1.0, -5.0, 100.0, 0.0], scale=[1.0, 0.1, 30.0, 2.0], size=(n, 4)) for n in (1, 7, 50)]
    seen = []
    for i, batch in enumerate(batches):
        if i == 2:  # two pushes folded by a single update
            normalizer.push(batch[:20])
            normalizer.push(batch[20:])
        else:
            normalizer.push(batch)
        assert normalizer.update()
        seen.append(batch)
        all_states = np.concatenate(seen)
        np.testing.assert_allclose(normalizer.mean, all_states.mean(axis=0), rtol=1e-12, atol=1e-12)
        if all_states.shape[0] > 1:
            np.testing.assert_allclose(normalizer.std, all_states.std(axis=0), rtol=1e-10)
    np.testing.assert_allclose(
        normalizer.normalize(all_states), (all_states - all_states.mean(0)) / all_states.std(0), rtol=1e-9
    )
    assert normalizer.count == 58


def test_state_normalizer_changes_only_on_update_and_guards_constant_dims():
    normalizer = StateNormalizer(2)
    assert not normalizer.update()
    normalizer.push(np.array([[1.0, 3.0], [3.0, 3.0]]))
    np.testing.assert_array_equal(normalizer.mean, np.zeros(2))  # pending, not applied
    assert normalizer.n_pending == 2
    assert normalizer.update()
    np.testing.assert_allclose(normalizer.mean, [2.0, 3.0])
    np.testing.assert_allclose(normalizer.std, [1.0, 1.0])  # second dim: zero spread → 1
    assert not normalizer.update()


# --- EnvironmentObjective ---


def test_objective_returns_episode_return_of_hand_rolled_loop():
    objective = EnvironmentObjective("CartPole-v1", MLP([4, 1], discretize=2), seed=3)
    params = torch.tensor([0.1, 0.4, 1.0, 0.3], dtype=torch.float64)
    w = params.numpy()
    values = [objective(params) for _ in range(3)]
    expected = [hand_rolled_episode("CartPole-v1", lambda s: int(w @ s > 0), s) for s in reset_seeds(3, 3)]
    assert [v.item() for v in values] == [e[0] for e in expected]
    assert objective.calls == 3
    assert objective.timesteps == sum(e[1] for e in expected)
    steps = np.cumsum([e[1] for e in expected])
    assert objective.reward_history == [(int(t), e[0]) for t, e in zip(steps, expected)]


def test_objective_is_exact_on_swimmer_and_repeats():
    rng = np.random.default_rng(0)
    w = rng.normal(scale=0.5, size=(2, 8))
    params = torch.from_numpy(w.ravel())
    value = EnvironmentObjective("Swimmer-v5", MLP([8, 2]), seed=7)(params)
    expected, steps = hand_rolled_episode("Swimmer-v5", lambda s: w @ s, 7)
    assert value.item() == pytest.approx(expected, rel=1e-12)
    assert steps == 1000
    assert EnvironmentObjective("Swimmer-v5", MLP([8, 2]), seed=7)(params).item() == value.item()


def test_objective_honours_termination_and_truncation():
    objective = EnvironmentObjective("CartPole-v1", MLP([4, 1], discretize=2), seed=0)
    objective(torch.zeros(4))  # always pushes left: falls early
    assert objective.timesteps < 50
    before = objective.timesteps
    assert objective(CARTPOLE_BALANCING).item() == 500.0
    assert objective.timesteps - before == objective.max_episode_steps == 500

    pendulum = EnvironmentObjective("Pendulum-v1", MLP([3, 1]), seed=0)  # never terminates
    pendulum(torch.zeros(3))
    assert pendulum.timesteps == pendulum.max_episode_steps == 200


def test_objective_applies_shift_and_scale():
    plain = EnvironmentObjective("Pendulum-v1", MLP([3, 1]), seed=1)
    shifted = EnvironmentObjective("Pendulum-v1", MLP([3, 1]), {"shift": -2.0, "scale": 50.0}, seed=1)
    params = torch.tensor([0.5, -0.2, 0.1], dtype=torch.float64)
    raw = plain(params).item()
    assert shifted(params).item() == pytest.approx((raw + 2.0 * 200) / 50.0, rel=1e-12)
    assert shifted.reward_history[0][1] == raw  # history keeps the raw return


def test_objective_log_cost_transform():
    objective = EnvironmentObjective("Pendulum-v1", MLP([3, 1]), {"transform": "log_cost", "scale": 10.0}, seed=2)
    params = torch.tensor([-1.0, 0.3, -0.2], dtype=torch.float64)
    w = params.numpy().reshape(1, 3)
    expected, _ = hand_rolled_episode("Pendulum-v1", lambda s: w @ s, 2, reward_fn=lambda r: -math.log(1.0 - r))
    assert objective(params).item() == pytest.approx(expected / 10.0, rel=1e-10)


def test_objective_returns_params_dtype():
    objective = EnvironmentObjective("CartPole-v1", MLP([4, 1], discretize=2), seed=0)
    assert objective(CARTPOLE_BALANCING.float()).dtype == torch.float32
    assert objective(CARTPOLE_BALANCING).dtype == torch.float64
    assert (objective.n_params, objective.n_state, objective.n_action) == (4, 4, 1)


def test_mujoco_v1_id_maps_to_v5_with_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="gibo.environment_api"):
        objective = EnvironmentObjective("Swimmer-v1", MLP([8, 2]), seed=0)
    assert objective.env_id == "Swimmer-v5"
    assert any("Swimmer-v1" in r.message and "Swimmer-v5" in r.message for r in caplog.records)
    assert env_api.resolve_env_id("CartPole-v1") == "CartPole-v1"  # not a MuJoCo task


def test_unknown_environment_gives_one_line_error():
    with pytest.raises(ValueError, match="unknown environment 'NoSuchEnv-v3'") as info:
        EnvironmentObjective("NoSuchEnv-v3", MLP([4, 1]), seed=0)
    assert "\n" not in str(info.value)


def test_nan_reward_gives_clear_error():
    env = gym.wrappers.TimeLimit(NaNRewardEnv(), max_episode_steps=10)
    objective = EnvironmentObjective(env, MLP([2, 1]), seed=0)
    with pytest.raises(ValueError, match=r"NaNRewardEnv: episode return is nan in call 1") as info:
        objective(torch.zeros(2))
    assert "\n" not in str(info.value)


def test_policy_that_does_not_fit_the_env_is_rejected():
    with pytest.raises(ValueError, match="observations"):
        EnvironmentObjective("CartPole-v1", MLP([3, 1], discretize=2), seed=0)
    with pytest.raises(ValueError, match="discretize=2"):
        EnvironmentObjective("CartPole-v1", MLP([4, 1]), seed=0)
    with pytest.raises(ValueError, match="unknown keys"):
        EnvironmentObjective("CartPole-v1", MLP([4, 1], discretize=2), {"offset": 1}, seed=0)
    with pytest.raises(ValueError, match="add_bias"):
        EnvironmentObjective("Swimmer-v5", MLP([8, 2]), state_normalization=True, seed=0)


def test_state_normalisation_hooks():
    policy = MLP([8, 2], add_bias=True)
    objective = EnvironmentObjective("Swimmer-v5", policy, state_normalization=True, seed=4)
    params = torch.from_numpy(np.random.default_rng(1).normal(scale=0.3, size=policy.n_params))
    torch.testing.assert_close(objective.params_to_raw(params), params)  # mean 0, std 1

    first = objective(params)
    assert objective.state_normalizer.n_pending == 1000
    assert objective.update_state_normalizer()
    assert not objective.update_state_normalizer()
    assert not np.allclose(objective.state_normalizer.mean, 0.0)

    raw = objective.params_to_raw(params)
    torch.testing.assert_close(objective.params_from_raw(raw), params, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(raw, params)

    # the same episode (same reset seed) on raw states with raw-state parameters
    second = objective(params)
    second_seed = reset_seeds(4, 2)[1]
    policy_raw = MLP([8, 2], add_bias=True)
    policy_raw.set_params(raw)
    expected, _ = hand_rolled_episode("Swimmer-v5", policy_raw.act, second_seed)
    assert second.item() == pytest.approx(expected, rel=1e-6)
    assert first.item() != second.item()


def test_hooks_are_identity_without_normalisation():
    objective = EnvironmentObjective("CartPole-v1", MLP([4, 1], discretize=2), seed=0)
    params = torch.randn(3, 4)
    assert objective.state_normalizer is None
    assert objective.params_to_raw(params) is params and objective.params_from_raw(params) is params
    objective(params[0])
    assert not objective.update_state_normalizer()


# --- offline evaluation ---


def test_test_params_and_offline_rewards_match_the_objective_sequence():
    params = torch.tensor([0.1, 0.4, 1.0, 0.3], dtype=torch.float64)
    objective = EnvironmentObjective("CartPole-v1", MLP([4, 1], discretize=2), {"scale": 500.0}, seed=5)
    raw_returns = [objective(params).item() * 500.0 for _ in range(4)]

    returns = env_api.test_params("CartPole-v1", MLP([4, 1], discretize=2), params, episodes=4, seed=5)
    assert returns.shape == (4,)
    np.testing.assert_allclose(returns, raw_returns)

    history = np.stack([np.zeros(4), params.numpy(), params.numpy(), CARTPOLE_BALANCING.numpy()])
    offline = offline_rewards("CartPole-v1", MLP([4, 1], discretize=2), history, seed=5)
    assert offline.shape == (4,)
    assert offline[0] < 50 and offline[3] == 500.0
    np.testing.assert_allclose(offline[1:3], raw_returns[1:3])


def test_test_params_with_state_statistics_equals_raw_parameters():
    policy = MLP([8, 2], add_bias=True)
    rng = np.random.default_rng(2)
    params = rng.normal(scale=0.3, size=policy.n_params)
    mean, std = rng.normal(size=8), rng.uniform(0.5, 2.0, size=8)
    normalised = env_api.test_params("Swimmer-v5", policy, params, episodes=1, seed=0, state_mean=mean, state_std=std)
    raw = env_api.test_params("Swimmer-v5", policy, policy.unnormalize_params(params, mean, std), episodes=1, seed=0)
    np.testing.assert_allclose(normalised, raw, rtol=1e-6)


def test_test_params_video(tmp_path):
    policy = MLP([4, 1], discretize=2)
    if importlib.util.find_spec("moviepy") is None:
        with pytest.raises(RuntimeError, match="moviepy"):
            env_api.test_params("CartPole-v1", policy, np.zeros(4), 1, 0, render_video_dir=tmp_path / "videos")
    else:
        env_api.test_params("CartPole-v1", policy, np.zeros(4), 1, 0, render_video_dir=tmp_path / "videos")
        assert list((tmp_path / "videos").glob("*.mp4"))

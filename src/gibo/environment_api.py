"""Gymnasium environments as black-box objectives over policy parameters.

J(θ) = Σ_t r'_t over one episode of the policy with parameters θ, where r' = (transform(r) − shift)/scale
is the reward seen by the optimiser. The per-step loop is plain numpy; torch appears only at the
objective's boundary (parameters in, return out).

State normalisation (docs/method.md#state-normalisation): the policy sees (s − mean)/std with mean and std from a
:class:`StateNormalizer`. Statistics change only when an optimiser calls
:meth:`EnvironmentObjective.update_state_normalizer`, and parameters can be mapped between
normalised and raw-state coordinates with :meth:`EnvironmentObjective.params_to_raw` /
:meth:`EnvironmentObjective.params_from_raw`.

Example:
    >>> objective = EnvironmentObjective("CartPole-v1", MLP([4, 1], discretize=2), seed=0)
    >>> objective(torch.zeros(objective.n_params))  # tensor(…): one episode's return
    >>> objective.calls, objective.timesteps
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Mapping
from typing import cast

import gymnasium as gym
import numpy as np
import torch

from gibo.episode_record import RecordedEpisodes, snapshot
from gibo.loop import NonFiniteObjective
from gibo.policy_parameterizations import MLP

__all__ = [
    "EnvironmentObjective",
    "StateNormalizer",
    "make_env",
    "offline_rewards",
    "policy_fit_problem",
    "resolve_env_id",
    "run_episode",
    "test_params",
]

logger = logging.getLogger(__name__)

# MuJoCo tasks whose gym "-v1" ids (used by the paper) are served by Gymnasium's "-v5" versions.
MUJOCO_TASKS = (
    "Ant",
    "HalfCheetah",
    "Hopper",
    "Humanoid",
    "HumanoidStandup",
    "InvertedDoublePendulum",
    "InvertedPendulum",
    "Pusher",
    "Reacher",
    "Swimmer",
    "Walker2d",
)
_V1_PATTERN = re.compile(r"^(?P<name>" + "|".join(MUJOCO_TASKS) + r")-v1$")

REWARD_TRANSFORMS = (None, "log_cost")
_SEED_HIGH = 2**31 - 1


class StateNormalizer:
    """Running state statistics: mean = (1/n) Σ s_i, std = sqrt((1/n) Σ (s_i − mean)²) over all pushed states.

    States are collected with :meth:`push` and folded into the applied statistics only by
    :meth:`update` (Welford/Chan batch update), so the caller decides when normalisation changes.
    Before the first update mean = 0 and std = 1; dimensions with (near) zero spread keep std = 1.

    Example:
        >>> normalizer = StateNormalizer(3)
        >>> normalizer.push(np.random.randn(100, 3)); normalizer.update()
        >>> normalizer.normalize(np.zeros(3))
    """

    min_std = 1e-8

    def __init__(self, n_state: int) -> None:
        self.n_state = int(n_state)
        self.count = 0
        self._mean = np.zeros(self.n_state)
        self._m2 = np.zeros(self.n_state)
        self._pending: list[np.ndarray] = []
        self.mean = np.zeros(self.n_state)
        self.std = np.ones(self.n_state)

    @property
    def n_pending(self) -> int:
        """Number of states pushed since the last update."""
        return sum(batch.shape[0] for batch in self._pending)

    def push(self, states: np.ndarray) -> None:
        """Record visited states (T, n_state) (or one state (n_state,)) for the next update."""
        states = np.array(states, dtype=np.float64, ndmin=2)
        if states.ndim != 2 or states.shape[1] != self.n_state:
            raise ValueError(f"expected states (T, {self.n_state}), got shape {states.shape}")
        if states.shape[0]:
            self._pending.append(states)

    def update(self) -> bool:
        """Fold the pending states into mean/std; returns True if there were any (statistics changed)."""
        if not self._pending:
            return False
        batch = np.concatenate(self._pending, axis=0)
        self._pending = []
        n_b = batch.shape[0]
        mean_b = batch.mean(axis=0)
        m2_b = ((batch - mean_b) ** 2).sum(axis=0)
        n = self.count + n_b
        delta = mean_b - self._mean
        self._mean = self._mean + delta * (n_b / n)
        self._m2 = self._m2 + m2_b + delta**2 * (self.count * n_b / n)
        self.count = n
        std = np.sqrt(self._m2 / n)
        self.mean = self._mean.copy()
        self.std = np.where(std < self.min_std, 1.0, std)
        return True

    def normalize(self, states: np.ndarray) -> np.ndarray:
        """(states − mean) / std for states (..., n_state)."""
        return (np.asarray(states, dtype=np.float64) - self.mean) / self.std


def resolve_env_id(env_id: str) -> str:
    """Map a gym MuJoCo "-v1" id (e.g. Swimmer-v1) to its Gymnasium "-v5" stand-in, warning once per call."""
    match = _V1_PATTERN.match(env_id)
    if match is None:
        return env_id
    new_id = f"{match.group('name')}-v5"
    logger.warning("environment %s is not available in Gymnasium; using %s instead", env_id, new_id)
    return new_id


def make_env(env_id: str, **kwargs) -> gym.Env:
    """gymnasium.make(resolve_env_id(env_id), **kwargs) with a one-line ValueError for unknown ids."""
    resolved = resolve_env_id(env_id)
    try:
        return gym.make(resolved, **kwargs)
    except (gym.error.UnregisteredEnv, gym.error.DeprecatedEnv) as err:
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(f"unknown environment '{env_id}': {detail}") from None


def _env_name(env: gym.Env) -> str:
    spec = getattr(env, "spec", None)
    return spec.id if spec is not None else type(env.unwrapped).__name__


def _space_text(space) -> str:
    if isinstance(space, gym.spaces.Discrete):
        return f"{int(space.n)} discrete actions"
    return f"actions of shape {getattr(space, 'shape', None)}"


def _policy_text(policy: MLP) -> str:
    if policy.discretize is None:
        out = f"{policy.n_outputs} continuous outputs"
    elif policy.n_outputs == 1:
        out = f"a choice of {policy.discretize} actions (sign of 1 output)"
    else:
        out = f"a choice of {policy.discretize} actions (argmax of {policy.n_outputs} outputs)"
    return f"the policy (layers {policy.layers}) takes {policy.n_state} inputs and gives {out}"


def policy_fit_problem(env: gym.Env, policy: MLP) -> str | None:
    """None when `policy` can act in `env`; else one line naming the environment, its observation and action
    spaces and what the policy takes and gives."""
    obs_shape = env.observation_space.shape
    space = env.action_space
    fits_obs = obs_shape is not None and len(obs_shape) == 1 and obs_shape[0] == policy.n_state
    if isinstance(space, gym.spaces.Discrete):
        fits_action = policy.discretize is not None and policy.discretize == int(space.n)
    elif isinstance(space, gym.spaces.Box):
        fits_action = policy.discretize is None and space.shape == (policy.n_outputs,)
    else:
        fits_action = True  # other spaces: left to the environment
    if fits_obs and fits_action:
        return None
    hint = ""
    if isinstance(space, gym.spaces.Discrete) and not fits_action:
        n = int(space.n)
        hint = f" (a policy for {n} discrete actions needs discretize={n}" + (
            " and 1 or 2 outputs)" if n == 2 else f" and {n} outputs)"
        )
    return f"{_env_name(env)}: observations of shape {obs_shape}, {_space_text(space)}; {_policy_text(policy)}{hint}"


def _check_policy_fits(env: gym.Env, policy: MLP) -> None:
    problem = policy_fit_problem(env, policy)
    if problem is not None:
        raise ValueError(problem)


def run_episode(
    env: gym.Env,
    policy: MLP,
    seed: int | None,
    state_mean: np.ndarray | None = None,
    state_std: np.ndarray | None = None,
    visited: list | None = None,
    log_cost: bool = False,
) -> tuple[float, float, int]:
    """One episode of ``policy`` (parameters already set) from env.reset(seed=seed).

    The policy acts on (s − state_mean)/state_std when both are given, else on s. Stops on
    terminated or truncated.

    Args:
        env: the environment (episode length comes from its TimeLimit wrapper).
        policy: the policy, parameters set.
        seed: seed for reset.
        state_mean, state_std: (n_state,) normalisation statistics, or None.
        visited: if a list, every state the policy acted on (raw, (n_state,)) is appended.
        log_cost: also accumulate Σ −log(1 − r_t).

    Returns:
        (Σ r_t, Σ −log(1 − r_t) if log_cost else Σ r_t, number of steps).
    """
    act = policy.act
    step = env.step
    normalize = state_mean is not None and state_std is not None
    total = 0.0
    total_log = 0.0
    steps = 0
    obs, _ = env.reset(seed=seed)
    while True:
        if visited is not None:
            visited.append(np.array(obs, dtype=np.float64))
        action = act((obs - state_mean) / state_std) if normalize else act(obs)
        obs, reward, terminated, truncated, _ = step(action)
        reward = cast(float, reward)  # SupportsFloat in gymnasium's types; added as it comes, not converted
        total += reward
        if log_cost:
            if not reward < 1.0:  # also catches NaN
                raise ValueError(f"{_env_name(env)}: log_cost transform needs rewards r < 1, got r = {reward}")
            total_log -= math.log1p(-reward)
        steps += 1
        if terminated or truncated:
            break
    total = float(total)
    return total, (total_log if log_cost else total), steps


class EnvironmentObjective(RecordedEpisodes):
    """J(θ) = Σ_t (transform(r_t) − shift)/scale over one episode of the policy with parameters θ.

    Each call runs one episode. The first reset uses ``seed``, later resets draw their seeds from
    ``np.random.default_rng(seed)`` (``integers(2**31 - 1)``), so a run repeats exactly.

    Args:
        env: a Gymnasium env or an env id (gym MuJoCo "-v1" ids map to "-v5" with a warning).
        policy: the policy; its parameters are overwritten on every call.
        manipulate_reward: optional {shift, scale, transform}; transform None or "log_cost"
            (r → −log(1 − r), for rewards r = −cost ≤ 0).
        state_normalization: run the policy on (s − mean)/std from :attr:`state_normalizer`
            (needs a policy with bias, so that parameters map to raw states).
        seed: seed of the reset sequence.

    Attributes:
        calls, timesteps: episodes run and environment steps taken so far.
        reward_history: (timesteps so far, raw episode return) per call.
        value_history: the value returned to the optimiser per call (transformed, shifted, scaled).
        state_normalizer: :class:`StateNormalizer`, or None without state normalisation.

    Example:
        >>> objective = EnvironmentObjective("Swimmer-v5", MLP([8, 2]), manipulate_reward={"scale": 350})
        >>> objective(torch.zeros(16, dtype=torch.float64))
        >>> objective.reward_history[-1]
    """

    def __init__(
        self,
        env: gym.Env | str,
        policy: MLP,
        manipulate_reward: Mapping | None = None,
        state_normalization: bool = False,
        seed: int = 0,
    ) -> None:
        self.env = make_env(env) if isinstance(env, str) else env
        self.env_id = _env_name(self.env)
        self.policy = policy
        _check_policy_fits(self.env, policy)
        spec = getattr(self.env, "spec", None)
        self.max_episode_steps = spec.max_episode_steps if spec is not None else None

        manipulate_reward = dict(manipulate_reward or {})
        unknown = set(manipulate_reward) - {"shift", "scale", "transform"}
        if unknown:
            raise ValueError(f"manipulate_reward: unknown keys {sorted(unknown)} (allowed: shift, scale, transform)")
        shift, scale = manipulate_reward.get("shift"), manipulate_reward.get("scale")
        self.reward_shift = 0.0 if shift is None else float(shift)
        self.reward_scale = 1.0 if scale is None else float(scale)
        if self.reward_scale == 0.0 or not math.isfinite(self.reward_scale):
            raise ValueError(f"manipulate_reward.scale must be finite and nonzero, got {scale!r}")
        self.reward_transform = manipulate_reward.get("transform")
        if self.reward_transform not in REWARD_TRANSFORMS:
            raise ValueError(
                f"manipulate_reward.transform must be one of {REWARD_TRANSFORMS}, got {self.reward_transform!r}"
            )

        if state_normalization and not policy.add_bias:
            raise ValueError(
                f"{self.env_id}: state_normalization needs a policy with add_bias=True "
                "(without a bias the state-mean shift has no raw-state equivalent)"
            )
        self.state_normalizer = StateNormalizer(policy.n_state) if state_normalization else None

        self.seed = int(seed)
        self._reset_rng = np.random.default_rng(self.seed)
        self.calls = 0
        self.timesteps = 0
        self.reward_history: list[tuple[int, float]] = []
        self.value_history: list[float] = []
        self.best_return: float | None = None  # the best raw episode return so far (progress reports)
        self._init_record()

    @property
    def n_params(self) -> int:
        return self.policy.n_params

    @property
    def n_state(self) -> int:
        return self.policy.n_state

    @property
    def n_action(self) -> int:
        """Size of the policy's output layer (1 for CartPole's sign rule)."""
        return self.policy.n_outputs

    def _next_reset_seed(self) -> int:
        if self.calls == 0:
            return self.seed
        return int(self._reset_rng.integers(_SEED_HIGH))

    def __call__(self, params: torch.Tensor) -> torch.Tensor:
        """Return of one episode with policy parameters params (n_params,) → scalar tensor of params' dtype."""
        params_t = torch.as_tensor(params)
        replayed = self._replayed_call(params_t)
        if replayed is not None:
            return replayed
        self._record_call(params_t)
        self.policy.set_params(params_t.detach().cpu().numpy().reshape(-1))
        normalizer = self.state_normalizer
        visited: list | None = [] if normalizer is not None else None
        raw_return, transformed, steps = run_episode(
            self.env,
            self.policy,
            self._next_reset_seed(),
            state_mean=normalizer.mean if normalizer is not None else None,
            state_std=normalizer.std if normalizer is not None else None,
            visited=visited,
            log_cost=self.reward_transform == "log_cost",
        )
        self.calls += 1
        self.timesteps += steps
        self.reward_history.append((self.timesteps, raw_return))
        if math.isfinite(raw_return):
            self.best_return = raw_return if self.best_return is None else max(self.best_return, raw_return)
        # Σ (r − shift)/scale = (Σ r − T·shift)/scale
        value = (transformed - steps * self.reward_shift) / self.reward_scale
        if not math.isfinite(value):
            raise NonFiniteObjective(
                f"{self.env_id}: episode return is {value} in call {self.calls} (raw return {raw_return}, {steps} "
                "steps)",
                self.calls,
                self.params_to_raw(params_t.detach()).reshape(-1).tolist(),
            )
        self.value_history.append(value)
        if normalizer is not None and visited:
            normalizer.push(np.asarray(visited, dtype=np.float64))
        dtype = params_t.dtype if params_t.is_floating_point() else torch.get_default_dtype()
        return torch.tensor(value, dtype=dtype)

    def update_state_normalizer(self) -> bool:
        """Fold the states visited since the last update into mean/std; True if the statistics changed."""
        if self.state_normalizer is None:
            return False
        changed = self._replayed_update()
        if changed is None:
            changed = self.state_normalizer.update()
        self.normalizer_updates.append(np.concatenate([[float(changed)], snapshot(self.state_normalizer)]))
        return changed

    def params_to_raw(self, params: torch.Tensor) -> torch.Tensor:
        """Parameters (..., n_params) on the current normalised states → equivalent ones on raw states."""
        if self.state_normalizer is None:
            return params
        return self.policy.unnormalize_params(params, self.state_normalizer.mean, self.state_normalizer.std)

    def params_from_raw(self, params: torch.Tensor) -> torch.Tensor:
        """Parameters (..., n_params) on raw states → equivalent ones on the current normalised states."""
        if self.state_normalizer is None:
            return params
        return self.policy.normalize_params(params, self.state_normalizer.mean, self.state_normalizer.std)

    def close(self) -> None:
        self.env.close()

    def __repr__(self) -> str:
        return f"EnvironmentObjective({self.env_id}, {self.policy}, calls={self.calls}, timesteps={self.timesteps})"


def _episode_seeds(seed: int, episodes: int) -> list[int]:
    """seed, then draws from default_rng(seed): the same sequence EnvironmentObjective resets with."""
    if episodes <= 0:
        return []
    rng = np.random.default_rng(seed)
    return [int(seed)] + [int(rng.integers(_SEED_HIGH)) for _ in range(episodes - 1)]


def test_params(
    env_id_or_env: str | gym.Env,
    policy: MLP,
    params: torch.Tensor | np.ndarray,
    episodes: int,
    seed: int,
    state_mean: np.ndarray | None = None,
    state_std: np.ndarray | None = None,
    render_video_dir: str | os.PathLike | None = None,
) -> np.ndarray:
    """Raw returns Σ_t r_t of ``episodes`` episodes with parameters params (n_params,); no reward manipulation.

    With state_mean/state_std (n_state,) the policy acts on (s − mean)/std, else on raw states.
    Episode resets follow the same seed sequence as :class:`EnvironmentObjective`. With
    ``render_video_dir`` every episode is recorded there (gymnasium RecordVideo; needs moviepy and
    an env id, or an env made with render_mode="rgb_array").

    Returns:
        (episodes,) float64 episode returns.
    """
    if (state_mean is None) != (state_std is None):
        raise ValueError("test_params: give both state_mean and state_std, or neither")
    if isinstance(env_id_or_env, str):
        env = make_env(env_id_or_env, render_mode="rgb_array" if render_video_dir is not None else None)
        owns_env = True
    else:
        env, owns_env = env_id_or_env, False
    try:
        _check_policy_fits(env, policy)
        if render_video_dir is not None:
            try:
                env = gym.wrappers.RecordVideo(
                    env, video_folder=str(render_video_dir), episode_trigger=lambda _: True, disable_logger=True
                )
            except gym.error.DependencyNotInstalled as err:
                raise RuntimeError(f"test_params: video recording needs moviepy ({err})") from None
            owns_env = True  # closing the recorder writes the last video
        if isinstance(params, torch.Tensor):
            params = params.detach().cpu().numpy()
        policy.set_params(params)
        mean = None if state_mean is None else np.asarray(state_mean, dtype=np.float64)
        std = None if state_std is None else np.asarray(state_std, dtype=np.float64)
        returns = [run_episode(env, policy, s, mean, std)[0] for s in _episode_seeds(seed, int(episodes))]
    finally:
        if owns_env:
            env.close()
    return np.asarray(returns, dtype=np.float64)


test_params.__test__ = False  # type: ignore[attr-defined]  # pytest: not a test despite its name


def offline_rewards(
    env_id: str | gym.Env,
    policy: MLP,
    params_history: torch.Tensor | np.ndarray,
    seed: int,
) -> np.ndarray:
    """Raw return of one episode per recorded iterate θ_t, params_history (T, n_params) on raw states.

    Iterate t is reset with the t-th seed of the :class:`EnvironmentObjective` sequence for ``seed``.

    Returns:
        (T,) float64 episode returns.
    """
    if isinstance(params_history, torch.Tensor):
        params_history = params_history.detach().cpu().numpy()
    history = np.asarray(params_history, dtype=np.float64)
    if history.ndim != 2 or history.shape[1] != policy.n_params:
        raise ValueError(f"offline_rewards: expected params_history (T, {policy.n_params}), got {history.shape}")
    owns_env = isinstance(env_id, str)
    env = make_env(env_id) if isinstance(env_id, str) else env_id
    try:
        _check_policy_fits(env, policy)
        returns = np.empty(history.shape[0])
        for t, s in enumerate(_episode_seeds(seed, history.shape[0])):
            policy.set_params(history[t])
            returns[t] = run_episode(env, policy, s)[0]
    finally:
        if owns_env:
            env.close()
    return returns

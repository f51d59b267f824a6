"""Episode throughput of EnvironmentObjective against a bare Gymnasium loop with a numpy linear policy.

Both run the same policy from the same reset seeds for the same number of episodes, alternating
over several rounds; the best round of each is reported. ratio = objective steps/s ÷ bare steps/s
(target ≥ 0.8).

Usage: python benchmarks/rollout.py [--episodes 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
import torch

from gibo.environment_api import EnvironmentObjective
from gibo.policy_parameterizations import MLP

# (label, env id, add_bias, state normalisation)
CASES = [
    ("Swimmer-v5 8→2", "Swimmer-v5", False, False),
    ("Hopper-v5 11→3+b", "Hopper-v5", True, False),
    ("Hopper-v5 11→3+b, state norm", "Hopper-v5", True, True),
]


def reset_seeds(seed: int, episodes: int) -> list[int]:
    rng = np.random.default_rng(seed)
    return [seed] + [int(rng.integers(2**31 - 1)) for _ in range(episodes - 1)]


def bare_loop(env: gym.Env, w: np.ndarray, b: np.ndarray, seeds: list[int], mean=None, std=None) -> tuple[int, float]:
    """Plain Gymnasium loop, action = w @ s + b (on (s − mean)/std if given); returns (steps, Σ returns)."""
    steps, total = 0, 0.0
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        while True:
            x = obs if mean is None else (obs - mean) / std
            obs, r, terminated, truncated, _ = env.step(w @ x + b)
            total += r
            steps += 1
            if terminated or truncated:
                break
    return steps, total


def measure(label: str, env_id: str, add_bias: bool, normalise: bool, episodes: int, rounds: int) -> None:
    env = gym.make(env_id)
    n_state, n_action = env.observation_space.shape[0], env.action_space.shape[0]
    policy = MLP([n_state, n_action], add_bias=add_bias)
    rng = np.random.default_rng(0)
    params = rng.normal(scale=0.1, size=policy.n_params)
    w = params[: n_action * n_state].reshape(n_action, n_state)
    b = params[n_action * n_state :] if add_bias else np.zeros(n_action)
    params_t = torch.from_numpy(params)
    seeds = reset_seeds(0, episodes)

    mean = std = None
    if normalise:
        # fixed, non-trivial statistics so both loops do the same work
        warmup = EnvironmentObjective(env_id, MLP([n_state, n_action], add_bias=True), state_normalization=True)
        warmup(params_t)
        warmup.update_state_normalizer()
        mean, std = warmup.state_normalizer.mean, warmup.state_normalizer.std

    best_bare, best_obj = np.inf, np.inf
    for _ in range(rounds):
        start = time.perf_counter()
        bare_steps, bare_total = bare_loop(env, w, b, seeds, mean, std)
        best_bare = min(best_bare, time.perf_counter() - start)

        objective = EnvironmentObjective(env, policy, state_normalization=normalise, seed=0)
        if normalise:
            objective.state_normalizer.mean, objective.state_normalizer.std = mean, std
        start = time.perf_counter()
        obj_total = sum(objective(params_t).item() for _ in range(episodes))
        best_obj = min(best_obj, time.perf_counter() - start)
        if objective.timesteps != bare_steps or not np.isclose(obj_total, bare_total, rtol=1e-9):
            raise RuntimeError(f"{label}: loops disagree ({objective.timesteps} vs {bare_steps} steps)")
    env.close()

    ratio = best_bare / best_obj
    print(
        f"{label:<30} {episodes:>4} ep {bare_steps:>7} steps | "
        f"bare {episodes / best_bare:8.1f} ep/s {bare_steps / best_bare:9.0f} steps/s | "
        f"objective {episodes / best_obj:8.1f} ep/s {bare_steps / best_obj:9.0f} steps/s | ratio {ratio:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for case in CASES:
        measure(*case, episodes=args.episodes, rounds=args.rounds)


if __name__ == "__main__":
    main()

"""Reinforcement-learning experiments (docs/experiments.md#reinforcement-learning,
docs/experiments.md#linear-quadratic-regulator): one run of the configured method per trial."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from gibo.build import build_optimizer, resolve_dimension
from gibo.checkpoint import (
    RANDOM_STATES,
    checkpointing,
    clear_temporaries,
    config_settings,
    from_json_bytes,
    json_bytes,
    random_states,
    read_checkpoint_file,
    restore_random_states,
    settings_digest,
    write_checkpoint_file,
)
from gibo.config import ConfigError, ExperimentConfig, MLPConfig, config_to_dict, parse_experiment_config
from gibo.environment_api import EnvironmentObjective, make_env, policy_fit_problem
from gibo.loop import run_optimization
from gibo.policy_parameterizations import MLP
from gibo.results import DamagedUnit, read_unit, set_aside

with contextlib.suppress(ImportError):  # gym-lqr is part of the requirements
    import gym_lqr  # noqa: F401 - imported for its side effect: it registers lqr-v0 with Gymnasium

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Trial:
    """One independent run; `seed` seeds torch, numpy and the environment's resets."""

    index: int
    seed: int

    @property
    def name(self) -> str:
        return f"trial{self.index:03d}"


def trials(config: ExperimentConfig) -> list[Trial]:
    return [Trial(i, seed=config.seed * 1_000 + i) for i in range(config.trials)]


def trial_file(run_dir, trial: Trial) -> Path:
    return Path(run_dir) / f"{trial.name}.npz"


# What every trial file holds (objective_values and the optimiser's diagnostics came later: not required).
TRIAL_ARRAYS = ("params", "calls", "episode_timesteps", "episode_returns", "seed")


def read_trial_file(path, budget: int | None = None, trial: Trial | None = None, source=None) -> dict:
    """A trial file's arrays, checked (`read_unit`, plus: one return and one timestep count per episode, at
    least as many episodes as recorded calls and at most `budget`, `trial`'s seed when given); `DamagedUnit`
    otherwise. `path` may be a file object; `source` then names the file."""
    name = source if source is not None else path
    arrays = read_unit(path, TRIAL_ARRAYS, budget, source=name)
    episodes = arrays["episode_returns"].shape
    if len(episodes) != 1 or arrays["episode_timesteps"].shape != episodes or episodes[0] < int(arrays["calls"][-1]):
        raise DamagedUnit(
            f"{name}: {episodes} episode returns and {arrays['episode_timesteps'].shape} timestep counts "
            f"for {int(arrays['calls'][-1])} calls"
        )
    if budget is not None and episodes[0] > budget:
        raise DamagedUnit(f"{name}: {episodes[0]} episodes recorded, more than the run's budget of {budget}")
    if trial is not None and int(arrays["seed"]) != trial.seed:
        raise DamagedUnit(
            f"{name}: seed {int(arrays['seed'])} is not this trial's ({trial.seed}): a file of another run"
        )
    return arrays


def check_trial(run_dir, config: ExperimentConfig, trial: Trial) -> None:
    """For `run_units(check=...)`: `DamagedUnit` when the trial's file in `run_dir` cannot be used."""
    read_trial_file(trial_file(run_dir, trial), config.max_objective_calls, trial)


def check_rl_config(config: ExperimentConfig, source: str = "") -> None:
    """Errors a user can make in an RL config that the schema cannot see."""
    prefix = f"{source}: " if source else ""
    if config.custom_objective_refusal:
        raise ConfigError(prefix + config.custom_objective_refusal)
    if not config.environment_name:
        synthetic = config.set_hypers or config.only_set_noise_hyper or config.mlp is None
        hint = (
            " (this looks like a synthetic-function config: run it with run_synthetic_experiment.py -c CONFIG "
            "-cd DATA_CONFIG)"
        )
        raise ConfigError(f"{prefix}environment_name: missing required key{hint if synthetic else ''}")
    if config.mlp is None:
        raise ConfigError(f"{prefix}mlp: missing required key")
    if config.method == "turbo" and config.mlp.state_normalization:
        raise ConfigError(
            f"{prefix}mlp.state_normalization: TuRBO searches a fixed box and never updates a state normaliser; set it "
            "to false"
        )
    if getattr(config.optimizer_config, "state_normalization_update", "iteration") == "call" and not (
        config.mlp.state_normalization
    ):
        raise ConfigError(
            f"{prefix}optimizer_config.state_normalization_update: 'call' needs mlp.state_normalization: true"
        )
    try:
        env = make_env(config.environment_name)
    except ValueError as error:  # unknown id: fail before any result directory is made
        raise ConfigError(f"{prefix}environment_name: {error}") from None
    try:  # the policy must fit the environment: found here, not inside every trial
        try:
            policy = build_policy(config, env)
        except ValueError as error:
            raise ConfigError(f"{prefix}mlp: {error}") from None
        problem = policy_fit_problem(env, policy)
        if problem is not None:
            raise ConfigError(f"{prefix}mlp.layers: the policy does not fit the environment: {problem}")
    finally:
        env.close()


def environment_name(config: ExperimentConfig) -> str:
    """The environment id of an RL config (`check_rl_config` says so, with the file, when there is none)."""
    if not config.environment_name:
        raise ConfigError("environment_name: missing required key")
    return config.environment_name


def mlp_config(config: ExperimentConfig) -> MLPConfig:
    """The policy section of an RL config (`check_rl_config` says so, with the file, when there is none)."""
    if config.mlp is None:
        raise ConfigError("mlp: missing required key")
    return config.mlp


def build_policy(config: ExperimentConfig, env: gym.Env) -> MLP:
    """The MLP of `config.mlp`; `layers` defaults to a linear policy [n_state, n_action]."""
    mlp = mlp_config(config)
    layers: Sequence[int] | None = mlp.layers
    if layers is None:
        n_state = env.observation_space.shape[0]  # type: ignore[index]  # a Box: it has a shape
        if isinstance(env.action_space, gym.spaces.Discrete):
            n_out = 1 if env.action_space.n == 2 else int(env.action_space.n)
        else:
            n_out = env.action_space.shape[0]  # type: ignore[index]  # a Box: it has a shape
        layers = [n_state, n_out]
    return MLP(layers, add_bias=mlp.add_bias, nonlinearity=mlp.nonlinearity, discretize=mlp.discretize)


def build_objective(config: ExperimentConfig, seed: int) -> EnvironmentObjective:
    env = make_env(environment_name(config))
    policy = build_policy(config, env)
    mlp = mlp_config(config)
    reward = config_to_dict(mlp.manipulate_reward)
    return EnvironmentObjective(
        env, policy, manipulate_reward=reward, state_normalization=mlp.state_normalization, seed=seed
    )


def search_space_dimension(config: ExperimentConfig) -> int:
    env = make_env(environment_name(config))
    try:
        return build_policy(config, env).n_params
    finally:
        env.close()


def resolved_config(config: ExperimentConfig) -> ExperimentConfig:
    return resolve_dimension(config, search_space_dimension(config))


CHECKPOINT_FORMAT = "gibo trial checkpoint"
CHECKPOINT_VERSION = 1


def checkpoint_file(run_dir, trial: Trial) -> Path:
    """Where a running trial keeps its checkpoint (not an `.npz` name: no reader of results takes it for one)."""
    return Path(run_dir) / f"{trial.name}.checkpoint"


def config_digest(config: ExperimentConfig) -> str:
    """SHA-256 of the experiment's settings (`config_settings`): a checkpoint belongs to the config that wrote it."""
    return settings_digest(config_settings(config))


def write_checkpoint(
    path: Path, digest: str, trial: Trial, objective: EnvironmentObjective, iterations: int, optimizer=None
) -> None:
    """The trial's record so far as an npz (no pickle), written atomically (`write_checkpoint_file`): every
    episode's value, raw return, cumulative timesteps and parameters, every state-normaliser update, the
    optimiser's `replay_state` (JSON) and the torch and numpy random states now.
    digest: `config_digest` of the trial's config; iterations: the iterations finished."""
    n_state = objective.state_normalizer.n_state if objective.state_normalizer is not None else 0
    history = np.asarray(objective.reward_history, dtype=np.float64).reshape(-1, 2)
    arrays = {
        "format": np.asarray(CHECKPOINT_FORMAT),
        "version": np.asarray(CHECKPOINT_VERSION),
        "config": np.asarray(digest),
        "seed": np.asarray(trial.seed),
        "iterations": np.asarray(iterations),
        "values": np.asarray(objective.value_history, dtype=np.float64),
        "returns": history[:, 1],
        "timesteps": history[:, 0].astype(np.int64),
        "updates": np.asarray(objective.normalizer_updates, dtype=np.float64).reshape(-1, 2 + 2 * n_state),
        "points": np.asarray(objective.point_history, dtype=np.float64).reshape(len(history), objective.n_params),
        "optimizer": json_bytes(optimizer.replay_state() if optimizer is not None else {}),
        **random_states(),
    }
    write_checkpoint_file(path, arrays)


def read_checkpoint(path: Path, config: ExperimentConfig, trial: Trial) -> dict[str, np.ndarray]:
    """A trial's checkpoint, checked; `DamagedUnit` (one line naming the file) when it cannot be used."""
    required = (
        *("config", "seed", "iterations", "values", "returns", "timesteps", "updates", "points", "optimizer"),
        *RANDOM_STATES,
    )
    arrays = read_checkpoint_file(path, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, required)
    if int(arrays["seed"]) != trial.seed or str(arrays["config"]) != config_digest(config):
        raise DamagedUnit(f"{path}: the checkpoint of another trial or config")
    n = arrays["values"].shape
    if (
        len(n) != 1
        or arrays["returns"].shape != n
        or arrays["timesteps"].shape != n
        or arrays["updates"].ndim != 2
        or arrays["points"].shape[:1] != n
        or (config.max_objective_calls is not None and n[0] > config.max_objective_calls)
        or not np.isfinite(arrays["values"]).all()
    ):
        raise DamagedUnit(f"{path}: inconsistent arrays ({n[0] if n else '?'} calls)")
    return arrays


def run_trial(config: ExperimentConfig, trial: Trial, checkpoint_dir=None) -> dict:
    """Optimise the policy from θ_0 = 0; return the arrays to save (raw-state parameters).

    With `checkpoint_dir`, the trial's record is written there on `gibo.checkpoint`'s schedule (every 2
    iterations unless a write would cost more than 2 % of the trial's time; a resume repeats at most the
    interval its checkpoint set) by `write_checkpoint`, and a trial that finds
    its checkpoint continues from it: the recorded episodes are not run again but answered from the record, so
    the result is bitwise the same as an uninterrupted trial's (on the same machine and libraries). A damaged
    checkpoint is moved aside (`<name>.damaged`) with a warning and the trial starts from call 0.
    The optimiser's own work is not all recomputed either: GIBO, MPD, vanilla BO and TuRBO leave their
    acquisition optimisations (Thompson samples) to the recorded points and their hyperparameter fits to the
    saved results (`Optimizer.begin_replay`), and the random states are restored once the record is replayed.
    """
    torch.manual_seed(trial.seed)
    np.random.seed(trial.seed % 2**32)
    objective = build_objective(config, seed=trial.seed)
    checkpoint = checkpoint_file(checkpoint_dir, trial) if checkpoint_dir is not None else None
    try:
        record = None
        if checkpoint is not None:
            clear_temporaries(checkpoint)
        if checkpoint is not None and checkpoint.is_file():
            try:
                record = read_checkpoint(checkpoint, config, trial)
                replay_state = from_json_bytes(record["optimizer"])
            except (DamagedUnit, ValueError) as error:
                logger.warning("%s; moved aside to %s, the trial starts from call 0", error, set_aside(checkpoint).name)
                record = None
            else:
                objective.replay(
                    record["values"], record["returns"], record["timesteps"], record["updates"], record["points"]
                )
                logger.info(
                    "%s: continues from its checkpoint at iteration %d, call %d (episodes answered from it)",
                    trial.name,
                    int(record["iterations"]),
                    len(record["values"]),
                )
        digest = config_digest(config)

        def end_replay() -> None:  # the record is replayed: from here on as the interrupted trial went on
            optimizer.end_replay()
            restore_random_states(record)  # type: ignore[arg-type]  # only called with a record

        save_checkpoint = checkpointing(
            checkpoint,
            trial.name,
            lambda path, iterations: write_checkpoint(path, digest, trial, objective, iterations, optimizer),
            resume_at=int(record["iterations"]) if record is not None else None,
            end_replay=end_replay,
            # inside the record: it holds that iteration
            replaying=lambda: objective._replay is not None and objective.calls <= len(objective._replay["values"]),
        )
        resolved = resolve_dimension(config, objective.n_params)
        params_init = torch.zeros(objective.n_params, dtype=torch.float64)
        optimizer = build_optimizer(resolved, params_init, objective)
        if record is not None:
            optimizer.begin_replay(replay_state)
        result = run_optimization(
            optimizer,
            max_iterations=resolved.max_iterations,
            max_objective_calls=resolved.max_objective_calls,
            on_iteration=save_checkpoint,
        )
        history = np.asarray(objective.reward_history, dtype=np.float64).reshape(-1, 2)
        arrays = dict(
            params=result.params,
            calls=result.calls,
            episode_timesteps=history[:, 0].astype(np.int64),
            episode_returns=history[:, 1],
            objective_values=np.asarray(objective.value_history, dtype=np.float64),
            seed=trial.seed,
        )
        arrays.update(optimizer.diagnostics())
        if objective.state_normalizer is not None:
            arrays.update(state_mean=objective.state_normalizer.mean, state_std=objective.state_normalizer.std)
        return arrays
    finally:
        objective.close()


def remove_checkpoint(run_dir, trial: Trial) -> None:
    """Delete the checkpoint of a trial whose file is saved (a finished trial needs none)."""
    try:
        checkpoint_file(run_dir, trial).unlink(missing_ok=True)
    except OSError as error:  # harmless: a resume finds the trial done and removes it then
        logger.warning("%s: cannot remove its checkpoint (%s)", trial.name, error)


def config_record(config: ExperimentConfig) -> dict:
    """What is saved beside the trials: the experiment config and its values resolved for the policy's D."""
    experiment = config_to_dict(config)
    experiment.pop("out_dir")
    return {"experiment": experiment, "resolved": config_to_dict(resolved_config(config).optimizer_config)}


def reread_record(saved: dict) -> dict:
    """A saved `config_record` as this code resolves it (settings added since it was saved take their defaults)."""
    return config_record(parse_experiment_config({**saved["experiment"], "out_dir": ""}, source="saved config"))


def trial_summary(run_dir, todo: list[Trial]) -> str:
    """One line per trial of a finished run: calls, best episode return (and its call), median of the last 10 %."""
    rows = [f"{'trial':<9}{'calls':>7}{'best return':>14}{'at call':>9}{'last 10 % median':>18}"]
    for trial in todo:
        path = trial_file(run_dir, trial)
        if not path.is_file():
            continue
        returns = read_trial_file(path, trial=trial)["episode_returns"]
        tail = returns[-max(1, len(returns) // 10) :]
        best = int(np.argmax(returns))
        rows.append(f"{trial.name:<9}{len(returns):>7d}{returns[best]:>14.6g}{best + 1:>9d}{np.median(tail):>18.6g}")
    return "\n".join(rows)

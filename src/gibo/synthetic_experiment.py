"""The synthetic-function experiment (docs/experiments.md#synthetic-functions): data generation and one run per
(dimension, objective) unit."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gibo.build import build_optimizer, resolve_dimension
from gibo.checkpoint import (
    RANDOM_STATES,
    RecordedCalls,
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
from gibo.config import (
    ConfigError,
    ExperimentConfig,
    HypersConfig,
    SyntheticDataConfig,
    config_to_dict,
    parse_experiment_config,
)
from gibo.loop import run_optimization
from gibo.results import DamagedUnit, read_unit, run_budget, set_aside
from gibo.synthetic_functions import SyntheticDataset, generate_dataset

logger = logging.getLogger(__name__)

START_VALUE = 0.5  # θ_0 = 0.5 · 1


def data_file(data_config: SyntheticDataConfig, D: int) -> Path:
    return Path(data_config.out_dir) / f"data_dim{D}.npz"


def generate_data(data_config: SyntheticDataConfig, D: int, progress=None) -> SyntheticDataset:
    """Objectives and optima for one dimension (seeded by the data config's seed and D)."""
    return generate_dataset(
        D,
        num_objectives=data_config.num_objectives,
        num_samples=data_config.num_samples,
        noise_variance=data_config.noise_variance,
        factor_lengthscale=data_config.factor_lengthscale,
        gamma=data_config.gamma,
        outputscale=data_config.gp_hypers.outputscale,
        num_optimizer_starts=data_config.n_max,
        seed=data_config.seed * 1_000 + D,
        sampler=data_config.sampler,
        progress=progress,
    )


def load_data(data_config: SyntheticDataConfig, D: int) -> SyntheticDataset:
    path = data_file(data_config, D)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: synthetic data for D={D} not found; run generate_data_synthetic_functions.py first"
        )
    return SyntheticDataset.load(path)


@dataclass(frozen=True)
class SyntheticUnit:
    """One (dimension, objective) pair; `seed` derives from the experiment seed, D and the index."""

    D: int
    index: int
    seed: int

    @property
    def name(self) -> str:
        return f"dim{self.D}/objective{self.index:03d}"


def units(config: ExperimentConfig, data_config: SyntheticDataConfig) -> list[SyntheticUnit]:
    return [
        SyntheticUnit(D, i, seed=config.seed * 1_000_003 + D * 1_009 + i)
        for D in data_config.dimensions
        for i in range(data_config.num_objectives)
    ]


def unit_file(run_dir, unit: SyntheticUnit) -> Path:
    return Path(run_dir) / f"dim{unit.D}" / f"objective{unit.index:03d}.npz"


# What every unit file holds (diagnostics such as gp_lengthscale depend on the method and are not required).
UNIT_ARRAYS = ("params", "calls", "values", "f_star", "seed")


def read_unit_file(path, budget: int | None = None, unit: SyntheticUnit | None = None) -> dict:
    """A unit file's arrays, checked (`read_unit`, plus: `values` per iterate, `D` columns of `params` for the
    `dimD` folder it sits in, and `unit`'s seed when given); `DamagedUnit` otherwise."""
    arrays = read_unit(path, UNIT_ARRAYS, budget)
    folder = Path(path).parent.name
    D = unit.D if unit is not None else int(folder[3:]) if folder.startswith("dim") and folder[3:].isdigit() else None
    if D is not None and arrays["params"].shape[1] != D:
        raise DamagedUnit(f"{path}: 'params' has {arrays['params'].shape[1]} columns, expected D = {D}")
    if arrays["values"].shape != arrays["calls"].shape:
        raise DamagedUnit(
            f"{path}: 'values' has shape {arrays['values'].shape}, expected one value per iterate "
            f"{arrays['calls'].shape}"
        )
    if unit is not None and int(arrays["seed"]) != unit.seed:
        raise DamagedUnit(f"{path}: seed {int(arrays['seed'])} is not this unit's ({unit.seed}): a file of another run")
    return arrays


def check_unit(run_dir, config: ExperimentConfig, unit: SyntheticUnit) -> None:
    """For `run_units(check=...)`: `DamagedUnit` when the unit's file in `run_dir` cannot be used."""
    read_unit_file(unit_file(run_dir, unit), config.max_objective_calls, unit)


def check_synthetic_config(config: ExperimentConfig, source: str = "") -> None:
    """Refuse a config of the RL experiments (it would run here and ignore its environment and policy)."""
    if config.custom_objective_refusal:
        raise ConfigError(f"{source + ': ' if source else ''}{config.custom_objective_refusal}")
    rl_keys = [
        k
        for k in ("environment_name", "mlp", "trials")
        if k in config.model_fields_set and getattr(config, k) is not None
    ]
    if rl_keys:
        raise ConfigError(
            f"{source + ': ' if source else ''}{rl_keys[0]}: this is a reinforcement-learning config; run it with "
            f"run_rl_experiment.py -c {source or 'CONFIG'}"
        )


def true_hypers(config: ExperimentConfig, dataset: SyntheticDataset) -> HypersConfig | None:
    """The hyperparameters given to the model: all true ones (set_hypers), only the noise, or none."""
    if config.set_hypers:
        return HypersConfig(
            lengthscale=dataset.lengthscale.tolist(), outputscale=dataset.outputscale, noise=dataset.noise_variance
        )
    if config.only_set_noise_hyper:
        return HypersConfig(noise=dataset.noise_variance)
    return None


def resolved_config(config: ExperimentConfig, data_config: SyntheticDataConfig, D: int) -> ExperimentConfig:
    return resolve_dimension(config, D, factor_lengthscale=data_config.factor_lengthscale)


CHECKPOINT_FORMAT = "gibo synthetic unit checkpoint"
CHECKPOINT_VERSION = 1


def checkpoint_file(run_dir, unit: SyntheticUnit) -> Path:
    """Where a running unit keeps its checkpoint (not an `.npz` name: no reader of results takes it for one)."""
    return unit_file(run_dir, unit).with_suffix(".checkpoint")


def unit_digest(config: ExperimentConfig, data_config: SyntheticDataConfig) -> str:
    """SHA-256 of the unit's settings (`config_settings`): a checkpoint belongs to the config that wrote it."""
    return settings_digest({"experiment": config_settings(config), "data": config_settings(data_config)})


def write_checkpoint(
    path: Path, digest: str, unit: SyntheticUnit, objective: RecordedCalls, iterations: int, optimizer
) -> None:
    """The unit's record so far as an npz (no pickle), written atomically: every call's point and value, the
    objective's noise generator, the optimiser's `replay_state` (JSON) and the torch and numpy random states now.
    digest: `unit_digest`; iterations: the iterations finished."""
    write_checkpoint_file(
        path,
        {
            "format": np.asarray(CHECKPOINT_FORMAT),
            "version": np.asarray(CHECKPOINT_VERSION),
            "config": np.asarray(digest),
            "seed": np.asarray(unit.seed),
            "iterations": np.asarray(iterations),
            "points": np.asarray(objective.points, dtype=np.float64).reshape(len(objective.values), unit.D),
            "values": np.asarray(objective.values, dtype=np.float64),
            "noise_rng": objective.generator.get_state().numpy(),
            "optimizer": json_bytes(optimizer.replay_state()),
            **random_states(),
        },
    )


def read_checkpoint(path: Path, digest: str, unit: SyntheticUnit, budget: int | None) -> dict[str, np.ndarray]:
    """A unit's checkpoint, checked; `DamagedUnit` (one line naming the file) when it cannot be used."""
    required = ("config", "seed", "iterations", "points", "values", "noise_rng", "optimizer", *RANDOM_STATES)
    arrays = read_checkpoint_file(path, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, required)
    if int(arrays["seed"]) != unit.seed or str(arrays["config"]) != digest:
        raise DamagedUnit(f"{path}: the checkpoint of another unit or config")
    n = arrays["values"].shape
    if (
        len(n) != 1
        or arrays["points"].shape != (*n, unit.D)
        or (budget is not None and n[0] > budget)
        or not np.isfinite(arrays["values"]).all()
    ):
        raise DamagedUnit(f"{path}: inconsistent arrays ({n[0] if n else '?'} calls)")
    return arrays


def run_unit(
    config: ExperimentConfig, data_config: SyntheticDataConfig, unit: SyntheticUnit, checkpoint_dir=None
) -> dict:
    """Run the configured method on one objective from θ_0 = 0.5·1; return the arrays to save.

    With `checkpoint_dir` (the run directory), the unit's record is written there on `gibo.checkpoint`'s
    schedule (every 2 iterations unless a write would cost more than 2 % of the unit's time; a resume repeats at
    most the interval its checkpoint set) by `write_checkpoint`, and a unit that finds its checkpoint continues
    from it: the recorded calls are answered from the record, GIBO, MPD, vanilla BO and TuRBO take the recorded
    points and saved fits instead of computing them (`Optimizer.begin_replay`), the noise generator and the
    random states are restored where the record ends, and the result is bitwise the same as an uninterrupted
    unit's (on the same machine and libraries). A damaged checkpoint is moved aside
    (`<name>.damaged`) with a warning and the unit starts from call 0.
    """
    dataset = load_data(data_config, unit.D)
    if unit.index >= dataset.num_objectives:
        raise ConfigError(
            f"{data_file(data_config, unit.D)}: holds {dataset.num_objectives} objectives, unit asks for #{unit.index}"
        )
    torch.manual_seed(unit.seed)
    np.random.seed(unit.seed % 2**32)
    resolved = resolved_config(config, data_config, unit.D)
    objective = RecordedCalls(dataset.objective(unit.index, seed=unit.seed))
    checkpoint = checkpoint_file(checkpoint_dir, unit) if checkpoint_dir is not None else None
    digest = unit_digest(config, data_config)
    record = None
    if checkpoint is not None:
        clear_temporaries(checkpoint)
    if checkpoint is not None and checkpoint.is_file():
        try:
            record = read_checkpoint(checkpoint, digest, unit, resolved.max_objective_calls)
            replay_state = from_json_bytes(record["optimizer"])
        except (DamagedUnit, ValueError) as error:
            logger.warning("%s; moved aside to %s, the unit starts from call 0", error, set_aside(checkpoint).name)
            record = None
        else:
            objective.replay(record["points"], record["values"])
            logger.info(
                "%s: continues from its checkpoint at iteration %d, call %d (calls answered from it)",
                unit.name,
                int(record["iterations"]),
                len(record["values"]),
            )
    params_init = torch.full((unit.D,), START_VALUE, dtype=torch.float64)
    optimizer = build_optimizer(resolved, params_init, objective, hypers=true_hypers(config, dataset))
    if record is not None:
        optimizer.begin_replay(replay_state)

    def end_replay() -> None:  # the record is replayed: from here on as the interrupted unit went on
        optimizer.end_replay()
        objective.generator.set_state(torch.from_numpy(record["noise_rng"].copy()))  # type: ignore[index]
        restore_random_states(record)  # type: ignore[arg-type]  # only called with a record

    result = run_optimization(
        optimizer,
        max_iterations=resolved.max_iterations,
        max_objective_calls=resolved.max_objective_calls,
        on_iteration=checkpointing(
            checkpoint,
            unit.name,
            lambda path, iterations: write_checkpoint(path, digest, unit, objective, iterations, optimizer),
            resume_at=int(record["iterations"]) if record is not None else None,
            end_replay=end_replay,
            replaying=lambda: objective.replaying,
        ),
    )
    values = objective.noise_free(torch.from_numpy(result.params)).numpy()
    arrays = dict(
        params=result.params,
        calls=result.calls,
        values=values,
        f_star=dataset.f_star[unit.index],
        seed=unit.seed,
    )
    arrays.update(optimizer.diagnostics())
    return arrays


def remove_checkpoint(run_dir, unit: SyntheticUnit) -> None:
    """Delete the checkpoint of a unit whose file is saved (a finished unit needs none)."""
    try:
        checkpoint_file(run_dir, unit).unlink(missing_ok=True)
    except OSError as error:  # harmless: a resume finds the unit done and removes it then
        logger.warning("%s: cannot remove its checkpoint (%s)", unit.name, error)


def load_results(run_dir) -> dict:
    """{D: {"values": list of `T_i+1` arrays, "calls": list of arrays, "f_star": `n` array, "budget": the run's
    max_objective_calls or None}} from a run directory. Every file is checked (`read_unit_file`): a damaged
    one raises `DamagedUnit`, one line that names it and the command that runs it again."""
    budget = run_budget(run_dir)
    results: dict = {}
    for path in sorted(Path(run_dir).glob("dim*/objective*.npz")):
        D = int(path.parent.name[3:])
        try:
            unit = read_unit_file(path, budget)
        except DamagedUnit as error:
            raise DamagedUnit(
                f"{error} (run_synthetic_experiment.py with --resume --out-dir {run_dir} sets it aside and runs it "
                "again)"
            ) from None
        entry = results.setdefault(D, {"values": [], "calls": [], "f_star": [], "budget": budget})
        entry["values"].append(unit["values"])
        entry["calls"].append(unit["calls"])
        entry["f_star"].append(float(unit["f_star"]))
    for entry in results.values():
        entry["f_star"] = np.asarray(entry["f_star"])
    return dict(sorted(results.items()))


def config_record(config: ExperimentConfig, data_config: SyntheticDataConfig) -> dict:
    """What is saved beside the results: the experiment config and its values resolved for each D."""
    experiment = config_to_dict(config)
    experiment.pop("out_dir")  # where the record lives; may differ between a run and its resume
    return {
        "experiment": experiment,
        "resolved": {
            D: config_to_dict(resolved_config(config, data_config, D).optimizer_config) for D in data_config.dimensions
        },
        "data": config_to_dict(data_config),
    }


def reread_record(saved: dict) -> dict:
    """A saved `config_record` as this code resolves it (settings added since it was saved take their defaults)."""
    config = parse_experiment_config({**saved["experiment"], "out_dir": ""}, source="saved config")
    return config_record(config, SyntheticDataConfig.model_validate(saved["data"]))

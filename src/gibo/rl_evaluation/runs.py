"""The saved trials of RL runs: loading them with the config saved beside them (checked, one
`EvaluationError` line when unusable), and the offline curves of an evaluated run."""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from gibo.config import ExperimentConfig, load_experiment_config, parse_experiment_config
from gibo.evaluate import step_function
from gibo.results import CONFIG_FILE, DamagedUnit, read_unit
from gibo.rl_experiment import check_rl_config, environment_name

logger = logging.getLogger("gibo.rl_evaluation")  # one name for the whole package in the log

METHOD_LABELS = {
    "gibo": "GIBO",
    "rs": "ARS",
    "vbo": "Vanilla BO",
    "cmaes": "CMA-ES",
    "mpd": "MPD",
    "turbo": "TuRBO",
    "les": "LES",
}
# Config file stems that are just the method's main run (no suffix in the legend).
_PLAIN_STEMS = {"", "default", "10runs"}
TRIAL_PATTERN = "trial[0-9][0-9][0-9].npz"


class EvaluationError(ValueError):
    """Results a user points at are missing or unusable; the message is one line naming the path."""


@dataclass
class RLRun:
    """One config's saved trials.

    `config` is the experiment as saved beside the trials (it defines the environment and the policy);
    `source` is the config file the user named.
    """

    source: str
    config: ExperimentConfig
    run_dir: Path
    trial_files: list[Path]
    label: str

    @property
    def environment(self) -> str:
        return environment_name(self.config)


def trial_std(values: np.ndarray) -> np.ndarray:
    """Standard deviation over trials (axis 0) with the n − 1 divisor, as the paper's numbers use; 0 for one trial."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        counts = np.sum(~np.isnan(values), axis=0)
        return np.where(counts > 1, np.nanstd(values, axis=0, ddof=1) if values.shape[0] > 1 else 0.0, 0.0)


@dataclass
class OfflineCurve:
    """One trial: offline reward R_t (`T`) of each iterate and the calls c_t (`T`) after which it existed."""

    calls: np.ndarray
    rewards: np.ndarray
    seed: int

    def on_grid(self, grid: np.ndarray) -> np.ndarray:
        """R(n) on the call grid (`G` → `G`)."""
        return step_function(self.rewards, self.calls, grid)

    def calls_to_reach(self, threshold: float) -> int | None:
        """The first call count after which an iterate with R_t ≥ threshold existed (None if never)."""
        reached = np.flatnonzero(self.rewards >= threshold)
        return int(self.calls[reached[0]]) if reached.size else None


@dataclass
class EvaluatedRun:
    run: RLRun
    curves: list[OfflineCurve] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.run.label

    @property
    def max_calls(self) -> int:
        return max(int(c.calls[-1]) for c in self.curves)

    def rewards_on_grid(self, grid: np.ndarray) -> np.ndarray:
        """`n_trials x G` offline reward step functions."""
        return np.stack([c.on_grid(grid) for c in self.curves])

    @property
    def budget(self) -> int:
        """The run's call budget (its config's max_objective_calls, else the calls its trials made)."""
        budget = self.run.config.max_objective_calls if self.run is not None else None
        return budget or self.max_calls

    def summary(self, calls: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std over trials of R(n) at the given call counts (NaN past the budget)."""
        grid = np.asarray(calls)
        values = self.rewards_on_grid(grid)
        values[:, grid > self.budget] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN: n/a
            return np.nanmean(values, axis=0), trial_std(values)


def default_label(config: ExperimentConfig, source: str) -> str:
    """The method's name, plus the config's distinguishing suffix (e.g. "GIBO (no gradient normalization)")."""
    name = METHOD_LABELS.get(config.method, config.method)
    stem = Path(source).stem
    suffix = stem[len(config.method) :].strip("_") if stem.startswith(config.method) else stem
    if suffix in _PLAIN_STEMS:
        return name
    return f"{name} ({suffix.replace('_', ' ')})"


def load_run(config_path, run_dir=None, label: str | None = None) -> RLRun:
    """The trials of `config_path` in `run_dir` (default: the config's out_dir).

    Raises ConfigError for a bad config and EvaluationError for missing results, one line each.
    """
    config_path = str(config_path)
    config = load_experiment_config(config_path)
    check_rl_config(config, config_path)
    run_dir = Path(run_dir if run_dir is not None else config.out_dir)
    if not run_dir.is_dir():
        raise EvaluationError(
            f"{config_path}: out_dir {run_dir} not found (run run_rl_experiment.py -c {config_path} first)"
        )
    trial_files = _trial_files(run_dir, config_path)
    saved = run_dir / CONFIG_FILE
    if saved.is_file():
        config = _saved_config(saved, run_dir)
    else:
        logger.warning("%s missing: evaluating with the policy of %s", saved, config_path)
    _check_trials(trial_files, config, run_dir)
    return RLRun(config_path, config, run_dir, trial_files, label or default_label(config, config_path))


def load_saved_run(run_dir, label: str | None = None) -> RLRun:
    """The trials in `run_dir` with the config that run_rl_experiment.py saved beside them (no config file needed).

    Raises EvaluationError (one line naming the path) when `config.yaml` or the trials are missing.
    """
    run_dir = Path(run_dir)
    saved = run_dir / CONFIG_FILE
    if not saved.is_file():
        raise EvaluationError(f"{saved}: not found (not a run directory of run_rl_experiment.py)")
    config = _saved_config(saved, run_dir)
    trial_files = _trial_files(run_dir, str(saved))
    _check_trials(trial_files, config, run_dir)
    return RLRun(str(saved), config, run_dir, trial_files, label or METHOD_LABELS.get(config.method, config.method))


def _trial_files(run_dir: Path, source: str) -> list[Path]:
    trial_files = sorted(run_dir.glob(TRIAL_PATTERN))
    if not trial_files:
        raise EvaluationError(f"{source}: no trials ({TRIAL_PATTERN}) in {run_dir}")
    return trial_files


def _check_trials(trial_files: Sequence[Path], config: ExperimentConfig, run_dir: Path) -> None:
    """Every trial file readable, with its arrays, within the run's budget; else one EvaluationError line."""
    for path in trial_files:
        checked_trial(path, config.max_objective_calls, run_dir)


def checked_trial(path, budget: int | None, run_dir, raw: bytes | None = None) -> dict[str, np.ndarray]:
    try:
        return read_unit(io.BytesIO(raw) if raw is not None else path, ("params", "calls", "seed"), budget, source=path)
    except DamagedUnit as error:
        raise EvaluationError(
            f"{error} (run_rl_experiment.py with --resume --out-dir {run_dir} sets it aside and runs it again)"
        ) from None


def _saved_config(path: Path, run_dir: Path) -> ExperimentConfig:
    try:
        record = yaml.safe_load(path.read_text())
        experiment = dict(record["experiment"])
    except (yaml.YAMLError, TypeError, KeyError):
        raise EvaluationError(f"{path}: not a config saved by run_rl_experiment.py (no 'experiment' mapping)") from None
    config = parse_experiment_config({**experiment, "out_dir": str(run_dir)}, str(path))
    check_rl_config(config, str(path))
    return config


def load_runs(
    config_paths: Sequence,
    run_dirs: Sequence | None = None,
    labels: Sequence | None = None,
    skip_missing: bool = False,
) -> list[RLRun]:
    """`load_run` for each config; with `skip_missing` configs without results are logged and left out."""
    n = len(config_paths)
    run_dirs = list(run_dirs) if run_dirs else [None] * n
    labels = list(labels) if labels else [None] * n
    if len(run_dirs) != n or len(labels) != n:
        raise EvaluationError(f"{n} config(s) but {len(run_dirs)} result dir(s) and {len(labels)} label(s)")
    runs = []
    for path, run_dir, label in zip(config_paths, run_dirs, labels):
        try:
            runs.append(load_run(path, run_dir, label))
        except EvaluationError as error:
            if not skip_missing:
                raise
            logger.warning("skipped: %s", error)
    return runs

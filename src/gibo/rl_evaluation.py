"""Offline evaluation of reinforcement-learning runs (docs/experiments.md#reinforcement-learning), shared by `evaluation_rl_experiment.py`
and `notebooks/evaluation_rl_experiment.ipynb`.

After a run, every recorded iterate θ_t (raw-state parameters) is evaluated once on the raw environment
(no reward shift/scale, no state normalisation): R_t = return of one episode. The curve of a trial is
the step function R(n) = R_t for the last iterate t finished within n calls; figures show mean ± std over
trials. The offline rewards of a trial are cached beside its file (`trialNNN.offline.npz`) or in a cache
directory, and recomputed when the trial file has changed since (SHA-256 of its bytes). Trial files are checked
when a run is loaded (a damaged one is one `EvaluationError` line); a damaged cache file is moved aside
(`.damaged`) with a warning and recomputed.

Example:
    >>> runs = load_runs(["configs/rl_experiment/swimmer/gibo.yaml", "configs/rl_experiment/swimmer/rs.yaml"])
    >>> results = [evaluate_run(run) for run in runs]
    >>> fig = plot_reward_curves(results); fig.savefig("swimmer.pdf")
"""

from __future__ import annotations

import hashlib
import io
import logging
import warnings
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import yaml

from gibo.config import ExperimentConfig, load_experiment_config, parse_experiment_config
from gibo.environment_api import make_env, offline_rewards
from gibo.evaluate import step_function
from gibo.results import CONFIG_FILE, DamagedUnit, check_arrays, read_unit, save_unit, set_aside
from gibo.rl_experiment import build_policy, check_rl_config
from gibo.runner import UnitsFailed, run_units

logger = logging.getLogger(__name__)

METHOD_LABELS = {"gibo": "GIBO", "rs": "ARS", "vbo": "Vanilla BO", "cmaes": "CMA-ES", "mpd": "MPD", "turbo": "TuRBO"}
# Config file stems that are just the method's main run (no suffix in the legend).
_PLAIN_STEMS = {"", "default", "10runs"}
# Reward thresholds the paper quotes (dashed line in the figures); CartPole's maximum return is 500.
THRESHOLDS = {"CartPole": 500.0, "Swimmer": 325.0, "Hopper": 3120.0}
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")

TRIAL_PATTERN = "trial[0-9][0-9][0-9].npz"
CACHE_SUFFIX = ".offline.npz"
CACHE_VERSION = 2
CACHE_ARRAYS = ("calls", "rewards", "seed", "eval_seed", "environment", "version", "trial_sha256")
# Evaluation episodes use seeds disjoint from the ones the trial was optimised on (trial seed + offset).
EVAL_SEED_OFFSET = 1_000_000


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
    trial_files: List[Path]
    label: str

    @property
    def environment(self) -> str:
        return self.config.environment_name


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

    def calls_to_reach(self, threshold: float) -> Optional[int]:
        """The first call count after which an iterate with R_t ≥ threshold existed (None if never)."""
        reached = np.flatnonzero(self.rewards >= threshold)
        return int(self.calls[reached[0]]) if reached.size else None


@dataclass
class EvaluatedRun:
    run: RLRun
    curves: List[OfflineCurve] = field(default_factory=list)

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

    def summary(self, calls: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
        """Mean and std over trials of R(n) at the given call counts (NaN past the budget)."""
        calls = np.asarray(calls)
        values = self.rewards_on_grid(calls)
        values[:, calls > self.budget] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN: n/a
            return np.nanmean(values, axis=0), trial_std(values)


# ----------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------


def default_label(config: ExperimentConfig, source: str) -> str:
    """The method's name, plus the config's distinguishing suffix (e.g. "GIBO (no gradient normalization)")."""
    name = METHOD_LABELS.get(config.method, config.method)
    stem = Path(source).stem
    suffix = stem[len(config.method) :].strip("_") if stem.startswith(config.method) else stem
    if suffix in _PLAIN_STEMS:
        return name
    return f"{name} ({suffix.replace('_', ' ')})"


def load_run(config_path, run_dir=None, label: Optional[str] = None) -> RLRun:
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


def load_saved_run(run_dir, label: Optional[str] = None) -> RLRun:
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


def _trial_files(run_dir: Path, source: str) -> List[Path]:
    trial_files = sorted(run_dir.glob(TRIAL_PATTERN))
    if not trial_files:
        raise EvaluationError(f"{source}: no trials ({TRIAL_PATTERN}) in {run_dir}")
    return trial_files


def _check_trials(trial_files: Sequence[Path], config: ExperimentConfig, run_dir: Path) -> None:
    """Every trial file readable, with its arrays, within the run's budget; else one EvaluationError line."""
    for path in trial_files:
        _checked_trial(path, config.max_objective_calls, run_dir)


def _checked_trial(path, budget: Optional[int], run_dir, raw: Optional[bytes] = None) -> Dict[str, np.ndarray]:
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
    run_dirs: Optional[Sequence] = None,
    labels: Optional[Sequence] = None,
    skip_missing: bool = False,
) -> List[RLRun]:
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


# ----------------------------------------------------------------------------------------------
# Offline evaluation with a cache
# ----------------------------------------------------------------------------------------------


def cache_file(trial_file: Path, cache_dir=None) -> Path:
    """Where a trial's offline rewards are cached: beside it, or under `cache_dir` keyed by the run directory."""
    trial_file = Path(trial_file)
    name = trial_file.name[: -len(".npz")] + CACHE_SUFFIX
    if cache_dir is None:
        return trial_file.with_name(name)
    key = str(trial_file.parent.resolve()).strip(os.sep).replace(os.sep, "__")
    return Path(cache_dir) / key / name


def _read_cache(path: Path, fingerprint: str, environment: str, eval_seed: int) -> Optional[OfflineCurve]:
    """The cached curve when it is for this trial file, environment and seed; None when there is none or it
    is stale. A damaged cache file is moved aside (`.damaged`) with a warning: it is then recomputed."""
    if not path.is_file():
        return None
    try:
        data = read_unit(path)
        if "version" in data and int(data["version"]) != CACHE_VERSION:
            return None  # an older format: stale, not damaged
        check_arrays(data, path, CACHE_ARRAYS)
        if data["rewards"].shape != data["calls"].shape:
            raise DamagedUnit(
                f"{path}: 'rewards' has shape {data['rewards'].shape}, expected one per iterate {data['calls'].shape}"
            )
    except DamagedUnit as error:
        logger.warning("offline-reward cache %s; moved to %s, computing it again", error, set_aside(path).name)
        return None
    if (
        int(data.get("version", -1)) != CACHE_VERSION
        or str(data.get("environment", "")) != environment
        or int(data.get("eval_seed", -1)) != eval_seed
        or str(data.get("trial_sha256", "")) != fingerprint
    ):
        return None
    return OfflineCurve(calls=data["calls"], rewards=data["rewards"], seed=int(data["seed"]))


def _read_trial(trial_file: Path) -> Tuple[Dict[str, np.ndarray], str]:
    """The trial's arrays and the SHA-256 of its bytes (one read): the cache is valid exactly as long as
    the trial file is unchanged."""
    raw = Path(trial_file).read_bytes()
    trial = _checked_trial(trial_file, None, Path(trial_file).parent, raw)
    return trial, hashlib.sha256(raw).hexdigest()


def _fresh_cache(
    run: RLRun, trial_file: Path, trial: Dict[str, np.ndarray], fingerprint: str, cache_dir=None
) -> Optional[OfflineCurve]:
    cached = _read_cache(
        cache_file(trial_file, cache_dir), fingerprint, run.environment, int(trial["seed"]) + EVAL_SEED_OFFSET
    )
    return cached if cached is not None and cached.calls.shape == trial["calls"].shape else None


def offline_arrays(run: RLRun, trial_file) -> Dict[str, np.ndarray]:
    """Evaluate every iterate of one trial on the raw environment; return the arrays of its cache file."""
    return _offline_arrays(run, Path(trial_file), *_read_trial(trial_file))


def _offline_arrays(
    run: RLRun, trial_file: Path, trial: Dict[str, np.ndarray], fingerprint: str
) -> Dict[str, np.ndarray]:
    seed = int(trial["seed"])
    eval_seed = seed + EVAL_SEED_OFFSET
    env = make_env(run.environment)
    try:
        policy = build_policy(run.config, env)
        if trial["params"].ndim != 2 or trial["params"].shape[1] != policy.n_params:
            raise EvaluationError(
                f"{trial_file}: params have shape {trial['params'].shape}, the policy of {run.source} has {policy.n_params}"
            )
        rewards = offline_rewards(env, policy, trial["params"], seed=eval_seed)
    finally:
        env.close()
    bad = np.flatnonzero(~np.isfinite(rewards))
    if bad.size:
        raise EvaluationError(
            f"{trial_file}: offline reward of iterate {bad[0]} is {rewards[bad[0]]} on {run.environment}"
        )
    return dict(
        calls=np.asarray(trial["calls"], dtype=np.int64),
        rewards=rewards,
        seed=seed,
        eval_seed=eval_seed,
        environment=run.environment,
        version=CACHE_VERSION,
        trial_sha256=fingerprint,
    )


def evaluate_trial(run: RLRun, trial_file, cache_dir=None, refresh: bool = False) -> Tuple[OfflineCurve, bool]:
    """Offline rewards of every iterate of one trial; returns (curve, whether it came from the cache)."""
    trial_file = Path(trial_file)
    trial, fingerprint = _read_trial(trial_file)
    if not refresh:
        cached = _fresh_cache(run, trial_file, trial, fingerprint, cache_dir)
        if cached is not None:
            return cached, True
    arrays = _offline_arrays(run, trial_file, trial, fingerprint)
    save_unit(cache_file(trial_file, cache_dir), **arrays)
    return OfflineCurve(calls=arrays["calls"], rewards=arrays["rewards"], seed=int(arrays["seed"])), False


def _evaluate_unit(unit: Tuple[RLRun, Path]) -> Dict[str, np.ndarray]:
    return offline_arrays(*unit)


def evaluate_in_parallel(
    runs: Sequence[RLRun], cache_dir=None, refresh: bool = False, workers: int = 2, ray_address: Optional[str] = None
) -> int:
    """Evaluate the trials of `runs` whose cache is missing or stale as parallel units (gibo.runner, Ray)
    and write their caches; returns how many were evaluated. `evaluate_run` then reads them all from the cache."""
    todo = []
    for run in runs:
        for trial_file in run.trial_files:
            if refresh or _fresh_cache(run, trial_file, *_read_trial(trial_file), cache_dir) is None:
                cache_file(trial_file, cache_dir).unlink(missing_ok=True)  # stale: run_units fills missing files
                todo.append((run, trial_file))
    if todo:
        try:
            run_units(
                todo,
                _evaluate_unit,
                path_of=lambda unit: cache_file(unit[1], cache_dir),
                name_of=lambda unit: str(unit[1]),
                description="offline evaluation",
                workers=workers,
                ray_address=ray_address,
            )
        except UnitsFailed as error:
            raise EvaluationError(str(error).splitlines()[0]) from None
    return len(todo)


def evaluate_run(run: RLRun, cache_dir=None, refresh: bool = False) -> EvaluatedRun:
    """Offline curves of every trial of `run` (cached ones are read, the others evaluated and cached)."""
    evaluated = EvaluatedRun(run)
    n_cached = 0
    for trial_file in run.trial_files:
        curve, from_cache = evaluate_trial(run, trial_file, cache_dir=cache_dir, refresh=refresh)
        evaluated.curves.append(curve)
        n_cached += from_cache
    logger.info(
        "%s (%s): %d trial(s), %d from the cache, %d evaluated",
        run.label,
        run.run_dir,
        len(run.trial_files),
        n_cached,
        len(run.trial_files) - n_cached,
    )
    return evaluated


# ----------------------------------------------------------------------------------------------
# Summaries
# ----------------------------------------------------------------------------------------------


def default_report_calls(max_calls: int) -> List[int]:
    """1/8, 1/4, 1/2 and all of the budget (2000 → 250, 500, 1000, 2000)."""
    return sorted({max(1, int(round(max_calls * f))) for f in (0.125, 0.25, 0.5, 1.0)})


def summary_table(results: Sequence[EvaluatedRun], calls: Sequence[int]) -> str:
    """Mean ± std (over trials) of the offline reward at the given calls, one row per run."""
    width = max([len(r.label) for r in results] + [8])
    lines = ["calls".ljust(width) + "".join(f"{c:>18d}" for c in calls) + "  trials"]
    for result in results:
        mean, std = result.summary(calls)
        cells = "".join(f"{'n/a' if np.isnan(m) else f'{m:.1f} ± {s:.1f}':>18s}" for m, s in zip(mean, std))
        lines.append(result.label.ljust(width) + cells + f"  {len(result.curves):>6d}")
    return "\n".join(lines)


def threshold_table(results: Sequence[EvaluatedRun], threshold: float) -> str:
    """Per trial, the calls after which an iterate reached `threshold` ('-' if none did)."""
    lines = []
    for result in results:
        reached = [c.calls_to_reach(threshold) for c in result.curves]
        cells = ", ".join("-" if r is None else str(r) for r in reached)
        lines.append(f"{result.label}: calls to reach {threshold:g} per trial: {cells}")
    return "\n".join(lines)


def paper_threshold(environment: str) -> Optional[float]:
    return THRESHOLDS.get(environment.split("-")[0])


# ----------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------


def plot_reward_curves(
    results: Sequence[EvaluatedRun],
    ax=None,
    title: Optional[str] = None,
    max_calls: Optional[int] = None,
    threshold: Optional[float] = None,
    legend: bool = True,
):
    """Mean ± std over trials of the offline reward vs. the number of rollouts, one curve per run.

    Draws into `ax` (a new figure if None) and returns the figure. The title defaults to the environment.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(5.0, 3.6))
    else:
        fig = ax.figure
    if not results:  # a notebook panel whose runs are all missing
        ax.text(0.5, 0.5, "no results", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(title or "")
        return fig
    top = max_calls or max(r.max_calls for r in results)
    grid = np.arange(0, top + 1)
    markevery = max(1, len(grid) // 10)
    for i, result in enumerate(results):
        values = result.rewards_on_grid(grid)
        mean, std = np.nanmean(values, axis=0), trial_std(values)
        n = len(result.curves)
        (line,) = ax.plot(
            grid,
            mean,
            label=f"{result.label}, {n} run{'s' if n != 1 else ''}",
            marker=MARKERS[i % len(MARKERS)],
            markevery=(i * markevery // len(results), markevery),  # staggered so markers do not overlap
            markersize=5,
            drawstyle="steps-post",
        )
        ax.fill_between(grid, mean - std, mean + std, step="post", color=line.get_color(), alpha=0.2, linewidth=0)
    if threshold is not None:
        ax.axhline(threshold, color="k", linestyle="--", linewidth=0.8, label=f"threshold {threshold:g}")
    environments = sorted({r.run.environment for r in results})
    ax.set_title(title if title is not None else ", ".join(environments))
    ax.set_xlabel("number of rollouts")
    ax.set_ylabel("reward")
    ax.set_xlim(0, top)
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def evaluate_configs(
    config_paths: Sequence,
    run_dirs: Optional[Sequence] = None,
    labels: Optional[Sequence] = None,
    cache_dir=None,
    refresh: bool = False,
    skip_missing: bool = False,
    workers: int = 1,
    ray_address: Optional[str] = None,
) -> List[EvaluatedRun]:
    """load_runs + evaluate_run for each config; with workers > 1 (or a Ray address) the trials that need
    evaluating run in parallel first (results identical: each trial's evaluation is seeded)."""
    runs = load_runs(config_paths, run_dirs, labels, skip_missing=skip_missing)
    if workers > 1 or ray_address:
        evaluate_in_parallel(runs, cache_dir=cache_dir, refresh=refresh, workers=workers, ray_address=ray_address)
        refresh = False  # everything was just (re)evaluated
    return [evaluate_run(run, cache_dir=cache_dir, refresh=refresh) for run in runs]


def environments_of(results: Sequence[EvaluatedRun]) -> Dict[str, List[EvaluatedRun]]:
    grouped: Dict[str, List[EvaluatedRun]] = {}
    for result in results:
        grouped.setdefault(result.run.environment, []).append(result)
    return grouped


__all__ = [
    "EvaluationError",
    "RLRun",
    "OfflineCurve",
    "EvaluatedRun",
    "load_run",
    "load_runs",
    "load_saved_run",
    "evaluate_trial",
    "evaluate_run",
    "evaluate_in_parallel",
    "offline_arrays",
    "evaluate_configs",
    "cache_file",
    "default_label",
    "default_report_calls",
    "summary_table",
    "threshold_table",
    "paper_threshold",
    "plot_reward_curves",
    "environments_of",
]

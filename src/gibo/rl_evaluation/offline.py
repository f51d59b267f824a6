"""Offline evaluation with a cache: every iterate of a trial evaluated once on the raw environment, cached
beside the trial (or in a cache directory) and recomputed when the trial file changed; in parallel through
`gibo.runner`."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gibo.environment_api import make_env, offline_rewards
from gibo.results import DamagedUnit, check_arrays, read_unit, save_unit, set_aside
from gibo.rl_evaluation.runs import EvaluatedRun, EvaluationError, OfflineCurve, RLRun, checked_trial, load_runs
from gibo.rl_experiment import build_policy
from gibo.runner import UnitsFailed, run_units

logger = logging.getLogger("gibo.rl_evaluation")  # one name for the whole package in the log

CACHE_SUFFIX = ".offline.npz"
CACHE_VERSION = 2
CACHE_ARRAYS = ("calls", "rewards", "seed", "eval_seed", "environment", "version", "trial_sha256")
# Evaluation episodes use seeds disjoint from the ones the trial was optimised on (trial seed + offset).
EVAL_SEED_OFFSET = 1_000_000


def cache_file(trial_file: Path, cache_dir=None) -> Path:
    """Where a trial's offline rewards are cached: beside it, or under `cache_dir` keyed by the run directory."""
    trial_file = Path(trial_file)
    name = trial_file.name[: -len(".npz")] + CACHE_SUFFIX
    if cache_dir is None:
        return trial_file.with_name(name)
    key = str(trial_file.parent.resolve()).strip(os.sep).replace(os.sep, "__")
    return Path(cache_dir) / key / name


def _read_cache(path: Path, fingerprint: str, environment: str, eval_seed: int) -> OfflineCurve | None:
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


def _read_trial(trial_file: Path) -> tuple[dict[str, np.ndarray], str]:
    """The trial's arrays and the SHA-256 of its bytes (one read): the cache is valid exactly as long as
    the trial file is unchanged."""
    raw = Path(trial_file).read_bytes()
    trial = checked_trial(trial_file, None, Path(trial_file).parent, raw)
    return trial, hashlib.sha256(raw).hexdigest()


def _fresh_cache(
    run: RLRun, trial_file: Path, trial: dict[str, np.ndarray], fingerprint: str, cache_dir=None
) -> OfflineCurve | None:
    cached = _read_cache(
        cache_file(trial_file, cache_dir), fingerprint, run.environment, int(trial["seed"]) + EVAL_SEED_OFFSET
    )
    return cached if cached is not None and cached.calls.shape == trial["calls"].shape else None


def offline_arrays(run: RLRun, trial_file) -> dict[str, Any]:
    """Evaluate every iterate of one trial on the raw environment; return the arrays of its cache file."""
    return _offline_arrays(run, Path(trial_file), *_read_trial(trial_file))


def _offline_arrays(run: RLRun, trial_file: Path, trial: dict[str, np.ndarray], fingerprint: str) -> dict[str, Any]:
    seed = int(trial["seed"])
    eval_seed = seed + EVAL_SEED_OFFSET
    env = make_env(run.environment)
    try:
        policy = build_policy(run.config, env)
        if trial["params"].ndim != 2 or trial["params"].shape[1] != policy.n_params:
            raise EvaluationError(
                f"{trial_file}: params have shape {trial['params'].shape}, the policy of {run.source} has "
                f"{policy.n_params}"
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


def evaluate_trial(run: RLRun, trial_file, cache_dir=None, refresh: bool = False) -> tuple[OfflineCurve, bool]:
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


def _evaluate_unit(unit: tuple[RLRun, Path]) -> dict[str, Any]:
    return offline_arrays(*unit)


def evaluate_in_parallel(
    runs: Sequence[RLRun], cache_dir=None, refresh: bool = False, workers: int = 2, ray_address: str | None = None
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


def evaluate_configs(
    config_paths: Sequence,
    run_dirs: Sequence | None = None,
    labels: Sequence | None = None,
    cache_dir=None,
    refresh: bool = False,
    skip_missing: bool = False,
    workers: int = 1,
    ray_address: str | None = None,
) -> list[EvaluatedRun]:
    """load_runs + evaluate_run for each config; with workers > 1 (or a Ray address) the trials that need
    evaluating run in parallel first (results identical: each trial's evaluation is seeded)."""
    runs = load_runs(config_paths, run_dirs, labels, skip_missing=skip_missing)
    if workers > 1 or ray_address:
        evaluate_in_parallel(runs, cache_dir=cache_dir, refresh=refresh, workers=workers, ray_address=ray_address)
        refresh = False  # everything was just (re)evaluated
    return [evaluate_run(run, cache_dir=cache_dir, refresh=refresh) for run in runs]

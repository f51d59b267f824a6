"""Checkpoints inside long units (an RL or LQR trial, a synthetic unit): the unit's record so far as an npz (no
pickle), written atomically, read back checked, and what a resume restores where the record ends (the random
states, the optimiser's `replay_state`).

The schedule and its bound: the first checkpoint is written after iteration `CHECKPOINT_EVERY` (N = 2) and each
one sets when the next is written, N iterations later, or more where writing it cost more than
`CHECKPOINT_COST` (2 %) of the time N iterations took: then the interval is the smallest that keeps a write at
2 % of it (`next_interval`). A due checkpoint is always written (none is skipped), and a resume continues from the
last one written, so it repeats at most the interval that checkpoint set: the finished iterations after it (all
of them when the kill lands inside the next write) and the one that was running. The interval is logged with
each write ("checkpoint at iteration K written in S s; the next after N more iterations"). Where an iteration
takes seconds it stays near N; docs/faults.md has the intervals and costs measured.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from gibo.config import config_to_dict
from gibo.results import DamagedUnit

if TYPE_CHECKING:
    from gibo.loop import IterationDriver

logger = logging.getLogger(__name__)

CHECKPOINT_EVERY = 2  # N: the least interval between checkpoints, in iterations
CHECKPOINT_COST = 0.02  # a write may cost at most this fraction of the iterations' time since the last one


def next_interval(write_s: float, iteration_s: float) -> int:
    """Iterations until the next checkpoint: `CHECKPOINT_EVERY`, or more where a write that took `write_s`
    seconds would cost more than `CHECKPOINT_COST` of that many iterations of `iteration_s` seconds each."""
    if iteration_s <= 0:
        return CHECKPOINT_EVERY
    return max(CHECKPOINT_EVERY, math.ceil(write_s / (CHECKPOINT_COST * iteration_s)))


def config_settings(config) -> dict:
    """A config's settings as a checkpoint's digest names them: out_dir aside, and keys at their defaults left out,
    so that a later version adding a key (defaulting to what was done before) still resumes an earlier one's
    checkpoints."""
    settings = config_to_dict(config, exclude_defaults=True)
    settings.pop("out_dir", None)
    return settings


def settings_digest(settings: dict) -> str:
    """SHA-256 of a unit's settings (JSON, keys sorted): a checkpoint belongs to the settings that wrote it."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def random_states() -> dict[str, np.ndarray]:
    """torch's and numpy's global random states now, as arrays (`restore_random_states`)."""
    _, keys, position, has_gauss, cached = np.random.get_state()
    return {
        "torch_rng": torch.get_rng_state().numpy(),
        "numpy_rng_keys": np.asarray(keys, dtype=np.uint32),
        "numpy_rng_state": np.asarray([position, has_gauss, cached], dtype=np.float64),
    }


RANDOM_STATES = ("torch_rng", "numpy_rng_keys", "numpy_rng_state")


def restore_random_states(record: dict[str, np.ndarray]) -> None:
    """Set torch's and numpy's global random states to those of `random_states` in `record`."""
    torch.set_rng_state(torch.from_numpy(record["torch_rng"].copy()))
    position, has_gauss, cached = record["numpy_rng_state"]
    np.random.set_state(("MT19937", record["numpy_rng_keys"], int(position), int(has_gauss), float(cached)))


def json_bytes(data: Any) -> np.ndarray:
    """JSON data as a uint8 array (an npz without pickle holds no objects); `from_json_bytes` reads it."""
    return np.frombuffer(json.dumps(data).encode(), dtype=np.uint8)


def from_json_bytes(array: np.ndarray) -> Any:
    return json.loads(array.tobytes().decode())


def temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}_{secrets.token_hex(4)}.tmp")


def clear_temporaries(path: Path) -> None:
    """Remove the temporary files a killed writer of `path` left (only one process runs a unit: the run
    directory's lock and Ray's one task per unit)."""
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)


def write_checkpoint_file(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write `arrays` as an npz to a temporary name beside `path` and rename it: a kill leaves the previous one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        with open(tmp, "wb") as file:
            np.savez(file, **arrays)  # type: ignore[arg-type]  # stub: **kwds vs allow_pickle
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_checkpoint_file(path: Path, form: str, version: int, required: tuple[str, ...]) -> dict[str, np.ndarray]:
    """An npz checkpoint's arrays, its `format` and `version` checked and `required` present; `DamagedUnit` (one
    line naming the file) otherwise."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except Exception as error:  # truncated, overwritten, not a zip, pickled content: all mean damaged
        raise DamagedUnit(f"{path}: not a readable checkpoint ({type(error).__name__}: {error})") from None
    missing = [name for name in ("format", "version", *required) if name not in arrays]
    if missing or str(arrays["format"]) != form or int(arrays["version"]) != version:
        raise DamagedUnit(f"{path}: not a {form} this gibo reads ({', '.join(missing) or 'format'})")
    return arrays


class RecordedCalls:
    """J(θ) that keeps every call's point and value (`points`, `values`), and answers the first calls from a
    record instead of evaluating them (`replay`: a unit resumed from its checkpoint); other attributes pass
    through to the wrapped objective.

    Example:
        >>> f = RecordedCalls(objective); f(theta)             # evaluated, kept
        >>> g = RecordedCalls(objective); g.replay(f.points, f.values); g(theta)  # answered from the record
    """

    def __init__(self, objective) -> None:
        self.objective = objective
        self.points: list[np.ndarray] = []  # `D` each, as the optimiser gave them (the record's, replaying)
        self.values: list[float] = []
        self._record: tuple[np.ndarray, np.ndarray] | None = None
        self.replayed_point: torch.Tensor | None = None  # replaying: the recorded point of the last call

    def replay(self, points: np.ndarray, values: np.ndarray) -> None:
        """Answer the next `len(values)` calls with `values`, made at `points` (`N x D`)."""
        self._record = (np.asarray(points, dtype=np.float64), np.asarray(values, dtype=np.float64))

    @property
    def replaying(self) -> bool:
        """Whether the calls so far are all answered from the record (the record's last one included)."""
        return self._record is not None and len(self.values) <= len(self._record[1])

    def __call__(self, params: torch.Tensor) -> torch.Tensor:
        """params: `D` → scalar tensor."""
        k = len(self.values)
        if self._record is not None and k < len(self._record[1]):
            point = self._record[0][k]
            self.replayed_point = torch.as_tensor(point, dtype=torch.float64)
            dtype = params.dtype if params.is_floating_point() else torch.float64
            value = torch.tensor(float(self._record[1][k]), dtype=dtype)
        else:
            self.replayed_point = None
            point = params.detach().cpu().numpy().astype(np.float64).reshape(-1).copy()
            value = torch.as_tensor(self.objective(params))
        self.points.append(point)
        self.values.append(float(value))
        return value

    def __getattr__(self, name):
        # Only reached for attributes not set on the wrapper itself (noise_free, D, hooks of the objective).
        if name == "objective":
            raise AttributeError(name)
        return getattr(self.objective, name)


def checkpointing(
    path: Path | None,
    name: str,
    write: Callable[[Path, int], None],
    resume_at: int | None,
    end_replay: Callable[[], None],
    replaying: Callable[[], bool],
) -> Callable[[IterationDriver], None]:
    """The `on_iteration` of a unit with checkpoints.

    At iteration `resume_at` (where the unit's record ends; None without one) it calls `end_replay()` (the
    optimiser computes again, the random states are restored) and logs "replayed to iteration K". Past the
    record (`replaying()` false) it calls `write(path, iterations)` when a checkpoint is due (the module's
    schedule: after `CHECKPOINT_EVERY` iterations, then at the interval `next_interval` sets from the write's time
    and the iterations' time since the last one); a write that fails is logged once as a warning and the unit goes
    on without checkpoints. Every iteration is logged at debug level ("name: iteration k done at call c[,
    checkpoint]"), and so is every write with the interval it sets: `scripts/hopper_kill_resume.py` reads both.
    `path` None: no checkpoints.
    """
    unwritable: list[OSError] = []
    start = resume_at or 0
    # the iteration of the next write, and when (seconds, iteration) the unit's new work began or last wrote
    schedule = {"due": start + CHECKPOINT_EVERY, "since": time.perf_counter(), "at": start}

    def on_iteration(driver: IterationDriver) -> None:
        if resume_at is not None and driver.iterations == resume_at:
            end_replay()
            schedule["since"] = time.perf_counter()
            logger.debug("%s: replayed to iteration %d, call %d; runs on", name, driver.iterations, driver.calls)
        if path is None or unwritable:
            return
        due = driver.iterations >= schedule["due"] and not replaying()
        logger.debug("%s: iteration %d done at call %d%s", name, driver.iterations, driver.calls, ", checkpoint" * due)
        if not due:
            return
        try:
            started = time.perf_counter()
            write(path, driver.iterations)
        except OSError as error:  # e.g. a Ray worker without the run directory: the unit goes on without
            unwritable.append(error)
            logger.warning("%s: cannot write its checkpoint %s (%s); continuing without", name, path, error)
            return
        written = time.perf_counter()
        iteration_s = (started - schedule["since"]) / max(driver.iterations - schedule["at"], 1)
        interval = next_interval(written - started, iteration_s)
        schedule.update(due=driver.iterations + interval, since=written, at=driver.iterations)
        logger.debug(
            "%s: checkpoint at iteration %d written in %.4f s; the next after %d more iterations",
            name,
            driver.iterations,
            written - started,
            interval,
        )

    return on_iteration

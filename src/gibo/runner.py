"""Run independent units (trials; dimension x objective pairs), writing each one's file as soon as it finishes.

Units run one after another in this process (`workers=1`), or side by side as Ray tasks: on a local
Ray instance with `workers` CPUs, or on an existing cluster (`ray_address`). Either way the driver
writes every result with `save_unit` the moment it arrives, so an interrupted run keeps every finished
unit, and units whose file exists are skipped (resume) once their file passes the caller's check: a damaged
file (truncated, overwritten, not this unit's) is moved aside to `<name>.damaged` and the unit runs again.

A unit that raises does not take the others with it: its error is logged with the unit's name and the run
ends with `UnitsFailed` listing every failed unit. A unit whose Ray worker process dies (killed, out of memory)
is run again by Ray, up to `WORKER_RETRIES` times, with one warning line per retry; only then does it count as
failed. An error the unit raises itself is not retried (it would raise again).

A unit file that cannot be written (disk full, permission denied, read-only file system) ends the run at once
with `OutputUnwritable`: one line naming the file, the cause and the units saved so far. Files are written
atomically (`save_unit`), so nothing half-written is left.

Every unit runs with one torch thread, in process and on Ray alike. Intra-op threads change the order
of floating-point sums, so a unit's arrays would differ in the last bits between thread counts and then
drift apart over an optimisation; with one thread everywhere a unit's result is the same whatever the
number of workers (each unit seeds torch and numpy itself). More cores are used by running more units.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from gibo.progress import Progress, reporting, throttled
from gibo.results import DamagedUnit, save_unit, set_aside, write_atomically

logger = logging.getLogger(__name__)


class UnitsFailed(RuntimeError):
    """Some units raised; the others' results are saved."""

    def __init__(self, failures: dict[str, str]):
        self.failures = failures
        first = next(iter(failures.items()))
        super().__init__(f"{len(failures)} unit(s) failed, first {first[0]}: {first[1]}")


# Runs of a unit after the first when its Ray worker process dies (Ray's own retry of system failures).
WORKER_RETRIES = 2


class OutputUnwritable(OSError):
    """A unit's file cannot be written (disk full, permission denied, read-only): the run stops; `saved` names
    the units whose files are there."""

    def __init__(self, path: Path, error: OSError, saved: list[str], total: int):
        self.path, self.saved, self.total = path, saved, total
        self.strerror_ = error.strerror or str(error)
        listed = ", ".join(saved[:8]) + (f", ... ({len(saved) - 8} more)" if len(saved) > 8 else "")
        super().__init__(
            f"{path}: cannot write the unit's file ({self.strerror_}); {len(saved)} of {total} units saved"
            + (f" ({listed})" if saved else "")
        )


class _NotSaved(Exception):
    """A unit's file could not be written (internal: `run_units` turns it into `OutputUnwritable`)."""

    def __init__(self, path: Path, error: OSError):
        self.path, self.error = path, error


class RayUnavailable(RuntimeError):
    """Ray is not installed, or the cluster at the given address cannot be reached."""


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """Run the body with one torch intra-op thread (restored afterwards); a no-op where torch is not loaded."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


Unit = TypeVar("Unit")


def run_units(
    units: Sequence[Unit],
    run_unit: Callable[[Unit], dict],
    path_of: Callable[[Unit], Path],
    name_of: Callable[[Unit], str] = str,
    description: str = "units",
    progress: bool = True,
    workers: int = 1,
    ray_address: str | None = None,
    calls_per_unit: int | None = None,
    check: Callable[[Unit], object] | None = None,
    on_saved: Callable[[Unit], None] | None = None,
) -> list[Path]:
    """Run every unit whose result file is missing; save its arrays with `save_unit`; return all unit files.

    Args:
        units: the units, each one passed to `run_unit` (and, on Ray, pickled to a worker).
        run_unit: unit → dict of arrays; must be picklable for Ray (a module-level function or a
            `functools.partial` of one).
        path_of: unit → its result file; name_of: unit → the name used in logs and errors.
        progress: show progress (a bar on a terminal, log lines otherwise; see `gibo.progress`).
        workers: 1 runs in this process; more runs that many units at once as Ray tasks (local Ray
            unless `ray_address`; with an address it caps the units in flight, otherwise the cluster's
            CPUs do).
        ray_address: an existing Ray cluster (e.g. "auto" or "ray://head:10001").
        calls_per_unit: each unit's call budget: progress then counts calls, those of running units as they
            report them and those of a finished unit as the last entry of its `calls` array.
        check: unit → anything; reads the unit's existing file and raises `DamagedUnit` when it cannot be used
            (e.g. `read_unit` with the arrays and budget it must have). Such a file is moved aside (`set_aside`),
            named in one warning line, and the unit runs again. None: an existing file counts as done.
        on_saved: unit → None, called once the unit's file is saved (and for each unit found done): e.g. to
            remove the unit's checkpoint.
    Raises:
        UnitsFailed: after every other unit finished, when some raised (or their worker died
            `WORKER_RETRIES + 1` times).
        OutputUnwritable: a unit's file could not be written; the run stops at once (units in flight are
            cancelled), every file saved before is intact.
        RayUnavailable: Ray is needed but not installed, or `ray_address` cannot be reached.
        KeyboardInterrupt: after saving every unit that had finished.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    after_save = on_saved or (lambda unit: None)
    todo = []
    for unit in units:
        if _done(unit, path_of, name_of, check):
            after_save(unit)
        else:
            todo.append(unit)
    if len(todo) < len(units):
        logger.info("%d of %d units already done; running the other %d", len(units) - len(todo), len(units), len(todo))
    failures: dict[str, str] = {}
    if todo:
        try:
            with Progress(description, len(todo), calls_per_unit, enabled=progress) as bar:
                if workers > 1 or ray_address:
                    _run_on_ray(todo, run_unit, path_of, name_of, bar, failures, workers, ray_address, after_save)
                else:
                    _run_in_process(todo, run_unit, path_of, name_of, bar, failures, after_save)
        except _NotSaved as error:
            saved = [name_of(u) for u in units if path_of(u).is_file()]
            logger.debug("cannot write %s", error.path, exc_info=error.error)
            raise OutputUnwritable(error.path, error.error, saved, len(units)) from error.error
    if failures:
        raise UnitsFailed(failures)
    return [path_of(u) for u in units]


def _done(unit, path_of, name_of, check) -> bool:
    """Whether `unit`'s file exists and passes `check`; a damaged one is moved aside (and the unit is not done)."""
    path = path_of(unit)
    if not path.is_file():
        return False
    if check is None:
        return True
    try:
        check(unit)
    except DamagedUnit as error:
        aside = set_aside(path)
        logger.warning("unit %s: %s; moved to %s, running it again", name_of(unit), error, aside.name)
        return False
    return True


def _calls_made(arrays: dict) -> int | None:
    """The calls a finished unit's arrays record (last entry of `calls`), None without a `calls` array."""
    calls = arrays.get("calls") if isinstance(arrays, dict) else None
    try:
        return int(calls[-1]) if calls is not None and len(calls) else None
    except (TypeError, ValueError, IndexError):
        return None


def failure_file(path: Path) -> Path:
    """Where a unit that met a non-finite objective value leaves the parameters of that call (JSON)."""
    return path.with_name(path.name.removesuffix(".npz") + ".failed.json")


def _record_failure(failures: dict[str, str], name: str, error: BaseException, path: Path, note: str = "") -> None:
    """Log and keep one line naming the unit; the traceback goes to the debug log (Ray's includes the worker's).

    An error that carries the parameters of the call that failed (`NonFiniteObjective`) leaves them in
    `failure_file(path)`, named in the message."""
    cause: Any = getattr(error, "cause", None) or error  # a unit's own exception inside Ray's RayTaskError
    message = f"{type(cause).__name__.lstrip('_')}: {cause}".splitlines()[0] + note
    if getattr(cause, "params", None) is not None:
        record = failure_file(path)
        try:
            record.parent.mkdir(parents=True, exist_ok=True)
            content = {"unit": name, "call": cause.call, "error": str(cause), "params": list(cause.params)}
            write_atomically(record, json.dumps(content))
        except OSError as write_error:
            message += f"; the parameters of that call could not be saved ({write_error.strerror or write_error})"
        else:
            message += f"; the parameters of that call are in {record}"
    logger.error("unit %s failed: %s", name, message)
    logger.debug("unit %s failed", name, exc_info=error)
    failures[name] = message


def _save(path: Path, arrays: dict) -> None:
    try:
        save_unit(path, **arrays)
        failure_file(path).unlink(missing_ok=True)  # a rerun that succeeded replaces an earlier failure
    except OSError as error:
        raise _NotSaved(path, error) from error


def _run_in_process(todo, run_unit, path_of, name_of, bar: Progress, failures, after_save) -> None:
    for unit in todo:
        name = name_of(unit)
        try:
            with single_threaded(), reporting(functools.partial(bar.calls, name)):
                arrays = run_unit(unit)
        except Exception as error:  # one unit's failure must not lose the others
            _record_failure(failures, name, error, path_of(unit))
            bar.unit_done(name, failed=True)
        else:
            _save(path_of(unit), arrays)
            after_save(unit)
            bar.unit_done(name, calls=_calls_made(arrays))


def _attempt() -> int | None:
    """Which run of the current Ray task this is (0: the first; more: Ray's retries after its worker died); None
    where Ray does not say."""
    try:
        import ray

        return int(ray._private.worker.global_worker.core_worker.get_current_task_attempt_number())  # type: ignore[attr-defined]
    except Exception:  # not on a Ray worker, or a Ray without it: the driver counts the starts instead
        return None


def _run_single_threaded(run_unit, unit, name: str, queue) -> dict:
    """The Ray task: one unit with one torch thread. It tells the driver's queue when it starts (its process id and
    Ray's attempt number: a start after the first is Ray's retry after the worker died) and its progress once a
    second."""
    queue.put_nowait(("start", name, os.getpid(), _attempt()))
    report = throttled(lambda calls, best: queue.put_nowait(("calls", name, calls, best)), 1.0)
    with single_threaded(), reporting(report):
        return run_unit(unit)


def _quiet_ray_start() -> None:
    """Keep Ray's start-up notices (token authentication, dashboard, ...) out of the run's log."""
    for name in ("ray", "ray._private", "ray._common"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _run_on_ray(
    todo, run_unit, path_of, name_of, bar: Progress, failures, workers: int, ray_address: str | None, after_save
) -> None:
    try:
        import ray  # only here: the serial path does not pay for importing Ray
        from ray.util.queue import Queue
    except ImportError:
        raise RayUnavailable("running units on several workers needs Ray: pip install 'ray>=2.9'") from None

    started = not ray.is_initialized()
    if started:
        _quiet_ray_start()
        options: dict[str, Any] = dict(logging_level=logging.ERROR, log_to_driver=True)
        if ray_address:
            try:
                ray.init(address=ray_address, **options)
            except ConnectionError as error:
                raise RayUnavailable(f"cannot reach the Ray cluster at {ray_address!r}: {error}") from None
        else:
            ray.init(num_cpus=workers, include_dashboard=False, **options)
    # A unit whose worker process dies is run again by Ray (up to WORKER_RETRIES times); one that raises is not.
    task = ray.remote(num_cpus=1, max_retries=WORKER_RETRIES, retry_exceptions=False)(_run_single_threaded)
    in_flight = workers if workers > 1 else len(todo)
    pending: dict = {}  # ObjectRef → unit
    queue = iter(todo)
    reports = Queue(actor_options={"num_cpus": 0})
    workers_of: dict[str, list[int]] = {}  # unit name → process ids of its runs so far

    def drain() -> None:
        for message in reports.get_nowait_batch(reports.qsize()):
            name = message[1]
            if not any(name_of(u) == name for u in pending.values()):
                continue  # a late report of a unit already collected
            if message[0] == "start":
                pids = workers_of.setdefault(name, [])
                attempt = len(pids) if message[3] is None else message[3]  # a worker may die before it reports
                if attempt > 0:
                    bar.calls(name, 0)  # the calls of the attempt that died are lost
                    logger.warning(
                        "unit %s: its worker process%s died; Ray runs it again (attempt %d of %d)",
                        name,
                        f" (pid {pids[-1]})" if pids else "",
                        attempt + 1,
                        WORKER_RETRIES + 1,
                    )
                pids.append(message[2])
            else:
                bar.calls(name, message[2], message[3])

    def collect(ref) -> None:
        unit = pending[ref]
        try:
            arrays = ray.get(ref)
        except Exception as error:  # RayTaskError (unit raised), WorkerCrashedError (worker died every time), ...
            pending.pop(ref)
            died = isinstance(error, (ray.exceptions.WorkerCrashedError, ray.exceptions.OutOfMemoryError))
            note = f" (its worker died on each of {WORKER_RETRIES + 1} attempts)" if died else ""
            _record_failure(failures, name_of(unit), error, path_of(unit), note)
            bar.unit_done(name_of(unit), failed=True)
        else:
            _save(path_of(unit), arrays)  # `_NotSaved` stops the run; the unit stays pending and is cancelled
            after_save(unit)
            pending.pop(ref)
            bar.unit_done(name_of(unit), calls=_calls_made(arrays))

    def stop() -> None:
        """Save the units that have finished, cancel the others."""
        if pending:
            done, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0)
            for ref in done:
                collect(ref)
            for ref in pending:
                ray.cancel(ref, force=True)

    try:
        run_unit_ref = ray.put(run_unit)  # shipped once, not with every task
        while True:
            for unit in itertools.islice(queue, in_flight - len(pending)):
                pending[task.remote(run_unit_ref, unit, name_of(unit), reports)] = unit
            if not pending:
                break
            done, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            drain()
            for ref in done:
                collect(ref)
    except KeyboardInterrupt:
        stop()
        raise
    except _NotSaved:
        for ref in pending:  # disk full, permission denied: no other unit can be saved either
            ray.cancel(ref, force=True)
        raise
    finally:
        if started:
            ray.shutdown()

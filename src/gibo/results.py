"""Result files: one `.npz` per finished unit (trial, or dimension x objective pair) beside the resolved config.

No pickle anywhere: arrays in npz, configs in YAML, summaries in JSON/CSV, the lock in JSON.

A run directory is claimed atomically (`claim_run_dir`): without `resume` the run takes the first of `out_dir`,
`out_dir-2`, `out_dir-3`, … that it can create (`os.mkdir`) or that holds no results, and holds a lock file
(`run.lock`: pid, host, start time) there while it runs, so two runs started together never share a directory.
`--resume` into a directory whose lock a live process holds is refused; a lock whose process is gone (same
host) is taken over with a warning.

Every reader opens unit files through `read_unit`, which checks them (a readable npz, the expected arrays, a
call count within the run's budget) and raises `DamagedUnit` with one line otherwise; the runner moves a
damaged file aside (`set_aside`: `<name>.damaged`, never deleted) and runs the unit again.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
LOCK_FILE = "run.lock"
DAMAGED_SUFFIX = ".damaged"


def run_budget(run_dir) -> int | None:
    """The call budget (max_objective_calls) saved with a run, None where the run has no record of it."""
    saved = Path(run_dir) / CONFIG_FILE
    if not saved.is_file():
        return None
    return ((yaml.safe_load(saved.read_text()) or {}).get("experiment") or {}).get("max_objective_calls")


class DamagedUnit(ValueError):
    """A result file that exists but cannot be used; the message is one line naming the file and what is wrong."""


class RunDirInUse(ValueError):
    """A run directory whose lock a live process holds (or a process on another host, whose state is unknown)."""


# ------------------------------------------------------------------------------------------------
# Claiming a run directory
# ------------------------------------------------------------------------------------------------


def _has_results(directory: Path) -> bool:
    return directory.is_dir() and any(directory.rglob("*.npz"))


def _process_start(pid: int) -> str | None:
    """The start time of process `pid` in clock ticks since boot (Linux /proc), to tell a reused pid from its
    first owner; None where /proc is not available."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()  # the command name may hold spaces and parentheses
    return fields[19] if len(fields) > 19 else None


def _alive(pid: int, start: str | None) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    now = _process_start(pid)
    return start is None or now is None or now == start


def describe_holder(holder: dict) -> str:
    """'pid 4242 on host node1 since 2026-11-30 10:12:03' (what a lock file says about its holder)."""
    if not holder.get("pid"):
        return "an unknown process (the lock file cannot be read)"
    return f"pid {holder['pid']} on host {holder.get('host', '?')} since {holder.get('started', '?')}"


class RunLock:
    """`run_dir/run.lock` held by this process: `{"pid", "host", "started", "process_start", "token"}` in JSON.

    Created with O_EXCL (atomic on local file systems and on NFS v3 and later); `release` removes it only while
    it is still this lock (its token). A lock whose process is gone (same host, no process with its pid and
    start time) is stale and is taken over.

    Example:
        >>> lock, holder = RunLock.acquire(Path("experiments/run"))
        >>> if lock is None:
        ...     print("held by", describe_holder(holder))  # 'pid 4242 on host node1 since 2026-11-30 10:12:03'
        ... else:
        ...     lock.release()
    """

    def __init__(self, path: Path, token: str):
        self.path, self.token = path, token

    @staticmethod
    def read(path: Path) -> dict | None:
        """The holder a lock file names; None when there is no lock; {} when it cannot be read (after a
        short wait: its creator may be writing it)."""
        for _ in range(20):
            try:
                holder = json.loads(Path(path).read_text())
                if isinstance(holder, dict) and isinstance(holder.get("pid"), int):
                    return holder
            except FileNotFoundError:
                return None
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        return {}

    @staticmethod
    def stale(holder: dict) -> bool:
        """True when the holder's process is gone: same host and no process with its pid (and start time)."""
        return (
            bool(holder.get("pid"))
            and holder.get("host") == socket.gethostname()
            and not _alive(holder["pid"], holder.get("process_start"))
        )

    @classmethod
    def acquire(cls, directory: Path) -> tuple[RunLock | None, dict]:
        """(the lock, {}) when this process now holds `directory`'s lock, else (None, what the lock says of its
        holder). A stale lock is taken over with a warning."""
        path = Path(directory) / LOCK_FILE
        token = secrets.token_hex(8)
        record = dict(
            pid=os.getpid(),
            host=socket.gethostname(),
            started=datetime.datetime.now().isoformat(sep=" ", timespec="seconds"),
            process_start=_process_start(os.getpid()),
            token=token,
        )
        holder: dict | None = {}
        for _ in range(5):  # a lock can vanish or go stale between two looks
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                holder = cls.read(path)
                if holder is None:  # released meanwhile
                    continue
                if not cls.stale(holder):
                    return None, holder
                if _remove_stale(path, holder):
                    logger.warning(
                        "%s: taking over the lock of a run that is gone (%s)", path.parent, describe_holder(holder)
                    )
                continue
            try:
                with os.fdopen(fd, "w") as file:
                    file.write(json.dumps(record))
            except OSError:  # e.g. a full disk: leave no empty lock behind
                path.unlink(missing_ok=True)
                raise
            return cls(path, token), {}
        return None, holder or {}  # the lock kept vanishing: its holder is unknown

    def release(self) -> None:
        holder = self.read(self.path)
        if holder and holder.get("token") == self.token:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _remove_stale(path: Path, holder: dict) -> bool:
    """Remove the stale lock `holder` at `path`, and only that one: a process that took it over first may
    already hold a fresh lock there. True when no lock of `holder` is left."""
    aside = path.with_name(f"{LOCK_FILE}.{os.getpid()}.{secrets.token_hex(4)}.stale")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return True
    if RunLock.read(aside) == holder:
        aside.unlink(missing_ok=True)
        return True
    with contextlib.suppress(OSError):  # it was a live lock taken a moment ago: put it back
        os.rename(aside, path)
    return False


@dataclass
class ClaimedRunDir:
    """A run directory this process holds; `with` gives its path and releases the lock at the end."""

    path: Path
    lock: RunLock

    def release(self) -> None:
        self.lock.release()

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc) -> None:
        self.release()


def claim_run_dir(
    out_dir,
    config: dict,
    resume: bool = False,
    extra_files: dict[str, dict] | None = None,
    reread: Callable[[dict], dict] | None = None,
) -> ClaimedRunDir:
    """The directory a run writes into, locked for this process, with its resolved config saved as `config.yaml`.

    Without `resume`, the run goes to the first of `out_dir`, `out_dir-2`, `out_dir-3`, … that it creates
    with `os.mkdir` or that exists without results and whose lock it gets (logged when it is not `out_dir`):
    two runs started together end in two directories. With `resume`, `out_dir` is reused when its saved config
    equals `config` (else ValueError naming the file) and no live process holds it (else `RunDirInUse`).
    `reread(saved)` gives the saved record as this code resolves it: a run saved before a setting was added
    (saved without the key, which now takes its default) is then the same run. Errors are one line; use the
    result with `with` to release the lock when the run ends.
    """
    out_dir = Path(out_dir)
    lock = None
    try:
        if resume:
            out_dir.mkdir(parents=True, exist_ok=True)
            lock, holder = RunLock.acquire(out_dir)
            if lock is None:
                raise RunDirInUse(
                    f"{out_dir}: another run holds it ({describe_holder(holder)}); --resume refused "
                    f"(if that run is gone, delete {out_dir / LOCK_FILE})"
                )
            saved = out_dir / CONFIG_FILE
            try:
                record = yaml.safe_load(saved.read_text()) if saved.is_file() else config
            except yaml.YAMLError:
                raise ValueError(f"{saved}: cannot be read as YAML; cannot resume") from None
            same = record == config or (reread is not None and _reread(reread, record) == config)
            if not same:
                raise ValueError(f"{saved}: the saved config differs from this run's config; cannot resume")
            run_dir = out_dir
        else:
            run_dir, lock = _claim_fresh(out_dir)
        write_yaml(run_dir / CONFIG_FILE, config)
        for name, content in (extra_files or {}).items():
            write_yaml(run_dir / name, content)
    except OSError as error:  # before any unit runs: nothing is lost
        if lock is not None:
            lock.release()
        raise ValueError(
            f"{out_dir}: cannot create or write the output directory ({error.strerror or error})"
        ) from None
    except ValueError:
        if lock is not None:
            lock.release()
        raise
    return ClaimedRunDir(run_dir, lock)


def _reread(reread: Callable[[dict], dict], record) -> dict | None:
    """The saved record as this code resolves it; None where it cannot (then it differs)."""
    try:
        return reread(record)
    except (ValueError, KeyError, TypeError, AttributeError):  # ConfigError is a ValueError
        return None


def _claim_fresh(out_dir: Path) -> tuple[Path, RunLock]:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    first_reason = None
    n = 1
    while True:
        candidate = out_dir if n == 1 else out_dir.with_name(f"{out_dir.name}-{n}")
        n += 1
        try:
            os.mkdir(candidate)
            created = True
        except FileExistsError:
            created = False
            if not candidate.is_dir():
                if candidate == out_dir:  # as before: a file in the way of the named directory is an error
                    raise NotADirectoryError(20, "a file of that name exists", str(candidate)) from None
                continue
            if _has_results(candidate):
                first_reason = first_reason or "already holds results"
                continue
        lock, holder = RunLock.acquire(candidate)
        if lock is None:
            first_reason = first_reason or f"is in use by another run ({describe_holder(holder)})"
            continue
        if not created and _has_results(candidate):  # a run finished there between the two looks
            lock.release()
            first_reason = first_reason or "already holds results"
            continue
        if candidate != out_dir:
            hint = (
                f" (--resume --out-dir {out_dir} completes the earlier run instead)"
                if first_reason == "already holds results"
                else ""
            )
            logger.warning("%s %s; this run writes to %s%s", out_dir, first_reason, candidate, hint)
        return candidate, lock


def write_yaml(path, content: dict) -> None:
    write_atomically(path, yaml.safe_dump(content, sort_keys=False))


def write_atomically(path, text: str) -> None:
    """Write a text file atomically: a full disk or a crash leaves the previous file (or none), never half of one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}_{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------------
# Unit files
# ------------------------------------------------------------------------------------------------


def save_unit(path, **arrays) -> None:
    """Write one unit's arrays atomically (a crash never leaves a half-written file), with the permissions the
    umask gives new files."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"tmp{os.getpid()}_{secrets.token_hex(4)}.tmp.npz")  # matches no unit pattern
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as file:
            np.savez(file, **{k: np.asarray(v) for k, v in arrays.items()})  # type: ignore[arg-type]  # stub: **kwds vs allow_pickle
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_unit(path) -> dict[str, np.ndarray]:
    """Every array of an npz file (a path or a binary file object), unchecked: see `read_unit`."""
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


ZIP_MAGIC = b"PK\x03\x04"  # every npz file starts with a zip entry


def _first_bytes(path, n: int) -> bytes:
    if hasattr(path, "read"):
        position = path.tell()
        head = path.read(n)
        path.seek(position)
        return head
    try:
        with open(path, "rb") as file:
            return file.read(n)
    except OSError as error:
        raise DamagedUnit(f"{path}: cannot be read ({error.strerror or error})") from None


def read_unit(path, required: Sequence[str] = (), budget: int | None = None, source=None) -> dict[str, np.ndarray]:
    """Every array of a unit file, checked; `DamagedUnit` (one line naming the file) when it is not usable.

    Checks: the file is a readable npz without pickled objects (every array is read: a truncated or
    overwritten file fails here); every name in `required` is present; `calls`, where present, is a
    non-decreasing 1-D integer array of counts ≥ 0 ending within `budget` (the run's max_objective_calls),
    with one row of `params` per entry. `path` may be a file object; `source` then names the file.
    """
    name = source if source is not None else path
    head = _first_bytes(path, 4)
    if head != ZIP_MAGIC:  # numpy would try to read anything else as a pickle, and say so
        raise DamagedUnit(f"{name}: not an npz file ({'empty' if not head else 'no zip header'})")
    try:
        arrays = load_unit(path)
    except Exception as error:  # any failure to decode the file means it is damaged
        detail = str(error).splitlines()[0] if str(error) else ""
        raise DamagedUnit(
            f"{name}: not a readable npz file ({type(error).__name__}{': ' + detail if detail else ''})"
        ) from None
    check_arrays(arrays, name, required, budget)
    return arrays


def check_arrays(arrays: dict[str, np.ndarray], name, required: Sequence[str] = (), budget: int | None = None) -> None:
    """The checks of `read_unit` on arrays already read (`name`: the file, for the message)."""
    missing = [key for key in required if key not in arrays]
    if missing:
        raise DamagedUnit(f"{name}: missing array(s) {', '.join(missing)}")
    calls = arrays.get("calls")
    if calls is not None:
        if (
            calls.ndim != 1
            or calls.size == 0
            or calls.dtype.kind not in "iu"
            or calls[0] < 0
            or np.any(np.diff(calls) < 0)
        ):
            raise DamagedUnit(
                f"{name}: 'calls' is not a non-decreasing list of call counts (shape {calls.shape}, dtype "
                f"{calls.dtype})"
            )
        if budget is not None and int(calls[-1]) > budget:
            raise DamagedUnit(f"{name}: {int(calls[-1])} calls recorded, more than the run's budget of {budget}")
        params = arrays.get("params")
        if params is not None and (params.ndim != 2 or params.shape[0] != calls.shape[0]):
            raise DamagedUnit(
                f"{name}: 'params' has shape {params.shape}, expected one row per entry of 'calls' ({calls.shape[0]})"
            )


def set_aside(path) -> Path:
    """Move a damaged file to `<name>.damaged` (or `<name>.damaged-2`, … when that exists); never deletes."""
    path = Path(path)
    n = 1
    while True:
        target = path.with_name(path.name + DAMAGED_SUFFIX + (f"-{n}" if n > 1 else ""))
        if not target.exists():
            try:
                os.link(path, target)  # fails if `target` appeared meanwhile: nothing is overwritten
            except FileExistsError:
                n += 1
                continue
            except OSError:  # a file system without hard links
                os.rename(path, target)
                return target
            path.unlink()
            return target
        n += 1


def unit_files(directory, pattern: str = "**/*.npz") -> Iterable[Path]:
    return sorted(p for p in Path(directory).glob(pattern) if not p.name.endswith(".tmp.npz"))

"""Progress of long runs: a tqdm bar on a terminal, a log line at a steady interval otherwise.

A run is a set of units (trials, objectives) of known call budgets. `Progress` counts the units done (and
failed) and the objective calls that were made: those of finished units (as the runner reports them) and those
spent so far in the units still running (reported by `run_optimization` through `report_calls`, in this process
or from Ray workers through a queue), with the best value seen so far. A unit that failed counts the calls it
reported before failing, not its budget.
When stderr is not a terminal (a file, a pipe, CI) tqdm's redraws would pile up into one endless line;
then one line is logged every `log_interval` seconds instead.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterator

from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

# Called by run_optimization after every iteration: (objective calls so far, best value so far or None).
_report: Callable[[int, float | None], None] | None = None


@contextlib.contextmanager
def reporting(callback: Callable[[int, float | None], None] | None) -> Iterator[None]:
    """Route `report_calls` to `callback` inside the body (None: nowhere)."""
    global _report
    previous, _report = _report, callback
    try:
        yield
    finally:
        _report = previous


def report_calls(calls: int, best: float | None) -> None:
    if _report is not None:
        _report(calls, best)


def throttled(callback: Callable[[int, float | None], None], seconds: float) -> Callable[[int, float | None], None]:
    """`callback` at most once per `seconds` (the first call always passes)."""
    last = [-float("inf")]

    def call(calls: int, best: float | None) -> None:
        now = time.monotonic()
        if now - last[0] >= seconds:
            last[0] = now
            callback(calls, best)

    return call


def interactive() -> bool:
    """True when stderr is a terminal: draw bars; otherwise log progress lines."""
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


class Progress:
    """Units done and calls spent of a run; a bar on a terminal, else a log line every `log_interval` seconds.

    Example:
        >>> with Progress("gibo Swimmer-v5", units=3, calls_per_unit=2000) as progress:
        ...     progress.calls("trial000", 250, best=312.0); progress.unit_done("trial000", calls=2000)
    """

    def __init__(
        self,
        description: str,
        units: int,
        calls_per_unit: int | None = None,
        enabled: bool = True,
        log_interval: float = 30.0,
    ):
        self.description, self.units, self.calls_per_unit = description, units, calls_per_unit
        self.done, self.failed = 0, 0
        self.finished_calls = 0  # calls made by the units done
        self.running: dict[str, int] = {}  # unit → calls spent, while it runs
        self.bests: dict[str, float] = {}  # unit → best value reported, kept after the unit finishes
        self.enabled, self.log_interval = enabled, log_interval
        self._last_log = time.monotonic()
        self._bar = None
        if enabled and interactive():
            total, unit = (units * calls_per_unit, "call") if calls_per_unit else (units, "unit")
            self._bar = tqdm(total=total, desc=description, unit=unit, dynamic_ncols=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.enabled and self.done:
            logger.info("%s: %s", self.description, self.status())

    def _spent(self) -> int:
        if not self.calls_per_unit:
            return self.done
        return self.finished_calls + sum(self.running.values())

    def status(self) -> str:
        parts = [f"{self.done}/{self.units} units" + (f" ({self.failed} failed)" if self.failed else "")]
        if self.calls_per_unit:
            parts.append(f"{self._spent()}/{self.units * self.calls_per_unit} calls")
        if self.running:
            parts.append(f"{len(self.running)} running")
        best = self._best()
        if best is not None and self.done < self.units:
            parts.append(f"best so far {best[0]:.4g} ({best[1]})")
        return ", ".join(parts)

    def _best(self) -> tuple[float, str] | None:
        """(best value, unit) over the finished and the running units; None before any value."""
        return max(((b, u) for u, b in self.bests.items()), default=None)

    def calls(self, unit: str, calls: int, best: float | None = None) -> None:
        self.running[unit] = calls
        if best is not None:
            self.bests[unit] = best
        self._refresh()

    def unit_done(self, unit: str, calls: int | None = None, failed: bool = False) -> None:
        """`unit` ended; `calls`: the calls it made (default: the last count it reported, 0 if none)."""
        reported = self.running.pop(unit, 0)
        self.finished_calls += reported if calls is None else int(calls)
        self.done += 1
        self.failed += bool(failed)
        self._refresh()

    def _refresh(self) -> None:
        if self._bar is not None:
            self._bar.n = self._spent()
            best = self._best()
            self._bar.set_postfix_str(
                f"{len(self.running)} running" + (f", best {best[0]:.4g}" if best else ""), refresh=False
            )
            self._bar.refresh()
        elif self.enabled and time.monotonic() - self._last_log >= self.log_interval:
            self._last_log = time.monotonic()
            logger.info("%s: %s", self.description, self.status())

"""`maximize` and `minimize`: one call that runs a method on f to its budget (an `AskTell` run underneath).

When f raises (or returns something other than one finite number) the run so far is not lost: the error
reaching the caller carries it, as a `Result` of the calls made and as the `AskTell` run itself, waiting for
the value of the point f failed at (it can be told, saved with `AskTell.save`, or continued). Ctrl-C
(KeyboardInterrupt) keeps its type and carries the same attributes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np

from gibo.api.asktell import AskTell, AskTellError, Bounds
from gibo.api.result import Result


class ObjectiveError(RuntimeError):
    """f raised, or returned something other than one finite number, inside `maximize` / `minimize`.

    The exception f raised is chained (`__cause__`). Attributes:
        result: a `Result` of the calls made before the failing one (`result.calls` of them).
        asktell: the run as an `AskTell`, waiting for the value at `x`: `asktell.tell(x, value)` and go on,
            `asktell.save(path)` to continue another time, or `asktell.ask()` (which returns `x` again).
        x: the point f failed at; call: its number (1 for the first call of f).

    Example:
        >>> try:
        ...     result = gibo.maximize(f, x0, budget=300)
        ... except gibo.ObjectiveError as error:
        ...     error.result.history  # every evaluation made
        ...     error.asktell.save("run.gibo")  # gibo.AskTell.load("run.gibo") continues it
    """

    def __init__(self, message: str, run: AskTell, x: np.ndarray):
        super().__init__(message)
        self.asktell = run
        self.result = run.result()
        self.x = x
        self.call = run.calls + 1


def maximize(
    f: Callable[[np.ndarray], float],
    x0,
    budget: int,
    method: str = "gibo",
    *,
    seed: int = 0,
    bounds: Bounds | None = None,
    scale=None,
    progress: bool | None = None,
    **options,
) -> Result:
    """Maximise f from x0 with at most `budget` calls of f.

    f takes a `D` numpy array (a copy) and returns a number. The other arguments are those of `AskTell`;
    progress: a progress bar over the calls (default: when stderr is a terminal).

    Raises:
        ObjectiveError: f raised or returned something other than one finite number; the error carries the run
            so far (`error.result`) and the run itself, ready to continue (`error.asktell`).
        KeyboardInterrupt: Ctrl-C, with the same `result` and `asktell` attributes (and `x`, `call` when it came
            while f ran).

    Example:
        >>> result = gibo.maximize(lambda x: -((x - 0.3) ** 2).sum(), np.zeros(4), budget=100, bounds=(-1, 1))
        >>> result.x  # θ_T, near 0.3
    """
    return _optimize(f, x0, budget, method, "maximize", seed, bounds, scale, progress, options)


def minimize(
    f: Callable[[np.ndarray], float],
    x0,
    budget: int,
    method: str = "gibo",
    *,
    seed: int = 0,
    bounds: Bounds | None = None,
    scale=None,
    progress: bool | None = None,
    **options,
) -> Result:
    """Minimise f: the same run as `maximize` of −f, with f's values reported (`value` is the smallest)."""
    return _optimize(f, x0, budget, method, "minimize", seed, bounds, scale, progress, options)


def _optimize(f, x0, budget, method, direction, seed, bounds, scale, progress, options) -> Result:
    from tqdm import tqdm

    run = AskTell(method, x0, budget, seed=seed, bounds=bounds, scale=scale, direction=direction, **options)
    show = sys.stderr.isatty() if progress is None else progress
    evaluating = None  # the point f is evaluating, while it does
    try:
        with tqdm(total=budget, desc=f"{method}", unit="call", disable=not show, leave=False) as bar:
            while not run.done:
                x = evaluating = run.ask()
                try:
                    value = f(x.copy())
                    evaluating = None
                except Exception as error:
                    raise ObjectiveError(
                        f"f raised {type(error).__name__} at call {run.calls + 1} (x = {x.tolist()}): "
                        f"{str(error).splitlines()[0] if str(error) else '(no message)'}{_kept(run)}",
                        run,
                        x,
                    ) from error
                try:
                    run.tell(x, value)
                except AskTellError as error:
                    raise ObjectiveError(
                        f"f returned {_short(value)} at call {run.calls + 1} (x = {x.tolist()}); it must return one "
                        f"finite number{_kept(run)}",
                        run,
                        x,
                    ) from error
                bar.update(1)
                if run.best is not None:
                    bar.set_postfix_str(f"best {run.best[1]:.6g}", refresh=False)
    except KeyboardInterrupt as interrupt:  # keeps its type; the run so far goes with it
        interrupt.result, interrupt.asktell = run.result(), run  # type: ignore[attr-defined]
        if evaluating is not None:
            interrupt.x, interrupt.call = evaluating, run.calls + 1  # type: ignore[attr-defined]
        raise
    return run.result()


def _short(value) -> str:
    """repr(value), cut to 80 characters (f may return a large array by mistake)."""
    text = repr(value).replace("\n", " ")
    return text if len(text) <= 80 else text[:77] + "..."


def _kept(run: AskTell) -> str:
    return f"; the {run.calls} calls made are in error.result, error.asktell continues the run"

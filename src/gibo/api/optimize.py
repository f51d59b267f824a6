"""`maximize` and `minimize`: one call that runs a method on f to its budget (an `AskTell` run underneath)."""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np

from gibo.api.asktell import AskTell, AskTellError, Bounds
from gibo.api.result import Result


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
    with tqdm(total=budget, desc=f"{method}", unit="call", disable=not show, leave=False) as bar:
        while not run.done:
            x = run.ask()
            value = f(x.copy())
            try:
                run.tell(x, value)
            except AskTellError:
                raise ValueError(
                    f"f returned {value!r} at call {run.calls + 1} (x = {x.tolist()}); it must return one finite number"
                ) from None
            bar.update(1)
            if run.best is not None:
                bar.set_postfix_str(f"best {run.best[1]:.6g}", refresh=False)
    return run.result()

"""GIBO and the methods beside it on any objective: `maximize` / `minimize` (one call) and `AskTell` (the caller
evaluates).

Both drive the same iterations as the experiment scripts (`loop.IterationDriver` over each optimizer's
`iterate()` generator); only the defaults differ. The paper's configs know the scale of their benchmarks;
here nothing is known about the objective, so the optimizers work in *unit coordinates*
u = (x − lower) / (upper − lower) with `bounds` (u = (x − x0) / scale without them) and the GP methods
standardise the observed values and learn their hyperparameters under priors set in those units
(`default_options`, explained in docs/api.md).

A run is repeatable: its own seeded random state (torch's and numpy's global generators are swapped in
around every ask and tell, so the caller's use of them does not matter) and one torch thread. A saved run
(`AskTell.save`) is the run's settings and its told values in JSON; `AskTell.load` replays them and checks
that every recomputed point equals the recorded one.

Example:
    >>> result = gibo.maximize(lambda x: -((x - 0.3) ** 2).sum(), np.zeros(4), budget=100, bounds=(-1, 1))
    >>> result.x, result.value, result.calls
"""

from gibo.api.asktell import AskTell, AskTellError, Bounds
from gibo.api.defaults import BOX_METHODS, LOCAL_METHODS, METHODS, default_options
from gibo.api.optimize import ObjectiveError, maximize, minimize
from gibo.api.result import History, Result
from gibo.api.state import StateFileError
from gibo.loop import BudgetSpent

__all__ = [
    "BOX_METHODS",
    "LOCAL_METHODS",
    "METHODS",
    "AskTell",
    "AskTellError",
    "Bounds",
    "BudgetSpent",
    "History",
    "ObjectiveError",
    "Result",
    "StateFileError",
    "default_options",
    "maximize",
    "minimize",
]

"""Optimizers on one interface: `iterate()` is one iteration, `params_history` records θ_0, θ_1, ….

GIBO (docs/method.md#one-gibo-iteration) and the baselines ARS, vanilla BO and CMA-ES (docs/method.md#baselines).
Every optimizer maximises J(params: D) -> scalar. An iteration is written once, as a generator that yields each
point to evaluate and receives its value; `loop.IterationDriver` drives it for the experiment loop
(`loop.run_optimization`, which calls the objective and enforces the budget) and for ask–tell (`gibo.AskTell`)
alike.
MPD (maximum probability of descent) reuses GIBO's loop with its own acquisition and walk; TuRBO-1
(trust-region BO) is built from BoTorch's parts; LES (local entropy search) uses BoTorch's acquisition of that
name on the project's GP.
An objective may offer state-normalisation hooks (`update_state_normalizer`, `params_to_raw`,
`params_from_raw`, see `environment_api.EnvironmentObjective`); the history is always in raw-state
coordinates.

One module per method (`gibo.py`, `mpd.py`, `les.py`, `turbo.py`, `ars.py`, `vbo.py`, `cmaes.py`) beside the interface
and what they share (`base.py`); this package re-exports their public names.
"""

from gibo.optimizers.ars import ARS
from gibo.optimizers.base import Iteration, Optimizer, counting_random_starts, lr_factor
from gibo.optimizers.cmaes import CMAES
from gibo.optimizers.gibo import GIBO
from gibo.optimizers.les import LES
from gibo.optimizers.mpd import MPD
from gibo.optimizers.turbo import TuRBO, TurboState
from gibo.optimizers.vbo import VanillaBO

__all__ = [
    "ARS",
    "CMAES",
    "GIBO",
    "LES",
    "MPD",
    "Iteration",
    "Optimizer",
    "TuRBO",
    "TurboState",
    "VanillaBO",
    "counting_random_starts",
    "lr_factor",
]

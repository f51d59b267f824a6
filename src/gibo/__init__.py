"""GIBO: local policy search with Bayesian optimization (Müller, von Rohr, Trimpe, NeurIPS 2021).

`gibo.maximize`, `gibo.minimize` and `gibo.AskTell` run GIBO (and MPD, LES, TuRBO, ARS, vanilla BO, CMA-ES) on
any objective; they are imported on first use, so `import gibo` stays light for the experiment scripts.
"""

from gibo._version import __version__ as __version__

_API = (
    "maximize",
    "minimize",
    "AskTell",
    "Result",
    "History",
    "AskTellError",
    "ObjectiveError",
    "StateFileError",
    "default_options",
)


def __getattr__(name: str):
    if name in _API:
        from gibo import api

        return getattr(api, name)
    if name == "BudgetSpent":
        from gibo.loop import BudgetSpent

        return BudgetSpent
    raise AttributeError(f"module 'gibo' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_API, "BudgetSpent"])

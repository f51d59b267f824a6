"""Linear quadratic regulator as a Gymnasium environment.

Importing this package registers ``lqr-v0`` (episodes truncated after 300 steps):

    >>> import gymnasium, gym_lqr
    >>> env = gymnasium.make("lqr-v0")          # or gymnasium.make("gym_lqr:lqr-v0")
    >>> obs, info = env.reset(seed=0)
"""

import gymnasium

from gym_lqr.lqr_env import (
    DEFAULT_A,
    DEFAULT_B,
    DEFAULT_Q,
    DEFAULT_R,
    DEFAULT_W,
    EPISODE_STEPS,
    LQREnv,
)

__all__ = [
    "DEFAULT_A",
    "DEFAULT_B",
    "DEFAULT_Q",
    "DEFAULT_R",
    "DEFAULT_W",
    "EPISODE_STEPS",
    "LQREnv",
    "register_envs",
]

__version__ = "0.1.0"

ENV_ID = "lqr-v0"


def register_envs() -> None:
    """Register ``lqr-v0`` with Gymnasium; a no-op when it is registered already."""
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(
            id=ENV_ID,
            entry_point="gym_lqr.lqr_env:LQREnv",
            max_episode_steps=EPISODE_STEPS,
        )


register_envs()

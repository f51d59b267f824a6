"""Lunar Lander with the 12-parameter heuristic controller (TuRBO, Eriksson et al. 2019; LES): the mean return of
gymnasium's `LunarLander-v3` (discrete actions) over a fixed set of episodes, as a function of the 12 constants
of gymnasium's own heuristic lander controller.

Needs gymnasium's box2d extra (`pip install "gymnasium[box2d]"`); without it `LunarLanderReturn` refuses with one
line naming the extra.

The controller (gymnasium's `heuristic`, its constants replaced by w_0 … w_11, observation s = (x, y, ẋ, ẏ, angle,
angular velocity, left leg down, right leg down)):

    angle target   a* = clip(w_0 x + w_1 ẋ, −w_2, w_2)
    hover target   h* = w_3 |x|
    angle to do    a  = w_4 (a* − angle) − w_5 · angular velocity
    hover to do    h  = w_6 (h* − y) − w_7 ẏ
    a leg is down: a = w_8, h = −w_9 ẏ
    action: main engine if h > |a| and h > w_10; else left engine if a < −w_11; right engine if a > w_11; else none

With w = HEURISTIC_WEIGHTS it is gymnasium's heuristic, which lands (returns above 200 on most terrains).
"""

from __future__ import annotations

import numpy as np

D = 12
ENVIRONMENT = "LunarLander-v3"
# gymnasium's own constants; all lie in [0, 1]^12, the box searched (LES's domain).
HEURISTIC_WEIGHTS = np.array([0.5, 1.0, 0.4, 0.55, 0.5, 1.0, 0.5, 0.5, 0.0, 0.5, 0.05, 0.05])
MISSING_EXTRA = 'the lunar_lander problem needs gymnasium\'s box2d extra: pip install "gymnasium[box2d]"'


class MissingExtra(ImportError):
    """An optional dependency of a problem or method is not installed (the message names it)."""


def require_box2d() -> None:
    try:
        import Box2D  # noqa: F401 - only whether it imports
    except ImportError:
        raise MissingExtra(MISSING_EXTRA) from None


def heuristic_action(s: np.ndarray, w: np.ndarray) -> int:
    """The action (0 none, 1 left engine, 2 main engine, 3 right engine) of the controller above."""
    angle_target = min(max(s[0] * w[0] + s[2] * w[1], -w[2]), w[2])
    hover_target = w[3] * abs(s[0])
    angle_todo = (angle_target - s[4]) * w[4] - s[5] * w[5]
    hover_todo = (hover_target - s[1]) * w[6] - s[3] * w[7]
    if s[6] or s[7]:
        angle_todo, hover_todo = w[8], -s[3] * w[9]
    if hover_todo > abs(angle_todo) and hover_todo > w[10]:
        return 2
    if angle_todo < -w[11]:
        return 3
    if angle_todo > w[11]:
        return 1
    return 0


class LunarLanderReturn:
    """R(w) = (1/E) Σ_{e<E} return of episode e (reset with seed e) under the heuristic controller with weights w.

    Example:
        >>> R = LunarLanderReturn(episodes=50)
        >>> R(HEURISTIC_WEIGHTS)  # about 200 or more
    """

    def __init__(self, episodes: int):
        require_box2d()
        import gymnasium as gym

        self.episodes = int(episodes)
        self._env = gym.make(ENVIRONMENT)

    def __call__(self, w: np.ndarray) -> float:
        """w: `12` → the mean return over the episodes."""
        w = np.asarray(w, dtype=np.float64)
        if w.shape != (D,):
            raise ValueError(f"the lunar lander controller takes {D} weights, got shape {w.shape}")
        total = 0.0
        for episode in range(self.episodes):
            s, _ = self._env.reset(seed=episode)
            done = False
            while not done:
                s, reward, terminated, truncated, _ = self._env.step(heuristic_action(s, w))
                total += float(reward)
                done = terminated or truncated
        return total / self.episodes

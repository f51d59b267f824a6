"""The LQR environment: x' = A x + B u + w, w ~ N(0, W), reward -(x^T Q x + u^T R u)."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import gymnasium
import numpy as np
from gymnasium import spaces

logger = logging.getLogger(__name__)

#: Episode length used for registration (the paper's LQR experiment).
EPISODE_STEPS = 300

#: The paper's system (Dean et al. 2017): open loop unstable, spectral radius of A about 1.024.
DEFAULT_A = np.array([[1.01, 0.01, 0.0], [0.01, 1.01, 0.01], [0.0, 0.01, 1.01]], dtype=np.float64)
DEFAULT_B = np.eye(3, dtype=np.float64)
DEFAULT_Q = np.eye(3, dtype=np.float64) / 1000.0
DEFAULT_R = np.eye(3, dtype=np.float64)
DEFAULT_W = np.eye(3, dtype=np.float64)


def _matrix(name: str, value: Any, shape: tuple[int, int]) -> np.ndarray:
    """Return ``value`` as a float64 array of ``shape``, or raise ValueError naming ``name``."""
    matrix = np.array(value, dtype=np.float64)
    if matrix.shape != shape:
        raise ValueError(f"LQREnv: {name} must have shape {shape}, got {matrix.shape}")
    return matrix


class LQREnv(gymnasium.Env):
    r"""Linear system with quadratic cost: x_{t+1} = A x_t + B u_t + w_t, r_t = -(x_t^T Q x_t + u_t^T R u_t).

    Noise w_t ~ N(0, W) and initial state x_0 ~ N(0, I) are drawn from ``self.np_random``
    (seed it through ``reset(seed=...)``). The observation is the full state x (n_state,); the
    action is u (n_action,); both unbounded float64. The reward is computed on the current
    state and action before the transition. The environment never terminates; ``lqr-v0`` is
    truncated after 300 steps by Gymnasium's TimeLimit.

    Args:
        A: n_state x n_state dynamics matrix (default: the paper's system).
        B: n_state x n_action input matrix (default: I).
        Q: n_state x n_state state cost (default: I / 1000).
        R: n_action x n_action action cost (default: I).
        W: n_state x n_state covariance of the process noise w (default: I); positive definite.

    Example:
        >>> env = LQREnv()
        >>> x, _ = env.reset(seed=0)
        >>> x, reward, terminated, truncated, _ = env.step(-0.5 * x)
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(
        self,
        A: np.ndarray | None = None,
        B: np.ndarray | None = None,
        Q: np.ndarray | None = None,
        R: np.ndarray | None = None,
        W: np.ndarray | None = None,
    ) -> None:
        A = DEFAULT_A if A is None else A
        n_state = np.shape(A)[0]
        B = np.eye(n_state) if B is None else B
        self.A = _matrix("A", A, (n_state, n_state))
        n_action = np.shape(B)[1] if np.ndim(B) == 2 else -1
        self.B = _matrix("B", B, (n_state, n_action))
        self.Q = _matrix("Q", DEFAULT_Q if Q is None else Q, (n_state, n_state))
        self.R = _matrix("R", np.eye(n_action) if R is None else R, (n_action, n_action))
        self.W = _matrix("W", np.eye(n_state) if W is None else W, (n_state, n_state))
        try:
            self._noise_factor = np.linalg.cholesky(self.W)
        except np.linalg.LinAlgError as error:
            raise ValueError("LQREnv: W must be symmetric positive definite") from error

        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(n_state,), dtype=np.float64)
        self.action_space = spaces.Box(-np.inf, np.inf, shape=(n_action,), dtype=np.float64)
        self.state = np.zeros(n_state, dtype=np.float64)

    def get_params(self) -> dict[str, np.ndarray]:
        """Return copies of the system matrices {"A", "B", "Q", "R", "W"} (W: noise covariance)."""
        return {
            "A": self.A.copy(),
            "B": self.B.copy(),
            "Q": self.Q.copy(),
            "R": self.R.copy(),
            "W": self.W.copy(),
        }

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Draw x_0 ~ N(0, I); return (x_0 (n_state,), {})."""
        super().reset(seed=seed)
        self.state = self.np_random.standard_normal(self.A.shape[0])
        return self.state.copy(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply u (n_action,): reward -(x^T Q x + u^T R u), then x <- A x + B u + L e, L L^T = W, e ~ N(0, I)."""
        u = np.asarray(action, dtype=np.float64)
        if u.shape != self.action_space.shape:
            raise ValueError(f"LQREnv.step: action must have shape {self.action_space.shape}, got {u.shape}")
        x = self.state
        cost = float(x @ self.Q @ x + u @ self.R @ u)
        noise = self._noise_factor @ self.np_random.standard_normal(x.shape[0])
        self.state = self.A @ x + self.B @ u + noise
        return self.state.copy(), -cost, False, False, {}

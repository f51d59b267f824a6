"""The 60-D rover trajectory problem (Wang, Garrett, Kaelbling, Jegelka, "Batched large-scale Bayesian optimization
in high-dimensional spaces", AISTATS 2018), written from the paper's description.

What the paper says: a rover in the unit square must go from a start s to a goal g; a trajectory is a B-spline
fitted to 30 design points in the plane, so x ∈ [0, 1]^60; c(x) is the cost of the trajectory, the integral of a
cost function over it; the reward is f(x) = c(x) + λ(‖x_{0,1} − s‖₁ + ‖x_{59,60} − g‖₁) + b with λ = −10 and b = 5
(c(x) counted as a negative number: the reward is maximised); f is non-smooth, discontinuous, and concave in the
first two and the last two coordinates (where the trajectory starts and ends).

What the paper leaves open, and what this module assumes (each one a choice of ours, not the authors'):

1. The 30 design points are x reshaped to 30 × 2: point i is (x_{2i}, x_{2i+1}), absolute positions in the unit
   square (not increments).
2. "A B-spline fitted to the design points": the clamped cubic B-spline with the 30 design points as its control
   points and uniform knots. The trajectory starts at the first point and ends at the last, and stays in their
   convex hull, so inside the unit square.
3. The trajectory is read at 1000 equally spaced parameter values; its cost is the trapezoidal sum over the 999
   segments: segment length × the mean of the cost density at its two ends.
4. The cost density is 20 inside an obstacle and 0.05 elsewhere (a small cost per unit length, so that a shorter
   free trajectory is better).
5. The obstacles: 16 axis-aligned squares of side 0.1 centred on the grid {0.2, 0.4, 0.6, 0.8}². The straight
   line from s to g crosses four of them; free corridors of width 0.1 run between them.
6. s = (0.05, 0.05) and g = (0.95, 0.95); the penalty is the L1 distance of the first design point from s plus that
   of the last from g (the trajectory's ends, assumption 2).

Known values under these assumptions: f ≤ 5 − 0.05 · ‖g − s‖₂ ≈ 4.936 (a straight free trajectory, which the
obstacles block); a trajectory from s along the bottom edge to (0.95, 0.05) and up the right edge to g stays free
and scores 5 − 0.05 · its length ≈ 4.91; the straight line from s to g spends 4 · 0.1√2 inside obstacles and
scores ≈ −6.35. The global optimum is not known.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import BSpline

POINTS = 30
D = 2 * POINTS
START = np.array([0.05, 0.05])
GOAL = np.array([0.95, 0.95])
PENALTY = 10.0  # −λ: reward lost per unit of L1 distance of the trajectory's ends from s and g
OFFSET = 5.0  # b
FREE_COST, OBSTACLE_COST = 0.05, 20.0  # cost density outside and inside the obstacles
OBSTACLE_SIDE = 0.1
OBSTACLE_CENTRES = np.array([(a, b) for a in (0.2, 0.4, 0.6, 0.8) for b in (0.2, 0.4, 0.6, 0.8)])
SAMPLES = 1000  # points read along the trajectory
DEGREE = 3
UPPER_BOUND = OFFSET - FREE_COST * float(np.linalg.norm(GOAL - START))


def _basis(points: int = POINTS, samples: int = SAMPLES) -> np.ndarray:
    """`samples x points` values of the clamped uniform cubic B-spline basis at equally spaced parameters in [0, 1]:
    the trajectory read at those parameters is `basis @ design_points`."""
    inner = np.linspace(0.0, 1.0, points - DEGREE + 1)
    knots = np.concatenate([np.zeros(DEGREE), inner, np.ones(DEGREE)])
    return BSpline.design_matrix(np.linspace(0.0, 1.0, samples), knots, DEGREE).toarray()


_BASIS = _basis()


def trajectory(x: np.ndarray) -> np.ndarray:
    """x: `... x 60` → `... x SAMPLES x 2` points along the trajectory."""
    x = np.asarray(x, dtype=np.float64)
    return np.einsum("sp,...pd->...sd", _BASIS, x.reshape(*x.shape[:-1], POINTS, 2))


def cost_density(points: np.ndarray) -> np.ndarray:
    """points: `... x 2` → `...` cost per unit length: OBSTACLE_COST inside an obstacle, FREE_COST elsewhere."""
    inside = (np.abs(points[..., None, :] - OBSTACLE_CENTRES) < OBSTACLE_SIDE / 2).all(-1).any(-1)
    return np.where(inside, OBSTACLE_COST, FREE_COST)


def trajectory_cost(x: np.ndarray) -> np.ndarray:
    """C(x) = Σ_segments length · mean density at its ends (≥ 0); x: `... x 60` → `...`."""
    points = trajectory(x)
    density = cost_density(points)
    lengths = np.linalg.norm(np.diff(points, axis=-2), axis=-1)
    return (lengths * 0.5 * (density[..., 1:] + density[..., :-1])).sum(-1)


def reward(x: np.ndarray) -> np.ndarray:
    """f(x) = −C(x) − 10 (‖p_1 − s‖₁ + ‖p_30 − g‖₁) + 5, maximised; x: `... x 60` in [0, 1]^60 → `...`."""
    x = np.asarray(x, dtype=np.float64)
    if x.shape[-1] != D:
        raise ValueError(f"the rover takes {D} numbers (30 points in the plane), got {x.shape[-1]}")
    ends = np.abs(x[..., :2] - START).sum(-1) + np.abs(x[..., -2:] - GOAL).sum(-1)
    return -trajectory_cost(x) - PENALTY * ends + OFFSET


def trajectory_length(x: np.ndarray) -> np.ndarray:
    """Length of the trajectory as read at SAMPLES points; x: `... x 60` → `...`."""
    return np.linalg.norm(np.diff(trajectory(x), axis=-2), axis=-1).sum(-1)

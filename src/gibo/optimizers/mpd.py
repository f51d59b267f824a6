"""MPD (maximum probability of descent): GIBO's loop with its own acquisition and a walk along the most
probable ascent direction."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import torch

from gibo.acquisition_function import ExpectedAscentStatistic, most_probable_ascent
from gibo.model import DerivativeExactGPSEModel
from gibo.optimizers.gibo import GIBO

logger = logging.getLogger(__name__)


class MPD(GIBO):
    """Maximum probability of descent (ascent here): θ ← θ + η v*/‖v*‖, v* = Σ∇⁻¹μ∇, while Φ(√(μ∇ᵀΣ∇⁻¹μ∇)) ≥ p_min.

    Nguyen, Wu, Gardner and Garnett (NeurIPS 2022) on GIBO's machinery. One iteration: evaluate J(θ_t);
    refit hyperparameters when the window is full (if enabled); add up to M points
    z* = argmax_z E[μ∇ᵀΣ∇⁻¹μ∇ at θ_t after observing y(z)] over the δ-box (`ExpectedAscentStatistic`, with
    GIBO's optional ε early stop on the acquisition values); then walk from θ_t on the posterior of that
    data (no new observations): at the current point compute μ∇, Σ∇, v* and the ascent probability
    p = Φ(√(μ∇ᵀΣ∇⁻¹μ∇)) *first*, and take the step η v*/‖v*‖ only if p ≥ p_min, at most `max_walk_steps`
    steps (the authors' order: the probability is checked at the point before each step, never after it).
    The last point is θ_{t+1}. The walk is not clipped to `bounds`, as GIBO's step is not.

    Example:
        >>> model = DerivativeExactGPSEModel(D, N_max=5 * D)
        >>> mpd = MPD(torch.full((D,), 0.5), objective, model, max_samples_per_iteration=D, delta=0.2)
        >>> mpd.step(); mpd.mpd_arrays()["mpd_walk_steps"]
    """

    def __init__(
        self,
        params_init: torch.Tensor,
        objective: Callable[[torch.Tensor], torch.Tensor],
        model: DerivativeExactGPSEModel,
        max_samples_per_iteration: int,
        step_size: float = 0.01,
        ascent_probability: float = 0.65,
        max_walk_steps: int = 10_000,
        ascent_statistic: str = "paper",
        optimize_hyperparameters: bool = False,
        no_noise_optimization: bool = False,
        optimize_acqf_config: dict | None = None,
        bounds: torch.Tensor | None = None,
        delta: float | None = None,
        epsilon_diff_acq_value: float | None = None,
        generate_initial_data: int | None = None,
        min_points_for_fit: int | None = None,
        clip_to_bounds: bool = False,
        acquisition_gradient: str = "closed_form",
        state_normalization_update: str = "iteration",
        verbose: bool = False,
    ):
        """Args: as `GIBO` (with `clip_to_bounds` every walk step is clipped), without the arguments of its gradient
        step (torch optimiser, learning rate and its schedule, gradient normalisation, standard-deviation
        scaling), which the walk replaces; and
        step_size: η, the length of one walk step (> 0);
        ascent_probability: p_min in (0.5, 1]: the walk goes on while Φ(√(μ∇ᵀΣ∇⁻¹μ∇)) ≥ p_min
            (Φ(√s) ≥ 0.5 always, so p_min ≤ 0.5 would never stop it);
        max_walk_steps: most steps per iteration (≥ 0);
        ascent_statistic: the probability the walk checks: "paper" Φ(√(μ∇ᵀΣ∇⁻¹μ∇)), or "authors" Φ(√(v̂ᵀμ∇)) with
            v̂ = Σ∇⁻¹μ∇ / ‖Σ∇⁻¹μ∇‖, as the authors' code computes it (the direction is normalised before the
            product, so the value depends on the scale of Σ∇; for Σ∇ = s I it is Φ(√‖μ∇‖) whatever s).
        """
        if not step_size > 0:
            raise ValueError(f"step_size must be positive, got {step_size}")
        if not 0.5 < ascent_probability <= 1.0:
            raise ValueError(f"ascent_probability must lie in (0.5, 1], got {ascent_probability}")
        if int(max_walk_steps) < 0:
            raise ValueError(f"max_walk_steps must be non-negative, got {max_walk_steps}")
        if ascent_statistic not in ("paper", "authors"):
            raise ValueError(f"ascent_statistic must be 'paper' or 'authors', got {ascent_statistic!r}")
        # GIBO's torch optimiser is built with its defaults and never stepped: the walk moves θ itself.
        super().__init__(
            params_init,
            objective,
            model,
            max_samples_per_iteration,
            optimize_hyperparameters=optimize_hyperparameters,
            no_noise_optimization=no_noise_optimization,
            optimize_acqf_config=optimize_acqf_config,
            bounds=bounds,
            delta=delta,
            epsilon_diff_acq_value=epsilon_diff_acq_value,
            generate_initial_data=generate_initial_data,
            min_points_for_fit=min_points_for_fit,
            clip_to_bounds=clip_to_bounds,
            acquisition_gradient=acquisition_gradient,
            state_normalization_update=state_normalization_update,
            verbose=verbose,
        )
        self.step_size = float(step_size)
        self.ascent_probability = float(ascent_probability)
        self.max_walk_steps = int(max_walk_steps)
        self.ascent_statistic = ascent_statistic
        self.walk_steps: list[int] = []  # per iteration
        self.walk_probabilities: list[float] = []  # per iteration: the ascent probability at θ_{t+1}

    def _acquisition(self, theta: torch.Tensor) -> ExpectedAscentStatistic:
        return ExpectedAscentStatistic(self.model, theta, analytic_gradient=self.analytic_acquisition_gradient)

    def walk(self, theta: torch.Tensor):
        """The walk from θ on the current posterior.

        Args:
            theta: `D` start.
        Returns:
            the end point `D`, the number of steps taken, and the ascent probability at the end point
            (below p_min unless the walk stopped at `max_walk_steps`).
        """
        with torch.no_grad():
            solve = self.model.kernel_solve()  # the walk adds no data: one solve serves every step
            point = theta.detach().clone().to(solve.X)
            steps = 0
            while True:
                mean, cov = self.model.posterior_derivative(point, solve=solve)
                direction, probability = most_probable_ascent(mean[0], cov[0])
                if self.ascent_statistic == "authors":
                    probability = torch.special.ndtr((direction @ mean[0]).clamp_min(0).sqrt())
                if float(probability) < self.ascent_probability or steps >= self.max_walk_steps:
                    return point, steps, float(probability)
                point = self._clipped(point + self.step_size * direction)
                steps += 1

    def _gradient_step(self, theta: torch.Tensor) -> None:
        point, steps, probability = self.walk(theta)
        with torch.no_grad():
            self.params.copy_(point)
        self.walk_steps.append(steps)
        self.walk_probabilities.append(probability)
        if self.verbose:
            logger.info(
                "iteration %d: %d walk steps, ascent probability %.3f at the end", self.iteration, steps, probability
            )

    def diagnostics(self) -> dict[str, np.ndarray]:
        """GIBO's arrays (hyperparameters, random starts) and the walk's (`mpd_arrays`)."""
        return {**super().diagnostics(), **self.mpd_arrays()}

    def mpd_arrays(self) -> dict[str, np.ndarray]:
        """Per iteration (row t: the walk from θ_t to θ_{t+1}), for saving beside the history.

        Returns:
            {"mpd_walk_steps": `T` ints, "mpd_ascent_probability": `T` floats, the ascent probability at
            θ_{t+1}} for T iterations.
        """
        return {
            "mpd_walk_steps": np.asarray(self.walk_steps, dtype=np.int64),
            "mpd_ascent_probability": np.asarray(self.walk_probabilities, dtype=np.float64),
        }

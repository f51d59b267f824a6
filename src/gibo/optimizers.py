"""Optimizers on one interface: `iterate()` is one iteration, `params_history` records θ_0, θ_1, ….

GIBO (docs/method.md#one-gibo-iteration) and the baselines ARS, vanilla BO and CMA-ES (docs/method.md#baselines). Every optimizer maximises
J(params: D) -> scalar. An iteration is written once, as a generator that yields each point to evaluate and
receives its value; `loop.IterationDriver` drives it for the experiment loop (`loop.run_optimization`, which
calls the objective and enforces the budget) and for ask–tell (`gibo.AskTell`) alike.
MPD (maximum probability of descent) reuses GIBO's loop with its own acquisition and walk; TuRBO-1
(trust-region BO) is built from BoTorch's parts.
An objective may offer state-normalisation hooks (`update_state_normalizer`, `params_to_raw`,
`params_from_raw`, see `environment_api.EnvironmentObjective`); the history is always in raw-state
coordinates.
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable, Dict, Generator, List, Optional, Sequence, Type

import numpy as np
import torch

from botorch.exceptions.warnings import BadInitialCandidatesWarning

from gibo.acquisition_function import (
    ClosedFormExpectedImprovement,
    ExpectedAscentStatistic,
    GradientInformation,
    most_probable_ascent,
    optimize_gradient_information,
)
from gibo.model import DerivativeExactGPSEModel, ExactGPSEModel, diverted_warnings, fit_mll

logger = logging.getLogger(__name__)


def _identity(params: torch.Tensor) -> torch.Tensor:
    return params


# One iteration: yields the points to evaluate (`D` each), receives their values (scalar tensors).
Iteration = Generator[torch.Tensor, torch.Tensor, None]


class Optimizer(ABC):
    """One iteration per `iterate()` (a generator of the points to evaluate); `params_history[t]` is θ_t in raw-state coordinates.

    Example:
        >>> opt = SomeOptimizer(torch.zeros(D), objective)
        >>> points = opt.iterate(); x = next(points); x = points.send(J(x))  # ... until StopIteration
        >>> opt.step(); opt.params_history[-1]  # the same, evaluating with `objective`
    """

    def __init__(self, params_init: torch.Tensor, objective: Optional[Callable[[torch.Tensor], torch.Tensor]] = None):
        """params_init: `D` starting point θ_0; objective: `D` → scalar, to be maximised: evaluated by `step()`,
        and asked for its optional state-normalisation hooks; None when the values come from outside (ask–tell)."""
        self.params = params_init.detach().clone().reshape(-1)
        self.objective = objective
        self.params_history: List[torch.Tensor] = [self._to_raw(self.params)]
        # Calls the budget still allows (kept up to date by the driver): a method that plans several points
        # per iteration (GIBO's samples, TuRBO's batch) plans no more than this.
        self.calls_left: float = math.inf

    @property
    def D(self) -> int:
        return self.params.shape[-1]

    @abstractmethod
    def iterate(self) -> Iteration:
        """One iteration: yield each point to evaluate (`D`, the optimizer's coordinates), receive its value
        (a scalar tensor), and append the new iterate to `params_history` at the end."""

    def step(self) -> None:
        """Run one iteration, evaluating its points with `objective` (`calls_left` read from its `remaining`)."""
        points = self.iterate()
        try:
            self.calls_left = getattr(self.objective, "remaining", math.inf)
            point = next(points)
            while True:
                value = self.objective(point)
                self.calls_left = getattr(self.objective, "remaining", math.inf)
                point = points.send(value)
        except StopIteration:
            pass
        finally:
            points.close()

    def _to_raw(self, params: torch.Tensor) -> torch.Tensor:
        return getattr(self.objective, "params_to_raw", _identity)(params.detach()).clone()

    def _record(self, params: Optional[torch.Tensor] = None) -> None:
        self.params_history.append(self._to_raw(self.params if params is None else params))

    def _evaluate(self, params: torch.Tensor) -> Generator[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`value = yield from self._evaluate(params)`: ask for J(params); its value as a scalar of params' dtype."""
        value = yield params.detach().reshape(-1)
        return torch.as_tensor(value).reshape(()).to(self.params)

    def diagnostics(self) -> Dict[str, np.ndarray]:
        """Arrays saved beside the history for inspecting a run afterwards (method-specific; none by default)."""
        return {}


def counting_random_starts(counter: List[int]) -> contextlib.AbstractContextManager:
    """Count BoTorch's "no non-zero acquisition value among the raw samples" warnings instead of printing them.

    The acquisition optimisation then starts from random points, which is harmless where the acquisition is
    flat (a δ-box many lengthscales wide); the count is saved with the run (`acquisition_random_starts`).
    """

    def count(_warning) -> None:
        counter[0] += 1

    return diverted_warnings(BadInitialCandidatesWarning, count)


def lr_factor(schedule: Optional[Dict[int, float]], iteration: int) -> float:
    """Factor in force at `iteration`: the value of the largest key ≤ iteration (1 before any key)."""
    if not schedule:
        return 1.0
    keys = [k for k in schedule if k <= iteration]
    return float(schedule[max(keys)]) if keys else 1.0


class GIBO(Optimizer):
    """Gradient-information BO: θ_{t+1} = θ_t + lr_t · μ∇(θ_t), with data chosen to minimise tr Σ∇(θ_t).

    One step: evaluate J(θ_t); refit hyperparameters when the window is full (if enabled); add up to M
    points z* = argmax_z −tr Σ∇(θ_t | X ∪ {z}) over the δ-box (stopping early when the acquisition value
    improves by less than ε); take a torch-optimiser step along the (optionally normalised) gradient mean.

    Example:
        >>> model = DerivativeExactGPSEModel(D, N_max=5 * D)
        >>> gibo = GIBO(torch.full((D,), 0.5), objective, model, max_samples_per_iteration=D, delta=0.2,
        ...             optimizer_torch_config={"lr": 0.25}, normalize_gradient=True)
        >>> gibo.step()
    """

    def __init__(
        self,
        params_init: torch.Tensor,
        objective: Callable[[torch.Tensor], torch.Tensor],
        model: DerivativeExactGPSEModel,
        max_samples_per_iteration: int,
        OptimizerTorch: Type[torch.optim.Optimizer] = torch.optim.SGD,
        optimizer_torch_config: Optional[dict] = None,
        lr_schedular: Optional[Dict[int, float]] = None,
        optimize_hyperparameters: bool = False,
        no_noise_optimization: bool = False,
        optimize_acqf_config: Optional[dict] = None,
        bounds: Optional[torch.Tensor] = None,
        delta: Optional[float] = None,
        epsilon_diff_acq_value: Optional[float] = None,
        generate_initial_data: Optional[int] = None,
        standard_deviation_scaling: bool = False,
        normalize_gradient: bool = False,
        acquisition_lengthscale_slip: bool = False,
        min_points_for_fit: Optional[int] = None,
        clip_to_bounds: bool = False,
        verbose: bool = False,
    ):
        """Args:
        model: derivative GP (its hyperparameters already set or to be fitted).
        min_points_for_fit: with `optimize_hyperparameters`, refit at every iteration once the window holds
            this many points (None: once it is full, N ≥ N_max, the paper's rule; every iteration without N_max).
        clip_to_bounds: clip θ into `bounds` after every step (the paper's GIBO lets θ leave them).
        acquisition_lengthscale_slip: use the acquisition of the paper's published runs (∂k/∂θ_i over l_i
            instead of l_i², see `GradientInformation`); it changes the chosen points and, through the scale
            of the acquisition values, when the ε early stop fires.
        bounds: `2 x D` global box; delta: half-width of the local box around θ_t (intersected with
            `bounds` when both are given). At least one of them is required.
        generate_initial_data: number of uniform points in the first search box evaluated before the first step.
        """
        super().__init__(params_init, objective)
        if bounds is None and delta is None:
            raise ValueError("GIBO needs `bounds` or `delta` for its acquisition search box")
        self.model = model
        self.max_samples_per_iteration = int(max_samples_per_iteration)
        self.params = torch.nn.Parameter(self.params.to(model.train_x.dtype))
        self.optimizer_torch = OptimizerTorch([self.params], **(optimizer_torch_config or {"lr": 0.5}))
        self.base_lrs = [group["lr"] for group in self.optimizer_torch.param_groups]
        self.lr_schedular = lr_schedular
        self.optimize_hyperparameters = optimize_hyperparameters
        self.no_noise_optimization = no_noise_optimization
        self.optimize_acqf_config = {"q": 1, "num_restarts": 5, "raw_samples": 64, **(optimize_acqf_config or {})}
        self.bounds = bounds
        self.delta = delta
        self.epsilon_diff_acq_value = epsilon_diff_acq_value
        self.generate_initial_data = generate_initial_data
        self.standard_deviation_scaling = standard_deviation_scaling
        self.normalize_gradient = normalize_gradient
        self.acquisition_lengthscale_slip = acquisition_lengthscale_slip
        self.min_points_for_fit = min_points_for_fit
        if clip_to_bounds and bounds is None:
            raise ValueError("clip_to_bounds needs bounds")
        self.clip_to_bounds = clip_to_bounds
        self.verbose = verbose
        self.iteration = 0
        self._fit_status = "none"  # what this iteration's hyperparameter fit did (FIT_STATUS)
        self.random_starts = [
            0
        ]  # acquisition optimisations that started from random points (see counting_random_starts)
        self.acquisition_values: List[List[float]] = []  # per iteration, for diagnostics
        # per iteration: the GP hyperparameters behind that iteration's gradient step
        self.hyperparameter_history: List[Dict[str, object]] = []

    def search_box(self) -> torch.Tensor:
        """`2 x D` box in which the acquisition is maximised."""
        theta = self.params.detach()
        if self.delta is None:
            return self.bounds.to(theta)
        box = torch.stack([theta - self.delta, theta + self.delta])
        if self.bounds is not None:
            bounds = self.bounds.to(theta)
            box = torch.stack([torch.maximum(box[0], bounds[0]), torch.minimum(box[1], bounds[1])])
        return box

    def _observe(self, x: torch.Tensor) -> Generator[torch.Tensor, torch.Tensor, None]:
        y = yield from self._evaluate(x)
        self.model.append_train_data(x.detach().reshape(1, -1), y.reshape(1))

    def iterate(self) -> Iteration:
        theta = self.params.detach().clone()
        if self.iteration == 0 and self.generate_initial_data:
            box = self.search_box()
            for u in torch.rand(int(self.generate_initial_data), self.D, dtype=theta.dtype):
                yield from self._observe(box[0] + u * (box[1] - box[0]))
        yield from self._observe(theta)
        self._fit_status = "none"
        if self.optimize_hyperparameters and self._fit_due():
            self._fit_status = self.model.fit_hyperparameters(fix_noise=self.no_noise_optimization)
            if self.verbose:
                logger.info("iteration %d: lengthscale %s", self.iteration, self.model.lengthscale.detach().numpy())
        yield from self._sample_gradient_information(theta)
        self._gradient_step(theta)
        self._record_hyperparameters()
        self._update_state_normalization()
        self.iteration += 1
        self._record()

    def _fit_due(self) -> bool:
        if self.min_points_for_fit is not None:
            return self.model.N >= self.min_points_for_fit
        return self.model.N_max is not None and self.model.N >= self.model.N_max

    def _clipped(self, params: torch.Tensor) -> torch.Tensor:
        """params (`D`) clipped into `bounds` with `clip_to_bounds`, else params itself."""
        if not self.clip_to_bounds:
            return params
        bounds = self.bounds.to(params)
        return torch.minimum(torch.maximum(params, bounds[0]), bounds[1])

    def _sample_gradient_information(self, theta: torch.Tensor) -> Generator[torch.Tensor, torch.Tensor, None]:
        values: List[float] = []
        budget = min(self.max_samples_per_iteration, self.calls_left)
        cfg = self.optimize_acqf_config
        box = self.search_box()
        for _ in range(int(budget)):
            acquisition = self._acquisition(theta)
            with counting_random_starts(self.random_starts):
                z, value = optimize_gradient_information(
                    acquisition, box, q=cfg["q"], num_restarts=cfg["num_restarts"], raw_samples=cfg["raw_samples"]
                )
            for point in z:
                yield from self._observe(point)
            values.append(float(value))
            eps = self.epsilon_diff_acq_value
            if eps is not None and len(values) > 1 and values[-1] - values[-2] < eps:
                break
        self.acquisition_values.append(values)

    def _acquisition(self, theta: torch.Tensor):
        """The acquisition maximised for each new sample (built afresh after every observation)."""
        return GradientInformation(self.model, theta, lengthscale_slip=self.acquisition_lengthscale_slip)

    def _gradient_step(self, theta: torch.Tensor) -> None:
        with torch.no_grad():
            mean, cov = self.model.posterior_derivative(theta)
            gradient = mean[0]
            if self.normalize_gradient:
                lengthscale = self.model.lengthscale.expand(self.D)
                gradient = gradient / gradient.norm().clamp_min(1e-300) * lengthscale
            if self.standard_deviation_scaling:
                gradient = gradient / cov[0].diagonal()
        factor = lr_factor(self.lr_schedular, self.iteration)
        for group, base_lr in zip(self.optimizer_torch.param_groups, self.base_lrs):
            group["lr"] = base_lr * factor
        self.optimizer_torch.zero_grad()
        self.params.grad = -gradient.to(self.params)  # torch optimisers minimise: step along −(−μ∇)
        self.optimizer_torch.step()
        if self.clip_to_bounds:
            with torch.no_grad():
                self.params.copy_(self._clipped(self.params))

    # Codes of `gp_fit_status`: what the hyperparameter fit of an iteration did.
    FIT_STATUS = {"none": 0, "moved": 1, "unchanged": 2, "failed": 3}

    def _record_hyperparameters(self) -> None:
        model = self.model
        with torch.no_grad():
            self.hyperparameter_history.append(
                {
                    "gp_lengthscale": model.lengthscale.detach().expand(self.D).numpy().copy(),
                    "gp_outputscale": float(model.outputscale.detach()),
                    "gp_noise": float(model.noise.detach()),
                    "gp_mean": float(model.prior_mean.detach()),
                    "gp_fit_status": self.FIT_STATUS[self._fit_status],
                }
            )

    def hyperparameter_arrays(self) -> Dict[str, np.ndarray]:
        """The GP hyperparameters of each iteration's gradient step, for saving beside the history.

        Returns:
            {"gp_lengthscale": `T x D`, "gp_outputscale", "gp_noise", "gp_mean": `T` floats,
            "gp_fit_status": `T` ints (0 no fit, 1 the fit moved the hyperparameters, 2 it ended where it
            started, 3 it failed and the previous values were kept)} for T iterations (row t belongs to the
            step from θ_t to θ_{t+1}); lengthscales in the optimiser's coordinates.
        """
        names = ("gp_lengthscale", "gp_outputscale", "gp_noise", "gp_mean")
        arrays = {name: np.array([h[name] for h in self.hyperparameter_history], dtype=np.float64) for name in names}
        arrays["gp_lengthscale"] = arrays["gp_lengthscale"].reshape(-1, self.D)  # `0 x D` before any iteration
        arrays["gp_fit_status"] = np.array([h["gp_fit_status"] for h in self.hyperparameter_history], dtype=np.int64)
        return arrays

    def diagnostics(self) -> Dict[str, np.ndarray]:
        """The hyperparameter arrays and the number of acquisition optimisations that started at random."""
        return {**self.hyperparameter_arrays(), "acquisition_random_starts": np.asarray(self.random_starts[0])}

    def _update_state_normalization(self) -> None:
        """Fold the new states into the normaliser and re-express θ and the GP data in its new coordinates."""
        update = getattr(self.objective, "update_state_normalizer", None)
        if update is None:
            return
        raw_x = self.objective.params_to_raw(self.model.train_x)
        raw_theta = self.objective.params_to_raw(self.params.detach())
        if update():
            self.model.set_data(self.objective.params_from_raw(raw_x), self.model.train_y)
            with torch.no_grad():
                self.params.copy_(self.objective.params_from_raw(raw_theta))


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
        optimize_hyperparameters: bool = False,
        no_noise_optimization: bool = False,
        optimize_acqf_config: Optional[dict] = None,
        bounds: Optional[torch.Tensor] = None,
        delta: Optional[float] = None,
        epsilon_diff_acq_value: Optional[float] = None,
        generate_initial_data: Optional[int] = None,
        min_points_for_fit: Optional[int] = None,
        clip_to_bounds: bool = False,
        verbose: bool = False,
    ):
        """Args: as `GIBO` (with `clip_to_bounds` every walk step is clipped), without the arguments of its gradient step (torch optimiser, learning rate and its
        schedule, gradient normalisation, standard-deviation scaling), which the walk replaces; and
        step_size: η, the length of one walk step (> 0);
        ascent_probability: p_min in (0.5, 1]: the walk goes on while Φ(√(μ∇ᵀΣ∇⁻¹μ∇)) ≥ p_min
            (Φ(√s) ≥ 0.5 always, so p_min ≤ 0.5 would never stop it);
        max_walk_steps: most steps per iteration (≥ 0).
        """
        if not step_size > 0:
            raise ValueError(f"step_size must be positive, got {step_size}")
        if not 0.5 < ascent_probability <= 1.0:
            raise ValueError(f"ascent_probability must lie in (0.5, 1], got {ascent_probability}")
        if int(max_walk_steps) < 0:
            raise ValueError(f"max_walk_steps must be non-negative, got {max_walk_steps}")
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
            verbose=verbose,
        )
        self.step_size = float(step_size)
        self.ascent_probability = float(ascent_probability)
        self.max_walk_steps = int(max_walk_steps)
        self.walk_steps: List[int] = []  # per iteration
        self.walk_probabilities: List[float] = []  # per iteration: the ascent probability at θ_{t+1}

    def _acquisition(self, theta: torch.Tensor) -> ExpectedAscentStatistic:
        return ExpectedAscentStatistic(self.model, theta)

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

    def diagnostics(self) -> Dict[str, np.ndarray]:
        """GIBO's arrays (hyperparameters, random starts) and the walk's (`mpd_arrays`)."""
        return {**super().diagnostics(), **self.mpd_arrays()}

    def mpd_arrays(self) -> Dict[str, np.ndarray]:
        """Per iteration (row t: the walk from θ_t to θ_{t+1}), for saving beside the history.

        Returns:
            {"mpd_walk_steps": `T` ints, "mpd_ascent_probability": `T` floats, the ascent probability at
            θ_{t+1}} for T iterations.
        """
        return {
            "mpd_walk_steps": np.asarray(self.walk_steps, dtype=np.int64),
            "mpd_ascent_probability": np.asarray(self.walk_probabilities, dtype=np.float64),
        }


class ARS(Optimizer):
    """Augmented random search: θ += α / (b σ_R) Σ_k (J(θ + ν δ_k) − J(θ − ν δ_k)) δ_k, δ_k ~ N(0, I).

    With `num_top_directions` b only the b directions with the largest max(r+, r−) are used (ARS-t);
    σ_R is the standard deviation of the used rewards with `standard_deviation_scaling` (else 1), with the
    n − 1 divisor by default (torch's default, which the paper's runs used) or n (`reward_std_divisor="n"`,
    numpy's default, as in Mania et al.'s code; for N = 1 the steps are then √2 times longer);
    indices in `param_args_ignore` are never perturbed. With a state-normalising objective (ARS V2) the
    normaliser's statistics are updated after every iteration.

    Example:
        >>> ars = ARS(torch.zeros(D), objective, step_size=0.02, samples_per_iteration=4, exploration_noise=0.03)
        >>> ars.step()  # 8 objective calls
    """

    def __init__(
        self,
        params_init: torch.Tensor,
        objective: Callable[[torch.Tensor], torch.Tensor],
        step_size: float,
        samples_per_iteration: int,
        exploration_noise: float,
        standard_deviation_scaling: bool = False,
        num_top_directions: Optional[int] = None,
        param_args_ignore: Optional[Sequence[int]] = None,
        reward_std_divisor: str = "n-1",
    ):
        super().__init__(params_init, objective)
        if reward_std_divisor not in ("n-1", "n"):
            raise ValueError(f"reward_std_divisor must be 'n-1' or 'n', got {reward_std_divisor!r}")
        self.reward_std_divisor = reward_std_divisor
        self.step_size = step_size
        self.samples_per_iteration = int(samples_per_iteration)
        self.exploration_noise = exploration_noise
        self.standard_deviation_scaling = standard_deviation_scaling
        self.num_top_directions = num_top_directions or self.samples_per_iteration
        if not 1 <= self.num_top_directions <= self.samples_per_iteration:
            raise ValueError("num_top_directions must lie in [1, samples_per_iteration]")
        self.mask = torch.ones(self.D, dtype=self.params.dtype)
        if param_args_ignore:
            self.mask[list(param_args_ignore)] = 0.0

    def sample_directions(self) -> torch.Tensor:
        """`N x D` directions δ_k ~ N(0, I), zero at the ignored indices."""
        return torch.randn(self.samples_per_iteration, self.D, dtype=self.params.dtype) * self.mask

    def iterate(self) -> Iteration:
        directions = self.sample_directions()
        r_plus, r_minus = [], []
        for d in directions:
            r_plus.append((yield from self._evaluate(self.params + self.exploration_noise * d)))
        for d in directions:
            r_minus.append((yield from self._evaluate(self.params - self.exploration_noise * d)))
        r_plus, r_minus = torch.stack(r_plus), torch.stack(r_minus)
        self.params = self.params + self.update(directions, r_plus, r_minus)
        update = getattr(self.objective, "update_state_normalizer", None)
        if update is not None:
            update()
        self._record()

    def update(self, directions: torch.Tensor, r_plus: torch.Tensor, r_minus: torch.Tensor) -> torch.Tensor:
        """The step α / (b σ_R) Σ_{k in top b} (r+_k − r−_k) δ_k. directions: `N x D`; r_plus, r_minus: `N`."""
        b = self.num_top_directions
        top = torch.argsort(torch.maximum(r_plus, r_minus), descending=True)[:b]
        used = torch.cat([r_plus[top], r_minus[top]])
        unbiased = self.reward_std_divisor == "n-1"
        sigma = used.std(unbiased=unbiased) if self.standard_deviation_scaling else torch.ones((), dtype=used.dtype)
        if sigma <= 1e-12:  # every used reward equal: nothing to scale by
            sigma = torch.ones((), dtype=used.dtype)
        return self.step_size / (b * sigma) * ((r_plus[top] - r_minus[top]).unsqueeze(-1) * directions[top]).sum(0)


class VanillaBO(Optimizer):
    """Bayesian optimisation with an SE-ARD GP and EI(x) = E[max(f(x) − best_f, 0)] (or log EI) over a fixed box.

    Each step queries argmax EI (BoTorch's multi-start L-BFGS-B) and records that point; the first step also
    evaluates θ_0 (and `generate_initial_data` uniform points). Hyperparameters are refitted at every step
    once more than 20 points exist (if enabled).

    Example:
        >>> bo = VanillaBO(torch.full((D,), 0.5), objective, bounds=torch.stack([torch.zeros(D), torch.ones(D)]))
        >>> bo.step()
    """

    MIN_POINTS_FOR_FIT = 20

    def __init__(
        self,
        params_init: torch.Tensor,
        objective: Callable[[torch.Tensor], torch.Tensor],
        bounds: torch.Tensor,
        model_kwargs: Optional[dict] = None,
        hypers: Optional[dict] = None,
        optimize_hyperparameters: bool = False,
        no_noise_optimization: bool = False,
        acquisition_function: str = "expected_improvement",
        best_f: Optional[float] = None,
        optimize_acqf_config: Optional[dict] = None,
        generate_initial_data: Optional[int] = None,
    ):
        """bounds: `2 x D` search box; model_kwargs: for `ExactGPSEModel`; hypers: gpytorch names → values;
        acquisition_function: "expected_improvement" or "log_expected_improvement"; best_f: fixed incumbent
        (default: the best observation so far)."""
        super().__init__(params_init, objective)
        if acquisition_function not in ("expected_improvement", "log_expected_improvement"):
            raise ValueError(f"unknown acquisition_function {acquisition_function!r}")
        self.bounds = bounds.to(self.params)
        self.model_kwargs = dict(model_kwargs or {})
        self.model_kwargs.setdefault("ard_num_dims", self.D)
        self.hypers = hypers or {}
        self.optimize_hyperparameters = optimize_hyperparameters
        self.no_noise_optimization = no_noise_optimization
        self.acquisition_function = acquisition_function
        self.best_f = best_f
        self.optimize_acqf_config = {"q": 1, "num_restarts": 5, "raw_samples": 64, **(optimize_acqf_config or {})}
        self.generate_initial_data = generate_initial_data or 0
        self.train_x = torch.empty(0, self.D, dtype=self.params.dtype)
        self.train_y = torch.empty(0, dtype=self.params.dtype)
        self.model: Optional[DerivativeExactGPSEModel] = None
        self.random_starts = [0]

    def diagnostics(self) -> Dict[str, np.ndarray]:
        return {"acquisition_random_starts": np.asarray(self.random_starts[0])}

    def _observe(self, x: torch.Tensor) -> Generator[torch.Tensor, torch.Tensor, None]:
        y = yield from self._evaluate(x)
        self.train_x = torch.cat([self.train_x, x.reshape(1, -1)])
        self.train_y = torch.cat([self.train_y, y.reshape(1)])

    def _fit_model(self) -> DerivativeExactGPSEModel:
        if self.model is None:
            # Every point is kept (N_max None); the derivative model is used only for its closed-form solve.
            self.model = DerivativeExactGPSEModel(
                self.D,
                N_max=None,
                train_x=self.train_x,
                train_y=self.train_y,
                dtype=self.params.dtype,
                **self.model_kwargs,
            )
            self.model.initialize(**self.hypers)
        else:
            self.model.set_data(self.train_x, self.train_y)
        if self.optimize_hyperparameters and self.train_y.shape[0] > self.MIN_POINTS_FOR_FIT:
            self.model.fit_hyperparameters(fix_noise=self.no_noise_optimization)
        return self.model

    def iterate(self) -> Iteration:
        from botorch.optim import optimize_acqf

        if self.train_y.shape[0] == 0:
            yield from self._observe(self.params)
            for u in torch.rand(self.generate_initial_data, self.D, dtype=self.params.dtype):
                yield from self._observe(self.bounds[0] + u * (self.bounds[1] - self.bounds[0]))
        model = self._fit_model()
        best_f = model.to_targets(self.train_y.max() if self.best_f is None else self.best_f)
        acquisition = ClosedFormExpectedImprovement(
            model, best_f, log=self.acquisition_function == "log_expected_improvement"
        )
        cfg = self.optimize_acqf_config
        with counting_random_starts(self.random_starts):
            candidate, _ = optimize_acqf(
                acquisition,
                bounds=self.bounds,
                q=1,
                num_restarts=cfg["num_restarts"],
                raw_samples=cfg["raw_samples"],
                options={"maxiter": 200},
                retry_on_optimization_warning=False,
            )
        self.params = candidate.detach().reshape(-1)
        yield from self._observe(self.params)
        self._record()


class CMAES(Optimizer):
    """(μ/μ_w, λ)-CMA-ES through pycma (ask/tell) on −J; λ = 4 + ⌊3 ln D⌋ unless given. Records each generation's best point.

    pycma's seed is `seed` combined with one draw from torch's global generator, so runs whose runner seeds
    torch per unit (each synthetic objective, each RL trial) get different, repeatable sample streams.

    Example:
        >>> es = CMAES(torch.full((D,), 0.5), objective, sigma=0.1, seed=0)
        >>> es.step()  # λ objective calls
    """

    def __init__(
        self,
        params_init: torch.Tensor,
        objective: Callable[[torch.Tensor], torch.Tensor],
        sigma: float,
        population_size: Optional[int] = None,
        seed: int = 0,
        bounds: Optional[torch.Tensor] = None,
    ):
        """sigma: initial step size σ0; population_size: λ (default 4 + ⌊3 ln D⌋); seed: combined with torch's
        generator (see the class docstring); bounds: `2 x D` box handed to pycma (its boundary handling keeps
        the evaluated points inside)."""
        import cma

        super().__init__(params_init, objective)
        # pycma treats seed 0 as "seed from the clock": keep it ≥ 1.
        cma_seed = 1 + (int(seed) * 1_000_003 + int(torch.randint(0, 2**30, ()))) % (2**31 - 2)
        options = {
            "seed": cma_seed,
            "verbose": -9,
            "verb_disp": 0,
            "verb_log": 0,
            "tolfun": 0,
            "tolx": 0,
            "tolfunhist": 0,
        }
        if population_size is not None:
            options["popsize"] = int(population_size)
        if bounds is not None:
            options["bounds"] = [bounds[0].tolist(), bounds[1].tolist()]
        self.es = cma.CMAEvolutionStrategy(self.params.numpy().astype(np.float64), float(sigma), options)

    def iterate(self) -> Iteration:
        candidates = self.es.ask()
        values = []
        for x in candidates:
            values.append(float((yield from self._evaluate(torch.as_tensor(x, dtype=self.params.dtype)))))
        self.es.tell(candidates, [-v for v in values])
        best = candidates[int(np.argmax(values))]
        self.params = torch.as_tensor(np.asarray(best), dtype=self.params.dtype)
        self._record()


@dataclass
class TurboState:
    """TuRBO-1's trust region: L ← min(2L, L_max) after τ_succ successes in a row, L ← L/2 after τ_fail failures in a row; restart once L < L_min.

    A batch is a success when its best value exceeds the incumbent by more than 1e-3·|incumbent| (Eriksson et
    al., 2019); every other batch is a failure. τ_fail defaults to ⌈max(4/q, D/q)⌉. The region is a box of
    side L·w_i around the centre, w = l / (Π l_i)^(1/D) (the GP's lengthscales l, so Π w_i = 1), clipped to
    the unit cube.

    Example:
        >>> state = TurboState(D=8)
        >>> state.reset(best_value=0.2); state.update(torch.tensor([0.3]))  # q values of the newest batch
        >>> state.length, state.restart_triggered
    """

    D: int
    batch_size: int = 1
    length_init: float = 0.8
    length_min: float = 0.5**7
    length_max: float = 1.6
    success_tolerance: int = 3
    failure_tolerance: Optional[int] = None
    length: float = field(init=False)
    success_counter: int = field(default=0, init=False)
    failure_counter: int = field(default=0, init=False)
    best_value: float = field(default=-math.inf, init=False)
    restart_triggered: bool = field(default=False, init=False)

    def __post_init__(self):
        if self.failure_tolerance is None:
            self.failure_tolerance = -(-max(4, self.D) // self.batch_size)  # ⌈max(4/q, D/q)⌉ in integers
        if not 0 < self.length_min <= self.length_init <= self.length_max:
            raise ValueError(
                f"need 0 < length_min <= length_init <= length_max, got {self.length_min}, {self.length_init}, {self.length_max}"
            )
        if self.success_tolerance < 1 or self.failure_tolerance < 1 or self.batch_size < 1:
            raise ValueError("success_tolerance, failure_tolerance and batch_size must be at least 1")
        self.length = self.length_init

    def reset(self, best_value: float = -math.inf) -> None:
        """Back to the initial side length with zero counters; `best_value`: the incumbent of the new region."""
        self.length = self.length_init
        self.success_counter = self.failure_counter = 0
        self.best_value = float(best_value)
        self.restart_triggered = False

    def is_success(self, values: torch.Tensor) -> bool:
        """values: `q` observations of one batch."""
        return float(values.max()) > self.best_value + 1e-3 * abs(self.best_value)

    def update(self, values: torch.Tensor) -> bool:
        """Count one batch (values: `q`), raise the incumbent, adapt the side length; returns whether it succeeded."""
        success = self.is_success(values)
        self.best_value = max(self.best_value, float(values.max()))
        self.register(success)
        return success

    def register(self, success: bool) -> None:
        """Count one success or failure and adapt the side length."""
        if success:
            self.success_counter, self.failure_counter = self.success_counter + 1, 0
        else:
            self.success_counter, self.failure_counter = 0, self.failure_counter + 1
        if self.success_counter == self.success_tolerance:
            self.length = min(2.0 * self.length, self.length_max)
            self.success_counter = 0
        elif self.failure_counter == self.failure_tolerance:
            self.length /= 2.0
            self.failure_counter = 0
        if self.length < self.length_min:
            self.restart_triggered = True

    def trust_region(self, center: torch.Tensor, lengthscale: torch.Tensor) -> torch.Tensor:
        """`2 x D` corners of the region around center (`D`, in the unit cube), weighted by lengthscale (`D`)."""
        weights = lengthscale / lengthscale.mean()
        weights = weights / weights.log().mean().exp()  # geometric mean 1
        half = 0.5 * self.length * weights
        return torch.stack([(center - half).clamp(0.0, 1.0), (center + half).clamp(0.0, 1.0)])


class TuRBO(Optimizer):
    """TuRBO-1: each query x = argmax_{c in C} f̃(c), f̃ ~ GP posterior, C a perturbed Sobol set in a trust region around the best point.

    Eriksson, Pearce, Gardner, Turner and Poloczek (NeurIPS 2019), from BoTorch's parts. The objective's box
    (`bounds`) is mapped to the unit cube, where the GP lives. An iteration either evaluates an initial design
    (the first iteration and the one after each restart: `n_init` scrambled Sobol points in the box, fewer if
    the call budget has fewer left), or fits a `SingleTaskGP` to the data since the last restart (Matérn-5/2
    ARD or SE, TuRBO's constraints, standardised outputs; `fit_gpytorch_mll`, L-BFGS-B capped at
    `fit_maxiter`), draws `n_candidates` points in the trust region (`TurboState`) from a scrambled Sobol
    sequence, keeps each coordinate of the centre with probability 1 − p_pert (at least one perturbed per
    point), and evaluates q of them chosen by Thompson sampling (`batch_size`, capped at the calls left).
    When the region collapses (L < L_min), its data leaves the GP and the next iteration starts afresh with a
    new initial design and state. `params_history[t]` is the best point observed (by its observed, noisy value) up to iteration t,
    over every restart, not the last query: the recorded iterates are best-so-far points, as the other
    methods' post-processing expects. `params_init` is only θ_0 of the history; it is not evaluated.
    A state-normalising objective's normaliser is never updated (TuRBO is meant for fixed coordinates).

    Example:
        >>> bounds = torch.stack([torch.zeros(D), torch.ones(D)]).double()
        >>> turbo = TuRBO(torch.full((D,), 0.5), objective, bounds)
        >>> turbo.step(); turbo.turbo_arrays()["turbo_length"]
    """

    # TuRBO's hyperparameter constraints in unit-cube inputs and standardised outputs, and its initial values.
    LENGTHSCALE_CONSTRAINT = (0.005, 2.0)
    OUTPUTSCALE_CONSTRAINT = (0.05, 20.0)
    NOISE_CONSTRAINT = (5e-4, 0.2)
    INITIAL_HYPERS = {
        "covar_module.base_kernel.lengthscale": 0.5,
        "covar_module.outputscale": 1.0,
        "likelihood.noise": 0.005,
    }

    def __init__(
        self,
        params_init: torch.Tensor,
        objective: Callable[[torch.Tensor], torch.Tensor],
        bounds: torch.Tensor,
        batch_size: int = 1,
        n_init: Optional[int] = None,
        n_candidates: Optional[int] = None,
        perturbation_probability: Optional[float] = None,
        length_init: float = 0.8,
        length_min: float = 0.5**7,
        length_max: float = 1.6,
        success_tolerance: int = 3,
        failure_tolerance: Optional[int] = None,
        kernel: str = "matern52",
        optimize_hyperparameters: bool = True,
        hypers: Optional[dict] = None,
        no_noise_optimization: bool = False,
        fit_maxiter: Optional[int] = 100,
        warm_start: bool = True,
        thompson_sampling: str = "pathwise",
        verbose: bool = False,
    ):
        """Args:
        bounds: `2 x D` box of the objective's coordinates.
        batch_size: q points per iteration; n_init: initial design size (default 2D);
        n_candidates: Thompson-sampling candidates (default min(5000, max(2000, 200 D)));
        perturbation_probability: chance that a coordinate of a candidate leaves the centre (default min(20/D, 1));
        length_init, length_min, length_max, success_tolerance, failure_tolerance: as `TurboState`.
        kernel: "matern52" (TuRBO's) or "rbf" (the squared-exponential kernel of the synthetic functions).
        optimize_hyperparameters: fit the GP every iteration; else use `hypers` as they are, on unstandardised
            outputs with constant mean 0 (then `hypers` needs all three values).
        hypers: gpytorch names → values, in the objective's coordinates and units (lengthscales are divided by
            the box's widths); while fitting, only "likelihood.noise" is read, and only with `no_noise_optimization`.
        no_noise_optimization: the observation noise is known (`hypers["likelihood.noise"]`, scaled with the
            outputs' standardisation) instead of fitted.
        fit_maxiter: L-BFGS-B iterations per fit (None: BoTorch's default).
        warm_start: start each fit from the previous fit's values in the same region (outputs standardised
            afresh each time); False: from TuRBO's initial values (lengthscale 0.5, outputscale 1, noise
            0.005) every time, as the original code does. Either way a restart starts from the initial values.
        thompson_sampling: "pathwise" (one posterior function draw per query through BoTorch's Matheron
            paths with random Fourier features: approximate, cost linear in the candidates) or "exact" (the
            joint posterior of all candidates through `MaxPosteriorSampling` with a dense Cholesky factor:
            cubic in the candidates: measured 13 s per draw at 5000 candidates, D = 32, one thread).
        """
        super().__init__(params_init, objective)
        self.bounds = bounds.to(self.params).reshape(2, -1)
        if self.bounds.shape[-1] != self.D or not bool((self.bounds[1] > self.bounds[0]).all()):
            raise ValueError(f"bounds must be 2 x {self.D} with upper > lower")
        if kernel not in ("matern52", "rbf"):
            raise ValueError(f"unknown kernel {kernel!r} (matern52 or rbf)")
        if thompson_sampling not in ("pathwise", "exact"):
            raise ValueError(f"unknown thompson_sampling {thompson_sampling!r} (pathwise or exact)")
        self.hypers = dict(hypers or {})
        needed = ["likelihood.noise"] if optimize_hyperparameters and no_noise_optimization else []
        if not optimize_hyperparameters:
            needed = ["covar_module.base_kernel.lengthscale", "covar_module.outputscale", "likelihood.noise"]
        missing = [name for name in needed if self.hypers.get(name) is None]
        if missing:
            raise ValueError(f"TuRBO without fitting these hyperparameters needs their values in hypers: {missing}")
        self.batch_size = int(batch_size)
        self.n_init = int(2 * self.D if n_init is None else n_init)
        self.n_candidates = int(min(5000, max(2000, 200 * self.D)) if n_candidates is None else n_candidates)
        if perturbation_probability is None:
            perturbation_probability = min(20.0 / self.D, 1.0)
        self.perturbation_probability = float(perturbation_probability)
        if self.n_init < 1 or self.n_candidates < self.batch_size or not 0 < self.perturbation_probability <= 1:
            raise ValueError("need n_init >= 1, n_candidates >= batch_size and 0 < perturbation_probability <= 1")
        self.state = TurboState(
            self.D,
            self.batch_size,
            length_init=length_init,
            length_min=length_min,
            length_max=length_max,
            success_tolerance=success_tolerance,
            failure_tolerance=failure_tolerance,
        )
        self.kernel = kernel
        self.optimize_hyperparameters = optimize_hyperparameters
        self.no_noise_optimization = no_noise_optimization
        self.fit_maxiter = fit_maxiter
        self.warm_start = warm_start
        self._fitted: Optional[Dict[str, torch.Tensor]] = None  # raw hyperparameters of the last fit in this region
        self.thompson_sampling = thompson_sampling
        self.verbose = verbose
        self.X = torch.empty(0, self.D, dtype=self.params.dtype)  # unit-cube inputs of the current region
        self.Y = torch.empty(0, dtype=self.params.dtype)
        self.best_params = self.params.clone()  # objective coordinates; θ_0 until something is observed
        self.best_value = -math.inf
        self.restarts = 0
        self.length_history: List[float] = []
        self.restart_history: List[int] = []

    # -- coordinates ------------------------------------------------------------------------------

    def to_unit(self, params: torch.Tensor) -> torch.Tensor:
        """`... x D` objective coordinates → unit cube."""
        return (params - self.bounds[0]) / (self.bounds[1] - self.bounds[0])

    def from_unit(self, x: torch.Tensor) -> torch.Tensor:
        """`... x D` unit cube → objective coordinates."""
        return self.bounds[0] + x * (self.bounds[1] - self.bounds[0])

    # -- one iteration ----------------------------------------------------------------------------

    def iterate(self) -> Iteration:
        remaining = self.calls_left
        initial = self.X.shape[0] == 0
        if initial:
            X_next = self.initial_design(int(min(self.n_init, remaining)))
            length = math.nan
        else:
            length = self.state.length
            X_next = self.thompson_candidates(self.fit_model(), int(min(self.batch_size, remaining)))
        Y_next = []
        for x in X_next:
            Y_next.append((yield from self._evaluate(self.from_unit(x))))
        Y_next = torch.stack(Y_next)
        if initial:
            self.state.reset(best_value=float(Y_next.max()))
        else:
            self.state.update(Y_next)
        self.X, self.Y = torch.cat([self.X, X_next]), torch.cat([self.Y, Y_next])
        best = int(Y_next.argmax())
        if float(Y_next[best]) > self.best_value:
            self.best_value, self.best_params = float(Y_next[best]), self.from_unit(X_next[best])
            self.params = self.best_params
        if self.state.restart_triggered:
            logger.info("TuRBO: trust region collapsed after %d points; restarting", self.X.shape[0])
            self.restarts += 1
            self.X, self.Y = self.X[:0], self.Y[:0]
            self.state.reset()
            self._fitted = None
        self.length_history.append(length)
        self.restart_history.append(self.restarts)
        if self.verbose:
            logger.info("TuRBO: side %.4f, %d restarts, best %.6g", self.state.length, self.restarts, self.best_value)
        self._record(self.best_params)

    def initial_design(self, n: int) -> torch.Tensor:
        """`n x D` scrambled Sobol points in the unit cube (seeded from torch's generator)."""
        from torch.quasirandom import SobolEngine

        sobol = SobolEngine(self.D, scramble=True, seed=int(torch.randint(0, 2**31 - 1, ())))
        return sobol.draw(n).to(self.params.dtype)

    def candidate_set(self, lengthscale: torch.Tensor) -> torch.Tensor:
        """`n_candidates x D` points in the trust region around the best point of the region's data.

        lengthscale: `D` lengthscales of the GP in the unit cube (they shape the region).
        """
        from torch.quasirandom import SobolEngine

        center = self.X[self.Y.argmax()]
        lower, upper = self.state.trust_region(center, lengthscale.reshape(-1).expand(self.D).to(center))
        sobol = SobolEngine(self.D, scramble=True, seed=int(torch.randint(0, 2**31 - 1, ())))
        perturbed = lower + (upper - lower) * sobol.draw(self.n_candidates).to(center)
        mask = torch.rand(self.n_candidates, self.D) <= self.perturbation_probability
        untouched = torch.nonzero(~mask.any(-1)).reshape(-1)
        mask[untouched, torch.randint(0, self.D, (untouched.numel(),))] = True
        return torch.where(mask, perturbed, center.expand_as(perturbed))

    def thompson_candidates(self, model, q: int) -> torch.Tensor:
        """`q x D` Thompson samples (distinct points) from the candidate set."""
        import gpytorch
        from botorch.generation import MaxPosteriorSampling
        from botorch.sampling.pathwise import draw_matheron_paths

        candidates = self.candidate_set(model.covar_module.base_kernel.lengthscale.detach())
        sampling = MaxPosteriorSampling(model, replacement=False)
        with torch.no_grad():
            if self.thompson_sampling == "exact":
                with gpytorch.settings.max_cholesky_size(float("inf")):
                    return sampling(candidates, num_samples=q)
            samples = draw_matheron_paths(model, sample_shape=torch.Size([q]))(candidates)  # q x n_candidates
            return sampling.maximize_samples(candidates, samples.unsqueeze(-1), num_samples=q)

    def fit_model(self):
        """A `SingleTaskGP` on the current region's data, fitted unless the hyperparameters are fixed."""
        from botorch.exceptions.errors import ModelFittingError
        from botorch.exceptions.warnings import InputDataWarning
        from botorch.models import SingleTaskGP
        from botorch.models.transforms.outcome import Standardize
        from gpytorch.constraints import Interval
        from gpytorch.kernels import MaternKernel, RBFKernel, ScaleKernel
        from gpytorch.likelihoods import GaussianLikelihood
        from gpytorch.mlls import ExactMarginalLogLikelihood

        fit = self.optimize_hyperparameters
        lengthscale_constraint = Interval(*self.LENGTHSCALE_CONSTRAINT) if fit else None
        if self.kernel == "matern52":
            base = MaternKernel(nu=2.5, ard_num_dims=self.D, lengthscale_constraint=lengthscale_constraint)
        else:
            base = RBFKernel(ard_num_dims=self.D, lengthscale_constraint=lengthscale_constraint)
        covar = ScaleKernel(base, outputscale_constraint=Interval(*self.OUTPUTSCALE_CONSTRAINT) if fit else None)
        Y = self.Y.unsqueeze(-1)
        known_noise = not fit or self.no_noise_optimization
        train_Yvar = torch.full_like(Y, float(self.hypers["likelihood.noise"])) if known_noise else None
        likelihood = None if known_noise else GaussianLikelihood(noise_constraint=Interval(*self.NOISE_CONSTRAINT))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InputDataWarning)  # fixed hyperparameters: outputs deliberately raw
            model = SingleTaskGP(
                self.X,
                Y,
                train_Yvar,
                likelihood=likelihood,
                covar_module=covar,
                outcome_transform=Standardize(m=1) if fit else None,
            )
        if not fit:
            widths = self.bounds[1] - self.bounds[0]
            lengthscale = torch.as_tensor(self.hypers["covar_module.base_kernel.lengthscale"], dtype=widths.dtype)
            model.initialize(
                **{
                    "covar_module.base_kernel.lengthscale": lengthscale.expand(self.D) / widths,
                    "covar_module.outputscale": float(self.hypers["covar_module.outputscale"]),
                }
            )
            return model.eval()
        model.initialize(**{k: v for k, v in self.INITIAL_HYPERS.items() if k != "likelihood.noise" or not known_noise})
        if self.warm_start and self._fitted is not None:
            model.load_state_dict(self._fitted, strict=False)
        options = (
            {} if self.fit_maxiter is None else {"optimizer_kwargs": {"options": {"maxiter": int(self.fit_maxiter)}}}
        )
        try:
            fit_mll(ExactMarginalLogLikelihood(model.likelihood, model), **options)
        except ModelFittingError as error:  # keep the starting values rather than end the run
            logger.warning("TuRBO: GP fit failed (%s); using the starting hyperparameters", str(error).splitlines()[0])
        self._fitted = {name: value.detach().clone() for name, value in model.named_parameters()}
        return model.eval()

    def diagnostics(self) -> Dict[str, np.ndarray]:
        return self.turbo_arrays()

    def turbo_arrays(self) -> Dict[str, np.ndarray]:
        """Per iteration, for saving beside the history.

        Returns:
            {"turbo_length": `T` side lengths with which iteration t's points were drawn (NaN for an
            initial-design iteration), "turbo_restarts": `T` ints, restarts triggered up to and including
            iteration t}.
        """
        return {
            "turbo_length": np.asarray(self.length_history, dtype=np.float64),
            "turbo_restarts": np.asarray(self.restart_history, dtype=np.int64),
        }

"""Optimizers on one interface: `step()` runs one iteration, `params_history` records θ_0, θ_1, ….

GIBO (SPEC §1.3) and the baselines ARS, vanilla BO and CMA-ES (SPEC §2). Every optimizer maximises
`objective(params: D) -> scalar`; `loop.run_optimization` counts the calls and enforces the budget.
MPD (maximum probability of descent) reuses GIBO's loop with its own acquisition and walk.
An objective may offer state-normalisation hooks (`update_state_normalizer`, `params_to_raw`,
`params_from_raw`, see `environment_api.EnvironmentObjective`); the history is always in raw-state
coordinates.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Callable, Dict, List, Optional, Sequence, Type

import numpy as np
import torch

from gibo.acquisition_function import (
    ClosedFormExpectedImprovement,
    ExpectedAscentStatistic,
    GradientInformation,
    most_probable_ascent,
    optimize_gradient_information,
)
from gibo.model import DerivativeExactGPSEModel, ExactGPSEModel

logger = logging.getLogger(__name__)


def _identity(params: torch.Tensor) -> torch.Tensor:
    return params


class Optimizer(ABC):
    """One iteration per `step()`; `params_history[t]` is θ_t in raw-state coordinates.

    Example:
        >>> opt = SomeOptimizer(torch.zeros(D), objective)
        >>> opt.step(); opt.params_history[-1]
    """

    def __init__(self, params_init: torch.Tensor, objective: Callable[[torch.Tensor], torch.Tensor]):
        """params_init: `D` starting point θ_0; objective: `D` → scalar, to be maximised."""
        self.params = params_init.detach().clone().reshape(-1)
        self.objective = objective
        self.params_history: List[torch.Tensor] = [self._to_raw(self.params)]

    @property
    def D(self) -> int:
        return self.params.shape[-1]

    @abstractmethod
    def step(self) -> None:
        """Run one iteration and append the new iterate to `params_history`."""

    def _to_raw(self, params: torch.Tensor) -> torch.Tensor:
        return getattr(self.objective, "params_to_raw", _identity)(params.detach()).clone()

    def _record(self, params: Optional[torch.Tensor] = None) -> None:
        self.params_history.append(self._to_raw(self.params if params is None else params))

    def _evaluate(self, params: torch.Tensor) -> torch.Tensor:
        return self.objective(params.detach().reshape(-1)).reshape(()).to(self.params)


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
        verbose: bool = False,
    ):
        """Args:
        model: derivative GP (its hyperparameters already set or to be fitted).
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
        self.verbose = verbose
        self.iteration = 0
        self._fit_status = "none"  # what this iteration's hyperparameter fit did (FIT_STATUS)
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

    def _observe(self, x: torch.Tensor) -> None:
        y = self._evaluate(x)
        self.model.append_train_data(x.detach().reshape(1, -1), y.reshape(1))

    def step(self) -> None:
        theta = self.params.detach().clone()
        if self.iteration == 0 and self.generate_initial_data:
            box = self.search_box()
            for u in torch.rand(int(self.generate_initial_data), self.D, dtype=theta.dtype):
                self._observe(box[0] + u * (box[1] - box[0]))
        self._observe(theta)
        self._fit_status = "none"
        if self.optimize_hyperparameters and self.model.N_max is not None and self.model.N >= self.model.N_max:
            self._fit_status = self.model.fit_hyperparameters(fix_noise=self.no_noise_optimization)
            if self.verbose:
                logger.info("iteration %d: lengthscale %s", self.iteration, self.model.lengthscale.detach().numpy())
        self._sample_gradient_information(theta)
        self._gradient_step(theta)
        self._record_hyperparameters()
        self._update_state_normalization()
        self.iteration += 1
        self._record()

    def _sample_gradient_information(self, theta: torch.Tensor) -> None:
        values: List[float] = []
        budget = min(self.max_samples_per_iteration, getattr(self.objective, "remaining", np.inf))
        cfg = self.optimize_acqf_config
        box = self.search_box()
        for _ in range(int(budget)):
            acquisition = self._acquisition(theta)
            z, value = optimize_gradient_information(
                acquisition, box, q=cfg["q"], num_restarts=cfg["num_restarts"], raw_samples=cfg["raw_samples"]
            )
            for point in z:
                self._observe(point)
            values.append(float(value))
            eps = self.epsilon_diff_acq_value
            if eps is not None and len(values) > 1 and values[-1] - values[-2] < eps:
                break
        self.acquisition_values.append(values)

    def _acquisition(self, theta: torch.Tensor):
        """The acquisition maximised for each new sample (built afresh after every observation)."""
        return GradientInformation(self.model, theta)

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
        verbose: bool = False,
    ):
        """Args: as `GIBO`, without the arguments of its gradient step (torch optimiser, learning rate and its
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
                point = point + self.step_size * direction
                steps += 1

    def _gradient_step(self, theta: torch.Tensor) -> None:
        point, steps, probability = self.walk(theta)
        with torch.no_grad():
            self.params.copy_(point)
        self.walk_steps.append(steps)
        self.walk_probabilities.append(probability)
        if self.verbose:
            logger.info("iteration %d: %d walk steps, ascent probability %.3f at the end", self.iteration, steps, probability)

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
    σ_R is the standard deviation of the used rewards with `standard_deviation_scaling` (else 1);
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
    ):
        super().__init__(params_init, objective)
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

    def step(self) -> None:
        directions = self.sample_directions()
        r_plus = torch.stack([self._evaluate(self.params + self.exploration_noise * d) for d in directions])
        r_minus = torch.stack([self._evaluate(self.params - self.exploration_noise * d) for d in directions])
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
        sigma = used.std(unbiased=False) if self.standard_deviation_scaling else torch.ones((), dtype=used.dtype)
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

    def _observe(self, x: torch.Tensor) -> None:
        y = self._evaluate(x)
        self.train_x = torch.cat([self.train_x, x.reshape(1, -1)])
        self.train_y = torch.cat([self.train_y, y.reshape(1)])

    def _fit_model(self) -> DerivativeExactGPSEModel:
        if self.model is None:
            # Every point is kept (N_max None); the derivative model is used only for its closed-form solve.
            self.model = DerivativeExactGPSEModel(
                self.D, N_max=None, train_x=self.train_x, train_y=self.train_y, dtype=self.params.dtype, **self.model_kwargs
            )
            self.model.initialize(**self.hypers)
        else:
            self.model.set_data(self.train_x, self.train_y)
        if self.optimize_hyperparameters and self.train_y.shape[0] > self.MIN_POINTS_FOR_FIT:
            self.model.fit_hyperparameters(fix_noise=self.no_noise_optimization)
        return self.model

    def step(self) -> None:
        from botorch.optim import optimize_acqf

        if self.train_y.shape[0] == 0:
            self._observe(self.params)
            for u in torch.rand(self.generate_initial_data, self.D, dtype=self.params.dtype):
                self._observe(self.bounds[0] + u * (self.bounds[1] - self.bounds[0]))
        model = self._fit_model()
        best_f = self.train_y.max() if self.best_f is None else self.best_f
        acquisition = ClosedFormExpectedImprovement(model, best_f, log=self.acquisition_function == "log_expected_improvement")
        cfg = self.optimize_acqf_config
        candidate, _ = optimize_acqf(
            acquisition, bounds=self.bounds, q=1, num_restarts=cfg["num_restarts"],
            raw_samples=cfg["raw_samples"], options={"maxiter": 200}, retry_on_optimization_warning=False,
        )
        self.params = candidate.detach().reshape(-1)
        self._observe(self.params)
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
    ):
        import cma

        super().__init__(params_init, objective)
        # pycma treats seed 0 as "seed from the clock": keep it ≥ 1.
        cma_seed = 1 + (int(seed) * 1_000_003 + int(torch.randint(0, 2**30, ()))) % (2**31 - 2)
        options = {"seed": cma_seed, "verbose": -9, "verb_disp": 0, "verb_log": 0, "tolfun": 0, "tolx": 0, "tolfunhist": 0}
        if population_size is not None:
            options["popsize"] = int(population_size)
        self.es = cma.CMAEvolutionStrategy(self.params.numpy().astype(np.float64), float(sigma), options)

    def step(self) -> None:
        candidates = self.es.ask()
        values = [float(self._evaluate(torch.as_tensor(x, dtype=self.params.dtype))) for x in candidates]
        self.es.tell(candidates, [-v for v in values])
        best = candidates[int(np.argmax(values))]
        self.params = torch.as_tensor(np.asarray(best), dtype=self.params.dtype)
        self._record()

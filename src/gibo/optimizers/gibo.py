"""GIBO (docs/method.md#one-gibo-iteration): gradient ascent on the GP's gradient posterior, with the data
chosen to make the gradient estimate at the current θ precise."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Generator
from typing import Any, ClassVar

import numpy as np
import torch

from gibo.acquisition_function import GradientInformation, optimize_gradient_information
from gibo.model import DerivativeExactGPSEModel
from gibo.optimizers.base import (
    FIT_STATUS,
    Iteration,
    Optimizer,
    counting_random_starts,
    delta_box,
    hyperparameter_arrays,
    hyperparameter_record,
    lr_factor,
    set_parameters,
    tensor_to_json,
)

logger = logging.getLogger(__name__)

# When the state normaliser's statistics move (see `GIBO`): once per iteration, or after every objective call.
STATE_NORMALIZATION_UPDATES = ("iteration", "call")


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
        OptimizerTorch: type[torch.optim.Optimizer] = torch.optim.SGD,
        optimizer_torch_config: dict | None = None,
        lr_schedular: dict[int, float] | None = None,
        optimize_hyperparameters: bool = False,
        no_noise_optimization: bool = False,
        optimize_acqf_config: dict | None = None,
        bounds: torch.Tensor | None = None,
        delta: float | None = None,
        epsilon_diff_acq_value: float | None = None,
        generate_initial_data: int | None = None,
        standard_deviation_scaling: bool = False,
        normalize_gradient: bool = False,
        acquisition_lengthscale_slip: bool = False,
        min_points_for_fit: int | None = None,
        clip_to_bounds: bool = False,
        acquisition_gradient: str = "closed_form",
        state_normalization_update: str = "iteration",
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
        acquisition_gradient: "closed_form" maximises the acquisition with its gradient in closed form; "autograd"
            takes it by autograd through the batched formula (slower; the same points to the optimiser's tolerance).
        state_normalization_update: when an objective with a state normaliser folds the visited states into its
            statistics. "iteration": once per iteration, after the gradient step, with θ and the GP data
            re-expressed so that the raw-state policies they stand for stay the same. "call": after every
            objective call, with θ kept fixed in normalised coordinates (the raw policy it stands for moves with
            the statistics) and only the GP data re-expressed, as the paper's code did.
        bounds: `2 x D` global box; delta: half-width of the local box around θ_t (intersected with
            `bounds` when both are given). At least one of them is required.
        generate_initial_data: number of uniform points in the first search box evaluated before the first step.
        """
        super().__init__(params_init, objective)
        if bounds is None and delta is None:
            raise ValueError("GIBO needs `bounds` or `delta` for its acquisition search box")
        if acquisition_gradient not in ("closed_form", "autograd"):
            raise ValueError(f"acquisition_gradient must be 'closed_form' or 'autograd', got {acquisition_gradient!r}")
        self.analytic_acquisition_gradient = acquisition_gradient == "closed_form"
        if state_normalization_update not in STATE_NORMALIZATION_UPDATES:
            raise ValueError(
                f"state_normalization_update must be one of {STATE_NORMALIZATION_UPDATES}, got "
                f"{state_normalization_update!r}"
            )
        self.state_normalization_update = state_normalization_update
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
        self.acquisition_values: list[list[float]] = []  # per iteration, for diagnostics
        # per iteration: the GP hyperparameters behind that iteration's gradient step
        self.hyperparameter_history: list[dict[str, object]] = []
        # Per iteration with a fit: its result as JSON text (`replay_state`; written once, not at every save).
        self._fits: dict[int, str] = {}
        self._sampling_values: list[float] = []  # the acquisition values of the iteration sampling now
        # Replaying (`begin_replay`): the recorded fits, acquisition values and count of random starts.
        self._replayed_fits: dict[int, dict[str, Any]] = {}
        self._replayed_values: list[list[float]] = []
        self._replayed_random_starts: int | None = None

    def search_box(self) -> torch.Tensor:
        """`2 x D` box in which the acquisition is maximised."""
        return delta_box(self.params.detach(), self.delta, self.bounds)

    def _observe(self, x: torch.Tensor) -> Generator[torch.Tensor, torch.Tensor, None]:
        y = yield from self._evaluate(x)
        self.model.append_train_data(x.detach().reshape(1, -1), y.reshape(1))
        if self.state_normalization_update == "call":
            self._update_state_normalization(keep_params=True)

    def iterate(self) -> Iteration:
        theta = self.params.detach().clone()
        if self.iteration == 0 and self.generate_initial_data:
            box = self.search_box()
            for u in torch.rand(int(self.generate_initial_data), self.D, dtype=theta.dtype):
                yield from self._observe(box[0] + u * (box[1] - box[0]))
        yield from self._observe(theta)
        if not torch.equal(theta, self.params.detach()):  # a replay fed the recorded θ_t in: go on from it
            with torch.no_grad():
                self.params.copy_(theta)
        self._fit_status = "none"
        if self.optimize_hyperparameters and self._fit_due():
            self._fit()
            if self.verbose:
                logger.info("iteration %d: lengthscale %s", self.iteration, self.model.lengthscale.detach().numpy())
        yield from self._sample_gradient_information(theta)
        self._gradient_step(theta)
        self._record_hyperparameters()
        if self.state_normalization_update == "iteration":
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
        assert self.bounds is not None  # __init__ refuses clip_to_bounds without bounds
        bounds = self.bounds.to(params)
        return torch.minimum(torch.maximum(params, bounds[0]), bounds[1])

    def _sample_gradient_information(self, theta: torch.Tensor) -> Generator[torch.Tensor, torch.Tensor, None]:
        values: list[float] = []
        self._sampling_values = values  # this iteration's so far (`replay_state`)
        budget = min(self.max_samples_per_iteration, self.calls_left)
        cfg = self.optimize_acqf_config
        box = self.search_box()
        recorded = None
        if self.replaying and len(self.acquisition_values) < len(self._replayed_values):
            recorded = self._replayed_values[len(self.acquisition_values)]
        for j in range(int(budget)):
            if recorded is not None and j < len(recorded):  # replaying: the recorded point replaces it
                z = torch.full((cfg["q"], self.D), math.nan, dtype=theta.dtype)
                value = torch.tensor(recorded[j], dtype=theta.dtype)
            else:
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
        return GradientInformation(
            self.model,
            theta,
            lengthscale_slip=self.acquisition_lengthscale_slip,
            analytic_gradient=self.analytic_acquisition_gradient,
        )

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

    FIT_STATUS: ClassVar[dict[str, int]] = FIT_STATUS  # codes of `gp_fit_status`

    def _record_hyperparameters(self) -> None:
        self.hyperparameter_history.append(hyperparameter_record(self.model, self.D, self._fit_status))

    def hyperparameter_arrays(self) -> dict[str, np.ndarray]:
        """The GP hyperparameters of each iteration's gradient step, for saving beside the history.

        Returns:
            {"gp_lengthscale": `T x D`, "gp_outputscale", "gp_noise", "gp_mean": `T` floats,
            "gp_fit_status": `T` ints (0 no fit, 1 the fit moved the hyperparameters, 2 it ended where it
            started, 3 it failed and the previous values were kept)} for T iterations (row t belongs to the
            step from θ_t to θ_{t+1}); lengthscales in the optimiser's coordinates.
        """
        return hyperparameter_arrays(self.hyperparameter_history, self.D)

    def diagnostics(self) -> dict[str, np.ndarray]:
        """The hyperparameter arrays and the number of acquisition optimisations that started at random."""
        return {**self.hyperparameter_arrays(), "acquisition_random_starts": np.asarray(self.random_starts[0])}

    def _fit(self) -> None:
        """This iteration's hyperparameter fit; replaying, the fit's recorded result instead (`begin_replay`)."""
        recorded = self._replayed_fits.get(self.iteration) if self.replaying else None
        if recorded is None:
            self._fit_status = self.model.fit_hyperparameters(fix_noise=self.no_noise_optimization)
        else:
            set_parameters(self.model, recorded["model"])
            self._fit_status = recorded["status"]
        self._fits[self.iteration] = json.dumps(
            {
                "status": self._fit_status,
                "model": {name: tensor_to_json(p) for name, p in self.model.named_parameters()},
            }
        )

    def replay_state(self) -> dict[str, Any]:
        """What a replay sets instead of computing it again: the result of every hyperparameter fit so far (the
        GP's raw hyperparameters, exact), the acquisition value of every sample (the ε early stop decides on
        them; the recorded points replace the acquisition optimisations) and the count of random starts."""
        values = list(self.acquisition_values)
        if not (values and values[-1] is self._sampling_values):  # an iteration is sampling now
            values.append(self._sampling_values)
        return {
            # one JSON text (the fits' own texts joined): cheap to write however many there are
            "fits": "{" + ",".join(f'"{iteration}":{fit}' for iteration, fit in self._fits.items()) + "}",
            "acquisition_values": [list(v) for v in values],
            "random_starts": int(self.random_starts[0]),
        }

    def begin_replay(self, state: dict[str, Any]) -> None:
        super().begin_replay(state)
        fits = state.get("fits", "{}")
        self._replayed_fits = {int(k): fit for k, fit in (json.loads(fits) if isinstance(fits, str) else fits).items()}
        self._replayed_values = [list(v) for v in state.get("acquisition_values", [])]
        self._replayed_random_starts = state.get("random_starts")

    def end_replay(self) -> None:
        super().end_replay()
        if self._replayed_random_starts is not None:
            self.random_starts[0] = int(self._replayed_random_starts)
        self._replayed_fits, self._replayed_values, self._replayed_random_starts = {}, [], None

    def _update_state_normalization(self, keep_params: bool = False) -> None:
        """Fold the new states into the normaliser and re-express the GP data in its new coordinates; θ too,
        unless `keep_params` (θ then stays fixed in normalised coordinates)."""
        objective: Any = self.objective  # one with the state-normalisation hooks, or without them
        update = getattr(objective, "update_state_normalizer", None)
        if update is None:
            return
        raw_x = objective.params_to_raw(self.model.train_x)
        raw_theta = None if keep_params else objective.params_to_raw(self.params.detach())
        if update():
            self.model.set_data(objective.params_from_raw(raw_x), self.model.train_y)
            if raw_theta is not None:
                with torch.no_grad():
                    self.params.copy_(objective.params_from_raw(raw_theta))

"""LES (local entropy search): each evaluation is chosen to be most informative about the ascent sequences that
an iterative optimiser would follow from the incumbent on posterior samples of the objective."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Generator
from typing import Any, Literal

import numpy as np
import torch
from botorch.optim import optimize_acqf

from gibo.les_acquisition import SequenceEntropySearch
from gibo.model import DerivativeExactGPSEModel
from gibo.optimizers.base import (
    Iteration,
    Optimizer,
    counting_random_starts,
    delta_box,
    hyperparameter_arrays,
    hyperparameter_record,
    set_parameters,
    tensor_to_json,
)

logger = logging.getLogger(__name__)

# Candidates scored per batch when the next point is chosen among the sequences' support points.
_SCORING_BATCH = 256


class LES(Optimizer):
    """Local entropy search (Stenger, Lindicke, von Rohr, Trimpe, ICLR 2026) on the project's GP.

    One iteration: (first iteration only: evaluate θ_0 and `generate_initial_data` uniform points in the
    box); refit the hyperparameters (if enabled); take the best observation so far as the incumbent; draw L
    posterior sample paths and run P steps of Adam (learning rate `descent_lr`, ascending, clipped to the box)
    from the incumbent on each; keep K points of each sequence, equally spaced along its length; condition
    the GP on each path's values there and choose the point that maximises the mutual information between
    its noisy observation and the sequences (`SequenceEntropySearch`, BoTorch's acquisition); evaluate it.
    θ_{t+1} is the best observation after that evaluation. With `stop_probability` the run stops (no more
    evaluations) once that fraction of the sampled paths gains less than `regret_tolerance` · √σf² along its
    own ascent: the incumbent is then, with that posterior probability, close to what the optimiser reaches.

    Example:
        >>> model = DerivativeExactGPSEModel(D, N_max=5 * D)
        >>> les = LES(torch.full((D,), 0.5), objective, model, bounds=torch.stack([torch.zeros(D), torch.ones(D)]))
        >>> les.step(); les.les_arrays()["les_converged_fraction"]
    """

    def __init__(
        self,
        params_init: torch.Tensor,
        objective: Callable[[torch.Tensor], torch.Tensor] | None,
        model: DerivativeExactGPSEModel,
        num_paths: int = 250,
        descent_steps: int = 500,
        descent_lr: float = 0.002,
        descent_optimizer: Literal["adam", "sgd"] = "adam",
        sequence_points: int = 8,
        sequence_subsample: int | None = None,
        descent_tolerance: float | None = None,
        virtual_observation_noise: float | None = None,
        path_chunk_size: int | None = None,
        acquisition_optimizer: Literal["support_points", "optimize_acqf"] = "support_points",
        optimize_acqf_config: dict | None = None,
        bounds: torch.Tensor | None = None,
        delta: float | None = None,
        regret_tolerance: float = 0.02,
        stop_probability: float | None = None,
        optimize_hyperparameters: bool = False,
        no_noise_optimization: bool = False,
        min_points_for_fit: int | None = None,
        generate_initial_data: int | None = None,
        verbose: bool = False,
    ):
        """Args:
        model: the GP (hyperparameters set, or fitted with `optimize_hyperparameters`).
        num_paths: L, posterior sample paths per acquisition (≥ 1).
        descent_steps: P, optimiser steps on every path (≥ 1).
        descent_lr: learning rate of those steps (> 0); descent_optimizer: "adam" or "sgd".
        sequence_points: K, points kept per sequence, equally spaced along its length (≥ 1).
        sequence_subsample: keep only this many of the K points, drawn at random (None: all K).
        descent_tolerance: end the ascents early once every path moves less than this in one step
            (None: always P steps).
        virtual_observation_noise: noise variance of the conditioned path values (None: the GP's noise σn²).
        path_chunk_size: paths per conditioned model (None: one batched model for all L paths).
        acquisition_optimizer: "support_points" scores the L·K support points and takes the best;
            "optimize_acqf" runs BoTorch's multi-start optimisation over the box (`optimize_acqf_config`).
        bounds: `2 x D` global box; delta: half-width of a box around the incumbent (intersected with
            `bounds` when both are given). At least one; the ascents are clipped to this box and the
            acquisition is maximised in it.
        regret_tolerance: ε of the stopping rule, in units of √σf² (> 0).
        stop_probability: stop once at least this fraction of the paths has converged (None: never stop).
        min_points_for_fit: with `optimize_hyperparameters`, refit only once this many points are in the window
            (None: at every iteration).
        generate_initial_data: uniform points in the first box evaluated after θ_0.
        """
        super().__init__(params_init, objective)
        if bounds is None and delta is None:
            raise ValueError("LES needs `bounds` or `delta` for its box")
        checks = {
            "num_paths": (num_paths, num_paths >= 1),
            "descent_steps": (descent_steps, descent_steps >= 1),
            "descent_lr": (descent_lr, descent_lr > 0),
            "sequence_points": (sequence_points, sequence_points >= 1),
            "regret_tolerance": (regret_tolerance, regret_tolerance > 0),
            "stop_probability": (stop_probability, stop_probability is None or 0 < stop_probability <= 1),
            "delta": (delta, delta is None or delta > 0),
        }
        for name, (value, ok) in checks.items():
            if not ok:
                raise ValueError(f"{name}: got {value!r}, outside its allowed range")
        if descent_optimizer not in ("adam", "sgd"):
            raise ValueError(f"descent_optimizer: got {descent_optimizer!r}, allowed 'adam' or 'sgd'")
        if acquisition_optimizer not in ("support_points", "optimize_acqf"):
            raise ValueError(f"acquisition_optimizer: got {acquisition_optimizer!r}")
        self.model = model
        self.params = self.params.to(model.train_x.dtype)
        if bounds is not None:
            bounds = bounds.to(self.params)
            if bool((self.params < bounds[0]).any() or (self.params > bounds[1]).any()):
                raise ValueError("params_init lies outside bounds")
        self.num_paths = int(num_paths)
        self.descent_steps = int(descent_steps)
        self.descent_lr = float(descent_lr)
        self.descent_optimizer = descent_optimizer
        self.sequence_points = int(sequence_points)
        self.sequence_subsample = sequence_subsample
        self.descent_tolerance = descent_tolerance
        self.virtual_observation_noise = virtual_observation_noise
        self.path_chunk_size = path_chunk_size
        self.acquisition_optimizer = acquisition_optimizer
        self.optimize_acqf_config = {"q": 1, "num_restarts": 5, "raw_samples": 64, **(optimize_acqf_config or {})}
        self.bounds = bounds
        self.delta = delta
        self.regret_tolerance = float(regret_tolerance)
        self.stop_probability = stop_probability
        self.optimize_hyperparameters = optimize_hyperparameters
        self.no_noise_optimization = no_noise_optimization
        self.min_points_for_fit = min_points_for_fit
        self.generate_initial_data = generate_initial_data
        self.verbose = verbose
        self.iteration = 0
        self.best_x: torch.Tensor | None = None  # the incumbent: the best observation so far (all of them)
        self.best_y = -math.inf
        self.random_starts = [0]
        self.converged_fractions: list[float] = []  # per iteration
        self.acquisition_values: list[float] = []  # per iteration (NaN when the rule stopped the run)
        self.hyperparameter_history: list[dict[str, object]] = []  # per iteration: the GP behind its acquisition
        self._replayed: dict[str, Any] = {}  # replaying (`begin_replay`): what the saved run had computed

    def search_box(self, center: torch.Tensor) -> torch.Tensor:
        """`2 x D` box around `center` (`delta`) within `bounds`: the ascents' clip and the acquisition's domain."""
        return delta_box(center, self.delta, self.bounds)

    def _observe(self, x: torch.Tensor) -> Generator[torch.Tensor, torch.Tensor, None]:
        y = yield from self._evaluate(x)
        self.model.append_train_data(x.detach().reshape(1, -1), y.reshape(1))
        if self.best_x is None or float(y) > self.best_y:
            self.best_x, self.best_y = x.detach().clone().reshape(-1), float(y)

    def acquisition(self, incumbent: torch.Tensor) -> SequenceEntropySearch:
        """LES's acquisition for the current data, its ascents starting at `incumbent` (`D`)."""
        noise = self.virtual_observation_noise
        if noise is None:
            noise = float(self.model.noise.detach())
        optimizer = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}[self.descent_optimizer]
        self.model.eval()
        return SequenceEntropySearch(
            self.model,
            incumbent.reshape(1, -1),
            num_path_samples=self.num_paths,
            num_descent_steps=self.descent_steps,
            learning_rate=self.descent_lr,
            optimizer_cls=optimizer,
            maximize=True,
            bounds=self.search_box(incumbent),
            sequence_subsample_size=self.sequence_subsample,
            sequence_discretization_size=self.sequence_points,
            conditional_model_chunk_size=self.path_chunk_size,
            convergence_tol=self.descent_tolerance,
            virtual_observation_noise=noise,
            inner_products=self.model.squared_distances == "inner_products",
        )

    def converged_fraction(self, acquisition: SequenceEntropySearch) -> float:
        """Fraction of the sampled paths whose ascent gains less than `regret_tolerance` (in units of √σf²)."""
        return float((acquisition.model_based_regret() < self.regret_tolerance).double().mean())

    def next_point(self, acquisition: SequenceEntropySearch, incumbent: torch.Tensor) -> tuple[torch.Tensor, float]:
        """The point to evaluate (`D`) and its acquisition value."""
        if self.acquisition_optimizer == "support_points":
            candidates = torch.cat(acquisition.sequence_X_per_path, dim=0)  # (L K) x D
            with torch.no_grad():
                values = torch.cat(
                    [acquisition(batch.unsqueeze(-2)) for batch in candidates.split(_SCORING_BATCH)], dim=0
                )
            best = int(values.argmax())
            return candidates[best].detach(), float(values[best])
        cfg = self.optimize_acqf_config
        with counting_random_starts(self.random_starts):
            candidate, value = optimize_acqf(
                acquisition,
                bounds=self.search_box(incumbent),
                q=1,
                num_restarts=cfg["num_restarts"],
                raw_samples=cfg["raw_samples"],
                retry_on_optimization_warning=False,
            )
        assert value is not None  # return_acq_values defaults to True
        return candidate.detach().reshape(-1), float(value)

    def iterate(self) -> Iteration:
        if self.iteration == 0:
            theta = self.params.detach().clone()
            yield from self._observe(theta)
            if self.generate_initial_data:
                box = self.search_box(theta)
                for u in torch.rand(int(self.generate_initial_data), self.D, dtype=theta.dtype):
                    yield from self._observe(box[0] + u * (box[1] - box[0]))
        if self.replaying and self._replayed:  # the recorded point replaces the acquisition's: no fit, no paths
            yield from self._observe(torch.full_like(self.params, math.nan))
            assert self.best_x is not None
            self.params = self.best_x.clone()
            self._update_state_normalization()
            self.iteration += 1
            self._record()
            return
        status = "none"
        if self.optimize_hyperparameters and (
            self.min_points_for_fit is None or self.model.N >= self.min_points_for_fit
        ):
            status = self.model.fit_hyperparameters(fix_noise=self.no_noise_optimization)
            if self.verbose:
                logger.info("iteration %d: hyperparameter fit %s", self.iteration, status)
        self._record_hyperparameters(status)
        assert self.best_x is not None  # θ_0 was observed in the first iteration
        incumbent = self.best_x.clone()
        acquisition = self.acquisition(incumbent)
        fraction = self.converged_fraction(acquisition)
        self.converged_fractions.append(fraction)
        if self.stop_probability is not None and fraction >= self.stop_probability:
            self.stopped = True
            self.acquisition_values.append(math.nan)
            logger.info(
                "LES stops at iteration %d: %.3f of the paths gain less than %g",
                self.iteration,
                fraction,
                self.regret_tolerance,
            )
        else:
            point, value = self.next_point(acquisition, incumbent)
            self.acquisition_values.append(value)
            if self.verbose:
                logger.info("iteration %d: acquisition %.4g, converged fraction %.3f", self.iteration, value, fraction)
            del acquisition
            yield from self._observe(point)
        assert self.best_x is not None
        self.params = self.best_x.clone()
        self._update_state_normalization()
        self.iteration += 1
        self._record()

    def replay_state(self) -> dict[str, Any]:
        """What a replay sets instead of computing it again: the GP's raw hyperparameters now (exact; the next fit
        starts from them), the per-iteration diagnostics, the count of random starts and whether the stopping rule
        fired; the recorded points replace the acquisition's (its sample paths are what makes LES slow)."""
        return {
            "model": {name: tensor_to_json(p) for name, p in self.model.named_parameters()},
            "random_starts": int(self.random_starts[0]),
            "converged_fractions": list(self.converged_fractions),
            "acquisition_values": [None if math.isnan(v) else v for v in self.acquisition_values],
            "hyperparameters": [
                {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in row.items()}
                for row in self.hyperparameter_history
            ],
            "stopped": bool(self.stopped),
        }

    def begin_replay(self, state: dict[str, Any]) -> None:
        super().begin_replay(state)
        self._replayed = dict(state)

    def end_replay(self) -> None:
        """The fits and acquisitions skipped while replaying: the saved model, diagnostics and count set instead."""
        super().end_replay()
        saved, self._replayed = self._replayed, {}
        if not saved:
            return
        set_parameters(self.model, saved["model"])
        self.random_starts[0] = int(saved["random_starts"])
        self.converged_fractions = [float(v) for v in saved["converged_fractions"]]
        self.acquisition_values = [math.nan if v is None else float(v) for v in saved["acquisition_values"]]
        self.hyperparameter_history = [
            {**row, "gp_lengthscale": np.asarray(row["gp_lengthscale"], dtype=np.float64)}
            for row in saved["hyperparameters"]
        ]
        self.stopped = bool(saved["stopped"])

    def _update_state_normalization(self) -> None:
        """Fold the new states into the normaliser and re-express the data and the incumbent in its coordinates."""
        objective: Any = self.objective
        update = getattr(objective, "update_state_normalizer", None)
        if update is None or self.best_x is None:
            return
        raw_x = objective.params_to_raw(self.model.train_x)
        raw_best = objective.params_to_raw(self.best_x)
        if update():
            self.model.set_data(objective.params_from_raw(raw_x), self.model.train_y)
            self.best_x = objective.params_from_raw(raw_best)
            self.params = self.best_x.clone()

    def _record_hyperparameters(self, status: str) -> None:
        self.hyperparameter_history.append(hyperparameter_record(self.model, self.D, status))

    def hyperparameter_arrays(self) -> dict[str, np.ndarray]:
        """As `GIBO.hyperparameter_arrays`: row t holds the GP behind iteration t's acquisition."""
        return hyperparameter_arrays(self.hyperparameter_history, self.D)

    def les_arrays(self) -> dict[str, np.ndarray]:
        """Per iteration: {"les_converged_fraction": `T`, "les_acquisition_value": `T` (NaN where the stopping
        rule ended the run)}."""
        return {
            "les_converged_fraction": np.asarray(self.converged_fractions, dtype=np.float64),
            "les_acquisition_value": np.asarray(self.acquisition_values, dtype=np.float64),
        }

    def diagnostics(self) -> dict[str, np.ndarray]:
        """`les_arrays`, the hyperparameter arrays and the number of acquisition optimisations that started from
        random points."""
        return {
            **self.hyperparameter_arrays(),
            **self.les_arrays(),
            "acquisition_random_starts": np.asarray(self.random_starts[0]),
        }

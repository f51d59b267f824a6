"""Vanilla Bayesian optimisation with expected improvement (docs/method.md#baselines)."""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import torch

from gibo.expected_improvement import ClosedFormExpectedImprovement
from gibo.model import DerivativeExactGPSEModel
from gibo.optimizers.base import Iteration, Optimizer, counting_random_starts, set_parameters, tensor_to_json


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
        model_kwargs: dict | None = None,
        hypers: dict | None = None,
        optimize_hyperparameters: bool = False,
        no_noise_optimization: bool = False,
        acquisition_function: str = "expected_improvement",
        best_f: float | None = None,
        optimize_acqf_config: dict | None = None,
        generate_initial_data: int | None = None,
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
        self.model: DerivativeExactGPSEModel | None = None
        self.random_starts = [0]
        self._replayed: dict[str, Any] = {}  # replaying (`begin_replay`): the saved run's model and count

    def diagnostics(self) -> dict[str, np.ndarray]:
        return {"acquisition_random_starts": np.asarray(self.random_starts[0])}

    def _observe(self, x: torch.Tensor) -> Generator[torch.Tensor, torch.Tensor, None]:
        y = yield from self._evaluate(x)
        self.train_x = torch.cat([self.train_x, x.reshape(1, -1)])
        self.train_y = torch.cat([self.train_y, y.reshape(1)])

    def _new_model(self) -> DerivativeExactGPSEModel:
        # Every point is kept (N_max None); the derivative model is used only for its closed-form solve.
        model = DerivativeExactGPSEModel(
            self.D,
            N_max=None,
            train_x=self.train_x,
            train_y=self.train_y,
            dtype=self.params.dtype,
            **self.model_kwargs,
        )
        model.initialize(**self.hypers)
        return model

    def _fit_model(self) -> DerivativeExactGPSEModel:
        if self.model is None:
            self.model = self._new_model()
        else:
            self.model.set_data(self.train_x, self.train_y)
        if self.optimize_hyperparameters and self.train_y.shape[0] > self.MIN_POINTS_FOR_FIT:
            self.model.fit_hyperparameters(fix_noise=self.no_noise_optimization)
        return self.model

    def replay_state(self) -> dict[str, Any]:
        """What a replay sets instead of computing it again: the GP's raw hyperparameters now (exact; the next fit
        starts from them) and the count of random starts; the recorded points replace the acquisition's."""
        model = None if self.model is None else {n: tensor_to_json(p) for n, p in self.model.named_parameters()}
        return {"model": model, "random_starts": int(self.random_starts[0])}

    def begin_replay(self, state: dict[str, Any]) -> None:
        super().begin_replay(state)
        self._replayed = dict(state)

    def end_replay(self) -> None:
        """The fits and acquisition optimisations skipped while replaying: the saved model and count set instead."""
        super().end_replay()
        saved, self._replayed = self._replayed, {}
        if saved.get("model") is not None:
            if self.model is None:  # as `_fit_model` builds it, then the saved hyperparameters
                self.model = self._new_model()
            set_parameters(self.model, saved["model"])
        if "random_starts" in saved:
            self.random_starts[0] = int(saved["random_starts"])

    def iterate(self) -> Iteration:
        from botorch.optim import optimize_acqf

        if self.train_y.shape[0] == 0:
            yield from self._observe(self.params)
            for u in torch.rand(self.generate_initial_data, self.D, dtype=self.params.dtype):
                yield from self._observe(self.bounds[0] + u * (self.bounds[1] - self.bounds[0]))
        if self.replaying and self._replayed:  # the recorded point replaces argmax EI: no fit, no optimisation
            self.params = torch.full_like(self.params, math.nan)
            yield from self._observe(self.params)
            self._record()
            return
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

"""The optimizer interface and what the methods share.

`Optimizer.iterate()` is one iteration, written as a generator (`Iteration`) that yields each point to
evaluate and receives its value; `params_history` records θ_0, θ_1, … in raw-state coordinates.
`counting_random_starts` counts BoTorch's random restarts of an acquisition optimisation, `lr_factor` reads a
learning-rate schedule.
"""

from __future__ import annotations

import contextlib
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import torch
from botorch.exceptions.warnings import BadInitialCandidatesWarning

from gibo.model import diverted_warnings


def _identity(params: torch.Tensor) -> torch.Tensor:
    return params


# One iteration: yields the points to evaluate (`D` each), receives their values (scalar tensors).
Iteration = Generator[torch.Tensor, torch.Tensor, None]


class Optimizer(ABC):
    """One iteration per `iterate()` (a generator of the points to evaluate); `params_history[t]` is θ_t (raw states).

    `params_history` is in raw-state coordinates whatever state normalisation the objective applies.

    Example:
        >>> opt = SomeOptimizer(torch.zeros(D), objective)
        >>> points = opt.iterate(); x = next(points); x = points.send(J(x))  # ... until StopIteration
        >>> opt.step(); opt.params_history[-1]  # the same, evaluating with `objective`
    """

    def __init__(self, params_init: torch.Tensor, objective: Callable[[torch.Tensor], torch.Tensor] | None = None):
        """params_init: `D` starting point θ_0; objective: `D` → scalar, to be maximised: evaluated by `step()`,
        and asked for its optional state-normalisation hooks; None when the values come from outside (ask–tell)."""
        self.params = params_init.detach().clone().reshape(-1)
        self.objective = objective
        self.params_history: list[torch.Tensor] = [self._to_raw(self.params)]
        # Calls the budget still allows (kept up to date by the driver): a method that plans several points
        # per iteration (GIBO's samples, TuRBO's batch) plans no more than this.
        self.calls_left: float = math.inf
        # Set by a method whose own stopping rule fired (LES): the driver starts no further iteration.
        self.stopped = False
        # Replaying a recorded run (`gibo.AskTell.load`): `recorded_point`, when set before a value is sent, is
        # the point that value was measured at; `_evaluate` writes it over the point yielded (in place), so the
        # method goes on from the recorded history. With `replaying` a method may skip work whose only product
        # is the next point (an acquisition optimisation) and yield NaNs in its place: the recorded point
        # replaces them.
        self.recorded_point: torch.Tensor | None = None
        self.replaying = False

    @property
    def D(self) -> int:
        return self.params.shape[-1]

    @abstractmethod
    def iterate(self) -> Iteration:
        """One iteration: yield each point to evaluate (`D`, the optimizer's coordinates), receive its value
        (a scalar tensor), and append the new iterate to `params_history` at the end."""

    def step(self) -> None:
        """Run one iteration, evaluating its points with `objective` (`calls_left` read from its `remaining`)."""
        objective = self.objective
        if objective is None:
            raise ValueError("step() evaluates with `objective`; without one, drive `iterate()` (as gibo.AskTell does)")
        points = self.iterate()
        try:
            self.calls_left = getattr(objective, "remaining", math.inf)
            point = next(points)
            while True:
                value = objective(point)
                self.calls_left = getattr(objective, "remaining", math.inf)
                point = points.send(value)
        except StopIteration:
            pass
        finally:
            points.close()

    def _to_raw(self, params: torch.Tensor) -> torch.Tensor:
        return getattr(self.objective, "params_to_raw", _identity)(params.detach()).clone()

    def _record(self, params: torch.Tensor | None = None) -> None:
        self.params_history.append(self._to_raw(self.params if params is None else params))

    def _evaluate(self, params: torch.Tensor) -> Generator[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`value = yield from self._evaluate(params)`: ask for J(params); its value as a scalar of params' dtype."""
        value = yield params.detach().reshape(-1)
        recorded, self.recorded_point = self.recorded_point, None
        if recorded is None and self.replaying:  # an objective answering from a record knows the point too
            recorded = getattr(self.objective, "replayed_point", None)
        if recorded is not None and not torch.equal(recorded.to(params).reshape(params.shape), params):
            with torch.no_grad():
                params.copy_(recorded.reshape(params.shape))
        return torch.as_tensor(value).reshape(()).to(self.params)

    def diagnostics(self) -> dict[str, np.ndarray]:
        """Arrays saved beside the history for inspecting a run afterwards (method-specific; none by default)."""
        return {}

    def replay_state(self) -> dict[str, Any]:
        """What lets a replay skip work (JSON data, saved with an ask–tell run and handed to `begin_replay`): the
        results of computations that the recorded points and values do not determine cheaply (GIBO's fits);
        {} for a method that skips nothing but its acquisition optimisations."""
        return {}

    def begin_replay(self, state: dict[str, Any]) -> None:
        """Replay a recorded run: set `replaying` (points may be left to the record) with what `replay_state`
        returned when the run was saved."""
        self.replaying = True

    def end_replay(self) -> None:
        """The recorded run is replayed: compute everything from here on."""
        self.replaying = False


def tensor_to_json(tensor: torch.Tensor) -> dict[str, Any]:
    """A tensor as JSON data, every value exact (floats as Python floats, written with repr's shortest digits)."""
    tensor = tensor.detach().cpu()
    return {
        "dtype": str(tensor.dtype).removeprefix("torch."),
        "shape": list(tensor.shape),
        "data": tensor.reshape(-1).tolist(),
    }


def tensor_from_json(data: dict[str, Any]) -> torch.Tensor:
    """The inverse of `tensor_to_json`."""
    return torch.tensor(data["data"], dtype=getattr(torch, data["dtype"])).reshape(data["shape"])


def set_parameters(model: torch.nn.Module, saved: dict[str, Any]) -> None:
    """Set `model`'s parameters named in `saved` (name → `tensor_to_json` data, e.g. a recorded fit), exactly."""
    with torch.no_grad():
        parameters = dict(model.named_parameters())
        for name, value in saved.items():
            parameters[name].copy_(tensor_from_json(value))


def delta_box(center: torch.Tensor, delta: float | None, bounds: torch.Tensor | None) -> torch.Tensor:
    """`2 x D` box of half-width `delta` around `center`, intersected with `bounds` (`2 x D`); `bounds` alone
    without `delta`."""
    if delta is None:
        assert bounds is not None  # the methods' __init__ require bounds or delta
        return bounds.to(center)
    box = torch.stack([center - delta, center + delta])
    if bounds is not None:
        bounds = bounds.to(center)
        box = torch.stack([torch.maximum(box[0], bounds[0]), torch.minimum(box[1], bounds[1])])
    return box


# Codes of `gp_fit_status`: what the hyperparameter fit of an iteration did.
FIT_STATUS: dict[str, int] = {"none": 0, "moved": 1, "unchanged": 2, "failed": 3}
GP_ARRAYS = ("gp_lengthscale", "gp_outputscale", "gp_noise", "gp_mean")


def hyperparameter_record(model: Any, D: int, status: str) -> dict[str, object]:
    """One iteration's row of `hyperparameter_arrays`: the GP's hyperparameters now and what its fit did."""
    with torch.no_grad():
        return {
            "gp_lengthscale": model.lengthscale.detach().expand(D).numpy().copy(),
            "gp_outputscale": float(model.outputscale.detach()),
            "gp_noise": float(model.noise.detach()),
            "gp_mean": float(model.prior_mean.detach()),
            "gp_fit_status": FIT_STATUS[status],
        }


def hyperparameter_arrays(history: list[dict[str, object]], D: int) -> dict[str, np.ndarray]:
    """The rows of `hyperparameter_record` as arrays: {"gp_lengthscale": `T x D`, "gp_outputscale", "gp_noise",
    "gp_mean": `T` floats, "gp_fit_status": `T` ints (0 no fit, 1 the fit moved the hyperparameters, 2 it ended
    where it started, 3 it failed and the previous values were kept)}; lengthscales in the optimiser's
    coordinates."""
    arrays = {name: np.array([h[name] for h in history], dtype=np.float64) for name in GP_ARRAYS}
    arrays["gp_lengthscale"] = arrays["gp_lengthscale"].reshape(-1, D)  # `0 x D` before any iteration
    arrays["gp_fit_status"] = np.array([h["gp_fit_status"] for h in history], dtype=np.int64)
    return arrays


def counting_random_starts(counter: list[int]) -> contextlib.AbstractContextManager:
    """Count BoTorch's "no non-zero acquisition value among the raw samples" warnings instead of printing them.

    The acquisition optimisation then starts from random points, which is harmless where the acquisition is
    flat (a δ-box many lengthscales wide); the count is saved with the run (`acquisition_random_starts`).
    """

    def count(_warning) -> None:
        counter[0] += 1

    return diverted_warnings(BadInitialCandidatesWarning, count)


def lr_factor(schedule: dict[int, float] | None, iteration: int) -> float:
    """Factor in force at `iteration`: the value of the largest key ≤ iteration (1 before any key)."""
    if not schedule:
        return 1.0
    keys = [k for k in schedule if k <= iteration]
    return float(schedule[max(keys)]) if keys else 1.0

"""TuRBO-1 (trust-region BO) from BoTorch's parts: the trust region's state and the optimizer."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from gibo.model import fit_mll
from gibo.optimizers.base import Iteration, Optimizer, tensor_from_json, tensor_to_json

logger = logging.getLogger(__name__)


@dataclass
class TurboState:
    """TuRBO-1's trust region: L ← min(2L, L_max) after τ_succ successes, L ← L/2 after τ_fail failures, in a row.

    The run restarts once L < L_min.

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
    failure_tolerance: int | None = None
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
                f"need 0 < length_min <= length_init <= length_max, got {self.length_min}, {self.length_init}, "
                f"{self.length_max}"
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
    """TuRBO-1: each query x = argmax_{c in C} f̃(c), f̃ ~ GP posterior, C perturbed Sobol points near the best point.

    C lies in a trust region around the best point so far.

    Eriksson, Pearce, Gardner, Turner and Poloczek (NeurIPS 2019), from BoTorch's parts. The objective's box
    (`bounds`) is mapped to the unit cube, where the GP lives. An iteration either evaluates an initial design
    (the first iteration and the one after each restart: `n_init` scrambled Sobol points in the box, fewer if
    the call budget has fewer left), or fits a `SingleTaskGP` to the data since the last restart (Matérn-5/2
    ARD or SE, TuRBO's constraints, standardised outputs; `fit_gpytorch_mll`, L-BFGS-B capped at
    `fit_maxiter`), draws `n_candidates` points in the trust region (`TurboState`) from a scrambled Sobol
    sequence, keeps each coordinate of the centre with probability 1 − p_pert (at least one perturbed per
    point), and evaluates q of them chosen by Thompson sampling (`batch_size`, capped at the calls left).
    When the region collapses (L < L_min), its data leaves the GP and the next iteration starts afresh with a
    new initial design and state. `params_history[t]` is the best point observed (by its observed, noisy value) up
    to iteration t, over every restart, not the last query: the recorded iterates are best-so-far points, as the other
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
    INITIAL_HYPERS: ClassVar[dict[str, float]] = {
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
        n_init: int | None = None,
        n_candidates: int | None = None,
        perturbation_probability: float | None = None,
        length_init: float = 0.8,
        length_min: float = 0.5**7,
        length_max: float = 1.6,
        success_tolerance: int = 3,
        failure_tolerance: int | None = None,
        kernel: str = "matern52",
        optimize_hyperparameters: bool = True,
        hypers: dict | None = None,
        no_noise_optimization: bool = False,
        fit_maxiter: int | None = 100,
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
        self._fitted: dict[str, torch.Tensor] | None = None  # raw hyperparameters of the last fit in this region
        self.thompson_sampling = thompson_sampling
        self.verbose = verbose
        self.X = torch.empty(0, self.D, dtype=self.params.dtype)  # unit-cube inputs of the current region
        self.Y = torch.empty(0, dtype=self.params.dtype)
        self.best_params = self.params.clone()  # objective coordinates; θ_0 until something is observed
        self.best_value = -math.inf
        self.restarts = 0
        self.length_history: list[float] = []
        self.restart_history: list[int] = []
        self._batch = torch.empty(0, self.D, dtype=self.params.dtype)  # the points of this iteration (unit cube)
        self._replayed: dict[str, Any] = {}  # replaying (`begin_replay`): the saved run's region, batch and fit

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
            if self.restarts == 0 and not self.replaying and self.n_init >= remaining:
                logger.warning(
                    "TuRBO: the initial design (n_init = %d points) takes all %d calls of the budget, so this run is "
                    "a Sobol random search; give a smaller n_init",
                    self.n_init,
                    remaining,
                )
            X_next = self.initial_design(int(min(self.n_init, remaining)))
            length = math.nan
        elif self.replaying and self._replayed:  # the recorded points replace the Thompson samples: no fit
            length = self.state.length
            X_next = torch.full((int(min(self.batch_size, remaining)), self.D), math.nan, dtype=self.params.dtype)
        else:
            length = self.state.length
            X_next = self.thompson_candidates(self.fit_model(), int(min(self.batch_size, remaining)))
        self._batch = X_next  # `end_replay` may set the saved one (a replay that ends inside this iteration)
        values, points = [], []
        for i in range(X_next.shape[0]):
            points.append(self.from_unit(self._batch[i]))
            values.append((yield from self._evaluate(points[-1])))  # replaying: the recorded point written in
        X_next = self._batch
        Y_next = torch.stack(values)
        if initial:
            self.state.reset(best_value=float(Y_next.max()))
        else:
            self.state.update(Y_next)
        self.X, self.Y = torch.cat([self.X, X_next]), torch.cat([self.Y, Y_next])
        best = int(Y_next.argmax())
        if float(Y_next[best]) > self.best_value:
            self.best_value, self.best_params = float(Y_next[best]), points[best].clone()
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

    def replay_state(self) -> dict[str, Any]:
        """What a replay sets instead of computing it again: the current region's inputs and this iteration's
        points in the unit cube (exact) and the last fit's raw hyperparameters (the next fit starts from them);
        the recorded points replace the Thompson samples."""
        fitted = None if self._fitted is None else {n: tensor_to_json(v) for n, v in self._fitted.items()}
        return {"X": tensor_to_json(self.X), "batch": tensor_to_json(self._batch), "fitted": fitted}

    def begin_replay(self, state: dict[str, Any]) -> None:
        super().begin_replay(state)
        self._replayed = dict(state) if "X" in state else {}

    def end_replay(self) -> None:
        """The fits and samples skipped while replaying: the saved region, batch and fit set instead."""
        super().end_replay()
        saved, self._replayed = self._replayed, {}
        if saved:
            self.X, self._batch = tensor_from_json(saved["X"]), tensor_from_json(saved["batch"])
            fitted = saved["fitted"]
            self._fitted = None if fitted is None else {n: tensor_from_json(v) for n, v in fitted.items()}

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

    def diagnostics(self) -> dict[str, np.ndarray]:
        return self.turbo_arrays()

    def turbo_arrays(self) -> dict[str, np.ndarray]:
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

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
from botorch.sampling.pathwise import draw_matheron_paths
from botorch.sampling.pathwise.features.maps import KernelEvaluationMap, KernelFeatureMap
from botorch.sampling.pathwise.paths import GeneralizedLinearPath
from botorch.sampling.pathwise.posterior_samplers import MatheronPath
from botorch.sampling.pathwise.utils import (
    ChainedTransform,
    InverseLengthscaleTransform,
    OutputscaleTransform,
    SineCosineTransform,
)
from botorch_community.acquisition.local_entropy_search import LocalEntropySearch
from gpytorch.kernels import RBFKernel, ScaleKernel
from gpytorch.likelihoods import GaussianLikelihood
from gpytorch.means import ConstantMean, ZeroMean

from gibo.model import DerivativeExactGPSEModel
from gibo.optimizers.base import (
    Iteration,
    Optimizer,
    counting_random_starts,
    delta_box,
    hyperparameter_arrays,
    hyperparameter_record,
)

logger = logging.getLogger(__name__)

# Candidates scored per batch when the next point is chosen among the sequences' support points.
_SCORING_BATCH = 256


class PathAscentGradient:
    """Values and gradients of L Matheron sample paths of a GP with a scaled RBF kernel, in closed form.

    A path is f_l(x) = c + Σ_j w_lj φ_j(x) + Σ_i v_li k(x, X_i): BoTorch's random-Fourier-feature prior sample
    (φ = s·σf·[sin z, cos z], z = (x / ℓ) Ωᵀ) plus its update term on the training inputs X. Its gradient is
    ∇f_l = s·σf·Σ_j (w_l,sin,j cos z_j − w_l,cos,j sin z_j) Ω_j / ℓ + Σ_i v_li k(x, X_i) (X_i − x) / ℓ².
    One call costs two small matrix products: what autograd through BoTorch's path modules computes with
    hundreds of tensor operations per step. `of` returns None where the paths are built otherwise (another
    kernel or mean, input or output transforms), so that the caller keeps autograd there.
    """

    def __init__(self, paths: Any):  # a MatheronPath of the structure `of` checks
        prior, update = paths.paths["prior_paths"], paths.paths["update_paths"]
        features = prior.feature_map
        scale, sincos = features.output_transform.transforms
        self.frequencies = features.weight.detach()  # m/2 x D (Ω, before the lengthscales)
        self.inverse_lengthscale = features.kernel.lengthscale.detach().reciprocal().reshape(-1)  # D
        amplitude = scale.kernel.outputscale.detach().sqrt() * sincos.scale.detach()
        half = self.frequencies.shape[0]
        weight = prior.weight.detach() * amplitude  # L x m
        self.sine_weight, self.cosine_weight = weight[:, :half], weight[:, half:]
        self.mean: Callable[[torch.Tensor], torch.Tensor] = prior.bias_module
        kernel = update.feature_map.kernel
        self.points = update.feature_map.points.detach()  # N x D
        self.update_weight = update.weight.detach() * kernel.outputscale.detach()  # L x N
        self.update_inverse_lengthscale = kernel.base_kernel.lengthscale.detach().reciprocal().reshape(-1)

    @classmethod
    def of(cls, paths: Any) -> PathAscentGradient | None:
        """The closed form for `paths` when they have exactly the structure it is written for, else None."""
        try:
            prior, update = paths.paths["prior_paths"], paths.paths["update_paths"]
            features: Any = prior.feature_map
            kernel: Any = update.feature_map.kernel
            base: Any = features.kernel
            steps: list[Any] = list(features.output_transform.transforms)
            transforms: Any = features.output_transform
            supported = (
                type(paths) is MatheronPath
                and paths.input_transform is None
                and paths.output_transform is None
                and set(paths.paths) == {"prior_paths", "update_paths"}
                and type(prior) is GeneralizedLinearPath
                and type(update) is GeneralizedLinearPath
                and type(features) is KernelFeatureMap
                and type(features.kernel) is RBFKernel
                and features.bias is None
                and type(features.input_transform) is InverseLengthscaleTransform
                and features.input_transform.kernel is features.kernel
                and type(transforms) is ChainedTransform
                and [type(t) for t in steps] == [OutputscaleTransform, SineCosineTransform]
                and steps[0].kernel.base_kernel is base
                and steps[1].scale is not None
                and isinstance(prior.bias_module, ConstantMean | ZeroMean)
                and type(update.feature_map) is KernelEvaluationMap
                and type(kernel) is ScaleKernel
                and type(kernel.base_kernel) is RBFKernel
                and update.bias_module is None
                and not kernel.batch_shape
                and not base.batch_shape
                and prior.weight.dim() == 2
                and update.weight.dim() == 2
                and all(
                    getattr(part, transform, None) is None
                    for part in (prior, update, update.feature_map)
                    for transform in ("input_transform", "output_transform")
                )
            )
        except (AttributeError, KeyError, TypeError, ValueError):
            return None
        return cls(paths) if supported else None

    def __call__(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Values `L` and gradients `L x D` of path l at its own point X[l] (`L x D`)."""
        z = (X * self.inverse_lengthscale) @ self.frequencies.T  # L x m/2
        sine, cosine = torch.sin(z), torch.cos(z)
        values = (self.sine_weight * sine).sum(-1) + (self.cosine_weight * cosine).sum(-1)
        gradient = (self.sine_weight * cosine - self.cosine_weight * sine) @ self.frequencies * self.inverse_lengthscale
        offset = (self.points.unsqueeze(0) - X.unsqueeze(1)) * self.update_inverse_lengthscale  # L x N x D
        k = torch.exp(-0.5 * (offset**2).sum(-1)) * self.update_weight  # L x N
        values = values + k.sum(-1) + self.mean(X.unsqueeze(-2)).reshape(-1)
        gradient = gradient + (k.unsqueeze(-1) * offset).sum(1) * self.update_inverse_lengthscale
        return values, gradient


class ConditionalVariances:
    """The predictive variances LES's conditioned models give, by Gaussian conditioning in two blocks.

    Conditioned on the training data (X, σn²) and on path l's K support points Z_l (virtual noise v), the
    variance at x is var_N(x) − c_l(x)ᵀ S_l⁻¹ c_l(x), where var_N and Σ_N are the posterior given the
    training data alone, c_l(x) = Σ_N(Z_l, x) and S_l = Σ_N(Z_l, Z_l) + v·I: the Schur complement of the
    joint (N + K)-point system that `condition_on_observations` solves. The training block is factorised
    once for all L paths and all candidates, each path's K x K block once per acquisition; a batch of b
    candidates then costs L·K·(N + K)·b multiply-adds instead of L batched GPyTorch posteriors.
    """

    def __init__(self, model, support: torch.Tensor, virtual_noise: float):
        """model: the GP (exact, homoskedastic Gaussian likelihood); support: `L x K x D` sequence points."""
        self.kernel = model.covar_module
        self.noise = model.likelihood.noise.detach().reshape(())
        X = model.train_inputs[0].detach()
        self.X = X
        with torch.no_grad():
            train = self._k(X, X) + self.noise * torch.eye(X.shape[0], dtype=X.dtype, device=X.device)
            self.train_factor = torch.linalg.cholesky(train)  # N x N
            self.support = support.detach()
            self.support_solved = self._solve_train(self._k(X, self.support))  # L x N x K: L_N⁻¹ k(X, Z_l)
            block = self._k(self.support, self.support) - self.support_solved.mT @ self.support_solved
            block = block + virtual_noise * torch.eye(support.shape[-2], dtype=X.dtype, device=X.device)
            self.support_factor = torch.linalg.cholesky(block)  # L x K x K

    def _k(self, A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
        return self.kernel(A, B).to_dense()

    def _solve_train(self, rhs: torch.Tensor) -> torch.Tensor:
        return torch.linalg.solve_triangular(self.train_factor, rhs, upper=False)

    @classmethod
    def of(cls, model, support: torch.Tensor, virtual_noise: float) -> ConditionalVariances | None:
        """The two-block form for `model`, or None where it does not apply (other likelihood, transforms, batched
        models) or a factorisation fails: the caller then asks BoTorch's conditioned models."""
        if (
            not isinstance(model, DerivativeExactGPSEModel)
            or type(model.likelihood) is not GaussianLikelihood
            or getattr(model, "outcome_transform", None) is not None
            or getattr(model, "input_transform", None) is not None
            or model.train_inputs[0].dim() != 2
        ):
            return None
        try:
            return cls(model, support, virtual_noise)
        except torch.linalg.LinAlgError:
            return None

    def __call__(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """At `b x D` points: the variance given the training data (`b`) and given each path's sequence too
        (`L x b`), both without observation noise."""
        solved = self._solve_train(self._k(self.X, X))  # N x b
        prior = self.kernel(X, X, diag=True)
        variance = prior - (solved**2).sum(0)
        cross = self._k(self.support, X) - self.support_solved.mT @ solved  # L x K x b
        reduced = torch.linalg.solve_triangular(self.support_factor, cross, upper=False)
        return variance, variance - (reduced**2).sum(-2)


class SequenceEntropySearch(LocalEntropySearch):
    """BoTorch's `LocalEntropySearch` with two additions: it keeps what the stopping rule needs (for every
    sampled path its value at the incumbent, `path_start_values`, and at the end of its ascent sequence,
    `path_end_values`, both `L`, in the GP's target units), and it evaluates a batch of candidates jointly per
    conditioned model (`information`: the same values as BoTorch's `forward`, which remains available with
    `pointwise_layout`)."""

    path_start_values: torch.Tensor
    path_end_values: torch.Tensor
    sequence_ends: torch.Tensor

    def __init__(self, *args, pointwise_layout: bool = False, autograd_ascent: bool = False, **kwargs):
        """As `LocalEntropySearch`; pointwise_layout: evaluate with its own `forward` (one tiny posterior per
        candidate and path) instead of `information`, which computes the same values for all candidates of a
        batch jointly per conditioned model (measured several times faster, benchmarks/les_acquisition.py);
        autograd_ascent: take the ascents' gradients by autograd through BoTorch's path modules (its own
        `_generate_pathwise_sequences`) instead of in closed form (`PathAscentGradient`, the same steps)."""
        self.pointwise_layout = pointwise_layout
        self.autograd_ascent = autograd_ascent
        super().__init__(*args, **kwargs)

    def _generate_pathwise_sequences(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The L ascent sequences' support points (`L x K x D`) and the paths' values there (`L x K x 1`): the
        same draws, optimiser steps, clipping and early end as BoTorch's, with the gradients in closed form."""
        if self.autograd_ascent:
            return super()._generate_pathwise_sequences()
        rng_state = torch.random.get_rng_state()
        with torch.no_grad():
            paths = draw_matheron_paths(model=self.model, sample_shape=torch.Size([self.num_path_samples]))
        gradient_of = PathAscentGradient.of(paths)
        if gradient_of is None:  # draw the same paths again, BoTorch's way
            logger.debug("LES: sample paths of a structure without closed form, ascents by autograd")
            torch.random.set_rng_state(rng_state)
            return super()._generate_pathwise_sequences()
        X = self.x_incumbent.expand(self.num_path_samples, -1).unsqueeze(-2).clone().detach()  # L x 1 x D
        optimizer = self.optimizer_cls([X], lr=self.learning_rate, **self.optimizer_kwargs)
        sign = -1.0 if self.maximize else 1.0  # the optimiser minimises sign * Σ_l f_l
        history = [X.detach().clone()]
        with torch.no_grad():
            for _ in range(self.num_descent_steps):
                _, gradient = gradient_of(X.squeeze(-2))
                X.grad = (sign * gradient).unsqueeze(-2)
                optimizer.step()
                if self.bounds is not None:
                    X.clamp_(min=self.bounds[0], max=self.bounds[1])
                history.append(X.detach().clone())
                if self.convergence_tol is not None:
                    moved = torch.linalg.norm((history[-1] - history[-2]).squeeze(-2), dim=-1)
                    if bool((moved <= self.convergence_tol).all()):
                        break
        return self._support(paths, history)

    def _support(self, paths, history: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Support points `L x K x D` of the sequences in `history` (steps of `L x 1 x D`), the paths' values there."""
        sequences = torch.stack(history, dim=0)[:, :, 0, :].transpose(0, 1).contiguous()  # L x T x D
        indices = self._get_sequence_support_indices_batch(X_paths=sequences)
        support = torch.gather(sequences, dim=1, index=indices.unsqueeze(-1).expand(-1, -1, sequences.shape[-1]))
        values = self._evaluate_support_values(paths=paths, X_support=support)
        return support, values.unsqueeze(-1)

    def _get_sequence_support_indices_batch(self, X_paths: torch.Tensor) -> torch.Tensor:
        self.sequence_ends = X_paths[:, -1:, :].detach()  # L x 1 x D: where each ascent ended
        return super()._get_sequence_support_indices_batch(X_paths)

    def _evaluate_support_values(self, paths, X_support: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            start = self.x_incumbent.expand(X_support.shape[0], 1, -1)
            ends = paths(torch.cat([start, self.sequence_ends], dim=-2)).reshape(X_support.shape[0], 2)
        self.path_start_values, self.path_end_values = ends[:, 0], ends[:, 1]
        return super()._evaluate_support_values(paths, X_support)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """The mutual information at `batch x 1 x D` candidates (`batch`); `batch x D` is taken as `batch x 1 x D`."""
        if self.pointwise_layout:
            return super().forward(X)
        X = X.unsqueeze(-2) if X.dim() == 2 else X
        if X.shape[-2] != 1:
            raise ValueError(f"LES scores one point per candidate (q = 1), got q = {X.shape[-2]}")
        return self.information(X.reshape(-1, X.shape[-1])).reshape(X.shape[:-2])

    def information(self, X: torch.Tensor) -> torch.Tensor:
        """Entropy of y(x) minus its mean entropy given each path's sequence, at `b x D` points (`b`).

        The same quantity as BoTorch's `forward`, from `ConditionalVariances` (the same conditioning in two
        blocks) where it applies, else from the conditioned models (`information_by_models`).
        """
        if not hasattr(self, "_variances"):
            self._variances = ConditionalVariances.of(
                self.model, torch.stack(self.sequence_X_per_path), self.virtual_observation_noise
            )
        if self._variances is None:
            return self.information_by_models(X)
        variance, conditioned = self._variances(X)
        noise = self._variances.noise
        entropy = self._gaussian_entropy(variance + noise)
        conditional = self._gaussian_entropy(conditioned + noise).mean(0)
        return entropy - conditional

    def _gaussian_entropy(self, variance: torch.Tensor) -> torch.Tensor:
        """Entropy of a Gaussian of each `variance` (clamped at `min_variance`, as BoTorch's)."""
        return 0.5 * torch.log(2.0 * math.pi * math.e * variance.clamp_min(self.min_variance))

    def information_by_models(self, X: torch.Tensor) -> torch.Tensor:
        """`information` from BoTorch's conditioned models: each is asked once for the marginal variances of
        all b points (a `paths x b x D` input) instead of once per point."""
        entropy = self._entropy(self.model, X)
        conditional = torch.zeros_like(entropy)
        for model_chunk, num_paths in zip(self.conditional_models, self.conditional_model_num_paths, strict=True):
            conditional = conditional + self._entropy(model_chunk, X.expand(num_paths, *X.shape)).sum(dim=0)
        return entropy - conditional / sum(self.conditional_model_num_paths)

    def _entropy(self, model, X: torch.Tensor) -> torch.Tensor:
        """Gaussian entropy of the noisy observation at each point of `... x b x D` (`... x b`)."""
        return self._gaussian_entropy(model.posterior(X, observation_noise=True).variance.squeeze(-1))

    def model_based_regret(self) -> torch.Tensor:
        """`L`: how much each sampled path gains along its own ascent, f_l(end) − f_l(incumbent), in units of
        the prior standard deviation √σf² (the scale on which the stopping tolerance is set)."""
        scale = self.model.covar_module.outputscale.detach().sqrt()
        return (self.path_end_values - self.path_start_values) / scale


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

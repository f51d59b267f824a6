"""LES's acquisition: BoTorch's `LocalEntropySearch` (botorch_community) with the ascents' gradients and the
conditioned variances in closed form (the same numbers, far fewer tensor operations), and what the stopping rule
reads from it."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import torch
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

logger = logging.getLogger(__name__)


class PathAscentGradient:
    """Values and gradients of L Matheron sample paths of a GP with a scaled RBF kernel, in closed form.

    A path is f_l(x) = c + Σ_j w_lj φ_j(x) + Σ_i v_li k(x, X_i): BoTorch's random-Fourier-feature prior sample
    (φ = s·σf·[sin z, cos z], z = (x / ℓ) Ωᵀ) plus its update term on the training inputs X. Its gradient is
    ∇f_l = s·σf·Σ_j (w_l,sin,j cos z_j − w_l,cos,j sin z_j) Ω_j / ℓ + Σ_i v_li k(x, X_i) (X_i − x) / ℓ².
    One call costs two small matrix products: what autograd through BoTorch's path modules computes with
    hundreds of tensor operations per step. `of` returns None where the paths are built otherwise (another
    kernel or mean, input or output transforms), so that the caller keeps autograd there.
    """

    def __init__(self, paths: Any, inner_products: bool = False):  # a MatheronPath of the structure `of` checks
        """inner_products: the update term's squared distances ‖(x − X_i) / ℓ‖² from ‖a‖² + ‖b‖² − 2 aᵀb (matrix
        products, no `L x N x D` tensor) instead of the coordinate differences, and each feature pair's
        w_sin sin z + w_cos cos z as R sin(z + φ) (one sine or cosine instead of both): equal to rounding."""
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
        self.inner_products = inner_products
        if inner_products:
            # the features' weights as amplitude and phase: R = √(w_sin² + w_cos²), φ = atan2(w_cos, w_sin)
            self.amplitude = torch.hypot(self.sine_weight, self.cosine_weight)  # L x m/2
            self.phase = torch.atan2(self.cosine_weight, self.sine_weight)
            # the training inputs scaled and centred, and their squared norms
            scaled = self.points * self.update_inverse_lengthscale
            self.centre = scaled.mean(0)
            self.points_centred = scaled - self.centre  # N x D
            self.points_norms = self.points_centred.pow(2).sum(-1)  # N

    @classmethod
    def of(cls, paths: Any, inner_products: bool = False) -> PathAscentGradient | None:
        """The closed form for `paths` when they have exactly the structure it is written for, else None."""
        try:
            prior, update = paths.paths["prior_paths"], paths.paths["update_paths"]
            features: Any = prior.feature_map
            kernel: Any = update.feature_map.kernel
            base: Any = features.kernel
            transforms: Any = features.output_transform
            steps: list[Any] = list(transforms.transforms)
            supported = (
                type(paths) is MatheronPath
                and paths.input_transform is None
                and paths.output_transform is None
                and set(paths.paths) == {"prior_paths", "update_paths"}
                and type(prior) is GeneralizedLinearPath
                and type(update) is GeneralizedLinearPath
                and type(features) is KernelFeatureMap
                and type(base) is RBFKernel
                and features.bias is None
                and type(features.input_transform) is InverseLengthscaleTransform
                and features.input_transform.kernel is base
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
        return cls(paths, inner_products) if supported else None

    def __call__(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Values `L` and gradients `L x D` of path l at its own point X[l] (`L x D`)."""
        values, gradient = self._evaluate(X, with_values=True)
        assert values is not None
        return values, gradient

    def gradient(self, X: torch.Tensor) -> torch.Tensor:
        """Gradients `L x D` of path l at X[l] (`L x D`), without the values (what an ascent step needs)."""
        return self._evaluate(X, with_values=False)[1]

    def _evaluate(self, X: torch.Tensor, with_values: bool) -> tuple[torch.Tensor | None, torch.Tensor]:
        z = (X * self.inverse_lengthscale) @ self.frequencies.T  # L x m/2
        if self.inner_products:  # one cosine: w_sin cos z − w_cos sin z = R cos(z + φ)
            cosine = torch.cos(z + self.phase)
            gradient = (self.amplitude * cosine) @ self.frequencies * self.inverse_lengthscale
            x = X * self.update_inverse_lengthscale - self.centre  # L x D
            squared = x.pow(2).sum(-1, keepdim=True) + self.points_norms - 2 * (x @ self.points_centred.T)
            k = torch.exp(-0.5 * squared.clamp_min(0)) * self.update_weight  # L x N
            pull = k @ self.points_centred - k.sum(-1, keepdim=True) * x  # Σ_i k_li (X_i − x_l) / ℓ
            gradient = gradient + pull * self.update_inverse_lengthscale
            if not with_values:
                return None, gradient
            values = (self.amplitude * torch.sin(z + self.phase)).sum(-1)  # w_sin sin z + w_cos cos z
        else:
            sine, cosine = torch.sin(z), torch.cos(z)
            gradient = (self.sine_weight * cosine - self.cosine_weight * sine) @ self.frequencies
            gradient = gradient * self.inverse_lengthscale
            offset = (self.points.unsqueeze(0) - X.unsqueeze(1)) * self.update_inverse_lengthscale  # L x N x D
            k = torch.exp(-0.5 * (offset**2).sum(-1)) * self.update_weight  # L x N
            gradient = gradient + (k.unsqueeze(-1) * offset).sum(1) * self.update_inverse_lengthscale
            if not with_values:
                return None, gradient
            values = (self.sine_weight * sine).sum(-1) + (self.cosine_weight * cosine).sum(-1)
        return values + k.sum(-1) + self.mean(X.unsqueeze(-2)).reshape(-1), gradient


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
    """BoTorch's `LocalEntropySearch`, the same numbers computed more directly: the ascents with the paths'
    gradients in closed form (`PathAscentGradient`), the scores of a batch of candidates from the conditioning
    in two blocks (`ConditionalVariances`, `information`), BoTorch's conditioned models built only when asked
    for (`conditioned_models`, `pointwise_layout`: its own `forward`). It also keeps what the stopping rule needs:
    for every sampled path its value at the incumbent, `path_start_values`, and at the end of its ascent
    sequence, `path_end_values`, both `L`, in the GP's target units."""

    path_start_values: torch.Tensor
    path_end_values: torch.Tensor
    sequence_ends: torch.Tensor
    _variances: ConditionalVariances | None

    def __init__(
        self,
        *args,
        pointwise_layout: bool = False,
        autograd_ascent: bool = False,
        inner_products: bool = False,
        **kwargs,
    ):
        """As `LocalEntropySearch`; pointwise_layout: evaluate with its own `forward` (one tiny posterior per
        candidate and path, on conditioned models) instead of `information` (the same values from the two-block
        variances, with no conditioned model built: measured far cheaper, benchmarks/les_acquisition.py);
        autograd_ascent: take the ascents' gradients by autograd through BoTorch's path modules (its own
        `_generate_pathwise_sequences`) instead of in closed form (`PathAscentGradient`, the same steps);
        inner_products: the closed-form gradients with `PathAscentGradient(inner_products=True)`."""
        self.inner_products = inner_products
        self.pointwise_layout = pointwise_layout
        self.autograd_ascent = autograd_ascent
        super().__init__(*args, **kwargs)

    def _build_conditioned_models(self) -> None:
        """The sequences and, for scoring, the two-block variances; BoTorch's conditioned models only where those
        do not apply or are asked for (`conditioned_models`): scoring by the two blocks needs none."""
        if self.pointwise_layout:
            super()._build_conditioned_models()
            self._variances = None
            return
        X_sequence, Y_sequence = self._generate_pathwise_sequences()
        self.sequence_X_per_path = list(X_sequence.unbind(dim=0))
        self.sequence_Y_per_path = list(Y_sequence.unbind(dim=0))
        self._variances = ConditionalVariances.of(self.model, X_sequence, self.virtual_observation_noise)

    def conditioned_models(self) -> list[tuple[Any, int]]:
        """BoTorch's conditioned models with the number of paths of each, built on first use as its
        `_build_conditioned_models` builds them (chunks of `conditional_model_chunk_size` paths)."""
        if not self.conditional_models:
            with torch.no_grad():
                self.model.posterior(self.x_incumbent)  # exact GPs need their prediction caches to condition
            X, Y = torch.stack(self.sequence_X_per_path), torch.stack(self.sequence_Y_per_path)
            chunk = self.conditional_model_chunk_size or X.shape[0]
            for start in range(0, X.shape[0], chunk):
                values = Y[start : start + chunk]
                noise = torch.full_like(values, self.virtual_observation_noise)
                self.conditional_models.append(
                    self.model.condition_on_observations(X=X[start : start + chunk], Y=values, noise=noise)
                )
                self.conditional_model_num_paths.append(values.shape[0])
        return list(zip(self.conditional_models, self.conditional_model_num_paths, strict=True))

    def _generate_pathwise_sequences(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The L ascent sequences' support points (`L x K x D`) and the paths' values there (`L x K x 1`): the
        same draws, optimiser steps, clipping and early end as BoTorch's, with the gradients in closed form."""
        if self.autograd_ascent:
            return super()._generate_pathwise_sequences()
        rng_state = torch.random.get_rng_state()
        with torch.no_grad():
            paths = draw_matheron_paths(model=self.model, sample_shape=torch.Size([self.num_path_samples]))
        gradient_of = PathAscentGradient.of(paths, self.inner_products)
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
                X.grad = (sign * gradient_of.gradient(X.squeeze(-2))).unsqueeze(-2)
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
            self.conditioned_models()
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
        models = self.conditioned_models()
        for model_chunk, num_paths in models:
            conditional = conditional + self._entropy(model_chunk, X.expand(num_paths, *X.shape)).sum(dim=0)
        return entropy - conditional / sum(num_paths for _, num_paths in models)

    def _entropy(self, model, X: torch.Tensor) -> torch.Tensor:
        """Gaussian entropy of the noisy observation at each point of `... x b x D` (`... x b`)."""
        return self._gaussian_entropy(model.posterior(X, observation_noise=True).variance.squeeze(-1))

    def model_based_regret(self) -> torch.Tensor:
        """`L`: how much each sampled path gains along its own ascent, f_l(end) − f_l(incumbent), in units of
        the prior standard deviation √σf² (the scale on which the stopping tolerance is set)."""
        scale = self.model.covar_module.outputscale.detach().sqrt()
        return (self.path_end_values - self.path_start_values) / scale

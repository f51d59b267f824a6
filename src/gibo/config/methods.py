"""One config per method (`optimizer_config` of an experiment), by the method's name in `OPTIMIZER_CONFIGS`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AliasChoices, Field, model_validator

from gibo.config.base import (
    BoundsConfig,
    Count,
    DimCount,
    HyperparameterConfig,
    Index,
    Model,
    ModelConfig,
    NonNeg,
    OptimizeAcqfConfig,
    Pos,
    TorchOptimizerConfig,
    VarCount,
    VarPos,
)


class GPMethodConfig(Model):
    """What the GP methods share: the model, its hyperparameters, the acquisition optimisation."""

    model_config_: ModelConfig = Field(ModelConfig(), alias="model_config")
    hyperparameter_config: HyperparameterConfig = HyperparameterConfig()
    optimize_acqf: Literal["custom", "botorch", "bga", "vbo"] | None = None  # informational (the paper's names)
    optimize_acqf_config: OptimizeAcqfConfig = OptimizeAcqfConfig()
    generate_initial_data: Index | None = None
    verbose: bool = False

    @model_validator(mode="after")
    def _noise_within_default_constraint(self):
        noise = self.hyperparameter_config.hypers.noise
        if noise is not None and self.model_config_.noise_constraint is None and noise < 1e-4:
            raise ValueError(
                f"hyperparameter_config.hypers.likelihood.noise: got {noise!r}, allowed ≥ 0.0001 (GPyTorch's default "
                "noise constraint; give model_config.noise_constraint to allow less)"
            )
        return self

    @model_validator(mode="after")
    def _gradient_mean_needs_gradient_step(self):
        if self.model_config_.gradient_mean != "centred" and not isinstance(self, LocalGPConfig):
            raise ValueError(
                "model_config.gradient_mean: only GIBO and MPD follow the gradient's posterior mean; remove the key"
            )
        return self


class LocalGPConfig(GPMethodConfig):
    """What GIBO and MPD share: the derivative GP's window and the actively sampled points in the δ-box."""

    max_samples_per_iteration: DimCount = "dim_search_space"
    Model: Literal["derivative_gp"] = "derivative_gp"
    bounds: BoundsConfig | None = None
    delta: Pos | None = None
    epsilon_diff_acq_value: NonNeg | None = None
    min_points_for_fit: Count | None = (
        None  # fit once the window holds this many points (unset: N_max, the paper's rule)
    )
    clip_to_bounds: bool = False  # keep θ inside `bounds` after every step (the paper's GIBO does not)
    # how the acquisition's gradient in z is taken: "closed_form" (fast), or "autograd" through the batched formula
    # (the earlier, 3-8x slower path; same points to the optimiser's tolerance)
    acquisition_gradient: Literal["closed_form", "autograd"] = "closed_form"
    # when a state normaliser's statistics move: "iteration" (after the step, θ re-expressed to keep its raw
    # policy) or "call" (after every objective call, θ fixed in normalised coordinates, as the paper's code did)
    state_normalization_update: Literal["iteration", "call"] = "iteration"

    @model_validator(mode="after")
    def _box(self):
        if self.delta is None and (self.bounds is None or self.bounds.lower_bound is None):
            raise ValueError("delta / optimizer_config.bounds: set at least one")
        return self


class GIBOConfig(LocalGPConfig):
    OptimizerTorch: Literal["sgd", "adam"] = "sgd"
    optimizer_torch_config: TorchOptimizerConfig = TorchOptimizerConfig()
    lr_schedular: dict[Index, Pos] | None = Field(None, validation_alias=AliasChoices("lr_schedular", "lr_scheduler"))
    standard_deviation_scaling: bool = False
    normalize_gradient: bool = True
    acquisition_lengthscale_slip: bool = False  # the paper's runs' acquisition: ∂k/∂θ_i over l_i, not l_i²


# Keys of GIBO's gradient step: a config that writes any of them is written for the MPD authors' code
# (kayween/local-bo-mpd), whose walk reads none of them.
AUTHORS_CODE_KEYS = (
    "OptimizerTorch",
    "optimizer_torch_config",
    "lr_schedular",
    "lr_scheduler",
    "normalize_gradient",
    "standard_deviation_scaling",
)
# What the authors' code does where its configs say nothing: walk while Φ(√(v̂ᵀμ∇)) ≥ 0.65 in steps of 0.01, at
# most 10,001 of them (its loop runs while the step count is ≤ 10,000), refit the GP at every iteration, and
# take all M samples (it reads ε but never uses it).
AUTHORS_CODE_DEFAULTS = {
    "step_size": 0.01,
    "ascent_probability": 0.65,
    "max_walk_steps": 10_001,
    "ascent_statistic": "authors",
    "min_points_for_fit": 1,
}


class MPDConfig(LocalGPConfig):
    step_size: Pos = 0.01  # η: length of one walk step
    ascent_probability: Annotated[float, Field(gt=0.5, le=1)] = 0.65  # p_min: walk while the ascent probability ≥ p_min
    max_walk_steps: Index = 10_000
    # the walk's probability: "paper" Φ(√(μᵀΣ⁻¹μ)); "authors" Φ(√(v̂ᵀμ)), v̂ = Σ⁻¹μ/‖Σ⁻¹μ‖, as the authors' code has it
    ascent_statistic: Literal["paper", "authors"] = "paper"
    # "authors_code": the unwritten settings take the values of the authors' code (AUTHORS_CODE_DEFAULTS) and
    # epsilon_diff_acq_value is ignored; chosen by itself when the config writes a key of GIBO's gradient step
    variant: Literal["paper", "authors_code"] = "paper"
    # GIBO's gradient step, as the authors' configs write it: accepted and checked, never used (the walk replaces
    # it), and not saved with the config
    OptimizerTorch: Literal["sgd", "adam"] | None = Field(None, exclude=True)
    optimizer_torch_config: TorchOptimizerConfig | None = Field(None, exclude=True)
    lr_schedular: dict[Index, Pos] | None = Field(
        None, validation_alias=AliasChoices("lr_schedular", "lr_scheduler"), exclude=True
    )
    normalize_gradient: bool | None = Field(None, exclude=True)
    standard_deviation_scaling: bool | None = Field(None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _written_for_the_authors_code(cls, data):
        written = isinstance(data, dict) and any(data.get(key) is not None for key in AUTHORS_CODE_KEYS)
        if written and "variant" not in data:
            return {**data, "variant": "authors_code"}
        return data

    @model_validator(mode="after")
    def _authors_code_defaults(self):
        if self.variant == "authors_code":
            for name, value in AUTHORS_CODE_DEFAULTS.items():
                if name not in self.model_fields_set:
                    setattr(self, name, value)
        return self

    @property
    def uses_epsilon(self) -> bool:
        """Whether ε stops an iteration's sampling early (the authors' code never does)."""
        return self.variant == "paper" and self.epsilon_diff_acq_value is not None


class LESConfig(GPMethodConfig):
    """Local entropy search; defaults are the LES paper's settings (L = 250 paths, P = 500 Adam steps of
    learning rate 0.002, K = 8 points per sequence, ε = 0.02)."""

    Model: Literal["derivative_gp"] = "derivative_gp"
    num_paths: Count = 250  # L: posterior sample paths per acquisition
    descent_steps: Count = 500  # P: optimiser steps on every path
    descent_lr: Pos = 0.002
    descent_optimizer: Literal["adam", "sgd"] = "adam"
    sequence_points: Count = 8  # K: points per sequence, equally spaced along its length
    sequence_subsample: Count | None = None  # keep only this many of the K, drawn at random (unset: all K)
    descent_tolerance: Pos | None = None  # end the ascents once every path moves less (unset: always P steps)
    virtual_observation_noise: Pos | None = None  # noise variance of the conditioned path values (unset: σn²)
    path_chunk_size: Count | None = None  # paths per conditioned model (unset: one batched model)
    acquisition_optimizer: Literal["support_points", "optimize_acqf"] = "support_points"
    regret_tolerance: Pos = 0.02  # ε of the stopping rule, in units of the prior standard deviation
    stop_probability: Annotated[float, Field(gt=0, le=1)] | None = None  # stop once this fraction converged
    bounds: BoundsConfig | None = None
    delta: Pos | None = None
    min_points_for_fit: Count | None = None  # refit once the window holds this many points (unset: always)

    @model_validator(mode="after")
    def _box(self):
        if self.delta is None and (self.bounds is None or self.bounds.lower_bound is None):
            raise ValueError("delta / optimizer_config.bounds: set at least one")
        if self.sequence_subsample is not None and self.sequence_subsample > self.sequence_points:
            raise ValueError(
                f"sequence_subsample: got {self.sequence_subsample}, allowed at most sequence_points "
                f"({self.sequence_points})"
            )
        return self


class TuRBOConfig(Model):
    batch_size: Count = 1
    n_init: VarCount | None = "variable"  # 2 D
    n_candidates: VarCount | None = "variable"  # min(5000, max(2000, 200 D))
    perturbation_probability: VarPos | None = "variable"  # min(20 / D, 1)
    length_init: Pos = 0.8
    length_min: Pos = 0.5**7
    length_max: Pos = 1.6
    success_tolerance: Count = 3
    failure_tolerance: VarCount | None = "variable"  # ceil(max(4 / q, D / q))
    kernel: Literal["matern52", "rbf"] = "matern52"
    hyperparameter_config: HyperparameterConfig = HyperparameterConfig(optimize_hyperparameters=True)
    fit_maxiter: Count | None = 100
    warm_start: bool = True
    thompson_sampling: Literal["pathwise", "exact"] = "pathwise"
    bounds: BoundsConfig
    verbose: bool = False

    @model_validator(mode="after")
    def _consistent(self):
        if self.bounds.lower_bound is None or self.bounds.upper_bound is None:
            raise ValueError("bounds: TuRBO needs lower_bound and upper_bound (its search box)")
        if not self.length_min <= self.length_init <= self.length_max:
            raise ValueError(
                f"length_init {self.length_init} must lie in [length_min {self.length_min}, length_max "
                f"{self.length_max}]"
            )
        if isinstance(self.perturbation_probability, float) and self.perturbation_probability > 1:
            raise ValueError(f"perturbation_probability: got {self.perturbation_probability}, allowed at most 1")
        return self


class ARSConfig(Model):
    step_size: Pos = 0.02
    samples_per_iteration: VarCount = 1
    exploration_noise: VarPos = 0.02
    standard_deviation_scaling: bool = False
    num_top_directions: Count | None = None
    param_args_ignore: list[int] | None = None  # indices never perturbed (negative ones count from the end)
    reward_std_divisor: Literal["n-1", "n"] = "n-1"  # σ_R's divisor: n − 1 as the paper's runs (torch), n as numpy
    verbose: bool = False


class AcqfConfig(Model):
    best_f: float | None = None


class VBOConfig(GPMethodConfig):
    Model: Literal["plain_gp"] = "plain_gp"
    acquisition_function: Literal["expected_improvement", "log_expected_improvement"] = "expected_improvement"
    acqf_config: AcqfConfig = AcqfConfig()


class CMAESConfig(Model):
    sigma: VarPos = 0.5
    population_size: Annotated[int, Field(ge=2)] | None = None
    bounds: BoundsConfig | None = None  # pycma's box (samples outside are repaired into it)
    verbose: bool = False


OPTIMIZER_CONFIGS = {
    "gibo": GIBOConfig,
    "rs": ARSConfig,
    "vbo": VBOConfig,
    "cmaes": CMAESConfig,
    "mpd": MPDConfig,
    "turbo": TuRBOConfig,
    "les": LESConfig,
}

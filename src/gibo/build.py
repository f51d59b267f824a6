"""Validated configs → what runs: values resolved for a dimension, then the one place where names become objects.

`resolve_dimension` replaces "dim_search_space" by D and "variable" by its rule; `build_optimizer` builds the
optimizer a resolved config describes (its GP model, priors, constraints, torch optimiser). This module sits
above `gibo.config` (it reads the validated models; the schema never imports what it builds).
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

import torch

# From the modules, not the package: `gibo.config` re-exports this module's names, so importing its package
# here would tie the two into a circle.
from gibo.config.base import BoundsConfig, ConstraintConfig, HypersConfig, ModelConfig, PriorConfig
from gibo.config.experiment import ExperimentConfig
from gibo.config.methods import (
    ARSConfig,
    CMAESConfig,
    GIBOConfig,
    LESConfig,
    LocalGPConfig,
    MPDConfig,
    TuRBOConfig,
    VBOConfig,
)
from gibo.config.validation import ConfigError


def resolve_dimension(config: ExperimentConfig, D: int, factor_lengthscale: float = 2.0) -> ExperimentConfig:
    """A copy with "dim_search_space" → D and "variable" → its rule: N_max 5D, samples_per_iteration 1 + D//8,
    exploration_noise 0.1·factor_lengthscale·ℓ(D), sigma 0.3·ℓ(D) (ℓ: `synthetic_functions.lengthscale_scale`);
    TuRBO's n_init 2D, n_candidates min(5000, max(2000, 200 D)), perturbation_probability min(20/D, 1),
    failure_tolerance ⌈max(4/q, D/q)⌉."""
    from gibo.synthetic_functions import lengthscale_scale

    config = config.model_copy(deep=True)
    opt = config.optimizer_config
    if isinstance(opt, LocalGPConfig) and opt.max_samples_per_iteration == "dim_search_space":
        opt.max_samples_per_iteration = D
    if isinstance(opt, (LocalGPConfig, VBOConfig, LESConfig)):
        model = opt.model_config_
        if model.ard_num_dims == "dim_search_space":
            model.ard_num_dims = D
        if model.N_max == "variable":
            model.N_max = 5 * D
        prior = model.lengthscale_hyperprior
        kwargs = prior.kwargs if prior is not None else None  # validated kwargs: a mapping, never None
        if (
            prior is not None
            and kwargs is not None
            and prior.prior == "get_lengthscale_hyperprior"
            and kwargs.get("dim") in (None, "dim_search_space")
        ):
            kwargs["dim"] = D
    if isinstance(opt, ARSConfig):
        if opt.samples_per_iteration == "variable":
            opt.samples_per_iteration = 1 + D // 8
        if opt.exploration_noise == "variable":
            opt.exploration_noise = 0.1 * factor_lengthscale * lengthscale_scale(D)
    if isinstance(opt, CMAESConfig) and opt.sigma == "variable":
        opt.sigma = 0.3 * lengthscale_scale(D)
    if isinstance(opt, TuRBOConfig):
        rules = {
            "n_init": 2 * D,
            "n_candidates": min(5000, max(2000, 200 * D)),
            "perturbation_probability": min(20.0 / D, 1.0),
            "failure_tolerance": math.ceil(max(4.0 / opt.batch_size, D / opt.batch_size)),
        }
        for name, value in rules.items():
            if getattr(opt, name) in ("variable", None):
                setattr(opt, name, value)
    return config


def build_prior(spec: PriorConfig | None):
    if spec is None:
        return None
    from gpytorch.priors import GammaPrior, NormalPrior, UniformPrior

    kw = {k: float(v) for k, v in (spec.kwargs or {}).items()}
    if spec.prior == "normal":
        return NormalPrior(kw["loc"], kw["scale"])
    if spec.prior == "gamma":
        return GammaPrior(kw["concentration"], kw["rate"])
    if spec.prior == "uniform":
        return UniformPrior(kw["a"], kw["b"])
    from gibo.synthetic_functions import lengthscale_interval

    return UniformPrior(*lengthscale_interval(int(kw["dim"]), kw["factor_lengthscale"], kw["gamma"]))


def build_constraint(spec: ConstraintConfig | None):
    if spec is None:
        return None
    from gpytorch.constraints import GreaterThan, Interval, LessThan, Positive

    kw = {k: float(v) for k, v in (spec.kwargs or {}).items()}
    if spec.constraint == "greather_than":
        return GreaterThan(kw["lower_bound"])
    if spec.constraint == "less_than":
        return LessThan(kw["upper_bound"])
    if spec.constraint == "interval":
        return Interval(kw["lower_bound"], kw["upper_bound"])
    return Positive()


def model_kwargs(model_config: ModelConfig) -> dict:
    """Keyword arguments of `ExactGPSEModel` from a (resolved) model config."""
    train_prior_mean = model_config.train_prior_mean
    if train_prior_mean is None:  # the paper's rule: a prior mean of 0 is fitted, any other value kept
        train_prior_mean = model_config.prior_mean == 0
    kwargs = dict(
        prior_mean=model_config.prior_mean,
        train_prior_mean=train_prior_mean,
        constrain_to_prior_support=model_config.constrain_to_prior_support,
        ard_num_dims=model_config.ard_num_dims,
    )
    if model_config.standardize_outputs:  # `DerivativeExactGPSEModel` options
        kwargs["standardize_outputs"] = True
    if model_config.gradient_mean != "centred":
        kwargs["gradient_mean"] = model_config.gradient_mean
    if model_config.squared_distances != "differences":
        kwargs["squared_distances"] = model_config.squared_distances
    if model_config.factorization != "full":
        kwargs["factorization"] = model_config.factorization
    if model_config.marginal_likelihood != "gpytorch":  # an `ExactGPSEModel` option
        kwargs["marginal_likelihood"] = model_config.marginal_likelihood
    for name in ("lengthscale", "outputscale", "noise"):
        kwargs[f"{name}_constraint"] = build_constraint(getattr(model_config, f"{name}_constraint"))
        kwargs[f"{name}_hyperprior"] = build_prior(getattr(model_config, f"{name}_hyperprior"))
    return kwargs


def _box(bounds: BoundsConfig | None, D: int, dtype) -> torch.Tensor | None:
    if bounds is None or bounds.lower_bound is None or bounds.upper_bound is None:
        return None
    lower = torch.as_tensor(bounds.lower_bound, dtype=dtype).expand(D)
    upper = torch.as_tensor(bounds.upper_bound, dtype=dtype).expand(D)
    return torch.stack([lower, upper])


def torch_dtype(config: ExperimentConfig) -> torch.dtype:
    return torch.float64 if config.dtype == "float64" else torch.float32


_Value = TypeVar("_Value")


def _resolved(value: _Value | str) -> _Value:
    """A value of a resolved config: no symbolic word ("dim_search_space", "variable") is left by now."""
    assert not isinstance(value, str), f"unresolved {value!r}"  # resolve_dimension and the checks above
    return value


def _acqf_options(opt) -> dict:
    return {k: getattr(opt.optimize_acqf_config, k) for k in ("q", "num_restarts", "raw_samples")}


def build_optimizer(config: ExperimentConfig, params_init: torch.Tensor, objective, hypers: HypersConfig | None = None):
    """The optimizer a resolved config describes, starting at params_init (`D`).

    `hypers` overrides the config's hyperparameter values (the synthetic experiments' true hyperparameters).
    """
    from gibo import optimizers
    from gibo.model import DerivativeExactGPSEModel

    D = params_init.shape[-1]
    dtype = torch_dtype(config)
    params_init = params_init.to(dtype)
    opt = config.optimizer_config
    if isinstance(opt, (LocalGPConfig, VBOConfig, TuRBOConfig, LESConfig)):
        if not isinstance(opt, TuRBOConfig):
            _reject_symbolic(opt, D)
        values = opt.hyperparameter_config.hypers.model_dump()
        values.update({k: v for k, v in (hypers.model_dump() if hypers is not None else {}).items() if v is not None})
        hyper_values = HypersConfig(**values).as_gpytorch()
    if isinstance(opt, LocalGPConfig):
        model = DerivativeExactGPSEModel(
            D, N_max=_resolved(opt.model_config_.N_max), dtype=dtype, **model_kwargs(opt.model_config_)
        )
        model.initialize(**hyper_values)
        local: dict[str, Any] = dict(
            optimize_hyperparameters=opt.hyperparameter_config.optimize_hyperparameters,
            no_noise_optimization=opt.hyperparameter_config.no_noise_optimization,
            optimize_acqf_config=_acqf_options(opt),
            bounds=_box(opt.bounds, D, dtype),
            delta=opt.delta,
            epsilon_diff_acq_value=opt.epsilon_diff_acq_value,
            generate_initial_data=opt.generate_initial_data,
            min_points_for_fit=opt.min_points_for_fit,
            clip_to_bounds=opt.clip_to_bounds,
            acquisition_gradient=opt.acquisition_gradient,
            state_normalization_update=opt.state_normalization_update,
            verbose=opt.verbose,
        )
    if isinstance(opt, LESConfig):
        les_model = DerivativeExactGPSEModel(
            D, N_max=_resolved(opt.model_config_.N_max), dtype=dtype, **model_kwargs(opt.model_config_)
        )
        les_model.initialize(**hyper_values)
        return optimizers.LES(
            params_init,
            objective,
            les_model,
            num_paths=opt.num_paths,
            descent_steps=opt.descent_steps,
            descent_lr=opt.descent_lr,
            descent_optimizer=opt.descent_optimizer,
            sequence_points=opt.sequence_points,
            sequence_subsample=opt.sequence_subsample,
            descent_tolerance=opt.descent_tolerance,
            virtual_observation_noise=opt.virtual_observation_noise,
            path_chunk_size=opt.path_chunk_size,
            acquisition_optimizer=opt.acquisition_optimizer,
            optimize_acqf_config=_acqf_options(opt),
            bounds=_box(opt.bounds, D, dtype),
            delta=opt.delta,
            regret_tolerance=opt.regret_tolerance,
            stop_probability=opt.stop_probability,
            optimize_hyperparameters=opt.hyperparameter_config.optimize_hyperparameters,
            no_noise_optimization=opt.hyperparameter_config.no_noise_optimization,
            min_points_for_fit=opt.min_points_for_fit,
            generate_initial_data=opt.generate_initial_data,
            verbose=opt.verbose,
        )
    if isinstance(opt, MPDConfig):
        return optimizers.MPD(
            params_init,
            objective,
            model,
            max_samples_per_iteration=_resolved(opt.max_samples_per_iteration),
            step_size=opt.step_size,
            ascent_probability=opt.ascent_probability,
            max_walk_steps=opt.max_walk_steps,
            ascent_statistic=opt.ascent_statistic,
            **{**local, "epsilon_diff_acq_value": opt.epsilon_diff_acq_value if opt.uses_epsilon else None},
        )
    if isinstance(opt, GIBOConfig):
        torch_kwargs = {"lr": opt.optimizer_torch_config.lr, "weight_decay": opt.optimizer_torch_config.weight_decay}
        if opt.OptimizerTorch == "sgd":
            torch_kwargs["momentum"] = opt.optimizer_torch_config.momentum
        return optimizers.GIBO(
            params_init,
            objective,
            model,
            max_samples_per_iteration=_resolved(opt.max_samples_per_iteration),
            OptimizerTorch={"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[opt.OptimizerTorch],
            optimizer_torch_config=torch_kwargs,
            lr_schedular=opt.lr_schedular,
            standard_deviation_scaling=opt.standard_deviation_scaling,
            normalize_gradient=opt.normalize_gradient,
            acquisition_lengthscale_slip=opt.acquisition_lengthscale_slip,
            **local,
        )
    if isinstance(opt, ARSConfig):
        if "variable" in (opt.samples_per_iteration, opt.exploration_noise):
            raise ConfigError("optimizer_config: 'variable' values must be resolved with resolve_dimension first")
        return optimizers.ARS(
            params_init,
            objective,
            step_size=opt.step_size,
            samples_per_iteration=_resolved(opt.samples_per_iteration),
            exploration_noise=_resolved(opt.exploration_noise),
            standard_deviation_scaling=opt.standard_deviation_scaling,
            num_top_directions=opt.num_top_directions,
            param_args_ignore=opt.param_args_ignore,
            reward_std_divisor=opt.reward_std_divisor,
        )
    if isinstance(opt, VBOConfig):
        bounds = _box(opt.optimize_acqf_config.bounds, D, dtype)
        if bounds is None:
            raise ConfigError(
                "optimizer_config.optimize_acqf_config.bounds: vanilla BO needs lower_bound and upper_bound"
            )
        return optimizers.VanillaBO(
            params_init,
            objective,
            bounds=bounds,
            model_kwargs=model_kwargs(opt.model_config_),
            hypers=hyper_values,
            optimize_hyperparameters=opt.hyperparameter_config.optimize_hyperparameters,
            no_noise_optimization=opt.hyperparameter_config.no_noise_optimization,
            acquisition_function=opt.acquisition_function,
            best_f=opt.acqf_config.best_f,
            optimize_acqf_config=_acqf_options(opt),
            generate_initial_data=opt.generate_initial_data,
        )
    if isinstance(opt, TuRBOConfig):
        symbolic = [
            n
            for n in ("n_init", "n_candidates", "perturbation_probability", "failure_tolerance")
            if getattr(opt, n) == "variable"
        ]
        if symbolic:
            raise ConfigError(
                f"optimizer_config.{symbolic[0]}: 'variable' must be resolved with resolve_dimension first"
            )
        hp = opt.hyperparameter_config
        box = _box(opt.bounds, D, dtype)
        if box is None:  # the schema already asks for both ends
            raise ConfigError("optimizer_config.bounds: TuRBO needs lower_bound and upper_bound (its search box)")
        try:
            return optimizers.TuRBO(
                params_init,
                objective,
                box,
                batch_size=opt.batch_size,
                n_init=_resolved(opt.n_init),
                n_candidates=_resolved(opt.n_candidates),
                perturbation_probability=_resolved(opt.perturbation_probability),
                length_init=opt.length_init,
                length_min=opt.length_min,
                length_max=opt.length_max,
                success_tolerance=opt.success_tolerance,
                failure_tolerance=_resolved(opt.failure_tolerance),
                kernel=opt.kernel,
                optimize_hyperparameters=hp.optimize_hyperparameters,
                hypers=hyper_values,
                no_noise_optimization=hp.no_noise_optimization,
                fit_maxiter=opt.fit_maxiter,
                warm_start=opt.warm_start,
                thompson_sampling=opt.thompson_sampling,
                verbose=opt.verbose,
            )
        except ValueError as error:  # hyperparameters missing for the chosen mode
            raise ConfigError(f"optimizer_config.hyperparameter_config: {error}") from None
    if isinstance(opt, CMAESConfig):
        if opt.sigma == "variable":
            raise ConfigError("optimizer_config.sigma: 'variable' must be resolved with resolve_dimension first")
        return optimizers.CMAES(
            params_init,
            objective,
            sigma=_resolved(opt.sigma),
            population_size=opt.population_size,
            seed=config.seed,
            bounds=_box(opt.bounds, D, dtype),
        )
    raise ConfigError(f"method {config.method!r} is not supported")


def _reject_symbolic(opt, D: int) -> None:
    symbolic = [
        name
        for name, value in (
            ("max_samples_per_iteration", getattr(opt, "max_samples_per_iteration", None)),
            ("model_config.ard_num_dims", opt.model_config_.ard_num_dims),
            ("model_config.N_max", opt.model_config_.N_max),
        )
        if value in ("dim_search_space", "variable")
    ]
    if symbolic:
        raise ConfigError(
            f"optimizer_config.{symbolic[0]}: symbolic value not resolved for D={D} (call resolve_dimension)"
        )

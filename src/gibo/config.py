"""YAML experiment configs → validated, typed objects, and the one place that turns them into optimizers.

The vocabulary is the paper's (SPEC §4), historical spellings included (`lr_schedular`, `greather_than`).
Unknown keys, wrong types and missing files raise `ConfigError` with one line naming the file and key.
Values that depend on the search-space dimension ("dim_search_space", "variable") stay symbolic until
`resolve_dimension(config, D)`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional, Union

import torch
import yaml

logger = logging.getLogger(__name__)

DimInt = Union[int, Literal["dim_search_space"]]
VariableInt = Union[int, Literal["variable"]]
VariableFloat = Union[float, Literal["variable"]]
FloatOrList = Union[float, List[float]]

METHOD_ALIASES = {"ars": "rs"}
CONSTRAINT_ALIASES = {"greater_than": "greather_than"}
KEY_ALIASES = {"lr_scheduler": "lr_schedular"}


class ConfigError(ValueError):
    """A config the user wrote is wrong; the message is one line naming the file and the key."""


# ----------------------------------------------------------------------------------------------
# Schema
# ----------------------------------------------------------------------------------------------


@dataclass
class PriorConfig:
    """A hyperprior: normal {loc, scale}, gamma {concentration, rate}, uniform {a, b},
    get_lengthscale_hyperprior {dim, factor_lengthscale, gamma} (uniform on the synthetic lengthscale interval)."""

    prior: Literal["normal", "gamma", "uniform", "get_lengthscale_hyperprior"]
    kwargs: Dict[str, Any] = field(default_factory=dict)


@dataclass
class ConstraintConfig:
    """A constraint: greather_than {lower_bound}, less_than {upper_bound}, interval {lower_bound, upper_bound}, positive."""

    constraint: Literal["greather_than", "less_than", "interval", "positive"]
    kwargs: Dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelConfig:
    prior_mean: float = 0.0
    # Fit the constant mean with the other hyperparameters (starting at prior_mean). Unset: the paper's rule,
    # trainable exactly when prior_mean is 0.
    train_prior_mean: Optional[bool] = None
    # Add an interval constraint just inside every uniform hyperprior that has no constraint of its own
    # (the paper's model has none: its fit stops at the prior's edge).
    constrain_to_prior_support: bool = False
    ard_num_dims: Optional[DimInt] = "dim_search_space"
    N_max: Optional[Union[int, Literal["variable"]]] = None
    lengthscale_constraint: Optional[ConstraintConfig] = None
    lengthscale_hyperprior: Optional[PriorConfig] = None
    outputscale_constraint: Optional[ConstraintConfig] = None
    outputscale_hyperprior: Optional[PriorConfig] = None
    noise_constraint: Optional[ConstraintConfig] = None
    noise_hyperprior: Optional[PriorConfig] = None


@dataclass
class HypersConfig:
    lengthscale: Optional[FloatOrList] = None
    outputscale: Optional[float] = None
    noise: Optional[float] = None

    _YAML_NAMES = {
        "covar_module.base_kernel.lengthscale": "lengthscale",
        "covar_module.outputscale": "outputscale",
        "likelihood.noise": "noise",
    }

    def as_gpytorch(self) -> Dict[str, Any]:
        """The set values under gpytorch's parameter names."""
        return {name: getattr(self, attr) for name, attr in self._YAML_NAMES.items() if getattr(self, attr) is not None}


@dataclass
class HyperparameterConfig:
    optimize_hyperparameters: bool = False
    hypers: HypersConfig = field(default_factory=HypersConfig)
    no_noise_optimization: bool = False


@dataclass
class OptimizeAcqfConfig:
    q: int = 1
    num_restarts: int = 5
    raw_samples: int = 64
    bounds: Optional["BoundsConfig"] = None  # vanilla BO's search box


@dataclass
class BoundsConfig:
    lower_bound: Optional[FloatOrList] = None
    upper_bound: Optional[FloatOrList] = None


@dataclass
class TorchOptimizerConfig:
    lr: float = 0.5
    weight_decay: float = 0.0
    momentum: float = 0.0


@dataclass
class GIBOConfig:
    max_samples_per_iteration: DimInt = "dim_search_space"
    OptimizerTorch: Literal["sgd", "adam"] = "sgd"
    optimizer_torch_config: TorchOptimizerConfig = field(default_factory=TorchOptimizerConfig)
    lr_schedular: Optional[Dict[int, float]] = None
    Model: Literal["derivative_gp"] = "derivative_gp"
    model_config: ModelConfig = field(default_factory=ModelConfig)
    hyperparameter_config: HyperparameterConfig = field(default_factory=HyperparameterConfig)
    optimize_acqf: Optional[Literal["custom", "botorch", "bga", "vbo"]] = None  # informational: the paper named its optimiser here
    optimize_acqf_config: OptimizeAcqfConfig = field(default_factory=OptimizeAcqfConfig)
    bounds: Optional[BoundsConfig] = None
    delta: Optional[float] = None
    epsilon_diff_acq_value: Optional[float] = None
    generate_initial_data: Optional[int] = None
    standard_deviation_scaling: bool = False
    normalize_gradient: bool = True
    verbose: bool = False


@dataclass
class ARSConfig:
    step_size: float = 0.02
    samples_per_iteration: VariableInt = 1
    exploration_noise: VariableFloat = 0.02
    standard_deviation_scaling: bool = False
    num_top_directions: Optional[int] = None
    param_args_ignore: Optional[List[int]] = None
    verbose: bool = False


@dataclass
class AcqfConfig:
    best_f: Optional[float] = None


@dataclass
class VBOConfig:
    Model: Literal["plain_gp"] = "plain_gp"
    model_config: ModelConfig = field(default_factory=ModelConfig)
    hyperparameter_config: HyperparameterConfig = field(default_factory=HyperparameterConfig)
    acquisition_function: Literal["expected_improvement", "log_expected_improvement"] = "expected_improvement"
    acqf_config: AcqfConfig = field(default_factory=AcqfConfig)
    optimize_acqf: Optional[Literal["custom", "botorch", "bga", "vbo"]] = None  # informational: the paper named its optimiser here
    optimize_acqf_config: OptimizeAcqfConfig = field(default_factory=OptimizeAcqfConfig)
    generate_initial_data: Optional[int] = None
    verbose: bool = False


@dataclass
class CMAESConfig:
    sigma: VariableFloat = 0.5
    population_size: Optional[int] = None
    verbose: bool = False


OPTIMIZER_CONFIGS = {"gibo": GIBOConfig, "rs": ARSConfig, "vbo": VBOConfig, "cmaes": CMAESConfig}


@dataclass
class RewardConfig:
    shift: Optional[float] = None
    scale: Optional[float] = None
    transform: Optional[Literal["log_cost"]] = None


@dataclass
class MLPConfig:
    layers: Optional[List[int]] = None
    discretize: Optional[int] = None
    add_bias: bool = False
    nonlinearity: Literal["identity", "tanh", "relu"] = "identity"
    state_normalization: bool = False
    manipulate_reward: RewardConfig = field(default_factory=RewardConfig)


@dataclass
class ExperimentConfig:
    method: Literal["gibo", "rs", "vbo", "cmaes"]
    out_dir: str
    optimizer_config: Any
    seed: int = 0
    max_iterations: Optional[int] = None
    max_objective_calls: Optional[int] = None
    set_hypers: bool = False
    only_set_noise_hyper: bool = False
    environment_name: Optional[str] = None
    mlp: Optional[MLPConfig] = None
    trials: int = 1
    dtype: Literal["float32", "float64"] = "float64"


@dataclass
class GPHypersConfig:
    outputscale: float = 1.0


@dataclass
class SyntheticDataConfig:
    out_dir: str
    dimensions: List[int]
    num_objectives: int
    num_samples: int = 1000
    noise_variance: float = 0.01
    factor_lengthscale: float = 2.0
    gamma: float = 0.3
    gp_hypers: GPHypersConfig = field(default_factory=GPHypersConfig)
    n_max: int = 15  # number of best samples that start the L-BFGS-B search for f*
    seed: int = 0
    sampler: Literal["paper", "exact"] = "paper"  # how the GP-prior samples are drawn (synthetic_functions)


# ----------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------


def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin in (list, List):
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if origin in (dict, Dict):
        return "mapping"
    if dataclasses.is_dataclass(tp):
        return "mapping"
    return getattr(tp, "__name__", str(tp))


def _convert(value, tp, where: str):
    """Check `value` against the annotation `tp`; return it converted (ints to floats, mappings to dataclasses)."""
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(f"{where}: a value is required ({_type_name(tp)})")
        candidates = [a for a in args if a is not type(None)]
        if len(candidates) == 1:
            return _convert(value, candidates[0], where)
        # Prefer exact matches (a literal string, a bool) before numeric coercion.
        for arg in sorted(candidates, key=lambda a: a is float):
            try:
                return _convert(value, arg, where)
            except ConfigError as error:
                if isinstance(value, dict) and dataclasses.is_dataclass(arg):
                    raise error  # the mapping was meant for this section: report its own problem
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        if value in typing.get_args(tp):
            return value
        raise ConfigError(f"{where}: expected one of {', '.join(repr(a) for a in typing.get_args(tp))}, got {value!r}")
    if origin in (list, List):
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(tp)
        return [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin in (dict, Dict):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        key_tp, value_tp = typing.get_args(tp)
        return {_convert(k, key_tp, f"{where}.{k}"): _convert(v, value_tp, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where)
    if value is None:
        raise ConfigError(f"{where}: a value is required ({_type_name(tp)})")
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-5" as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
    else:
        raise TypeError(f"unsupported annotation {tp}")
    raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")


def _build(cls, data, where: str):
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {data!r}")
    if cls is HypersConfig:
        data = _rename_hypers(data, where)
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls) if not f.name.startswith("_")}
    data = {KEY_ALIASES.get(k, k): v for k, v in data.items()}
    unknown = [str(k) for k in data if k not in known]
    if unknown:
        raise ConfigError(f"{where}: unknown key {', '.join(unknown)} (allowed: {', '.join(sorted(known))})")
    kwargs = {}
    for f in fields(cls):
        if f.name not in known:
            continue
        path = f"{where}.{f.name}" if where else f.name
        if f.name in data:
            value = data[f.name]
            if value is None and dataclasses.is_dataclass(_strip_optional(hints[f.name])) and not _is_optional(hints[f.name]):
                value = {}
            kwargs[f.name] = _convert(value, hints[f.name], path)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{path}: missing required key")
    return cls(**kwargs)


def _is_optional(tp) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType) and type(None) in typing.get_args(tp)


def _strip_optional(tp):
    if _is_optional(tp):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp


def _rename_hypers(data: dict, where: str) -> dict:
    renamed = {}
    for key, value in data.items():
        if key not in HypersConfig._YAML_NAMES:
            raise ConfigError(f"{where}: unknown key {key} (allowed: {', '.join(HypersConfig._YAML_NAMES)})")
        renamed[HypersConfig._YAML_NAMES[key]] = value
    return renamed


def _read_yaml(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{path}: malformed YAML{line}: {getattr(error, 'problem', error)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def parse_experiment_config(data: dict, source: str = "<config>") -> ExperimentConfig:
    """Validate an experiment config mapping; errors name `source` and the key."""
    try:
        data = dict(data)
        if "method" not in data:
            raise ConfigError("method: missing required key")
        method = METHOD_ALIASES.get(data["method"], data["method"])
        if method not in OPTIMIZER_CONFIGS:
            raise ConfigError(f"method: expected one of {', '.join(OPTIMIZER_CONFIGS)}, got {data['method']!r}")
        data["method"] = method
        optimizer_data = data.pop("optimizer_config", None)
        config = _build(ExperimentConfig, {**data, "optimizer_config": None}, "")
        config.optimizer_config = _build(OPTIMIZER_CONFIGS[method], optimizer_data, "optimizer_config")
        _check_experiment(config)
        return config
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None


def _check_experiment(config: ExperimentConfig) -> None:
    if config.max_iterations is None and config.max_objective_calls is None:
        raise ConfigError("max_iterations / max_objective_calls: set at least one")
    opt = config.optimizer_config
    if isinstance(opt, GIBOConfig):
        if opt.delta is None and (opt.bounds is None or opt.bounds.lower_bound is None):
            raise ConfigError("optimizer_config.delta / optimizer_config.bounds: set at least one")
        for key, spec in _model_specs(opt.model_config):
            _check_spec(spec, f"optimizer_config.model_config.{key}")
    if isinstance(opt, VBOConfig):
        for key, spec in _model_specs(opt.model_config):
            _check_spec(spec, f"optimizer_config.model_config.{key}")


def _model_specs(model_config: ModelConfig):
    for f in fields(model_config):
        spec = getattr(model_config, f.name)
        if isinstance(spec, (PriorConfig, ConstraintConfig)):
            yield f.name, spec


_SPEC_KWARGS = {
    "normal": {"loc", "scale"},
    "gamma": {"concentration", "rate"},
    "uniform": {"a", "b"},
    "get_lengthscale_hyperprior": {"dim", "factor_lengthscale", "gamma"},
    "greather_than": {"lower_bound"},
    "less_than": {"upper_bound"},
    "interval": {"lower_bound", "upper_bound"},
    "positive": set(),
}


def _check_spec(spec, where: str) -> None:
    name = spec.prior if isinstance(spec, PriorConfig) else spec.constraint
    allowed = _SPEC_KWARGS[name]
    unknown = set(spec.kwargs) - allowed
    if unknown:
        raise ConfigError(f"{where}.kwargs: unknown key {', '.join(sorted(unknown))} for {name} (allowed: {', '.join(sorted(allowed)) or 'none'})")
    missing = allowed - set(spec.kwargs) - ({"dim"} if name == "get_lengthscale_hyperprior" else set())
    if missing:
        raise ConfigError(f"{where}.kwargs: missing {', '.join(sorted(missing))} for {name}")


def _is_empty_spec(value) -> bool:
    """`{constraint: , kwargs: }` / `{prior: , kwargs: }`: the paper's way of writing "none"."""
    return (
        isinstance(value, dict)
        and set(value) <= {"constraint", "prior", "kwargs"}
        and all(v is None or v == {} for v in value.values())
        and bool({"constraint", "prior"} & set(value))
    )


def _prepare_aliases(data):
    """Accept `greater_than` beside the historical `greather_than` everywhere in the tree; empty
    constraint / prior entries mean none."""
    if isinstance(data, dict):
        return {
            k: (CONSTRAINT_ALIASES.get(v, v) if k == "constraint" else None if _is_empty_spec(v) else _prepare_aliases(v))
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [_prepare_aliases(v) for v in data]
    return data


def load_experiment_config(path) -> ExperimentConfig:
    """Read and validate an experiment YAML file."""
    return parse_experiment_config(_prepare_aliases(_read_yaml(path)), str(path))


def load_data_config(path) -> SyntheticDataConfig:
    """Read and validate a synthetic-data YAML file."""
    try:
        return _build(SyntheticDataConfig, _read_yaml(path), "")
    except ConfigError as error:
        if str(error).startswith(str(path)):
            raise
        raise ConfigError(f"{path}: {error}") from None


def config_to_dict(config) -> dict:
    """Plain mapping (YAML-safe) of a config, with the paper's key names."""

    def convert(value):
        if isinstance(value, HypersConfig):
            return {name: convert(getattr(value, attr)) for name, attr in HypersConfig._YAML_NAMES.items()}
        if dataclasses.is_dataclass(value):
            return {f.name: convert(getattr(value, f.name)) for f in fields(value) if not f.name.startswith("_")}
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [convert(v) for v in value]
        if isinstance(value, torch.Tensor):
            return value.tolist()
        return value

    return convert(config)


# ----------------------------------------------------------------------------------------------
# Dimension-dependent values
# ----------------------------------------------------------------------------------------------


def resolve_dimension(config: ExperimentConfig, D: int, factor_lengthscale: float = 2.0) -> ExperimentConfig:
    """Replace "dim_search_space" by D and "variable" by its rule (SPEC §4):
    N_max 5D, samples_per_iteration 1 + D//8, exploration_noise 0.1·factor_lengthscale·ℓ(D), sigma 0.3·ℓ(D)."""
    from gibo.synthetic_functions import lengthscale_scale

    config = dataclasses.replace(config)
    opt = dataclasses.replace(config.optimizer_config)
    config.optimizer_config = opt
    if isinstance(opt, GIBOConfig):
        if opt.max_samples_per_iteration == "dim_search_space":
            opt.max_samples_per_iteration = D
    if isinstance(opt, (GIBOConfig, VBOConfig)):
        model = dataclasses.replace(opt.model_config)
        opt.model_config = model
        if model.ard_num_dims == "dim_search_space":
            model.ard_num_dims = D
        if model.N_max == "variable":
            model.N_max = 5 * D
        if model.lengthscale_hyperprior is not None and model.lengthscale_hyperprior.prior == "get_lengthscale_hyperprior":
            kwargs = dict(model.lengthscale_hyperprior.kwargs)
            if kwargs.get("dim") in (None, "dim_search_space"):
                kwargs["dim"] = D
            model.lengthscale_hyperprior = PriorConfig("get_lengthscale_hyperprior", kwargs)
    if isinstance(opt, ARSConfig):
        if opt.samples_per_iteration == "variable":
            opt.samples_per_iteration = 1 + D // 8
        if opt.exploration_noise == "variable":
            opt.exploration_noise = 0.1 * factor_lengthscale * lengthscale_scale(D)
    if isinstance(opt, CMAESConfig) and opt.sigma == "variable":
        opt.sigma = 0.3 * lengthscale_scale(D)
    return config


# ----------------------------------------------------------------------------------------------
# Config → objects (the only place where names become classes)
# ----------------------------------------------------------------------------------------------


def build_prior(spec: Optional[PriorConfig]):
    if spec is None:
        return None
    from gpytorch.priors import GammaPrior, NormalPrior, UniformPrior

    kw = spec.kwargs
    if spec.prior == "normal":
        return NormalPrior(float(kw["loc"]), float(kw["scale"]))
    if spec.prior == "gamma":
        return GammaPrior(float(kw["concentration"]), float(kw["rate"]))
    if spec.prior == "uniform":
        return UniformPrior(float(kw["a"]), float(kw["b"]))
    from gibo.synthetic_functions import lengthscale_interval

    low, high = lengthscale_interval(int(kw["dim"]), float(kw["factor_lengthscale"]), float(kw["gamma"]))
    return UniformPrior(low, high)


def build_constraint(spec: Optional[ConstraintConfig]):
    if spec is None:
        return None
    from gpytorch.constraints import GreaterThan, Interval, LessThan, Positive

    kw = spec.kwargs
    if spec.constraint == "greather_than":
        return GreaterThan(float(kw["lower_bound"]))
    if spec.constraint == "less_than":
        return LessThan(float(kw["upper_bound"]))
    if spec.constraint == "interval":
        return Interval(float(kw["lower_bound"]), float(kw["upper_bound"]))
    return Positive()


def model_kwargs(model_config: ModelConfig) -> dict:
    """Keyword arguments of `ExactGPSEModel` from a (resolved) model config."""
    train_prior_mean = model_config.train_prior_mean
    if train_prior_mean is None:
        train_prior_mean = model_config.prior_mean == 0
    return dict(
        prior_mean=model_config.prior_mean,
        train_prior_mean=train_prior_mean,
        constrain_to_prior_support=model_config.constrain_to_prior_support,
        ard_num_dims=model_config.ard_num_dims,
        lengthscale_constraint=build_constraint(model_config.lengthscale_constraint),
        lengthscale_hyperprior=build_prior(model_config.lengthscale_hyperprior),
        outputscale_constraint=build_constraint(model_config.outputscale_constraint),
        outputscale_hyperprior=build_prior(model_config.outputscale_hyperprior),
        noise_constraint=build_constraint(model_config.noise_constraint),
        noise_hyperprior=build_prior(model_config.noise_hyperprior),
    )


def _box(bounds: Optional[BoundsConfig], D: int, dtype) -> Optional[torch.Tensor]:
    if bounds is None or bounds.lower_bound is None or bounds.upper_bound is None:
        return None
    lower = torch.as_tensor(bounds.lower_bound, dtype=dtype).expand(D)
    upper = torch.as_tensor(bounds.upper_bound, dtype=dtype).expand(D)
    return torch.stack([lower, upper])


def torch_dtype(config: ExperimentConfig) -> torch.dtype:
    return torch.float64 if config.dtype == "float64" else torch.float32


def build_optimizer(config: ExperimentConfig, params_init: torch.Tensor, objective, hypers: Optional[HypersConfig] = None):
    """The optimizer a resolved config describes, starting at params_init (`D`).

    `hypers` overrides the config's hyperparameter values (the synthetic experiments' true hyperparameters).
    """
    from gibo import optimizers

    D = params_init.shape[-1]
    dtype = torch_dtype(config)
    params_init = params_init.to(dtype)
    opt = config.optimizer_config
    if isinstance(opt, (GIBOConfig, VBOConfig)):
        _reject_symbolic(opt, D)
        hyper_values = dataclasses.replace(opt.hyperparameter_config.hypers)
        if hypers is not None:
            for f in fields(HypersConfig):
                if getattr(hypers, f.name) is not None:
                    setattr(hyper_values, f.name, getattr(hypers, f.name))
    if isinstance(opt, GIBOConfig):
        model = optimizers.DerivativeExactGPSEModel(D, N_max=opt.model_config.N_max, dtype=dtype, **model_kwargs(opt.model_config))
        model.initialize(**hyper_values.as_gpytorch())
        torch_optimizer = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[opt.OptimizerTorch]
        torch_kwargs = {"lr": opt.optimizer_torch_config.lr, "weight_decay": opt.optimizer_torch_config.weight_decay}
        if opt.OptimizerTorch == "sgd":
            torch_kwargs["momentum"] = opt.optimizer_torch_config.momentum
        return optimizers.GIBO(
            params_init,
            objective,
            model,
            max_samples_per_iteration=opt.max_samples_per_iteration,
            OptimizerTorch=torch_optimizer,
            optimizer_torch_config=torch_kwargs,
            lr_schedular=opt.lr_schedular,
            optimize_hyperparameters=opt.hyperparameter_config.optimize_hyperparameters,
            no_noise_optimization=opt.hyperparameter_config.no_noise_optimization,
            optimize_acqf_config={k: getattr(opt.optimize_acqf_config, k) for k in ("q", "num_restarts", "raw_samples")},
            bounds=_box(opt.bounds, D, dtype),
            delta=opt.delta,
            epsilon_diff_acq_value=opt.epsilon_diff_acq_value,
            generate_initial_data=opt.generate_initial_data,
            standard_deviation_scaling=opt.standard_deviation_scaling,
            normalize_gradient=opt.normalize_gradient,
            verbose=opt.verbose,
        )
    if isinstance(opt, ARSConfig):
        if "variable" in (opt.samples_per_iteration, opt.exploration_noise):
            raise ConfigError("optimizer_config: 'variable' values must be resolved with resolve_dimension first")
        return optimizers.ARS(
            params_init,
            objective,
            step_size=opt.step_size,
            samples_per_iteration=opt.samples_per_iteration,
            exploration_noise=opt.exploration_noise,
            standard_deviation_scaling=opt.standard_deviation_scaling,
            num_top_directions=opt.num_top_directions,
            param_args_ignore=opt.param_args_ignore,
        )
    if isinstance(opt, VBOConfig):
        bounds = _box(opt.optimize_acqf_config.bounds, D, dtype)
        if bounds is None:
            raise ConfigError("optimizer_config.optimize_acqf_config.bounds: vanilla BO needs lower_bound and upper_bound")
        return optimizers.VanillaBO(
            params_init,
            objective,
            bounds=bounds,
            model_kwargs=model_kwargs(opt.model_config),
            hypers=hyper_values.as_gpytorch(),
            optimize_hyperparameters=opt.hyperparameter_config.optimize_hyperparameters,
            no_noise_optimization=opt.hyperparameter_config.no_noise_optimization,
            acquisition_function=opt.acquisition_function,
            best_f=opt.acqf_config.best_f,
            optimize_acqf_config={k: getattr(opt.optimize_acqf_config, k) for k in ("q", "num_restarts", "raw_samples")},
            generate_initial_data=opt.generate_initial_data,
        )
    if isinstance(opt, CMAESConfig):
        if opt.sigma == "variable":
            raise ConfigError("optimizer_config.sigma: 'variable' must be resolved with resolve_dimension first")
        return optimizers.CMAES(params_init, objective, sigma=opt.sigma, population_size=opt.population_size, seed=config.seed)
    raise ConfigError(f"method {config.method!r} is not supported")


def _reject_symbolic(opt, D: int) -> None:
    symbolic = []
    if isinstance(opt, GIBOConfig) and opt.max_samples_per_iteration == "dim_search_space":
        symbolic.append("max_samples_per_iteration")
    if opt.model_config.ard_num_dims == "dim_search_space":
        symbolic.append("model_config.ard_num_dims")
    if opt.model_config.N_max == "variable":
        symbolic.append("model_config.N_max")
    if symbolic:
        raise ConfigError(f"optimizer_config.{symbolic[0]}: symbolic value not resolved for D={D} (call resolve_dimension)")

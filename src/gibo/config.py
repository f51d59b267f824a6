"""YAML configs → validated pydantic models: the schema is the validation, with the paper's vocabulary.

Historical spellings (`lr_schedular`, `greather_than`) and empty entries (`{constraint: , kwargs: }` = none,
an empty value = the default) are accepted; types and ranges are checked on load, and a wrong config raises
`ConfigError` with one line: file, key path, what was expected, what was found. "dim_search_space" and
"variable" stay symbolic until `gibo.build.resolve_dimension`; `gibo.build.build_optimizer` turns a config into an
optimizer.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Dict, List, Literal, Optional, Union

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)


class ConfigError(ValueError):
    """A config the user wrote is wrong; the message is one line naming the file and the key."""


def _empty_is_none(value):
    """`{constraint: , kwargs: }` / `{prior: , kwargs: }`: the paper's way of writing "none"."""
    empty = (
        isinstance(value, dict)
        and {"prior", "constraint"} & set(value)
        and all(v in (None, {}) for v in value.values())
    )
    return None if empty else value


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, protected_namespaces=(), allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _empty_entries(cls, data):
        """An empty value of a key that cannot be None (a section, a flag) means its default."""
        if not isinstance(data, dict):
            return data
        fields = {key: f for n, f in cls.model_fields.items() for key in (n, f.alias) if key}
        nullable = lambda f: type(None) in getattr(f.annotation, "__args__", ()) or f.annotation is Any  # noqa: E731
        data = {k: _empty_is_none(v) for k, v in data.items()}
        return {
            k: v
            for k, v in data.items()
            if not (v is None and k in fields and not nullable(fields[k]) and not fields[k].is_required())
        }


def _symbolic(word: str, kind: type, low: float, strict: bool):
    """A number of `kind` above `low` (≥ unless `strict`), or the symbolic `word` (resolved per dimension)."""

    def check(value):
        number = isinstance(value, (int, float) if kind is float else int) and not isinstance(value, bool)
        if value == word or (number and (value > low if strict else value >= low)):
            return value if value == word else kind(value)
        rule = f"{'an integer' if kind is int else 'a number'} {'>' if strict else '≥'} {low:g} or {word!r}"
        raise ValueError(f"got {value!r}, allowed {rule}")

    return Annotated[
        Union[kind, Literal[word]], PlainValidator(check, json_schema_input_type=Union[kind, Literal[word]])
    ]


Pos = Annotated[float, Field(gt=0)]
NonNeg = Annotated[float, Field(ge=0)]
Count = Annotated[int, Field(ge=1)]
Index = Annotated[int, Field(ge=0)]
DimCount = _symbolic("dim_search_space", int, 1, strict=False)
VarCount = _symbolic("variable", int, 1, strict=False)
VarPos = _symbolic("variable", float, 0, strict=True)

# name → its keyword arguments and their ranges (the lengthscale prior's "dim" defaults to D)
KWARGS_OF = {
    "normal": {"loc": Pos, "scale": Pos},
    "gamma": {"concentration": Pos, "rate": Pos},
    "uniform": {"a": Pos, "b": Pos},
    "get_lengthscale_hyperprior": {"dim": (Optional[DimCount], None), "factor_lengthscale": Pos, "gamma": NonNeg},
    "greather_than": {"lower_bound": NonNeg},
    "less_than": {"upper_bound": Pos},
    "interval": {"lower_bound": NonNeg, "upper_bound": NonNeg},
    "positive": {},
}
KWARGS_MODELS = {
    name: create_model(name, __base__=Model, **{k: t if isinstance(t, tuple) else (t, ...) for k, t in fields.items()})
    for name, fields in KWARGS_OF.items()
}


class Spec(Model):
    """A hyperprior {prior, kwargs} or a constraint {constraint, kwargs}, kwargs as in KWARGS_OF."""

    kwargs: Optional[Dict[str, Any]] = None

    @property
    def name(self) -> str:
        return getattr(self, "prior", None) or getattr(self, "constraint")

    @model_validator(mode="after")
    def _check_kwargs(self):
        fields = KWARGS_OF[self.name]
        unknown = sorted(set(self.kwargs or {}) - set(fields))
        if unknown:
            raise ValueError(
                f"kwargs: unknown key {', '.join(unknown)} for {self.name} (allowed: {', '.join(fields) or 'none'})"
            )
        self.kwargs = _validate(KWARGS_MODELS[self.name], self.kwargs, ("kwargs",), ValueError).model_dump(
            exclude_unset=True
        )
        low, high = (
            self.kwargs.get(k) for k in (("a", "b") if self.name == "uniform" else ("lower_bound", "upper_bound"))
        )
        if low is not None and high is not None and not low < high:
            raise ValueError(f"kwargs: the lower end {low!r} must lie below the upper end {high!r}")
        return self


class PriorConfig(Spec):
    prior: Literal["normal", "gamma", "uniform", "get_lengthscale_hyperprior"]


class ConstraintConfig(Spec):
    constraint: Literal["greather_than", "less_than", "interval", "positive"]
    _alias = field_validator("constraint", mode="before")(lambda cls, v: {"greater_than": "greather_than"}.get(v, v))


class ModelConfig(Model):
    prior_mean: float = 0.0
    train_prior_mean: Optional[bool] = None  # fit the constant mean; unset: the paper's rule (iff prior_mean is 0)
    constrain_to_prior_support: bool = False  # an interval inside each uniform hyperprior without a constraint
    standardize_outputs: bool = (
        False  # the GP models the window's y standardised (mean 0, std 1), refreshed with the data
    )
    ard_num_dims: Optional[DimCount] = "dim_search_space"
    N_max: Optional[VarCount] = None
    lengthscale_constraint: Optional[ConstraintConfig] = None
    lengthscale_hyperprior: Optional[PriorConfig] = None
    outputscale_constraint: Optional[ConstraintConfig] = None
    outputscale_hyperprior: Optional[PriorConfig] = None
    noise_constraint: Optional[ConstraintConfig] = None
    noise_hyperprior: Optional[PriorConfig] = None


HYPER_NAMES = {
    "lengthscale": "covar_module.base_kernel.lengthscale",
    "outputscale": "covar_module.outputscale",
    "noise": "likelihood.noise",
}


class HypersConfig(Model):
    lengthscale: Optional[Union[Pos, List[Pos]]] = Field(None, alias=HYPER_NAMES["lengthscale"])
    outputscale: Optional[Pos] = Field(None, alias=HYPER_NAMES["outputscale"])
    noise: Optional[Pos] = Field(None, alias=HYPER_NAMES["noise"])

    def as_gpytorch(self) -> Dict[str, Any]:
        """The set values under gpytorch's parameter names."""
        return {HYPER_NAMES[k]: v for k, v in self.model_dump().items() if v is not None}


class HyperparameterConfig(Model):
    optimize_hyperparameters: bool = False
    hypers: HypersConfig = HypersConfig()
    no_noise_optimization: bool = False


class BoundsConfig(Model):
    lower_bound: Optional[Union[float, List[float]]] = None
    upper_bound: Optional[Union[float, List[float]]] = None

    @model_validator(mode="after")
    def _ordered(self):
        if self.lower_bound is not None and self.upper_bound is not None:
            low, high = (v if isinstance(v, list) else [v] for v in (self.lower_bound, self.upper_bound))
            n = max(len(low), len(high))
            low, high = (v * n if len(v) == 1 else v for v in (low, high))
            if len(low) != len(high) or not all(a < b for a, b in zip(low, high)):
                raise ValueError(
                    f"lower_bound {self.lower_bound!r} must lie below upper_bound {self.upper_bound!r} in every entry"
                )
        return self


class OptimizeAcqfConfig(Model):
    q: Count = 1
    num_restarts: Count = 5
    raw_samples: Count = 64
    bounds: Optional[BoundsConfig] = None  # vanilla BO's search box


class TorchOptimizerConfig(Model):
    lr: Pos = 0.5
    weight_decay: NonNeg = 0.0
    momentum: NonNeg = 0.0


class GPMethodConfig(Model):
    """What the GP methods share: the model, its hyperparameters, the acquisition optimisation."""

    model_config_: ModelConfig = Field(ModelConfig(), alias="model_config")
    hyperparameter_config: HyperparameterConfig = HyperparameterConfig()
    optimize_acqf: Optional[Literal["custom", "botorch", "bga", "vbo"]] = None  # informational (the paper's names)
    optimize_acqf_config: OptimizeAcqfConfig = OptimizeAcqfConfig()
    generate_initial_data: Optional[Index] = None
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


class LocalGPConfig(GPMethodConfig):
    """What GIBO and MPD share: the derivative GP's window and the actively sampled points in the δ-box."""

    max_samples_per_iteration: DimCount = "dim_search_space"
    Model: Literal["derivative_gp"] = "derivative_gp"
    bounds: Optional[BoundsConfig] = None
    delta: Optional[Pos] = None
    epsilon_diff_acq_value: Optional[NonNeg] = None
    min_points_for_fit: Optional[Count] = (
        None  # fit once the window holds this many points (unset: N_max, the paper's rule)
    )
    clip_to_bounds: bool = False  # keep θ inside `bounds` after every step (the paper's GIBO does not)

    @model_validator(mode="after")
    def _box(self):
        if self.delta is None and (self.bounds is None or self.bounds.lower_bound is None):
            raise ValueError("delta / optimizer_config.bounds: set at least one")
        return self


class GIBOConfig(LocalGPConfig):
    OptimizerTorch: Literal["sgd", "adam"] = "sgd"
    optimizer_torch_config: TorchOptimizerConfig = TorchOptimizerConfig()
    lr_schedular: Optional[Dict[Index, Pos]] = Field(
        None, validation_alias=AliasChoices("lr_schedular", "lr_scheduler")
    )
    standard_deviation_scaling: bool = False
    normalize_gradient: bool = True
    acquisition_lengthscale_slip: bool = False  # the paper's runs' acquisition: ∂k/∂θ_i over l_i, not l_i²


class MPDConfig(LocalGPConfig):
    step_size: Pos = 0.01  # η: length of one walk step
    ascent_probability: Annotated[float, Field(gt=0.5, le=1)] = 0.65  # p_min: walk while the ascent probability ≥ p_min
    max_walk_steps: Index = 10_000


class TuRBOConfig(Model):
    batch_size: Count = 1
    n_init: Optional[VarCount] = "variable"  # 2 D
    n_candidates: Optional[VarCount] = "variable"  # min(5000, max(2000, 200 D))
    perturbation_probability: Optional[_symbolic("variable", float, 0, strict=True)] = "variable"  # min(20 / D, 1)
    length_init: Pos = 0.8
    length_min: Pos = 0.5**7
    length_max: Pos = 1.6
    success_tolerance: Count = 3
    failure_tolerance: Optional[VarCount] = "variable"  # ceil(max(4 / q, D / q))
    kernel: Literal["matern52", "rbf"] = "matern52"
    hyperparameter_config: HyperparameterConfig = HyperparameterConfig(optimize_hyperparameters=True)
    fit_maxiter: Optional[Count] = 100
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
                f"length_init {self.length_init} must lie in [length_min {self.length_min}, length_max {self.length_max}]"
            )
        if isinstance(self.perturbation_probability, float) and self.perturbation_probability > 1:
            raise ValueError(f"perturbation_probability: got {self.perturbation_probability}, allowed at most 1")
        return self


class ARSConfig(Model):
    step_size: Pos = 0.02
    samples_per_iteration: VarCount = 1
    exploration_noise: VarPos = 0.02
    standard_deviation_scaling: bool = False
    num_top_directions: Optional[Count] = None
    param_args_ignore: Optional[List[int]] = None  # indices never perturbed (negative ones count from the end)
    reward_std_divisor: Literal["n-1", "n"] = "n-1"  # σ_R's divisor: n − 1 as the paper's runs (torch), n as numpy
    verbose: bool = False


class AcqfConfig(Model):
    best_f: Optional[float] = None


class VBOConfig(GPMethodConfig):
    Model: Literal["plain_gp"] = "plain_gp"
    acquisition_function: Literal["expected_improvement", "log_expected_improvement"] = "expected_improvement"
    acqf_config: AcqfConfig = AcqfConfig()


class CMAESConfig(Model):
    sigma: VarPos = 0.5
    population_size: Optional[Annotated[int, Field(ge=2)]] = None
    bounds: Optional[BoundsConfig] = None  # pycma's box (samples outside are repaired into it)
    verbose: bool = False


OPTIMIZER_CONFIGS = {
    "gibo": GIBOConfig,
    "rs": ARSConfig,
    "vbo": VBOConfig,
    "cmaes": CMAESConfig,
    "mpd": MPDConfig,
    "turbo": TuRBOConfig,
}


class RewardConfig(Model):
    shift: Optional[float] = None
    scale: Optional[Pos] = None
    transform: Optional[Literal["log_cost"]] = None


class MLPConfig(Model):
    layers: Optional[List[Count]] = None
    discretize: Optional[Annotated[int, Field(ge=2)]] = None
    add_bias: bool = False
    nonlinearity: Literal["identity", "tanh", "relu"] = "identity"
    state_normalization: bool = False
    manipulate_reward: RewardConfig = RewardConfig()

    @model_validator(mode="after")
    def _normalization_needs_bias(self):
        if self.state_normalization and not self.add_bias:
            raise ValueError(
                "state_normalization: needs add_bias: true (a policy on normalised states needs a bias to equal one on raw states)"
            )
        return self

    @field_validator("layers", mode="before")
    @classmethod
    def _tuple_string(cls, value):  # the paper once wrote `layers: (8,2)`
        text = value.strip() if isinstance(value, str) else ""
        if text.startswith("(") and text.endswith(")"):
            return [
                int(v) if v.strip().lstrip("-").isdigit() else v.strip() for v in text[1:-1].split(",") if v.strip()
            ]
        return value


class ExperimentConfig(Model):
    method: Literal["gibo", "rs", "vbo", "cmaes", "mpd", "turbo"]
    out_dir: str
    optimizer_config: Any = None  # validated by OPTIMIZER_CONFIGS[method]
    seed: Index = 0
    max_iterations: Optional[Count] = None
    max_objective_calls: Optional[Count] = None
    set_hypers: bool = False
    only_set_noise_hyper: bool = False
    environment_name: Optional[str] = None
    mlp: Optional[MLPConfig] = None
    trials: Count = 1
    dtype: Literal["float32", "float64"] = "float64"
    _alias = field_validator("method", mode="before")(lambda cls, v: {"ars": "rs"}.get(v, v))

    @model_validator(mode="after")
    def _budget(self):
        if self.max_iterations is None and self.max_objective_calls is None:
            raise ValueError("max_iterations / max_objective_calls: set at least one")
        return self


class GPHypersConfig(Model):
    outputscale: Pos = 1.0


class SyntheticDataConfig(Model):
    out_dir: str
    dimensions: Annotated[List[Count], Field(min_length=1)]
    num_objectives: Count
    num_samples: Count = 1000
    noise_variance: Pos = 0.01
    factor_lengthscale: Pos = 2.0
    gamma: Annotated[float, Field(ge=0, lt=1)] = 0.3
    gp_hypers: GPHypersConfig = GPHypersConfig()
    n_max: Count = 15  # number of best samples that start the L-BFGS-B search for f*
    seed: Index = 0
    sampler: Literal["paper", "exact"] = "paper"  # how the GP-prior samples are drawn (gibo.synthetic_functions)


def _model_at(cls, loc) -> Optional[type]:
    """The pydantic model that validates the mapping at `loc` below `cls` (None where there is none)."""
    for key in loc:
        field = next((f for n, f in getattr(cls, "model_fields", {}).items() if key in (n, f.alias)), None)
        args = (field.annotation, *getattr(field.annotation, "__args__", ())) if field else ()
        cls = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
    return cls


def _one_line(error: ValidationError, cls, prefix=()) -> str:
    """The most specific error as `key.path: what was expected, what was found`."""
    union_tag = lambda p: isinstance(p, str) and ("[" in p or "-" in p or p in ("int", "float", "str", "bool"))  # noqa: E731
    e = max(error.errors(include_url=False), key=lambda e: len([p for p in e["loc"] if not union_tag(p)]))
    loc = [*prefix, *(str(p) for p in e["loc"] if p != "[key]" and not union_tag(p))]
    path, kind = ".".join(loc), e["type"]
    ops = {"greater_than": ">", "greater_than_equal": "≥", "less_than": "<", "less_than_equal": "≤"}
    if kind == "extra_forbidden":
        where = _model_at(cls, loc[len(prefix) : -1])
        allowed = (
            f" (allowed: {', '.join(sorted(f.alias or n for n, f in where.model_fields.items()))})" if where else ""
        )
        return f"{'.'.join(loc[:-1]) + ': ' if len(loc) > 1 else ''}unknown key {loc[-1]}{allowed}"
    if kind == "missing":
        return f"{path}: missing required key"
    if kind in ops:
        return f"{path}: got {e['input']!r}, allowed {ops[kind]} {next(iter(e['ctx'].values())):g}"
    if kind == "too_short":
        n = e["ctx"]["min_length"]
        return f"{path}: got {e['input']!r}, expected at least {n} {'entry' if n == 1 else 'entries'}"
    if kind == "literal_error":
        return f"{path}: expected one of {e['ctx']['expected']}, got {e['input']!r}"
    if kind == "value_error":
        message = e["msg"].removeprefix("Value error, ")
        head = message.split(":", 1)[0]  # a message that starts with a key path continues the location
        return (
            f"{path}.{message}"
            if path and ":" in message and " " not in head
            else f"{path + ': ' if path else ''}{message}"
        )
    return f"{path}: expected {e['msg'].removeprefix('Input should be ')}, got {e['input']!r}"


def _validate(cls, data, prefix=(), error_type=ConfigError):
    try:
        return cls.model_validate({} if data is None else data)
    except ValidationError as error:
        raise error_type(_one_line(error, cls, prefix)) from None


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
        config = _validate(ExperimentConfig, {**data, "optimizer_config": None})
        config.optimizer_config = _validate(
            OPTIMIZER_CONFIGS[config.method], data.get("optimizer_config"), ("optimizer_config",)
        )
        return config
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None


def load_experiment_config(path) -> ExperimentConfig:
    """Read and validate an experiment YAML file."""
    return parse_experiment_config(_read_yaml(path), str(path))


def load_data_config(path) -> SyntheticDataConfig:
    """Read and validate a synthetic-data YAML file."""
    data = _read_yaml(path)
    try:
        return _validate(SyntheticDataConfig, data)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


def config_to_dict(config) -> dict:
    """Plain mapping (YAML-safe) of a config, with the paper's key names."""
    data = config.model_dump(by_alias=True, mode="json")
    if isinstance(config, ExperimentConfig) and config.optimizer_config is not None:
        data["optimizer_config"] = config_to_dict(config.optimizer_config)
    return data


def json_schema(kind: str) -> dict:
    """JSON Schema of experiment configs (optimizer_config: one of the methods' schemas) or of data configs."""
    if kind == "data":
        return SyntheticDataConfig.model_json_schema(by_alias=True)
    methods = Optional[Union[tuple(OPTIMIZER_CONFIGS.values())]]
    return create_model(
        "ExperimentConfig", __base__=ExperimentConfig, optimizer_config=(methods, None)
    ).model_json_schema(by_alias=True)


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m gibo.config", description="JSON Schema of the YAML configs, for editors."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    schema = sub.add_parser("schema", help="print the JSON Schema of one kind of config")
    schema.add_argument(
        "kind", choices=["experiment", "data"], help="experiment (method) configs or synthetic-data configs"
    )
    sys.stdout.write(json.dumps(json_schema(parser.parse_args(argv).kind), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

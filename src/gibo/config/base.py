"""What the configs share: the strict base model, numbers that may stay symbolic until D is known, and the
sections of a GP method (model, hyperpriors and constraints, hyperparameters, bounds, acquisition
optimisation, torch optimiser)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    create_model,
    field_validator,
    model_validator,
)

from gibo.config.validation import validate


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

        def nullable(f) -> bool:
            return type(None) in getattr(f.annotation, "__args__", ()) or f.annotation is Any

        data = {k: _empty_is_none(v) for k, v in data.items()}
        return {
            k: v
            for k, v in data.items()
            if not (v is None and k in fields and not nullable(fields[k]) and not fields[k].is_required())
        }


def symbolic(word: str, kind: type, low: float, strict: bool):
    """A number of `kind` above `low` (≥ unless `strict`), or the symbolic `word` (resolved per dimension)."""

    def check(value):
        number = isinstance(value, (int, float) if kind is float else int) and not isinstance(value, bool)
        if value == word or (number and (value > low if strict else value >= low)):
            return value if value == word else kind(value)
        rule = f"{'an integer' if kind is int else 'a number'} {'>' if strict else '≥'} {low:g} or {word!r}"
        raise ValueError(f"got {value!r}, allowed {rule}")

    return Annotated[kind | Literal[word], PlainValidator(check, json_schema_input_type=kind | Literal[word])]


Pos = Annotated[float, Field(gt=0)]
NonNeg = Annotated[float, Field(ge=0)]
Count = Annotated[int, Field(ge=1)]
Index = Annotated[int, Field(ge=0)]
if TYPE_CHECKING:  # for the type checker: a number or the symbolic word (the validators are pydantic's business)
    DimCount: TypeAlias = int | str
    VarCount: TypeAlias = int | str
    VarPos: TypeAlias = float | str
else:
    DimCount = symbolic("dim_search_space", int, 1, strict=False)
    VarCount = symbolic("variable", int, 1, strict=False)
    VarPos = symbolic("variable", float, 0, strict=True)

# name → its keyword arguments and their ranges (the lengthscale prior's "dim" defaults to D)
KWARGS_OF: dict[str, dict[str, Any]] = {
    "normal": {"loc": Pos, "scale": Pos},
    "gamma": {"concentration": Pos, "rate": Pos},
    "uniform": {"a": Pos, "b": Pos},
    "get_lengthscale_hyperprior": {"dim": (DimCount | None, None), "factor_lengthscale": Pos, "gamma": NonNeg},
    "greather_than": {"lower_bound": NonNeg},
    "less_than": {"upper_bound": Pos},
    "interval": {"lower_bound": NonNeg, "upper_bound": NonNeg},
    "positive": {},
}


def _kwargs_model(name: str, fields: dict[str, Any]) -> type[Model]:
    """The model that validates one prior's or constraint's kwargs (a field without a default is required)."""
    definitions: dict[str, Any] = {k: t if isinstance(t, tuple) else (t, ...) for k, t in fields.items()}
    return create_model(name, __base__=Model, **definitions)


KWARGS_MODELS = {name: _kwargs_model(name, fields) for name, fields in KWARGS_OF.items()}


class Spec(Model):
    """A hyperprior {prior, kwargs} or a constraint {constraint, kwargs}, kwargs as in KWARGS_OF."""

    kwargs: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        """The prior's or the constraint's name (each subclass says which)."""
        raise NotImplementedError

    @model_validator(mode="after")
    def _check_kwargs(self):
        fields = KWARGS_OF[self.name]
        unknown = sorted(set(self.kwargs or {}) - set(fields))
        if unknown:
            raise ValueError(
                f"kwargs: unknown key {', '.join(unknown)} for {self.name} (allowed: {', '.join(fields) or 'none'})"
            )
        self.kwargs = validate(KWARGS_MODELS[self.name], self.kwargs, ("kwargs",), ValueError).model_dump(
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

    @property
    def name(self) -> str:
        return self.prior


class ConstraintConfig(Spec):
    constraint: Literal["greather_than", "less_than", "interval", "positive"]
    _alias = field_validator("constraint", mode="before")(lambda cls, v: {"greater_than": "greather_than"}.get(v, v))

    @property
    def name(self) -> str:
        return self.constraint


class ModelConfig(Model):
    prior_mean: float = 0.0
    train_prior_mean: bool | None = None  # fit the constant mean; unset: the paper's rule (iff prior_mean is 0)
    constrain_to_prior_support: bool = False  # an interval inside each uniform hyperprior without a constraint
    standardize_outputs: bool = (
        False  # the GP models the window's y standardised (mean 0, std 1), refreshed with the data
    )
    # the gradient's posterior mean: "centred" ∂k K⁻¹ (y − m); "uncentred" ∂k K⁻¹ y, as the paper's code had it
    gradient_mean: Literal["centred", "uncentred"] = "centred"
    # squared distances from coordinate differences (exact, N x N x D work) or inner products (matrix products,
    # equal to rounding: for large D and windows)
    squared_distances: Literal["differences", "inner_products"] = "differences"
    # what a hyperparameter fit maximises: GPyTorch's exact marginal log-likelihood, or the same with its gradient in
    # closed form (equal to rounding, several times faster for hundreds of points)
    marginal_likelihood: Literal["gpytorch", "closed_form"] = "gpytorch"
    # K's Cholesky factor: afresh at every call, or kept between calls while the hyperparameters stay (a new point
    # adds a row, the oldest leaves; equal to rounding, N^2 instead of N^3 work per call)
    factorization: Literal["full", "incremental"] = "full"
    ard_num_dims: DimCount | None = "dim_search_space"
    N_max: VarCount | None = None
    lengthscale_constraint: ConstraintConfig | None = None
    lengthscale_hyperprior: PriorConfig | None = None
    outputscale_constraint: ConstraintConfig | None = None
    outputscale_hyperprior: PriorConfig | None = None
    noise_constraint: ConstraintConfig | None = None
    noise_hyperprior: PriorConfig | None = None


HYPER_NAMES = {
    "lengthscale": "covar_module.base_kernel.lengthscale",
    "outputscale": "covar_module.outputscale",
    "noise": "likelihood.noise",
}


class HypersConfig(Model):
    lengthscale: Pos | list[Pos] | None = Field(None, alias=HYPER_NAMES["lengthscale"])
    outputscale: Pos | None = Field(None, alias=HYPER_NAMES["outputscale"])
    noise: Pos | None = Field(None, alias=HYPER_NAMES["noise"])

    def as_gpytorch(self) -> dict[str, Any]:
        """The set values under gpytorch's parameter names."""
        return {HYPER_NAMES[k]: v for k, v in self.model_dump().items() if v is not None}


class HyperparameterConfig(Model):
    optimize_hyperparameters: bool = False
    hypers: HypersConfig = HypersConfig()
    no_noise_optimization: bool = False


class BoundsConfig(Model):
    lower_bound: float | list[float] | None = None
    upper_bound: float | list[float] | None = None

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
    bounds: BoundsConfig | None = None  # vanilla BO's search box


class TorchOptimizerConfig(Model):
    lr: Pos = 0.5
    weight_decay: NonNeg = 0.0
    momentum: NonNeg = 0.0

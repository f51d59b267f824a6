"""The benchmark suite's configs (`configs/benchmarks/*.yaml`): which problems, at which dimensions, with which
methods, seeds and budget. Validated on load; a wrong config ends with one line naming the file and the key.

    name: les_analytic                 # the problem set (names the output folder by default)
    out_dir: experiments/benchmarks/les_analytic
    methods: [gibo, mpd, les, turbo, cmaes, ngopt]
    seeds: 10                          # seeds 0 … 9 (or a list of seeds)
    budget: {per_dimension: 20, max: 400}   # min(20 D, 400) calls (or a number)
    x0: random                         # where local methods start: random in the box per seed, or center
    problems:                          # each entry: a problem and the dimensions to run it at
      - {problem: ackley, dimensions: [5, 30]}
      - {problem: dixon_price, dimensions: [5, 30]}
    method_options: {}                 # per method, options laid over its API defaults (default: none)
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from gibo.benchmarks import rover
from gibo.benchmarks.lunar_lander import D as LUNAR_D
from gibo.benchmarks.problems import (
    COMPLEXITY,
    AnalyticFunction,
    GPPosteriorMean,
    GPSamplePath,
    LunarLander,
    Problem,
    RoverTrajectory,
)
from gibo.config.base import Model
from gibo.config.load import _read_yaml
from gibo.config.validation import ConfigError, validate

# The methods run through `gibo.maximize` (with their API defaults), and Nevergrad's NGOpt as the outside reference.
API_METHODS = ("gibo", "mpd", "les", "turbo", "cmaes", "ars", "vbo")
METHODS = (*API_METHODS, "ngopt")

Dimension = Annotated[int, Field(ge=1)]


class Entry(Model):
    """One problem of a set, run at each of `dimensions`."""

    problem: str
    dimensions: list[Dimension] = Field(min_length=1)
    FIXED_D: ClassVar[int | None] = None  # the one dimension of a problem that has one

    @field_validator("dimensions")
    @classmethod
    def _fixed(cls, dimensions: list[int]) -> list[int]:
        if cls.FIXED_D is not None and any(D != cls.FIXED_D for D in dimensions):
            raise ValueError(f"{cls.__name__.removesuffix('Entry')} is {cls.FIXED_D}-D only, got {dimensions}")
        return dimensions

    @property
    def label(self) -> str:
        """The problem's name in result paths and tables."""
        return self.problem

    def settings(self) -> dict:
        """The problem's own settings (everything but `problem` and `dimensions`)."""
        return self.model_dump(exclude={"problem", "dimensions"})

    def build(self, D: int, seed: int) -> Problem:
        raise NotImplementedError


class AckleyEntry(Entry):
    problem: Literal["ackley"]

    def build(self, D: int, seed: int) -> Problem:
        return AnalyticFunction("ackley", D)


class DixonPriceEntry(Entry):
    problem: Literal["dixon_price"]
    dimensions: list[Annotated[int, Field(ge=2)]] = Field(min_length=1)

    def build(self, D: int, seed: int) -> Problem:
        return AnalyticFunction("dixon_price", D)


class LESGPSampleEntry(Entry):
    """LES's GP samples: one sample per seed (`GPSamplePath`)."""

    problem: Literal["les_gp_sample"]
    complexity: Literal["high", "medium", "low", "extremely_low"]
    noise_std: Annotated[float, Field(ge=0)] = 0.002
    features: Annotated[int, Field(ge=1)] = 1024

    @property
    def label(self) -> str:
        return f"les_gp_sample-{self.complexity}"

    def build(self, D: int, seed: int) -> Problem:
        return GPSamplePath(D, self.complexity, seed, self.noise_std, self.features)


class MPDGPSampleEntry(Entry):
    """MPD's GP samples: objective `seed` of the dimension (`GPPosteriorMean`)."""

    problem: Literal["mpd_gp_sample"]
    num_samples: Annotated[int, Field(ge=1)] = 1000
    noise_variance: Annotated[float, Field(ge=0)] = 0.01
    factor_lengthscale: Annotated[float, Field(gt=0)] = 2.0
    gamma: Annotated[float, Field(ge=0, lt=1)] = 0.3
    outputscale: Annotated[float, Field(gt=0)] = 1.0
    data_seed: Annotated[int, Field(ge=0)] = 0

    def build(self, D: int, seed: int) -> Problem:
        return GPPosteriorMean(D, seed, **self.settings())


class RoverEntry(Entry):
    problem: Literal["rover"]
    dimensions: list[Dimension] = Field(default=[rover.D], min_length=1)
    FIXED_D: ClassVar[int | None] = rover.D

    def build(self, D: int, seed: int) -> Problem:
        return RoverTrajectory()


class LunarLanderEntry(Entry):
    problem: Literal["lunar_lander"]
    dimensions: list[Dimension] = Field(default=[LUNAR_D], min_length=1)
    FIXED_D: ClassVar[int | None] = LUNAR_D
    episodes: Annotated[int, Field(ge=1)] = 500

    def build(self, D: int, seed: int) -> Problem:
        return LunarLander(self.episodes)


ENTRIES: dict[str, type[Entry]] = {
    "ackley": AckleyEntry,
    "dixon_price": DixonPriceEntry,
    "les_gp_sample": LESGPSampleEntry,
    "mpd_gp_sample": MPDGPSampleEntry,
    "rover": RoverEntry,
    "lunar_lander": LunarLanderEntry,
}
assert set(COMPLEXITY) == {"high", "medium", "low", "extremely_low"}


class BudgetRule(Model):
    """min(per_dimension · D, max) calls."""

    per_dimension: Annotated[int, Field(ge=1)]
    max: Annotated[int, Field(ge=1)] | None = None

    def calls(self, D: int) -> int:
        return self.per_dimension * D if self.max is None else min(self.per_dimension * D, self.max)


class SuiteConfig(Model):
    name: str
    out_dir: str
    methods: list[Literal[METHODS]] = Field(min_length=1)  # type: ignore[valid-type]  # a tuple of names
    seeds: Annotated[int, Field(ge=1)] | list[Annotated[int, Field(ge=0)]] = 10
    budget: Annotated[int, Field(ge=1)] | BudgetRule
    x0: Literal["random", "center"] = "random"
    problems: list[Entry] = Field(min_length=1)
    method_options: dict[Literal[API_METHODS], dict[str, Any]] = Field(default_factory=dict)  # type: ignore[valid-type]

    @field_validator("problems", mode="before")
    @classmethod
    def _entries(cls, entries):
        """Each entry validated by its problem's model (a wrong key is named with the entry's place)."""
        if not isinstance(entries, list):
            return entries
        validated = []
        for i, entry in enumerate(entries):
            if isinstance(entry, Entry):
                validated.append(entry)
                continue
            name = entry.get("problem") if isinstance(entry, dict) else None
            if name not in ENTRIES:
                found = "missing" if name is None else f"got {name!r}"
                raise ValueError(f"{i}.problem: {found}, expected one of {', '.join(ENTRIES)}")
            validated.append(validate(ENTRIES[name], entry, (str(i),), ValueError))
        return validated

    @field_validator("budget", mode="before")
    @classmethod
    def _budget_rule(cls, budget):
        if not isinstance(budget, dict):
            return budget
        unknown = sorted(set(budget) - set(BudgetRule.model_fields))
        if unknown:  # named before a missing key: a misspelt key is both
            raise ValueError(f"unknown key {unknown[0]} (allowed: {', '.join(sorted(BudgetRule.model_fields))})")
        return validate(BudgetRule, budget, (), ValueError)

    @model_validator(mode="after")
    def _distinct_labels(self):
        labels = [e.label for e in self.problems]
        twice = sorted({label for label in labels if labels.count(label) > 1})
        if twice:
            raise ValueError(f"problems: {', '.join(twice)} listed twice (one entry per problem, several dimensions)")
        return self

    def seed_list(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)

    def budget_for(self, D: int) -> int:
        return self.budget if isinstance(self.budget, int) else self.budget.calls(D)


def parse_suite_config(data: Any, source: str = "<config>") -> SuiteConfig:
    """Validate a suite config mapping; errors are one `ConfigError` line naming `source` and the key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    try:
        return validate(SuiteConfig, data)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None


def load_suite_config(path) -> SuiteConfig:
    return parse_suite_config(_read_yaml(path), str(path))

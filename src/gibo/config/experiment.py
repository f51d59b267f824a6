"""An experiment (method, budget, seed, environment and policy) and the synthetic data it runs on."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from gibo.config.base import Count, Index, Model, Pos


class RewardConfig(Model):
    shift: float | None = None
    scale: Pos | None = None
    transform: Literal["log_cost"] | None = None


class MLPConfig(Model):
    layers: list[Count] | None = None
    discretize: Annotated[int, Field(ge=2)] | None = None
    add_bias: bool = False
    nonlinearity: Literal["identity", "tanh", "relu"] = "identity"
    state_normalization: bool = False
    manipulate_reward: RewardConfig = RewardConfig()

    @model_validator(mode="after")
    def _normalization_needs_bias(self):
        if self.state_normalization and not self.add_bias:
            raise ValueError(
                "state_normalization: needs add_bias: true (a policy on normalised states needs a bias to equal one on "
                "raw states)"
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
    method: Literal["gibo", "rs", "vbo", "cmaes", "mpd", "turbo", "les"]
    out_dir: str
    optimizer_config: Any = None  # validated by OPTIMIZER_CONFIGS[method]
    seed: Index = 0
    max_iterations: Count | None = None
    max_objective_calls: Count | None = None
    set_hypers: bool = False
    only_set_noise_hyper: bool = False
    environment_name: str | None = None
    mlp: MLPConfig | None = None
    trials: Count = 1
    dtype: Literal["float32", "float64"] = "float64"
    # the MPD authors' configs name a Weights & Biases run here; read and ignored (never saved with the config)
    wandb_config: dict[str, Any] | None = Field(None, exclude=True)
    _alias = field_validator("method", mode="before")(lambda cls, v: {"ars": "rs"}.get(v, v))

    @property
    def custom_objective_refusal(self) -> str | None:
        """Why this config cannot run here, when it names neither environment nor policy but sets trials: the form
        of the MPD authors' custom-objective configs (their 200-D rover problem); None otherwise."""
        if "trials" in self.model_fields_set and not self.environment_name and self.mlp is None:
            return (
                "environment_name: missing; a config with trials but no environment or policy is for a custom "
                "objective (the MPD authors' rover problem), which this project does not have"
            )
        return None

    @model_validator(mode="after")
    def _budget(self):
        if self.max_iterations is None and self.max_objective_calls is None:
            raise ValueError("max_iterations / max_objective_calls: set at least one")
        return self


class GPHypersConfig(Model):
    outputscale: Pos = 1.0


class SyntheticDataConfig(Model):
    out_dir: str
    dimensions: Annotated[list[Count], Field(min_length=1)]
    num_objectives: Count
    num_samples: Count = 1000
    noise_variance: Pos = 0.01
    factor_lengthscale: Pos = 2.0
    gamma: Annotated[float, Field(ge=0, lt=1)] = 0.3
    gp_hypers: GPHypersConfig = GPHypersConfig()
    n_max: Count = 15  # number of best samples that start the L-BFGS-B search for f*
    seed: Index = 0
    sampler: Literal["paper", "exact"] = "paper"  # how the GP-prior samples are drawn (gibo.synthetic_functions)

"""YAML configs → validated pydantic models: the schema is the validation, with the paper's vocabulary.

Historical spellings (`lr_schedular`, `greather_than`) and empty entries (`{constraint: , kwargs: }` = none,
an empty value = the default) are accepted; types and ranges are checked on load, and a wrong config raises
`ConfigError` with one line: file, key path, what was expected, what was found. "dim_search_space" and
"variable" stay symbolic until `gibo.build.resolve_dimension`; `gibo.build.build_optimizer` turns a config into an
optimizer. Both (and `model_kwargs`, `torch_dtype`) are also importable from here, as they always were; they are
loaded on first use, so reading a config does not import the optimizers.

Modules: `base` (the strict base model, symbolic numbers, the sections of a GP method), `methods` (one config
per method), `experiment` (experiment and synthetic-data configs), `load` (YAML → models, JSON Schema),
`validation` (errors as one line), `cli` (`python -m gibo.config schema`).
"""

from gibo.config.base import (
    HYPER_NAMES,
    KWARGS_OF,
    BoundsConfig,
    ConstraintConfig,
    HyperparameterConfig,
    HypersConfig,
    Model,
    ModelConfig,
    OptimizeAcqfConfig,
    PriorConfig,
    Spec,
    TorchOptimizerConfig,
)
from gibo.config.cli import main
from gibo.config.experiment import ExperimentConfig, GPHypersConfig, MLPConfig, RewardConfig, SyntheticDataConfig
from gibo.config.load import (
    config_to_dict,
    json_schema,
    load_data_config,
    load_experiment_config,
    parse_experiment_config,
)
from gibo.config.methods import (
    OPTIMIZER_CONFIGS,
    AcqfConfig,
    ARSConfig,
    CMAESConfig,
    GIBOConfig,
    GPMethodConfig,
    LESConfig,
    LocalGPConfig,
    MPDConfig,
    TuRBOConfig,
    VBOConfig,
)
from gibo.config.validation import ConfigError

__all__ = [
    "HYPER_NAMES",
    "KWARGS_OF",
    "OPTIMIZER_CONFIGS",
    "ARSConfig",
    "AcqfConfig",
    "BoundsConfig",
    "CMAESConfig",
    "ConfigError",
    "ConstraintConfig",
    "ExperimentConfig",
    "GIBOConfig",
    "GPHypersConfig",
    "GPMethodConfig",
    "HyperparameterConfig",
    "HypersConfig",
    "LESConfig",
    "LocalGPConfig",
    "MLPConfig",
    "MPDConfig",
    "Model",
    "ModelConfig",
    "OptimizeAcqfConfig",
    "PriorConfig",
    "RewardConfig",
    "Spec",
    "SyntheticDataConfig",
    "TorchOptimizerConfig",
    "TuRBOConfig",
    "VBOConfig",
    "config_to_dict",
    "json_schema",
    "load_data_config",
    "load_experiment_config",
    "main",
    "parse_experiment_config",
]

# gibo.build's names, importable from here as before it moved out (loaded on first use).
_FROM_BUILD = ("build_optimizer", "model_kwargs", "resolve_dimension", "torch_dtype")


def __getattr__(name: str):
    if name in _FROM_BUILD:
        from gibo import build

        return getattr(build, name)
    raise AttributeError(f"module 'gibo.config' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_FROM_BUILD])

"""Reading configs: YAML files → validated models (errors as one `ConfigError` line), models → plain
mappings, and the JSON Schema of each kind of config."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional, Union

import yaml
from pydantic import create_model

from gibo.config.experiment import ExperimentConfig, SyntheticDataConfig
from gibo.config.methods import AUTHORS_CODE_DEFAULTS, OPTIMIZER_CONFIGS, MPDConfig
from gibo.config.validation import ConfigError, validate

logger = logging.getLogger(__name__)


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
        config = validate(ExperimentConfig, {**data, "optimizer_config": None})
        config.optimizer_config = validate(
            OPTIMIZER_CONFIGS[config.method], data.get("optimizer_config"), ("optimizer_config",)
        )
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None
    if config.wandb_config is not None:
        logger.info("%s: wandb_config ignored (runs are saved to out_dir, not logged to Weights & Biases)", source)
    opt = config.optimizer_config
    if isinstance(opt, MPDConfig) and opt.variant == "authors_code":
        settings = ", ".join(f"{name} {getattr(opt, name)}" for name in AUTHORS_CODE_DEFAULTS)
        logger.info(
            "%s: optimizer_config is written for the MPD authors' code: %s; epsilon_diff_acq_value and the "
            "gradient-step keys are not used",
            source,
            settings,
        )
    return config


def load_experiment_config(path) -> ExperimentConfig:
    """Read and validate an experiment YAML file."""
    return parse_experiment_config(_read_yaml(path), str(path))


def load_data_config(path) -> SyntheticDataConfig:
    """Read and validate a synthetic-data YAML file."""
    data = _read_yaml(path)
    try:
        return validate(SyntheticDataConfig, data)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


def config_to_dict(config, exclude_defaults: bool = False) -> dict:
    """Plain mapping (YAML-safe) of a config, with the paper's key names; with `exclude_defaults`, only the keys
    whose values differ from their defaults (what identifies a config across versions that add keys)."""
    data = config.model_dump(by_alias=True, mode="json", exclude_defaults=exclude_defaults)
    if isinstance(config, ExperimentConfig) and config.optimizer_config is not None:
        data["optimizer_config"] = config_to_dict(config.optimizer_config, exclude_defaults)
    return data


def json_schema(kind: str) -> dict:
    """JSON Schema of experiment configs (optimizer_config: one of the methods' schemas) or of data configs."""
    if kind == "data":
        return SyntheticDataConfig.model_json_schema(by_alias=True)
    # A union built at run time from the registry: `X | Y` has no form that spreads a tuple.
    methods: Any = Optional[Union[tuple(OPTIMIZER_CONFIGS.values())]]  # noqa: UP007, UP045 - built at run time
    return create_model(
        "ExperimentConfig", __base__=ExperimentConfig, optimizer_config=(methods, None)
    ).model_json_schema(by_alias=True)

"""Config validation: the paper's vocabulary loads, every kind of bad input gives one clear line."""

import copy
from pathlib import Path

import pytest
import torch
import yaml

from gibo.build import build_optimizer, resolve_dimension
from gibo.config import (
    ARSConfig,
    CMAESConfig,
    ConfigError,
    GIBOConfig,
    load_data_config,
    load_experiment_config,
)
from gibo.optimizers import ARS, CMAES, GIBO, VanillaBO
from gibo.synthetic_functions import lengthscale_interval, lengthscale_scale

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


def write(tmp_path, data, name="c.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def gibo_config(**overrides):
    data = yaml.safe_load((CONFIGS / "synthetic_experiment" / "gibo_default.yaml").read_text())
    data.update(overrides)
    return data


def test_every_shipped_experiment_config_loads_and_resolves():
    files = [
        p
        for p in CONFIGS.rglob("*.yaml")
        if not p.name.startswith("generate_data") and "benchmarks" not in p.relative_to(CONFIGS).parts
    ]  # configs/benchmarks holds the benchmark suite's configs (tests/test_benchmarks_suite.py loads them)
    assert files
    for path in files:
        config = load_experiment_config(path)
        resolved = resolve_dimension(config, 8)
        assert resolved.method in {"gibo", "rs", "vbo", "cmaes", "mpd", "turbo", "les"}


def test_build_names_stay_importable_from_gibo_config():
    """`from gibo.config import resolve_dimension` (and the other builders) works as it always did, in a fresh
    interpreter where nothing imported gibo.build before, and names gibo.build's functions."""
    import subprocess
    import sys

    code = (
        "import sys; from gibo.config import build_optimizer, model_kwargs, resolve_dimension, torch_dtype; "
        "import gibo.build as b; "
        "assert (build_optimizer, model_kwargs, resolve_dimension, torch_dtype) == "
        "(b.build_optimizer, b.model_kwargs, b.resolve_dimension, b.torch_dtype)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    import gibo.config

    assert "resolve_dimension" in dir(gibo.config)
    with pytest.raises(AttributeError, match="no attribute 'resolve_dimensions'"):
        gibo.config.resolve_dimensions  # noqa: B018  # a misspelling still fails


def test_every_shipped_data_config_loads():
    files = list(CONFIGS.rglob("generate_data*.yaml"))
    assert files
    for path in files:
        assert load_data_config(path).dimensions


def test_default_gibo_config_values(tmp_path):
    config = load_experiment_config(CONFIGS / "synthetic_experiment" / "gibo_default.yaml")
    assert isinstance(config.optimizer_config, GIBOConfig)
    resolved = resolve_dimension(config, 12)
    opt = resolved.optimizer_config
    assert opt.max_samples_per_iteration == 12
    assert opt.model_config_.N_max == 60
    assert opt.model_config_.ard_num_dims == 12
    assert opt.delta == 0.2 and opt.optimizer_torch_config.lr == 0.25
    optimizer = build_optimizer(resolved, torch.full((12,), 0.5), lambda p: -(p**2).sum())
    assert isinstance(optimizer, GIBO)
    assert optimizer.model.N_max == 60


def test_variable_values_resolve():
    ars = load_experiment_config_from(
        {
            "method": "rs",
            "out_dir": "x",
            "max_objective_calls": 10,
            "optimizer_config": {"samples_per_iteration": "variable", "exploration_noise": "variable"},
        }
    )
    resolved = resolve_dimension(ars, 17, factor_lengthscale=2.0).optimizer_config
    assert isinstance(resolved, ARSConfig)
    assert resolved.samples_per_iteration == 1 + 17 // 8
    assert resolved.exploration_noise == pytest.approx(0.1 * 2 * lengthscale_scale(17))
    cma = load_experiment_config_from(
        {"method": "cmaes", "out_dir": "x", "max_objective_calls": 10, "optimizer_config": {"sigma": "variable"}}
    )
    assert isinstance(cma.optimizer_config, CMAESConfig)
    assert resolve_dimension(cma, 4).optimizer_config.sigma == pytest.approx(0.3 * lengthscale_scale(4))


def load_experiment_config_from(data, tmp_dir=Path("/tmp")):
    from gibo.config import parse_experiment_config

    return parse_experiment_config(data, "test.yaml")


def test_historical_spellings_and_priors(tmp_path):
    data = gibo_config()
    data["optimizer_config"]["model_config"]["outputscale_constraint"] = {
        "constraint": "greather_than",
        "kwargs": {"lower_bound": 0.001},
    }
    data["optimizer_config"]["model_config"]["lengthscale_hyperprior"] = {
        "prior": "get_lengthscale_hyperprior",
        "kwargs": {"dim": "dim_search_space", "factor_lengthscale": 2, "gamma": 0.3},
    }
    data["optimizer_config"]["lr_schedular"] = {0: 0.8, 3: 0.3}
    config = resolve_dimension(load_experiment_config(write(tmp_path, data)), 8)
    optimizer = build_optimizer(config, torch.zeros(8), lambda p: p.sum())
    assert optimizer.lr_schedular == {0: 0.8, 3: 0.3}
    prior = optimizer.model.covar_module.base_kernel.lengthscale_prior
    low, high = lengthscale_interval(8, 2, 0.3)
    assert float(prior.low) == pytest.approx(low) and float(prior.high) == pytest.approx(high)
    constraint = optimizer.model.covar_module.raw_outputscale_constraint
    assert float(constraint.lower_bound) == pytest.approx(0.001)
    data["optimizer_config"]["model_config"]["outputscale_constraint"]["constraint"] = "greater_than"
    assert load_experiment_config(write(tmp_path, data, "d.yaml"))


def _error(tmp_path, data) -> str:
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_experiment_config(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    return message


def test_unknown_top_level_key(tmp_path):
    message = _error(tmp_path, gibo_config(max_objective_cals=300))
    assert "unknown key max_objective_cals" in message
    assert message.startswith(f"{tmp_path / 'c.yaml'}: unknown key max_objective_cals (allowed: ")  # no empty key path


def test_unknown_nested_key_names_its_path(tmp_path):
    data = gibo_config()
    data["optimizer_config"]["model_config"]["N_maxx"] = 3
    assert "optimizer_config.model_config: unknown key N_maxx" in _error(tmp_path, data)


def test_wrong_type(tmp_path):
    data = gibo_config()
    data["optimizer_config"]["delta"] = "wide"
    assert "optimizer_config.delta: expected" in _error(tmp_path, data)


def test_unknown_method_and_prior(tmp_path):
    assert "method: expected one of" in _error(tmp_path, gibo_config(method="gradient_descent"))
    data = gibo_config()
    data["optimizer_config"]["model_config"]["lengthscale_hyperprior"] = {"prior": "cauchy", "kwargs": {}}
    assert "lengthscale_hyperprior.prior" in _error(tmp_path, data)
    data["optimizer_config"]["model_config"]["lengthscale_hyperprior"] = {
        "prior": "uniform",
        "kwargs": {"a": 0.1, "c": 1},
    }
    assert "unknown key c for uniform" in _error(tmp_path, data)


def test_prior_and_constraint_kwargs_are_typed(tmp_path):
    """Each hyperprior / constraint has its own keyword arguments, types and ranges; errors name the key."""
    data = gibo_config()
    model = data["optimizer_config"]["model_config"]
    model["outputscale_hyperprior"] = {"prior": "normal", "kwargs": {"loc": "wide", "scale": 1}}
    assert "outputscale_hyperprior.kwargs.loc: expected a valid number" in _error(tmp_path, data)
    model["outputscale_hyperprior"] = {"prior": "gamma", "kwargs": {"rate": 1}}
    assert "outputscale_hyperprior.kwargs.concentration: missing required key" in _error(tmp_path, data)
    model["outputscale_hyperprior"] = {
        "prior": "get_lengthscale_hyperprior",
        "kwargs": {"dim": 0, "factor_lengthscale": 2, "gamma": 0.3},
    }
    assert "kwargs.dim: got 0, allowed an integer ≥ 1 or 'dim_search_space'" in _error(tmp_path, data)
    model["outputscale_hyperprior"] = None
    model["noise_constraint"] = {"constraint": "positive", "kwargs": {"lower_bound": 0.1}}
    assert "noise_constraint.kwargs: unknown key lower_bound for positive (allowed: none)" in _error(tmp_path, data)
    model["noise_constraint"] = {"constraint": "interval", "kwargs": {"lower_bound": 1, "upper_bound": 2}}
    spec = load_experiment_config(write(tmp_path, data, "ok.yaml")).optimizer_config.model_config_.noise_constraint
    assert spec.kwargs == {"lower_bound": 1.0, "upper_bound": 2.0}


def test_unknown_hyper_name(tmp_path):
    data = gibo_config()
    data["optimizer_config"]["hyperparameter_config"]["hypers"]["covar_module.lengthscale"] = 0.1
    assert "unknown key covar_module.lengthscale" in _error(tmp_path, data)


def test_missing_budget_and_box(tmp_path):
    assert "max_iterations / max_objective_calls" in _error(tmp_path, gibo_config(max_objective_calls=None))
    data = gibo_config()
    data["optimizer_config"]["delta"] = None
    assert "delta / optimizer_config.bounds" in _error(tmp_path, data)


def test_missing_file_and_malformed_yaml(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_experiment_config(tmp_path / "nope.yaml")
    path = write(tmp_path, "method: gibo\n  out_dir: [unclosed\n")
    with pytest.raises(ConfigError, match="malformed YAML"):
        load_experiment_config(path)


def test_data_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="dimensions: missing required key"):
        load_data_config(write(tmp_path, {"out_dir": "x", "num_objectives": 2}))
    with pytest.raises(ConfigError, match="unknown key dims"):
        load_data_config(write(tmp_path, {"out_dir": "x", "num_objectives": 2, "dimensions": [2], "dims": 3}))


def acquisition_at_zero(tmp_path, source: str, D: int, **optimizer_keys):
    """The acquisition that the optimizer built from `configs/<source>` (with `optimizer_keys` written into its
    optimizer_config, None keys left out) maximises at θ = 0 once 3 random points are in its window; and the
    optimizer."""
    data = yaml.safe_load((CONFIGS / source).read_text())
    data["optimizer_config"].update({key: value for key, value in optimizer_keys.items() if value is not None})
    config = resolve_dimension(load_experiment_config(write(tmp_path, data)), D)
    theta = torch.zeros(D, dtype=torch.float64)
    optimizer = build_optimizer(config, theta, lambda p: -(p**2).sum())
    optimizer.model.append_train_data(torch.rand(3, D, dtype=torch.float64), torch.rand(3, dtype=torch.float64))
    return optimizer._acquisition(theta), optimizer


def test_acquisition_lengthscale_slip_reaches_the_acquisition(tmp_path):
    """Off by default; `acquisition_lengthscale_slip: true` makes GIBO build the l²-weighted acquisition."""
    for slip in (None, True):
        acquisition, optimizer = acquisition_at_zero(
            tmp_path, "lqr_experiment/gibo.yaml", 9, acquisition_lengthscale_slip=slip
        )
        weights = acquisition._weights
        assert (weights is not None) is bool(slip)
        if slip:
            torch.testing.assert_close(weights, optimizer.model.lengthscale.detach().reshape(-1).expand(9) ** 2)


@pytest.mark.parametrize("source", ["lqr_experiment/gibo.yaml", "synthetic_experiment/mpd_fixed_hypers.yaml"])
def test_acquisition_gradient_reaches_the_acquisition(tmp_path, source):
    """GIBO and MPD maximise their acquisition with the closed-form gradient unless `acquisition_gradient: autograd`;
    another value is refused, naming the key."""
    for written, analytic in ((None, True), ("closed_form", True), ("autograd", False)):
        acquisition, _ = acquisition_at_zero(tmp_path, source, 4, acquisition_gradient=written)
        assert acquisition.analytic_gradient is analytic, (source, written)
    data = yaml.safe_load((CONFIGS / source).read_text())
    data["optimizer_config"]["acquisition_gradient"] = "numeric"
    assert "optimizer_config.acquisition_gradient" in _error(tmp_path, data)


@pytest.mark.parametrize("source", ["lqr_experiment/gibo.yaml", "synthetic_experiment/mpd_fixed_hypers.yaml"])
def test_paper_code_options_reach_the_optimizer(tmp_path, source):
    """`state_normalization_update` reaches GIBO and MPD, `model_config.gradient_mean` their model (defaults:
    "iteration", "centred"); other values are refused naming the key, and gradient_mean outside GIBO and MPD too."""
    for update, gradient_mean in ((None, None), ("call", "uncentred")):
        model_config = {"gradient_mean": gradient_mean} if gradient_mean else None
        data = yaml.safe_load((CONFIGS / source).read_text())
        if model_config:
            data["optimizer_config"]["model_config"].update(model_config)
        if update:
            data["optimizer_config"]["state_normalization_update"] = update
        config = resolve_dimension(load_experiment_config(write(tmp_path, data)), 4)
        optimizer = build_optimizer(config, torch.zeros(4, dtype=torch.float64), lambda p: -(p**2).sum())
        assert optimizer.state_normalization_update == (update or "iteration")
        assert optimizer.model.gradient_mean == (gradient_mean or "centred")
    data = yaml.safe_load((CONFIGS / source).read_text())
    data["optimizer_config"]["state_normalization_update"] = "episode"
    assert "optimizer_config.state_normalization_update" in _error(tmp_path, data)
    data = yaml.safe_load((CONFIGS / source).read_text())
    data["optimizer_config"]["model_config"]["gradient_mean"] = "raw"
    assert "gradient_mean" in _error(tmp_path, data)
    data = yaml.safe_load((CONFIGS / "synthetic_experiment" / "vbo_fixed_hypers.yaml").read_text())
    data["optimizer_config"].setdefault("model_config", {})["gradient_mean"] = "uncentred"
    assert "model_config.gradient_mean: only GIBO and MPD" in _error(tmp_path, data)


@pytest.mark.parametrize(
    "source",
    ["lqr_experiment/gibo.yaml", "synthetic_experiment/mpd_fixed_hypers.yaml", "synthetic_experiment/vbo_default.yaml"],
)
def test_fast_model_options_reach_the_model(tmp_path, source):
    """`model_config.squared_distances`, `marginal_likelihood` and `factorization` reach the GP of every method
    that uses the project's model (defaults "differences", "gpytorch", "full"); other values are refused, naming
    the key."""
    choices = (
        (None, None, None),
        ("differences", "gpytorch", "full"),
        ("inner_products", "closed_form", "incremental"),
    )
    for distances, likelihood, factorization in choices:
        data = yaml.safe_load((CONFIGS / source).read_text())
        model_config = data["optimizer_config"].setdefault("model_config", {})
        if distances:
            model_config.update(
                squared_distances=distances, marginal_likelihood=likelihood, factorization=factorization
            )
        config = resolve_dimension(load_experiment_config(write(tmp_path, data)), 3)
        optimizer = build_optimizer(config, torch.zeros(3, dtype=torch.float64), lambda p: -(p**2).sum())
        model = optimizer.model if optimizer.model is not None else optimizer._fit_model()
        assert model.squared_distances == (distances or "differences"), (source, distances)
        assert model.marginal_likelihood == (likelihood or "gpytorch"), (source, likelihood)
        assert model.factorization == (factorization or "full"), (source, factorization)
    for key in ("squared_distances", "marginal_likelihood", "factorization"):
        data = yaml.safe_load((CONFIGS / source).read_text())
        data["optimizer_config"].setdefault("model_config", {})[key] = "gram"
        assert key in _error(tmp_path, data)


def test_train_prior_mean_reaches_the_model(tmp_path):
    """The paper's rule: a prior_mean of 0 is fitted with the other hyperparameters, a non-zero one is kept;
    train_prior_mean overrides either way."""
    base = yaml.safe_load((CONFIGS / "lqr_experiment" / "gibo.yaml").read_text())
    cases = ((0.0, None, True), (0.0, False, False), (-5.0, None, False), (-5.0, True, True))
    for prior_mean, train, trainable in cases:
        data = copy.deepcopy(base)
        data["optimizer_config"]["model_config"]["prior_mean"] = prior_mean
        if train is not None:
            data["optimizer_config"]["model_config"]["train_prior_mean"] = train
        config = load_experiment_config(write(tmp_path, data))
        optimizer = build_optimizer(
            resolve_dimension(config, 9), torch.zeros(9, dtype=torch.float64), lambda p: -(p**2).sum()
        )
        assert optimizer.model.mean_module.constant.requires_grad is trainable, (prior_mean, train)
        assert float(optimizer.model.prior_mean.detach()) == prior_mean


def test_constrain_to_prior_support_reaches_the_model():
    for name, interval in (("gibo.yaml", False), ("gibo_constrained.yaml", True)):
        config = load_experiment_config(CONFIGS / "lqr_experiment" / name)
        optimizer = build_optimizer(
            resolve_dimension(config, 9), torch.zeros(9, dtype=torch.float64), lambda p: -(p**2).sum()
        )
        upper = float(optimizer.model.covar_module.base_kernel.raw_lengthscale_constraint.upper_bound)
        assert (upper < 0.3) if interval else upper == float("inf"), name


def test_shipped_json_schemas_are_current():
    """configs/schema/*.schema.json are what `python -m gibo.config schema KIND` prints (regenerate them if not)."""
    import json

    from gibo.config import json_schema

    for kind in ("experiment", "data"):
        shipped = json.loads((CONFIGS / "schema" / f"{kind}.schema.json").read_text())
        assert shipped == json_schema(kind), f"configs/schema/{kind}.schema.json is stale"
    properties = json_schema("experiment")["properties"]
    assert {"method", "optimizer_config", "max_objective_calls"} <= set(properties)


def test_state_normalization_without_bias_is_refused_on_load(tmp_path):
    data = yaml.safe_load((CONFIGS / "rl_experiment" / "swimmer" / "gibo.yaml").read_text())
    data["mlp"].update(state_normalization=True, add_bias=False)
    message = _error(tmp_path, data)
    assert "mlp.state_normalization: needs add_bias: true" in message


# ----------------------------------------------------------------------------------------------
# Configs of the synthetic study
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["rs", "vbo", "cmaes"])
@pytest.mark.parametrize("setting", ["fixed_hypers", "learned_hypers", "default"])
def test_baseline_configs_build(name, setting):
    config = load_experiment_config(ROOT / f"configs/synthetic_experiment/{name}_{setting}.yaml")
    assert config.max_objective_calls == 300
    resolved = resolve_dimension(config, 16)
    optimizer = build_optimizer(resolved, torch.full((16,), 0.5), lambda x: -(x - 0.3).pow(2).sum())
    assert optimizer.D == 16
    assert {"rs": ARS, "vbo": VanillaBO, "cmaes": CMAES}[name] is type(optimizer)


def test_baseline_config_values_follow_the_paper():
    from gibo.synthetic_functions import lengthscale_scale

    ars = resolve_dimension(
        load_experiment_config(ROOT / "configs/synthetic_experiment/rs_fixed_hypers.yaml"), 16
    ).optimizer_config
    assert (ars.step_size, ars.samples_per_iteration, ars.standard_deviation_scaling) == (0.02, 3, True)
    assert ars.exploration_noise == pytest.approx(0.1 * 2 * lengthscale_scale(16))
    assert (
        resolve_dimension(
            load_experiment_config(ROOT / "configs/synthetic_experiment/rs_learned_hypers.yaml"), 16
        ).optimizer_config.exploration_noise
        == 0.01
    )
    cmaes = resolve_dimension(
        load_experiment_config(ROOT / "configs/synthetic_experiment/cmaes_fixed_hypers.yaml"), 16
    ).optimizer_config
    assert cmaes.sigma == pytest.approx(0.3 * lengthscale_scale(16))
    assert (
        load_experiment_config(ROOT / "configs/synthetic_experiment/cmaes_learned_hypers.yaml").optimizer_config.sigma
        == 0.5
    )
    vbo = load_experiment_config(ROOT / "configs/synthetic_experiment/vbo_fixed_hypers.yaml")
    assert vbo.set_hypers and not vbo.optimizer_config.hyperparameter_config.optimize_hyperparameters
    learned = load_experiment_config(ROOT / "configs/synthetic_experiment/vbo_learned_hypers.yaml")
    assert learned.only_set_noise_hyper and learned.optimizer_config.hyperparameter_config.no_noise_optimization

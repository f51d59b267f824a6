"""Impossible values are refused when a config is loaded, before any work starts: one line with key and value."""

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import load_script

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


run_synthetic = load_script("run_synthetic_experiment")
run_rl = load_script("run_rl_experiment")
generate = load_script("generate_data_synthetic_functions")

GIBO = yaml.safe_load((CONFIGS / "synthetic_experiment" / "gibo_learned_hypers.yaml").read_text())
ARS = yaml.safe_load((CONFIGS / "synthetic_experiment" / "rs_fixed_hypers.yaml").read_text())
CMAES = yaml.safe_load((CONFIGS / "synthetic_experiment" / "cmaes_fixed_hypers.yaml").read_text())
RL = yaml.safe_load((CONFIGS / "rl_experiment" / "cartpole" / "gibo.yaml").read_text())
DATA = {"out_dir": "never_written", "dimensions": [2], "num_objectives": 1, "num_samples": 50}


def _set(data: dict, path: str, value):
    *parents, last = path.split("/")
    for key in parents:
        data = data[key]
    data[last] = value


UNIFORM = {"prior": "uniform", "kwargs": {"a": 0.3, "b": 0.1}}
# (base config, key path with "/" between levels, bad value, text the message must contain besides the value)
EXPERIMENT_RULES = [
    (GIBO, "max_objective_calls", -5, "max_objective_calls"),
    (GIBO, "max_iterations", 0, "max_iterations"),
    (GIBO, "seed", -1, "seed"),
    (GIBO, "optimizer_config/max_samples_per_iteration", 0, "max_samples_per_iteration"),
    (GIBO, "optimizer_config/model_config/N_max", 0, "N_max"),
    (GIBO, "optimizer_config/model_config/ard_num_dims", 0, "ard_num_dims"),
    (GIBO, "optimizer_config/delta", -1, "delta"),
    (GIBO, "optimizer_config/optimizer_torch_config/lr", -0.25, "lr"),
    (GIBO, "optimizer_config/optimizer_torch_config/weight_decay", -1e-5, "weight_decay"),
    (GIBO, "optimizer_config/optimizer_torch_config/momentum", -0.5, "momentum"),
    (GIBO, "optimizer_config/epsilon_diff_acq_value", -0.01, "epsilon_diff_acq_value"),
    (GIBO, "optimizer_config/lr_schedular", {-1: 0.5}, "lr_schedular.-1: got -1"),
    (GIBO, "optimizer_config/lr_schedular", {3: -0.5}, "lr_schedular.3"),
    (GIBO, "optimizer_config/optimize_acqf_config/q", 0, "q"),
    (GIBO, "optimizer_config/optimize_acqf_config/num_restarts", 0, "num_restarts"),
    (GIBO, "optimizer_config/optimize_acqf_config/raw_samples", 0, "raw_samples"),
    (GIBO, "optimizer_config/generate_initial_data", -3, "generate_initial_data"),
    (GIBO, "optimizer_config/hyperparameter_config/hypers/likelihood.noise", -0.01, "likelihood.noise"),
    (GIBO, "optimizer_config/hyperparameter_config/hypers/covar_module.outputscale", 0, "covar_module.outputscale"),
    (
        GIBO,
        "optimizer_config/hyperparameter_config/hypers/covar_module.base_kernel.lengthscale",
        [0.1, -0.2],
        "lengthscale",
    ),
    (GIBO, "optimizer_config/model_config/lengthscale_hyperprior", UNIFORM, "lengthscale_hyperprior"),
    (
        GIBO,
        "optimizer_config/model_config/outputscale_hyperprior",
        {"prior": "normal", "kwargs": {"loc": 2.0, "scale": 0}},
        "kwargs.scale: got 0",
    ),
    (
        GIBO,
        "optimizer_config/model_config/outputscale_hyperprior",
        {"prior": "gamma", "kwargs": {"concentration": 2, "rate": -1.5}},
        "rate",
    ),
    (
        GIBO,
        "optimizer_config/model_config/outputscale_constraint",
        {"constraint": "greather_than", "kwargs": {"lower_bound": -0.001}},
        "lower_bound",
    ),
    (
        GIBO,
        "optimizer_config/model_config/noise_constraint",
        {"constraint": "interval", "kwargs": {"lower_bound": 0.5, "upper_bound": 0.25}},
        "noise_constraint",
    ),
    (GIBO, "optimizer_config/bounds", {"lower_bound": 1.0, "upper_bound": 0.0}, "bounds"),
    (ARS, "optimizer_config/step_size", 0, "step_size"),
    (ARS, "optimizer_config/samples_per_iteration", 0, "samples_per_iteration"),
    (ARS, "optimizer_config/exploration_noise", -0.1, "exploration_noise"),
    (ARS, "optimizer_config/num_top_directions", 0, "num_top_directions"),
    (ARS, "optimizer_config/reward_std_divisor", "n+1", "reward_std_divisor"),
    (CMAES, "optimizer_config/sigma", -0.3, "sigma"),
    (CMAES, "optimizer_config/population_size", 1, "population_size"),
]
RL_RULES = [
    (RL, "trials", 0, "trials"),
    (RL, "mlp/layers", [4, 0], "layers"),
    (RL, "mlp/discretize", 1, "discretize"),
    (RL, "mlp/manipulate_reward/scale", 0, "scale"),
    (RL, "mlp/manipulate_reward/shift", float("inf"), "shift: expected a finite number, got inf"),
    (
        RL,
        "optimizer_config/hyperparameter_config/hypers/likelihood.noise",
        1e-6,
        "likelihood.noise: got 1e-06, allowed ≥ 0.0001",
    ),
]
DATA_RULES = [
    ("dimensions", [0], "dimensions"),
    ("dimensions", [], "dimensions"),
    ("num_objectives", 0, "num_objectives"),
    ("num_samples", 0, "num_samples"),
    ("noise_variance", 0, "noise_variance"),
    ("factor_lengthscale", -2, "factor_lengthscale"),
    ("gamma", 1.5, "gamma"),
    ("gp_hypers/outputscale", 0, "outputscale"),
    ("n_max", 0, "n_max"),
    ("seed", -1, "seed"),
]


def _message(main, argv) -> str:
    with pytest.raises(SystemExit) as info:
        main(argv)
    message = str(info.value)
    assert message.startswith("error: ") and "\n" not in message and "Traceback" not in message
    return message


def _value_text(value) -> str:
    """How the value shows in the message (the part that is out of range; rules with dict values whose first
    number is not the culprit name it in their expected text)."""
    if isinstance(value, dict):
        return next(repr(v) for v in ({**value, **value.get("kwargs", {})}.values()) if not isinstance(v, (dict, str)))
    if isinstance(value, list):
        return repr(value[-1]) if value else "[]"
    return repr(value)


@pytest.mark.parametrize("base,path,value,key", EXPERIMENT_RULES, ids=[f"{r[1]}={r[2]}" for r in EXPERIMENT_RULES])
def test_experiment_config_value_out_of_range(tmp_path, base, path, value, key):
    data = copy.deepcopy(base)
    _set(data, path, value)
    data["out_dir"] = str(tmp_path / "results")
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(data))
    (tmp_path / "data.yaml").write_text(yaml.safe_dump({**DATA, "out_dir": str(tmp_path / "data")}))
    message = _message(run_synthetic.main, ["-c", str(config), "-cd", str(tmp_path / "data.yaml")])
    assert str(config) in message and key in message and ("got" in key or _value_text(value) in message), message
    assert not (tmp_path / "results").exists()  # refused before any work


@pytest.mark.parametrize("base,path,value,key", RL_RULES, ids=[f"{r[1]}={r[2]}" for r in RL_RULES])
def test_rl_config_value_out_of_range(tmp_path, base, path, value, key):
    data = copy.deepcopy(base)
    _set(data, path, value)
    data["out_dir"] = str(tmp_path / "results")
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(data))
    message = _message(run_rl.main, ["-c", str(config)])
    assert key in message and ("got" in key or _value_text(value) in message), message
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("path,value,key", DATA_RULES, ids=[f"{r[0]}={r[1]}" for r in DATA_RULES])
def test_data_config_value_out_of_range(tmp_path, path, value, key):
    data = copy.deepcopy({**DATA, "gp_hypers": {"outputscale": 1.0}, "out_dir": str(tmp_path / "data")})
    _set(data, path, value)
    config = tmp_path / "data.yaml"
    config.write_text(yaml.safe_dump(data))
    message = _message(generate.main, ["-c", str(config)])
    assert key in message and _value_text(value) in message, message
    assert not (tmp_path / "data").exists()


def test_symbolic_values_and_their_ranges_in_one_message(tmp_path):
    data = copy.deepcopy(GIBO)
    _set(data, "optimizer_config/model_config/N_max", "varible")
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(data))
    (tmp_path / "data.yaml").write_text(yaml.safe_dump({**DATA, "out_dir": str(tmp_path / "data")}))
    message = _message(run_synthetic.main, ["-c", str(config), "-cd", str(tmp_path / "data.yaml")])
    assert "optimizer_config.model_config.N_max: got 'varible', allowed an integer ≥ 1 or 'variable'" in message


def test_out_of_range_as_a_subprocess_exits_nonzero_without_traceback(tmp_path):
    data = copy.deepcopy(GIBO)
    data["max_objective_calls"] = -5
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(data))
    (tmp_path / "data.yaml").write_text(yaml.safe_dump({**DATA, "out_dir": str(tmp_path / "data")}))
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "run_synthetic_experiment.py"),
            "-c",
            str(config),
            "-cd",
            str(tmp_path / "data.yaml"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert result.stderr.strip() == f"error: {config}: max_objective_calls: got -5, allowed ≥ 1"


def test_output_directory_that_cannot_be_created_is_one_line(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    (tmp_path / "data.yaml").write_text(yaml.safe_dump({**DATA, "out_dir": str(tmp_path / "data")}))
    assert generate.main(["-c", str(tmp_path / "data.yaml")]) == 0
    data = copy.deepcopy(GIBO)
    data.update(out_dir=str(blocker / "results"), max_objective_calls=5)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(data))
    message = _message(run_synthetic.main, ["-c", str(config), "-cd", str(tmp_path / "data.yaml")])
    assert str(blocker / "results") in message and "cannot create or write the output directory" in message
    data_message = _message(generate.main, ["-c", str(_write(tmp_path, {**DATA, "out_dir": str(blocker / "data")}))])
    assert "cannot write the data" in data_message


def _write(tmp_path, data, name="d2.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path

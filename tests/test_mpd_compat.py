"""Configs of the MPD authors' repository (kayween/local-bo-mpd, `configs/`): each one below has the keys and values of
one of its files; they load here, resolve to the settings its code uses, and run (or are refused in one line)."""

import logging

import pytest
import torch

from gibo.build import build_optimizer, resolve_dimension
from gibo.config import ConfigError, MPDConfig, config_to_dict, parse_experiment_config
from gibo.config.experiment import SyntheticDataConfig
from gibo.config.validation import validate
from gibo.rl_experiment import check_rl_config
from gibo.synthetic_experiment import check_synthetic_config

LENGTHSCALE, OUTPUTSCALE, NOISE = "covar_module.base_kernel.lengthscale", "covar_module.outputscale", "likelihood.noise"
NO_CONSTRAINT = {"constraint": None, "kwargs": None}
NO_PRIOR = {"prior": None, "kwargs": None}


def constraint(name, **kwargs):
    return {"constraint": name, "kwargs": kwargs}


def prior(name, **kwargs):
    return {"prior": name, "kwargs": kwargs}


def model_config(
    ard="dim_search_space", ls_c=NO_CONSTRAINT, ls_p=NO_PRIOR, os_c=NO_CONSTRAINT, os_p=NO_PRIOR, **n_max
) -> dict:
    return {
        "prior_mean": 0.0,
        "ard_num_dims": ard,
        **n_max,
        "lengthscale_constraint": ls_c,
        "lengthscale_hyperprior": ls_p,
        "outputscale_constraint": os_c,
        "outputscale_hyperprior": os_p,
        "noise_constraint": NO_CONSTRAINT,
        "noise_hyperprior": NO_PRIOR,
    }


def hyperparameters(optimize, noise, fixed_noise) -> dict:
    return {
        "optimize_hyperparameters": optimize,
        "hypers": {LENGTHSCALE: None, OUTPUTSCALE: None, NOISE: noise},
        "no_noise_optimization": fixed_noise,
    }


def local_gp(M, torch_config, schedule, model, hypers, delta, eps, normalize, verbose, restarts=5, raw=64) -> dict:
    """The optimizer_config of the authors' GIBO and MPD files (same keys, in the same order)."""
    return {
        "max_samples_per_iteration": M,
        "OptimizerTorch": "sgd",
        "optimizer_torch_config": torch_config,
        "lr_schedular": schedule,
        "Model": "derivative_gp",
        "model_config": model,
        "hyperparameter_config": hypers,
        "optimize_acqf": "bga",
        "optimize_acqf_config": {"q": 1, "num_restarts": restarts, "raw_samples": raw},
        "bounds": {"lower_bound": None, "upper_bound": None},
        "delta": delta,
        "epsilon_diff_acq_value": eps,
        "generate_initial_data": None,
        "standard_deviation_scaling": False,
        "normalize_gradient": normalize,
        "verbose": verbose,
    }


def mlp(layers, add_bias, normalize, shift, scale, **discretize) -> dict:
    return {
        "layers": layers,
        **discretize,
        "add_bias": add_bias,
        "state_normalization": normalize,
        "manipulate_reward": {"shift": shift, "scale": scale},
    }


def ars(step, samples, noise, top, ignore, **verbose) -> dict:
    return {
        "step_size": step,
        "samples_per_iteration": samples,
        "exploration_noise": noise,
        "standard_deviation_scaling": True,
        "num_top_directions": top,
        "param_args_ignore": ignore,
        **verbose,
    }


def vbo(model, hypers, bounds, verbose) -> dict:
    return {
        "Model": "plain_gp",
        "model_config": model,
        "hyperparameter_config": hypers,
        "acquisition_function": "expected_improvement",
        "acqf_config": {"best_f": None},
        "optimize_acqf": "vbo",
        "optimize_acqf_config": {"bounds": {"lower_bound": bounds[0], "upper_bound": bounds[1]}},
        "generate_initial_data": None,
        "verbose": verbose,
    }


RL_PRIORS = dict(
    os_c=constraint("greather_than", lower_bound=0.001),
    os_p=prior("normal", loc=2.0, scale=1.0),
    ard="dim_search_space",
)
SWIMMER_MPD = dict(
    M=16,
    torch_config={"lr": 0.5},
    schedule=None,
    model=model_config(N_max=32, ls_p=prior("uniform", a=0.01, b=0.3), **RL_PRIORS),
    hypers=hyperparameters(True, 0.01, True),
    delta=0.1,
    eps=0.01,
    normalize=True,
    verbose=True,
)
GET_LENGTHSCALE_PRIOR = prior("get_lengthscale_hyperprior", dim="dim_search_space", factor_lengthscale=2, gamma=0.3)
WANDB = {"project_name": "zoofoo-synthetic", "entity": "test"}

# file of the authors' configs/ folder → its keys and values
AUTHORS_CONFIGS: dict[str, dict] = {
    "custom_experiment/mpd_default.yaml": {
        "method": "mpd",
        "wandb_config": {
            "project_name": "zoofoo-rover",
            "entity": "quanwustl",
            "name": "mpd-iter-delta_1e-2-iso-prior-b=1-N=32",
        },
        "out_dir": "./experiments/rl_experiments/test_experiment/gibo/",
        "trials": 1,
        "seed": 10,
        "max_iterations": None,
        "max_objective_calls": 1000,
        "optimizer_config": local_gp(
            M=1,
            torch_config={"lr": 0.5},
            schedule=None,
            model=model_config(
                ard=None,
                N_max=32,
                ls_c=constraint("interval", lower_bound=0.0001, upper_bound=10),
                ls_p=prior("normal", loc=9, scale=1),
                os_c=constraint("interval", lower_bound=0.0001, upper_bound=1000),
                os_p=prior("normal", loc=5, scale=1),
            ),
            hypers=hyperparameters(True, 0.01, True),
            delta=1,
            eps=0.01,
            normalize=False,
            verbose=True,
            restarts=16,
            raw=256,
        ),
    },
    "rl_experiment/cartpole/mpd.yaml": {
        "method": "mpd",
        "out_dir": "./experiments/rl_experiments/cartpole/gibo/",
        "environment_name": "CartPole-v1",
        "mlp": mlp([4, 1], False, False, None, 500, discretize=2),
        "trials": 3,
        "max_iterations": None,
        "max_objective_calls": 100,
        "optimizer_config": local_gp(
            M=8,
            torch_config={"lr": 1.0},
            schedule={0: 0.8, 3: 0.3},
            model=model_config(N_max=20, ls_p=prior("uniform", a=0.01, b=0.3), **RL_PRIORS),
            hypers=hyperparameters(True, 0.5, True),
            delta=0.1,
            eps=0.01,
            normalize=True,
            verbose=True,
        ),
    },
    "rl_experiment/cartpole/rs.yaml": {
        "method": "rs",
        "out_dir": "./experiments/rl_experiments/cartpole/rs/",
        "environment_name": "CartPole-v1",
        "mlp": mlp([4, 1], False, False, None, None, discretize=2),
        "trials": 3,
        "max_iterations": None,
        "max_objective_calls": 100,
        "optimizer_config": ars(0.025, 8, 0.02, 4, None, verbose=True),
    },
    "rl_experiment/cartpole/rs_10runs.yaml": {
        "method": "rs",
        "out_dir": "./experiments/rl_experiments/cartpole/rs_10runs/",
        "environment_name": "CartPole-v1",
        "mlp": mlp([4, 1], False, False, None, None, discretize=2),
        "trials": 10,
        "max_iterations": None,
        "max_objective_calls": 100,
        "optimizer_config": ars(0.025, 8, 0.02, 4, None, verbose=True),
    },
    "rl_experiment/hopper/mpd.yaml": {
        "method": "mpd",
        "out_dir": "./experiments/rl_experiments/hopper/gibo/",
        "environment_name": "Hopper-v1",
        "mlp": mlp([11, 3], True, True, 1, 1000, discretize=None),
        "trials": 3,
        "max_iterations": None,
        "max_objective_calls": 8000,
        "optimizer_config": local_gp(
            M=32,
            torch_config={"lr": 1.0, "weight_decay": 0.00001},
            schedule={0: 0.6, 1000: 0.5, 2000: 0.3},
            model=model_config(N_max=128, ls_p=prior("uniform", a=0.01, b=0.5), **RL_PRIORS),
            hypers=hyperparameters(True, 0.02, True),
            delta=0.2,
            eps=0.001,
            normalize=True,
            verbose=True,
        ),
    },
    "rl_experiment/hopper/rs.yaml": {
        "method": "rs",
        "out_dir": "./experiments/rl_experiments/hopper/rs/",
        "environment_name": "Hopper-v1",
        "mlp": mlp([11, 3], True, True, 1, None),
        "trials": 3,
        "max_iterations": None,
        "max_objective_calls": 8000,
        "optimizer_config": ars(0.01, 8, 0.025, 4, [-1, -2, -3], verbose=True),
    },
    "rl_experiment/mpd_default.yaml": {
        "method": "mpd",
        "out_dir": "./experiments/rl_experiments/test_experiment/gibo/",
        "environment_name": "Swimmer-v1",
        "mlp": mlp([8, 2], False, False, None, 350, discretize=None),
        "trials": 3,
        "max_iterations": None,
        "max_objective_calls": 100,
        "optimizer_config": local_gp(**SWIMMER_MPD),
    },
    "rl_experiment/rs_default.yaml": {
        "method": "rs",
        "out_dir": "./experiments/rl_experiments/test_experiment/rs/",
        "environment_name": "Swimmer-v1",
        "mlp": mlp([8, 2], True, True, None, None),
        "trials": 3,
        "max_iterations": None,
        "max_objective_calls": 100,
        "optimizer_config": ars(0.02, 1, 0.01, None, [-1, -2]),
    },
    "rl_experiment/swimmer/mpd.yaml": {
        "method": "mpd",
        "out_dir": "./experiments/rl_experiments/swimmer/gibo/",
        "environment_name": "Swimmer-v1",
        "mlp": mlp([8, 2], False, False, None, 350, discretize=None),
        "trials": 3,
        "max_iterations": None,
        "max_objective_calls": 2000,
        "optimizer_config": local_gp(**SWIMMER_MPD),
    },
    "rl_experiment/swimmer/rs.yaml": {
        "method": "rs",
        "out_dir": "./experiments/rl_experiments/swimmer/rs/",
        "environment_name": "Swimmer-v1",
        "mlp": mlp([8, 2], True, True, None, None),
        "trials": 3,
        "max_iterations": None,
        "max_objective_calls": 2000,
        "optimizer_config": ars(0.02, 1, 0.01, None, [-1, -2], verbose=True),
    },
    "rl_experiment/vbo_default.yaml": {
        "method": "vbo",
        "out_dir": "./experiments/rl_experiments/test_experiment/vbo/",
        "environment_name": "Swimmer-v1",
        "mlp": mlp("(8,2)", False, True, None, 350),
        "trials": 3,
        "max_iterations": None,
        "max_objective_calls": 2000,
        "optimizer_config": vbo(
            model_config(ls_p=prior("uniform", a=0.01, b=0.3), **RL_PRIORS),
            hyperparameters(None, None, None),
            (0, 1),
            True,
        ),
    },
    "synthetic_experiment/cmaes_default.yaml": {
        "method": "cmaes",
        "out_dir": "./experiments/synthetic_experiments/test_experiment/cmaes/",
    },
    "synthetic_experiment/gibo_optimize_default.yaml": {
        "method": "gibo",
        "wandb_config": {**WANDB, "name": "ig-step"},
        "out_dir": "./experiments/synthetic_experiments/test_experiment/gibo_optimize/",
        "max_iterations": None,
        "max_objective_calls": 1000,
        "set_hypers": False,
        "only_set_noise_hyper": True,
        "optimizer_config": local_gp(
            M=32,
            torch_config={"lr": 0.25},
            schedule=None,
            model=model_config(N_max=128, ls_p=GET_LENGTHSCALE_PRIOR, os_p=prior("uniform", a=0.1, b=5.0)),
            hypers=hyperparameters(True, None, True),
            delta=0.2,
            eps=0.1,
            normalize=True,
            verbose=False,
        ),
    },
    "synthetic_experiment/mpd_default.yaml": {
        "method": "mpd",
        "wandb_config": {**WANDB, "name": "mpd-iter"},
        "out_dir": "./experiments/synthetic_experiments/test_experiment/gibo/",
        "max_iterations": None,
        "max_objective_calls": 10,
        "set_hypers": True,
        "only_set_noise_hyper": False,
        "optimizer_config": local_gp(
            M="dim_search_space",
            torch_config={"lr": 0.25},
            schedule=None,
            model=model_config(N_max="variable"),
            hypers=hyperparameters(False, None, False),
            delta=0.2,
            eps=0.1,
            normalize=True,
            verbose=False,
        ),
    },
    "synthetic_experiment/rs_default.yaml": {
        "method": "rs",
        "out_dir": "./experiments/synthetic_experiments/test_experiment/rs/",
        "max_iterations": None,
        "max_objective_calls": 300,
        "optimizer_config": ars(0.02, "variable", "variable", None, None),
    },
    "synthetic_experiment/vbo_default.yaml": {
        "method": "vbo",
        "out_dir": "./experiments/synthetic_experiments/test_experiment/vbo/",
        "max_iterations": None,
        "max_objective_calls": 10,
        "set_hypers": True,
        "only_set_noise_hyper": False,
        "optimizer_config": vbo(model_config(), hyperparameters(False, None, False), (0.0, 1.0), False),
    },
    "synthetic_experiment/vbo_optimize_default.yaml": {
        "method": "vbo",
        "out_dir": "./experiments/synthetic_experiments/test_experiment/vbo_optimize/",
        "max_iterations": None,
        "max_objective_calls": 10,
        "set_hypers": False,
        "only_set_noise_hyper": True,
        "optimizer_config": vbo(
            model_config(ls_p=GET_LENGTHSCALE_PRIOR, os_p=prior("uniform", a=0.1, b=5.0)),
            hyperparameters(True, None, True),
            (0.0, 1.0),
            False,
        ),
    },
}
AUTHORS_DATA_CONFIG = {
    "out_dir": "./experiments/synthetic_experiments/test_experiment/",
    "dimensions": [100, 200],
    "num_objectives": 10,
    "num_samples": 1000,
    "noise_variance": 0.01,
    "factor_lengthscale": 2,
    "gamma": 0.3,
    "gp_hypers": {"outputscale": 1.0},
    "n_max": 15,
}
# the dimension each file's code runs at: policy sizes, the synthetic set's first D, the custom script's 200
DIMENSION = {"custom": 200, "synthetic": 100, "cartpole": 4, "swimmer": 16, "hopper": 36, "rl_experiment/mpd": 16}
# what the authors' code does with each MPD file: M, N_max, δ, the noise it sets, whether it refits
MPD_SETTINGS = {
    "custom_experiment/mpd_default.yaml": (1, 32, 1, 0.01, True),
    "rl_experiment/cartpole/mpd.yaml": (8, 20, 0.1, 0.5, True),
    "rl_experiment/hopper/mpd.yaml": (32, 128, 0.2, 0.02, True),
    "rl_experiment/mpd_default.yaml": (16, 32, 0.1, 0.01, True),
    "rl_experiment/swimmer/mpd.yaml": (16, 32, 0.1, 0.01, True),
    "synthetic_experiment/mpd_default.yaml": (100, 500, 0.2, None, False),
}
REFUSED = {
    # no budget: the authors' own scripts fail on this file too (they read max_iterations)
    "synthetic_experiment/cmaes_default.yaml": "max_iterations / max_objective_calls: set at least one",
    # normalised states without a bias: a policy that the raw-state policy cannot equal (kept from GIBO's set)
    "rl_experiment/vbo_default.yaml": "mlp.state_normalization: needs add_bias: true",
}


def dimension(name: str) -> int:
    return next(D for key, D in DIMENSION.items() if key in name)


@pytest.mark.parametrize("name", sorted(set(AUTHORS_CONFIGS) - set(REFUSED)))
def test_authors_config_loads(name):
    config = parse_experiment_config(AUTHORS_CONFIGS[name], name)
    assert config.method == AUTHORS_CONFIGS[name]["method"]
    assert "wandb_config" not in config_to_dict(config)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_authors_config_refused_in_one_line(name):
    with pytest.raises(ConfigError) as error:
        parse_experiment_config(AUTHORS_CONFIGS[name], name)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{name}: {REFUSED[name]}")


def test_authors_data_config_loads():
    data = validate(SyntheticDataConfig, AUTHORS_DATA_CONFIG)
    assert data.dimensions == [100, 200] and data.n_max == 15 and data.factor_lengthscale == 2


@pytest.mark.parametrize("name", sorted(MPD_SETTINGS))
def test_authors_mpd_config_resolves_to_their_code_settings(name):
    D = dimension(name)
    config = resolve_dimension(parse_experiment_config(AUTHORS_CONFIGS[name], name), D)
    opt = config.optimizer_config
    assert isinstance(opt, MPDConfig) and opt.variant == "authors_code"
    M, N_max, delta, noise, refit = MPD_SETTINGS[name]
    assert (opt.max_samples_per_iteration, opt.model_config_.N_max, opt.delta) == (M, N_max, delta)
    assert (opt.step_size, opt.ascent_probability, opt.max_walk_steps) == (0.01, 0.65, 10_001)
    assert opt.ascent_statistic == "authors" and opt.min_points_for_fit == 1 and not opt.uses_epsilon
    assert opt.hyperparameter_config.optimize_hyperparameters is refit
    mpd = build_optimizer(config, torch.zeros(D), objective=lambda x: x.sum())
    assert mpd.max_samples_per_iteration == M and mpd.model.N_max == N_max and mpd.delta == delta
    assert (mpd.step_size, mpd.ascent_probability, mpd.max_walk_steps) == (0.01, 0.65, 10_001)
    assert mpd.ascent_statistic == "authors" and mpd.epsilon_diff_acq_value is None and mpd.min_points_for_fit == 1
    if noise is not None:
        assert float(mpd.model.noise.detach()) == pytest.approx(noise)


def test_written_settings_win_over_the_authors_defaults():
    data = AUTHORS_CONFIGS["rl_experiment/swimmer/mpd.yaml"]
    extra = {"step_size": 0.02, "max_walk_steps": 50, "ascent_statistic": "paper"}
    opt = parse_experiment_config({**data, "optimizer_config": {**data["optimizer_config"], **extra}}).optimizer_config
    assert (opt.step_size, opt.max_walk_steps, opt.ascent_statistic) == (0.02, 50, "paper")
    assert opt.variant == "authors_code" and opt.min_points_for_fit == 1
    paper = parse_experiment_config({**data, "optimizer_config": {**data["optimizer_config"], "variant": "paper"}})
    assert paper.optimizer_config.max_walk_steps == 10_000 and paper.optimizer_config.uses_epsilon


def test_saved_record_reloads_to_the_same_settings():
    name = "rl_experiment/hopper/mpd.yaml"
    config = parse_experiment_config(AUTHORS_CONFIGS[name], name)
    saved = config_to_dict(config)
    assert not {"OptimizerTorch", "optimizer_torch_config", "lr_schedular"} & set(saved["optimizer_config"])
    reloaded = parse_experiment_config(saved).optimizer_config
    assert config_to_dict(reloaded) == saved["optimizer_config"] and reloaded.variant == "authors_code"
    assert (reloaded.max_walk_steps, reloaded.ascent_statistic, reloaded.min_points_for_fit) == (10_001, "authors", 1)
    # an empty gradient-step key does not make a config one of the authors'
    ours = {**AUTHORS_CONFIGS["synthetic_experiment/mpd_default.yaml"]}
    ours["optimizer_config"] = {k: v for k, v in ours["optimizer_config"].items() if k not in {"OptimizerTorch"}}
    ours["optimizer_config"].update(optimizer_torch_config=None, lr_schedular=None, normalize_gradient=None)
    ours["optimizer_config"].pop("standard_deviation_scaling")
    assert parse_experiment_config(ours).optimizer_config.variant == "paper"


def test_wandb_config_is_ignored_with_one_info_line(caplog):
    with caplog.at_level(logging.INFO, logger="gibo.config"):
        parse_experiment_config(AUTHORS_CONFIGS["synthetic_experiment/gibo_optimize_default.yaml"], "gibo.yaml")
    lines = [r.getMessage() for r in caplog.records if "wandb_config" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("gibo.yaml: wandb_config ignored")


def test_rover_config_is_refused_in_one_line():
    name = "custom_experiment/mpd_default.yaml"
    config = parse_experiment_config(AUTHORS_CONFIGS[name], name)
    for check in (check_rl_config, check_synthetic_config):
        with pytest.raises(ConfigError, match=r"rover problem\), which this project does not have$") as error:
            check(config, name)
        assert "\n" not in str(error.value) and str(error.value).startswith(f"{name}: environment_name: missing")


def test_authors_environment_names_map_onto_ours():
    for name in ("rl_experiment/cartpole/mpd.yaml", "rl_experiment/hopper/mpd.yaml", "rl_experiment/swimmer/rs.yaml"):
        check_rl_config(parse_experiment_config(AUTHORS_CONFIGS[name], name), name)


def test_authors_cartpole_mpd_config_runs(tmp_path):
    from gibo.rl_experiment import Trial, run_trial

    data = {**AUTHORS_CONFIGS["rl_experiment/cartpole/mpd.yaml"], "max_objective_calls": 12, "out_dir": str(tmp_path)}
    config = parse_experiment_config(data, "cartpole/mpd.yaml")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        arrays = run_trial(config, Trial(0, seed=0))
    finally:
        torch.set_num_threads(threads)
    assert arrays["calls"].tolist() == [0, 9, 12]  # θ_0 and M = 8 samples, then what is left of the budget
    assert len(arrays["episode_returns"]) == 12
    assert arrays["mpd_walk_steps"].shape == (2,) and (arrays["gp_fit_status"] != 0).all()  # refitted every time

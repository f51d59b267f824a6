"""run_rl_experiment.py end to end on CartPole with a tiny budget, the shipped RL configs, and error paths."""

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

from gibo.config import load_experiment_config
from gibo.rl_experiment import resolved_config, search_space_dimension
from tests.helpers import load_script

ROOT = Path(__file__).resolve().parents[1]
RL_CONFIGS = ROOT / "configs" / "rl_experiment"


run = load_script("run_rl_experiment")


class NaNRewardCartPole(CartPoleEnv):
    """CartPole whose rewards are NaN."""

    def step(self, action):
        obs, _, terminated, truncated, info = super().step(action)
        return obs, float("nan"), terminated, truncated, info


NAN_ENV = "NaNRewardCartPole-v0"
if NAN_ENV not in gym.registry:
    gym.register(NAN_ENV, entry_point=NaNRewardCartPole, max_episode_steps=50)


def tiny_config(tmp_path, name, method="gibo", calls=20, trials=2, **overrides):
    """A shipped CartPole config with a tiny budget, writing to tmp_path/name."""
    data = yaml.safe_load((RL_CONFIGS / "cartpole" / f"{method}.yaml").read_text())
    data.update(out_dir=str(tmp_path / name), max_objective_calls=calls, trials=trials, **overrides)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def trial_arrays(run_dir):
    return {p.name: dict(np.load(p)) for p in sorted(Path(run_dir).glob("trial*.npz"))}


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rl")
    gibo = tiny_config(tmp, "gibo")
    ars = tiny_config(tmp, "rs", method="rs", trials=1)
    assert run.main(["-c", str(gibo)]) == 0
    assert run.main(["-c", str(ars)]) == 0
    return tmp, gibo


def test_run_writes_one_file_per_trial(tiny_runs):
    tmp, _ = tiny_runs
    for name, n_trials in (("gibo", 2), ("rs", 1)):
        run_dir = tmp / name
        saved = yaml.safe_load((run_dir / "config.yaml").read_text())
        assert saved["experiment"]["environment_name"] == "CartPole-v1"
        assert saved["experiment"]["trials"] == n_trials
        arrays = trial_arrays(run_dir)
        assert sorted(arrays) == [f"trial{i:03d}.npz" for i in range(n_trials)]
        for trial in arrays.values():
            params, calls = trial["params"], trial["calls"]
            assert params.shape == (calls.shape[0], 4) and calls.shape[0] >= 2
            np.testing.assert_array_equal(params[0], 0.0)  # θ_0 = 0
            assert calls[0] == 0 and np.all(np.diff(calls) > 0) and 0 < calls[-1] <= 20 + 16
            assert trial["episode_returns"].shape == trial["episode_timesteps"].shape
            assert np.all(np.diff(trial["episode_timesteps"]) > 0)
            assert np.all((trial["episode_returns"] >= 1) & (trial["episode_returns"] <= 500))
            # the optimiser saw return / scale (the config's manipulate_reward.scale: 500 for GIBO, none for ARS)
            scale = saved["experiment"]["mlp"]["manipulate_reward"]["scale"] or 1.0
            assert scale == (500 if name == "gibo" else 1.0)
            np.testing.assert_allclose(trial["objective_values"], trial["episode_returns"] / scale)
            if name == "gibo":  # one row of GP hyperparameters per gradient step
                T = calls.shape[0] - 1
                assert trial["gp_lengthscale"].shape == (T, 4)
                assert trial["gp_outputscale"].shape == trial["gp_noise"].shape == trial["gp_mean"].shape == (T,)
                assert np.all(trial["gp_lengthscale"] > 0) and np.all(trial["gp_noise"] > 0)
            else:
                assert "gp_lengthscale" not in trial
        seeds = [int(t["seed"]) for t in arrays.values()]
        assert len(set(seeds)) == n_trials


def test_same_seed_same_results(tiny_runs, tmp_path):
    tmp, gibo = tiny_runs
    assert run.main(["-c", str(gibo), "--out-dir", str(tmp_path / "again")]) == 0
    first, again = trial_arrays(tmp / "gibo"), trial_arrays(tmp_path / "again")
    assert sorted(first) == sorted(again)
    for name in first:
        for key, value in first[name].items():
            np.testing.assert_array_equal(again[name][key], value, err_msg=f"{name}:{key}")


def _exit_message(argv) -> str:
    with pytest.raises(SystemExit) as exc:
        run.main(argv)
    message = str(exc.value.code)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_unknown_environment_is_one_line_before_any_result(tmp_path):
    path = tiny_config(tmp_path, "unknown", environment_name="NoSuchEnv-v0")
    message = _exit_message(["-c", str(path)])
    assert str(path) in message and "environment_name" in message and "NoSuchEnv-v0" in message
    assert not (tmp_path / "unknown").exists()


def test_bad_config_is_one_line(tmp_path):
    path = tiny_config(tmp_path, "bad")
    data = yaml.safe_load(path.read_text())
    data["mlp"]["add_bais"] = True
    path.write_text(yaml.safe_dump(data))
    message = _exit_message(["-c", str(path)])
    assert str(path) in message and "add_bais" in message
    message = _exit_message(["-c", str(tmp_path / "missing.yaml")])
    assert "missing.yaml" in message and "not found" in message


def test_nan_reward_is_one_line(tmp_path):
    path = tiny_config(tmp_path, "nan", calls=4, trials=1, environment_name=NAN_ENV)
    message = _exit_message(["-c", str(path)])
    assert "trial000" in message and "nan" in message.lower() and NAN_ENV in message


def test_rl_configs_have_the_papers_settings():
    files = sorted(RL_CONFIGS.rglob("*.yaml"))
    names = {str(p.relative_to(RL_CONFIGS)) for p in files}
    for env in ("cartpole", "swimmer", "hopper"):
        for name in ("gibo", "rs", "gibo_10runs", "rs_10runs", "gibo_no_gradient_normalization"):
            assert f"{env}/{name}.yaml" in names
    assert {
        "gibo_default.yaml",
        "rs_default.yaml",
        "vbo_default.yaml",
        "hopper/gibo_no_state_normalization.yaml",
    } <= names
    expected_D = {"CartPole-v1": 4, "Swimmer-v5": 16, "Hopper-v5": 36}
    for path in files:
        config = load_experiment_config(path)
        resolved = resolved_config(config)
        opt = resolved.optimizer_config
        assert config.out_dir.startswith("experiments/rl_experiments/"), path
        ten_runs = "10runs" in path.stem or "no_" in path.stem  # the paper ran its ablations like the 10-run configs
        assert config.trials == (10 if ten_runs else 3), path
        if config.method == "gibo":
            assert search_space_dimension(config) == expected_D[config.environment_name], path
            assert opt.model_config_.ard_num_dims == expected_D[config.environment_name]
            assert (
                opt.hyperparameter_config.optimize_hyperparameters and opt.hyperparameter_config.no_noise_optimization
            )
            assert opt.normalize_gradient == ("no_gradient_normalization" not in path.stem), path
            assert (opt.epsilon_diff_acq_value is None) == ten_runs, path
            assert config.mlp.state_normalization == (
                config.environment_name == "Hopper-v5" and "no_state_normalization" not in path.stem
            ), path
            if (
                path.stem in ("gibo", "gibo_10runs", "gibo_no_gradient_normalization")
                and config.mlp.state_normalization
            ):
                assert opt.state_normalization_update == "call", path  # the paper's code: after every call
    swimmer = resolved_config(load_experiment_config(RL_CONFIGS / "swimmer" / "gibo.yaml"))
    opt = swimmer.optimizer_config
    assert (opt.max_samples_per_iteration, opt.model_config_.N_max, opt.delta) == (16, 32, 0.1)
    assert swimmer.max_objective_calls == 2000 and swimmer.mlp.manipulate_reward.scale == 350
    hopper = load_experiment_config(RL_CONFIGS / "hopper" / "rs.yaml")
    assert hopper.optimizer_config.param_args_ignore == [33, 34, 35]  # the 3 biases after the 33 weights
    assert (hopper.mlp.manipulate_reward.shift, hopper.max_objective_calls) == (1.0, 8000)


def test_state_normalisation_per_call(tmp_path):
    """`state_normalization_update: call` runs (CartPole's policy with a bias on normalised states) and repeats
    exactly under the same seed; without state normalisation the key is refused in one line."""
    mlp = yaml.safe_load((RL_CONFIGS / "cartpole" / "gibo.yaml").read_text())["mlp"]
    mlp.update(add_bias=True, state_normalization=True)
    runs = []
    for name in ("call", "call_again"):
        path = tiny_config(tmp_path, name, calls=12, trials=1, mlp=mlp)
        data = yaml.safe_load(path.read_text())
        data["optimizer_config"]["state_normalization_update"] = "call"
        path.write_text(yaml.safe_dump(data))
        assert run.main(["-c", str(path)]) == 0
        runs.append(trial_arrays(tmp_path / name)["trial000.npz"])
    saved = yaml.safe_load((tmp_path / "call" / "config.yaml").read_text())
    assert saved["experiment"]["optimizer_config"]["state_normalization_update"] == "call"
    assert runs[0]["params"].shape[1] == 5 and runs[0]["calls"][-1] <= 12
    for key, value in runs[0].items():
        np.testing.assert_array_equal(runs[1][key], value, err_msg=key)
    data["mlp"]["state_normalization"] = False
    path.write_text(yaml.safe_dump(data))
    message = _exit_message(["-c", str(path)])
    assert "state_normalization_update" in message and "mlp.state_normalization" in message

"""The LQR experiment end to end on a tiny budget: configs, run_rl_experiment.py, loader, metrics, CLI, notebook."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from gibo import lqr
from gibo.config import config_to_dict, load_experiment_config
from gibo.rl_experiment import check_rl_config, resolved_config
from tests.helpers import load_script

ROOT = Path(__file__).resolve().parents[1]
LQR_CONFIGS = ROOT / "configs" / "lqr_experiment"


run = load_script("run_rl_experiment")


def tiny_config(tmp_path, name, calls=20, trials=1):
    """The quick LQR config with a tiny budget (2 GIBO iterations of 1 + 9 calls), writing to tmp_path/name."""
    data = yaml.safe_load((LQR_CONFIGS / "gibo_quick.yaml").read_text())
    data.update(out_dir=str(tmp_path / name), max_objective_calls=calls, trials=trials)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lqr")
    config = tiny_config(tmp, "gibo")
    assert run.main(["-c", str(config)]) == 0
    return tmp / "gibo"


def test_run_names_the_lqr_analysis_as_next_step(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="run_rl_experiment"):
        assert run.main(["-c", str(tiny_config(tmp_path, "next", calls=10))]) == 0
    last = caplog.records[-1].getMessage()
    assert f"python -m gibo.lqr figures {tmp_path / 'next'} --figure lqr.pdf" in last
    assert "evaluation_rl_experiment" not in last


@pytest.mark.parametrize("name", ["gibo.yaml", "gibo_quick.yaml"])
def test_configs_have_the_papers_lqr_settings(name):
    path = LQR_CONFIGS / name
    config = load_experiment_config(path)
    check_rl_config(config, str(path))
    assert config.method == "gibo" and config.environment_name == "lqr-v0"
    assert config.mlp.layers == [3, 3] and not config.mlp.add_bias and not config.mlp.state_normalization
    assert config.mlp.manipulate_reward.transform == "log_cost"
    assert (config.trials, config.max_objective_calls) == ((100, 130) if name == "gibo.yaml" else (3, 30))
    gibo = resolved_config(config).optimizer_config
    assert gibo.max_samples_per_iteration == 9 and gibo.model_config_.N_max == 40
    assert gibo.delta == 0.1 and gibo.epsilon_diff_acq_value is None
    assert gibo.optimizer_torch_config.lr == 1.0 and gibo.lr_schedular == {0: 0.15, 3: 0.1, 8: 0.05}
    assert gibo.normalize_gradient and not gibo.standard_deviation_scaling
    assert gibo.model_config_.ard_num_dims == 9
    raw = config_to_dict(gibo)
    fit = raw["hyperparameter_config"]
    assert fit["optimize_hyperparameters"] and fit["no_noise_optimization"]
    assert fit["hypers"]["likelihood.noise"] == 2.0
    model = raw["model_config"]
    assert model["lengthscale_hyperprior"] == {"prior": "uniform", "kwargs": {"a": 0.01, "b": 0.3}}
    assert model["outputscale_hyperprior"] == {"prior": "normal", "kwargs": {"loc": 20.0, "scale": 5.0}}
    assert model["outputscale_constraint"] == {"constraint": "greather_than", "kwargs": {"lower_bound": 0.001}}
    assert {k: raw["optimize_acqf_config"][k] for k in ("q", "num_restarts", "raw_samples")} == {
        "q": 1,
        "num_restarts": 5,
        "raw_samples": 64,
    }


def test_loader_and_metrics_on_a_tiny_run(tiny_run):
    params_histories, calls = lqr.load_lqr_run(tiny_run)
    assert len(params_histories) == len(calls) == 1
    history, trial_calls = params_histories[0], calls[0]
    np.testing.assert_array_equal(trial_calls, [0, 10, 20])  # theta_0, then 1 + M = 10 calls per iteration
    assert history.shape == (3, 9)
    np.testing.assert_array_equal(history[0], 0.0)
    assert np.all(np.diff(history, axis=0) != 0)  # the gains move
    system = lqr.default_system()
    metrics = lqr.lqr_metrics(history, *(system[k] for k in "ABQR"))
    assert not metrics["stable"][0]  # K = 0: the open loop is unstable
    cost = metrics["relative_cost"]
    assert np.all(np.isfinite(cost[metrics["stable"]]) & (cost[metrics["stable"]] > 0))
    assert np.all(cost[~metrics["stable"]] == np.inf)
    curves = lqr.lqr_curves(params_histories, calls)
    np.testing.assert_array_equal(curves["calls"], np.arange(0, 21))  # the grid starts at theta_0


def test_loader_errors_name_the_path(tmp_path, tiny_run):
    with pytest.raises(FileNotFoundError, match="run directory not found"):
        lqr.load_lqr_run(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no trial files"):
        lqr.load_lqr_run(tmp_path / "empty")
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.yaml").write_text(yaml.safe_dump({"experiment": {"environment_name": "CartPole-v1"}}))
    with pytest.raises(ValueError, match="not an LQR run"):
        lqr.load_lqr_run(other)


def test_cli_prints_numbers_and_writes_figures(tiny_run, tmp_path, capsys):
    out = [tmp_path / "lqr.pdf", tmp_path / "lqr.png"]
    assert lqr.main(["figures", str(tiny_run), "--figure", *map(str, out), "--calls", "10", "20"]) == 0
    assert all(path.stat().st_size > 0 for path in out)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{tiny_run}: 1 trials"
    assert [line.split()[:2] for line in lines[2:]] == [["10", "3000"], ["20", "6000"]]
    with pytest.raises(SystemExit, match="run directory not found"):
        lqr.main(["figures", str(tmp_path / "missing")])


def test_notebook_runs_a_tiny_experiment(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(ROOT / "notebooks" / "lqr_experiment.ipynb", as_version=4)
    env = {
        "GIBO_LQR_CONFIG": str(tiny_config(tmp_path, "unused_out_dir", calls=10)),
        "GIBO_LQR_TRIALS": "1",
        "GIBO_LQR_RUN_DIR": str(tmp_path / "notebook_run"),
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        nbclient.NotebookClient(
            notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}}
        ).execute()
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert (tmp_path / "notebook_run" / "trial000.npz").is_file()
    assert (tmp_path / "notebook_run" / "lqr.pdf").stat().st_size > 0
    text = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "1 trials, 10 calls" in text and "median" in text
    images = [
        o
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if "image/png" in o.get("data", {})
    ]
    assert images


def test_notebook_runs_with_the_documented_command(tmp_path):
    """`jupyter execute notebooks/lqr_experiment.ipynb` from the repository root, as docs/running.md says."""
    env = {
        **os.environ,
        "GIBO_LQR_CONFIG": str(tiny_config(tmp_path, "unused_out_dir", calls=10)),
        "GIBO_LQR_TRIALS": "1",
        "GIBO_LQR_RUN_DIR": str(tmp_path / "documented_run"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "jupyter", "execute", "notebooks/lqr_experiment.ipynb"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "documented_run" / "trial000.npz").is_file()
    assert (tmp_path / "documented_run" / "lqr.png").stat().st_size > 0

"""Offline evaluation of RL runs: evaluation_rl_experiment.py, its cache, and the notebook, on tiny CartPole runs."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from gibo import rl_evaluation
from gibo.config import load_experiment_config
from gibo.environment_api import offline_rewards
from gibo.evaluate import step_function
from gibo.policy_parameterizations import MLP
from gibo.results import save_unit, write_yaml
from gibo.rl_experiment import config_record
from tests.helpers import load_script

from .test_rl_experiment import NAN_ENV, tiny_config

ROOT = Path(__file__).resolve().parents[1]


run = load_script("run_rl_experiment")
evaluation = load_script("evaluation_rl_experiment")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Tiny GIBO (2 trials) and ARS (1 trial) runs on CartPole; returns (tmp dir, [gibo config, ars config])."""
    tmp = tmp_path_factory.mktemp("rl_eval")
    configs = [tiny_config(tmp, "gibo"), tiny_config(tmp, "rs", method="rs", trials=1)]
    for config in configs:
        assert run.main(["-c", str(config)]) == 0
    return tmp, configs


def _forbid_evaluation(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("offline_rewards called although the cache is fresh")

    monkeypatch.setattr(rl_evaluation.offline, "offline_rewards", fail)


def test_script_writes_figure_and_reuses_cache(tiny, tmp_path, monkeypatch, caplog):
    tmp, configs = tiny
    figure = tmp_path / "cartpole.pdf"
    argv = ["-path", str(figure), "-cs", *map(str, configs), "--report-calls", "10", "20"]
    assert evaluation.main(argv) == 0
    assert figure.stat().st_size > 0
    caches = sorted(tmp.glob("*/trial*.offline.npz"))
    assert [str(p.relative_to(tmp)) for p in caches] == [
        "gibo/trial000.offline.npz",
        "gibo/trial001.offline.npz",
        "rs/trial000.offline.npz",
    ]

    _forbid_evaluation(monkeypatch)
    caplog.set_level("INFO")
    figure.unlink()
    assert evaluation.main(argv) == 0  # second call: everything from the cache
    assert figure.is_file()
    assert "2 from the cache, 0 evaluated" in caplog.text
    assert "10" in caplog.text and "±" in caplog.text


def test_cache_holds_the_offline_rewards_and_is_invalidated_by_changed_trials(tiny, monkeypatch):
    _tmp, configs = tiny
    run_ = rl_evaluation.load_run(configs[0])
    trial_file = run_.trial_files[0]
    curve, _ = rl_evaluation.evaluate_trial(run_, trial_file)
    trial = dict(np.load(trial_file))
    expected = offline_rewards(
        "CartPole-v1",
        MLP([4, 1], discretize=2),
        trial["params"],
        seed=int(trial["seed"]) + rl_evaluation.EVAL_SEED_OFFSET,
    )
    np.testing.assert_array_equal(curve.rewards, expected)
    np.testing.assert_array_equal(curve.calls, trial["calls"])

    calls = []
    monkeypatch.setattr(rl_evaluation.offline, "offline_rewards", lambda *a, **k: calls.append(1) or expected)
    stamp = trial_file.stat().st_mtime_ns
    os.utime(trial_file, ns=(stamp + 10**9, stamp + 10**9))  # touched, content unchanged: cache still valid
    _, from_cache = rl_evaluation.evaluate_trial(run_, trial_file)
    assert from_cache and calls == []

    original = trial_file.read_bytes()
    try:
        save_unit(trial_file, **{**trial, "params": trial["params"] + 0.5})  # the trial changed (e.g. a rerun)
        _, from_cache = rl_evaluation.evaluate_trial(run_, trial_file)
        assert not from_cache and calls == [1]
        _, from_cache = rl_evaluation.evaluate_trial(run_, trial_file)
        assert from_cache and calls == [1]
    finally:
        trial_file.write_bytes(original)
        rl_evaluation.evaluate_trial(run_, trial_file, refresh=True)


def test_cache_dir_option(tiny, tmp_path):
    _tmp, configs = tiny
    run_ = rl_evaluation.load_run(configs[1])
    _, from_cache = rl_evaluation.evaluate_trial(run_, run_.trial_files[0], cache_dir=tmp_path)
    assert not from_cache and len(list(tmp_path.rglob("trial000.offline.npz"))) == 1
    _, from_cache = rl_evaluation.evaluate_trial(run_, run_.trial_files[0], cache_dir=tmp_path)
    assert from_cache


def test_saved_run_is_loaded_from_its_directory_alone(tiny, tmp_path):
    tmp, configs = tiny
    saved = rl_evaluation.load_saved_run(tmp / "gibo")
    named = rl_evaluation.load_run(configs[0])
    assert saved.config == named.config and saved.trial_files == named.trial_files and saved.label == "GIBO"
    with pytest.raises(rl_evaluation.EvaluationError, match="not found"):
        rl_evaluation.load_saved_run(tmp_path)


def test_curves_are_step_functions_of_calls():
    curve = rl_evaluation.OfflineCurve(calls=np.array([0, 9, 18]), rewards=np.array([10.0, 200.0, 500.0]), seed=0)
    grid = np.array([0, 8, 9, 17, 18, 100])
    np.testing.assert_array_equal(curve.on_grid(grid), [10, 10, 200, 200, 500, 500])
    np.testing.assert_array_equal(curve.on_grid(grid), step_function(curve.rewards, curve.calls, grid))
    assert curve.calls_to_reach(500) == 18 and curve.calls_to_reach(501) is None
    other = rl_evaluation.OfflineCurve(calls=np.array([0, 5]), rewards=np.array([20.0, 40.0]), seed=1)
    run_ = rl_evaluation.EvaluatedRun(run=None, curves=[curve, other])
    mean, std = run_.summary([0, 10])
    np.testing.assert_allclose(mean, [15, 120])
    np.testing.assert_allclose(std, [np.std([10, 20], ddof=1), np.std([200, 40], ddof=1)])  # the paper's n - 1 divisor
    assert rl_evaluation.default_report_calls(2000) == [250, 500, 1000, 2000]


def test_default_labels(tiny):
    _, configs = tiny
    labels = [rl_evaluation.load_run(c).label for c in configs]
    assert labels == ["GIBO", "ARS"]
    config = rl_evaluation.load_run(configs[0]).config
    assert (
        rl_evaluation.default_label(config, "x/gibo_no_gradient_normalization.yaml")
        == "GIBO (no gradient normalization)"
    )
    assert rl_evaluation.default_label(config, "x/gibo_10runs.yaml") == "GIBO"


def _exit_message(argv) -> str:
    with pytest.raises(SystemExit) as exc:
        evaluation.main(argv)
    message = str(exc.value.code)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_missing_config_out_dir_and_trials_are_one_line(tiny, tmp_path):
    _, configs = tiny
    figure = str(tmp_path / "f.pdf")
    assert "not found" in _exit_message(["-path", figure, "-cs", str(tmp_path / "nope.yaml")])
    message = _exit_message(["-path", figure, "-cs", str(configs[0]), "--out-dirs", str(tmp_path / "absent")])
    assert "absent" in message and "not found" in message
    (tmp_path / "empty").mkdir()
    message = _exit_message(["-path", figure, "-cs", str(configs[0]), "--out-dirs", str(tmp_path / "empty")])
    assert "no trials" in message and str(configs[0]) in message
    assert not Path(figure).exists()


def test_nan_offline_reward_is_one_line(tmp_path):
    config_path = tiny_config(tmp_path, "nan", environment_name=NAN_ENV)
    run_dir = tmp_path / "nan"
    run_dir.mkdir()
    config = load_experiment_config(config_path)
    write_yaml(run_dir / "config.yaml", config_record(config))
    save_unit(run_dir / "trial000.npz", params=np.zeros((2, 4)), calls=np.array([0, 9]), seed=0)
    message = _exit_message(["-path", str(tmp_path / "f.pdf"), "-cs", str(config_path)])
    assert "trial000.npz" in message and "nan" in message and NAN_ENV in message


def test_notebook_runs_on_tiny_results(tiny, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    _, configs = tiny
    notebook = nbformat.read(ROOT / "notebooks" / "evaluation_rl_experiment.ipynb", as_version=4)
    never_run = tiny_config(tmp_path, "never_run")  # a panel whose results are missing is skipped
    figures = {"tiny": {"CartPole-v1": [str(c) for c in configs], "missing": [str(never_run)]}}
    env = {"GIBO_RL_FIGURES": json.dumps(figures), "GIBO_RL_FIGURE_DIR": str(tmp_path / "figures")}
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
    assert (tmp_path / "figures" / "rl_tiny.pdf").stat().st_size > 0
    text = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "GIBO" in text and "ARS" in text and "±" in text


def test_two_workers_write_the_same_caches_as_one(tiny, tmp_path):
    _tmp, configs = tiny
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    rl_evaluation.evaluate_configs(configs, cache_dir=serial)
    results = rl_evaluation.evaluate_configs(configs, cache_dir=parallel, workers=2)
    files = sorted(p.relative_to(serial) for p in serial.rglob("*.npz"))
    assert len(files) == 3 and files == sorted(p.relative_to(parallel) for p in parallel.rglob("*.npz"))
    for name in files:
        a, b = np.load(serial / name), np.load(parallel / name)
        assert a.files == b.files
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])
    assert [len(r.curves) for r in results] == [2, 1]
    # a stale cache (its trial changed) is re-evaluated by the parallel pass too
    run_ = rl_evaluation.load_run(configs[0])
    stale = rl_evaluation.cache_file(run_.trial_files[0], parallel)
    data = dict(np.load(stale))
    save_unit(stale, **{**data, "trial_sha256": "0" * 64})
    assert rl_evaluation.evaluate_in_parallel([run_], cache_dir=parallel, workers=2) == 1

"""Faults during a run lose nothing and end in one line: a NaN objective value, a Cholesky failure, Ctrl-C,
the run killed (SIGKILL), a full disk or an output that cannot be written, damaged unit files, runs started
together; the Python API's objective that raises (or Ctrl-C) keeps the calls made and continues. A Ray worker
killed mid-unit (retried by Ray) is tested in tests/test_runner.py, beside its Ray instance. And the run
scripts' guards: the wrong kind of config, --max-calls, readable logs with --workers 2."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from gibo.model import DerivativeExactGPSEModel
from gibo.synthetic_functions import SyntheticDataset
from tests.helpers import load_script

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


run_synthetic = load_script("run_synthetic_experiment")
run_rl = load_script("run_rl_experiment")
generate = load_script("generate_data_synthetic_functions")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Data for dims 2 and 3 (2 objectives each) and a 20-call GIBO config."""
    tmp = tmp_path_factory.mktemp("faults")
    data = tmp / "data.yaml"
    data.write_text(
        yaml.safe_dump({"out_dir": str(tmp / "data"), "dimensions": [2, 3], "num_objectives": 2, "num_samples": 60})
    )
    assert generate.main(["-c", str(data)]) == 0
    method = yaml.safe_load((CONFIGS / "synthetic_experiment" / "gibo_default.yaml").read_text())
    method.update(out_dir=str(tmp / "unused"), max_objective_calls=20)
    config = tmp / "gibo.yaml"
    config.write_text(yaml.safe_dump(method))
    return tmp, config, data


@pytest.fixture(scope="module")
def clean(tiny):
    """The arrays of an uninterrupted run of `tiny`."""
    tmp, config, data = tiny
    assert run_synthetic.main(["-c", str(config), "-cd", str(data), "--out-dir", str(tmp / "clean")]) == 0
    return _arrays(tmp / "clean")


def assert_equal_runs(arrays, reference):
    assert arrays.keys() == reference.keys() and reference
    for name in reference:
        assert arrays[name].keys() == reference[name].keys()
        for key in reference[name]:
            np.testing.assert_array_equal(arrays[name][key], reference[name][key], err_msg=f"{name}:{key}")


def _arrays(directory):
    return {
        p.relative_to(directory).as_posix(): dict(np.load(p))
        for p in sorted(Path(directory).glob("dim*/objective*.npz"))
    }


def test_nan_at_call_k_stops_that_unit_only_and_resume_equals_an_uninterrupted_run(tiny, monkeypatch):
    tmp, config, data = tiny
    k = 7
    original = SyntheticDataset.objective

    def objective_with_nan(self, index, seed=0):
        f = original(self, index, seed)
        if self.D == 3 and index == 1:  # this unit's objective breaks at call k
            calls = [0]
            clean = f.__call__

            def broken(params):
                calls[0] += 1
                return torch.tensor(float("nan"), dtype=params.dtype) if calls[0] == k else clean(params)

            f.__call__ = broken
            return _Wrapped(f, broken)
        return f

    monkeypatch.setattr(SyntheticDataset, "objective", objective_with_nan)
    run = tmp / "nan_run"
    with pytest.raises(SystemExit) as info:
        run_synthetic.main(["-c", str(config), "-cd", str(data), "--out-dir", str(run)])
    message = str(info.value)
    record = run / "dim3" / "objective001.failed.json"
    assert (
        "\n" not in message and "dim3/objective001" in message and f"at call {k}" in message and str(record) in message
    )
    assert "--resume" in message
    saved = json.loads(record.read_text())
    assert saved["call"] == k and len(saved["params"]) == 3 and saved["unit"] == "dim3/objective001"
    assert sorted(_arrays(run)) == ["dim2/objective000.npz", "dim2/objective001.npz", "dim3/objective000.npz"]

    monkeypatch.setattr(SyntheticDataset, "objective", original)  # the objective is fixed
    assert run_synthetic.main(["-c", str(config), "-cd", str(data), "--resume", "--out-dir", str(run)]) == 0
    assert not record.exists()
    assert run_synthetic.main(["-c", str(config), "-cd", str(data), "--out-dir", str(tmp / "clean_run")]) == 0
    resumed, clean = _arrays(run), _arrays(tmp / "clean_run")
    assert resumed.keys() == clean.keys() and len(clean) == 4
    for name in clean:
        for key in clean[name]:
            np.testing.assert_array_equal(resumed[name][key], clean[name][key])


class _Wrapped:
    """The objective with a replaced __call__ (special methods are looked up on the type)."""

    def __init__(self, objective, call):
        self._objective, self._call = objective, call

    def __call__(self, params):
        return self._call(params)

    def __getattr__(self, name):
        return getattr(self._objective, name)


@pytest.mark.parametrize("factorization", ["full", "incremental"])
def test_cholesky_failure_names_the_hyperparameters(monkeypatch, factorization):
    model = DerivativeExactGPSEModel(2, dtype=torch.float64, factorization=factorization)
    x = torch.rand(6, 2, dtype=torch.float64)
    model.append_train_data(x, torch.rand(6, dtype=torch.float64))
    model.initialize(  # after the data: the kept factor is refactorised for them
        **{"covar_module.base_kernel.lengthscale": 1e6, "covar_module.outputscale": 1e12, "likelihood.noise": 1e-4}
    )
    # "distances" whose kernel matrix is tridiagonal ones (eigenvalues 1 + 2 cos(kπ/7), the smallest −0.80):
    # indefinite far beyond the jitter
    ones = torch.eye(6, dtype=torch.float64) + torch.diag(torch.ones(5, dtype=torch.float64), 1)
    ones = ones + torch.diag(torch.ones(5, dtype=torch.float64), -1)
    distances = torch.where(ones > 0, 0.0, 1500.0)
    monkeypatch.setattr(model, "window_distances", lambda lengthscale: distances)
    with pytest.raises(torch.linalg.LinAlgError) as info:
        model.kernel_solve()
    message = str(info.value)
    assert "not positive definite" in message and "6 points" in message
    assert "lengthscale min 1e+06" in message and "outputscale 1e+12" in message and "noise 0.0001" in message


def test_ctrl_c_keeps_finished_units_and_exits_130(tiny, monkeypatch):
    tmp, config, data = tiny
    import gibo.runner

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_synthetic, "run_units", interrupt)
    with pytest.raises(SystemExit) as info:
        run_synthetic.main(["-c", str(config), "-cd", str(data), "--out-dir", str(tmp / "interrupted")])
    assert info.value.code == 130
    assert gibo.runner  # the real runner is untouched


def test_each_script_refuses_the_other_kind_of_config(tiny):
    _tmp, _config, data = tiny
    with pytest.raises(SystemExit) as info:
        run_synthetic.main(["-c", str(CONFIGS / "rl_experiment" / "cartpole" / "gibo.yaml"), "-cd", str(data)])
    message = str(info.value)
    assert "\n" not in message and "reinforcement-learning config" in message and "run_rl_experiment.py" in message
    with pytest.raises(SystemExit) as info:
        run_rl.main(["-c", str(CONFIGS / "synthetic_experiment" / "gibo_default.yaml")])
    message = str(info.value)
    assert "\n" not in message and "environment_name" in message and "run_synthetic_experiment.py" in message


def test_max_calls_shortens_a_run(tiny):
    tmp, config, data = tiny
    assert (
        run_synthetic.main(["-c", str(config), "-cd", str(data), "--out-dir", str(tmp / "short"), "--max-calls", "8"])
        == 0
    )
    for arrays in _arrays(tmp / "short").values():
        assert arrays["calls"][-1] <= 8
    saved = yaml.safe_load((tmp / "short" / "config.yaml").read_text())
    assert saved["experiment"]["max_objective_calls"] == 8
    with pytest.raises(SystemExit):
        run_synthetic.main(["-c", str(config), "-cd", str(data), "--max-calls", "0"])


def test_two_workers_with_output_to_a_file_write_no_warnings_and_no_long_lines(tiny):
    tmp, _config, data = tiny
    method = yaml.safe_load((CONFIGS / "synthetic_experiment" / "gibo_learned_hypers.yaml").read_text())
    method.update(out_dir=str(tmp / "workers"), max_objective_calls=25)
    learned = tmp / "learned.yaml"
    learned.write_text(yaml.safe_dump(method))
    with open(tmp / "stderr.txt", "w") as stderr:
        result = subprocess.run(
            [
                sys.executable,
                str(ROOT / "run_synthetic_experiment.py"),
                "-c",
                str(learned),
                "-cd",
                str(data),
                "--workers",
                "2",
            ],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            cwd=tmp,
        )
    lines = (tmp / "stderr.txt").read_text().splitlines()
    assert result.returncode == 0
    assert lines and any("results written" in line for line in lines)
    assert not [line for line in lines if "warn" in line.lower()], lines
    assert max(len(line) for line in lines) <= 300


def test_tables_past_the_budget_say_n_a(tiny, capsys):
    from gibo import evaluate, lqr

    tmp, config, data = tiny
    run = tmp / "budget8"
    assert run_synthetic.main(["-c", str(config), "-cd", str(data), "--out-dir", str(run), "--max-calls", "8"]) == 0
    capsys.readouterr()
    assert evaluate.main(["synthetic", str(run), "--calls", "8", "100"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.strip()[:1].isdigit()]
    assert rows and all(row[2] == "n/a" and row[1] != "n/a" for row in rows[1:]), rows
    # the LQR table: a grid point past the limit has no value
    history = np.zeros((3, 9))
    curves = lqr.lqr_curves([history], [np.array([0, 10, 20])], grid=np.array([10, 20, 30]), limit=20)
    table = lqr.lqr_table(curves).splitlines()
    assert "n/a" not in table[2] and table[3].split()[2:] == ["n/a"] * 4


def test_rl_summary_past_the_budget_says_n_a():
    from gibo.config import load_experiment_config
    from gibo.rl_evaluation import EvaluatedRun, OfflineCurve, RLRun, summary_table

    config = load_experiment_config(CONFIGS / "rl_experiment" / "cartpole" / "gibo.yaml")
    config.max_objective_calls = 20
    run = RLRun(source="x.yaml", config=config, run_dir=Path("."), trial_files=[], label="GIBO")
    curves = [
        OfflineCurve(calls=np.array([0, 10, 20]), rewards=np.array([10.0, 50.0, 100.0 + i]), seed=i) for i in range(3)
    ]
    table = summary_table([EvaluatedRun(run, curves)], [10, 20, 40]).splitlines()
    cells = table[1].split("  ")
    assert "50.0 ± 0.0" in table[1] and "101.0 ± 1.0" in table[1]  # n - 1 divisor: std of 100, 101, 102 is 1
    assert table[1].split()[-2] == "n/a" and len(cells) > 1


# ------------------------------------------------------------------------------------------------
# Concurrency and damage: atomic run directories, locks, damaged unit files
# ------------------------------------------------------------------------------------------------


def _script(name, *args, cwd=None):
    return subprocess.Popen(
        [sys.executable, str(ROOT / f"{name}.py"), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )


def test_runs_started_together_with_one_out_dir_end_in_separate_consistent_directories(tmp_path):
    data = tmp_path / "data.yaml"
    data.write_text(
        yaml.safe_dump({"out_dir": str(tmp_path / "data"), "dimensions": [2], "num_objectives": 2, "num_samples": 30})
    )
    assert generate.main(["-c", str(data), "-q"]) == 0
    method = yaml.safe_load((CONFIGS / "synthetic_experiment" / "gibo_default.yaml").read_text())
    method.update(out_dir=str(tmp_path / "unused"))
    config = tmp_path / "gibo.yaml"
    config.write_text(yaml.safe_dump(method))
    budgets = (3, 6)  # GIBO at D = 2 spends 3 calls per iteration
    # 5 pairs, all started at once: each pair shares an out_dir (10 processes on 2 cores: the claims interleave)
    children = {
        (pair, budget): _script(
            "run_synthetic_experiment",
            "-c",
            config,
            "-cd",
            data,
            "--out-dir",
            tmp_path / f"pair{pair}" / "run",
            "--max-calls",
            budget,
        )
        for pair in range(5)
        for budget in budgets
    }
    outputs = {key: child.communicate(timeout=300) for key, child in children.items()}
    for key, child in children.items():
        assert child.returncode == 0, (key, outputs[key][1])
    for pair in range(5):
        dirs = sorted(p.name for p in (tmp_path / f"pair{pair}").iterdir())
        assert dirs == ["run", "run-2"], dirs
        claimed = set()
        for budget in budgets:
            line = next(line for line in outputs[(pair, budget)][1].splitlines() if "results written to" in line)
            run_dir = Path(line.split("results written to ")[1])
            claimed.add(run_dir)
            saved = yaml.safe_load((run_dir / "config.yaml").read_text())
            assert saved["experiment"]["max_objective_calls"] == budget
            units = _arrays(run_dir)
            assert len(units) == 2 and all(int(arrays["calls"][-1]) == budget for arrays in units.values()), (
                run_dir,
                budget,
            )
            assert not (run_dir / "run.lock").exists()  # released at the end
        assert len(claimed) == 2


def _truncate(path: Path) -> bytes:
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    return raw[: len(raw) // 2]


def test_resume_sets_damaged_unit_files_aside_and_reruns_them(tiny, caplog):
    from gibo import evaluate

    tmp, config, data = tiny
    run = tmp / "damaged"
    common = ["-c", str(config), "-cd", str(data), "--out-dir", str(run)]
    assert run_synthetic.main(common) == 0
    clean = _arrays(run)  # a clean run's results
    truncated = _truncate(run / "dim2" / "objective001.npz")
    (run / "dim3" / "objective000.npz").write_text("results\n")
    (run / "dim3" / "objective000.npz.damaged").write_text("an earlier damaged file\n")  # never overwritten

    with pytest.raises(SystemExit) as info:  # a reader names the file and the fix, in one line
        evaluate.main(["synthetic", str(run)])
    message = str(info.value)
    assert "\n" not in message and "objective" in message and "--resume" in message

    caplog.clear()
    assert run_synthetic.main([*common, "--resume"]) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 2, warnings
    assert "dim2/objective001" in warnings[0] and "objective001.npz.damaged" in warnings[0]
    assert (
        "dim3/objective000" in warnings[1]
        and "not an npz file" in warnings[1]
        and "objective000.npz.damaged-2" in warnings[1]
    )
    assert (run / "dim2" / "objective001.npz.damaged").read_bytes() == truncated
    assert (run / "dim3" / "objective000.npz.damaged").read_text() == "an earlier damaged file\n"
    assert (run / "dim3" / "objective000.npz.damaged-2").read_text() == "results\n"
    resumed = _arrays(run)
    assert resumed.keys() == clean.keys() and len(clean) == 4
    for name in clean:
        assert resumed[name].keys() == clean[name].keys()
        for key in clean[name]:
            np.testing.assert_array_equal(resumed[name][key], clean[name][key])


def test_resume_sets_a_unit_of_another_budget_aside(tiny, caplog):
    tmp, config, data = tiny
    run = tmp / "budget_mix"
    common = ["-c", str(config), "-cd", str(data), "--out-dir", str(run)]
    assert run_synthetic.main(common) == 0
    assert (
        run_synthetic.main(["-c", str(config), "-cd", str(data), "--out-dir", str(tmp / "longer"), "--max-calls", "40"])
        == 0
    )
    (run / "dim2" / "objective000.npz").write_bytes((tmp / "longer" / "dim2" / "objective000.npz").read_bytes())
    caplog.clear()
    assert run_synthetic.main([*common, "--resume"]) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "more than the run's budget of 20" in warnings[0]
    assert int(np.load(run / "dim2" / "objective000.npz")["calls"][-1]) <= 20


def test_resume_sets_a_damaged_rl_trial_and_offline_cache_aside(tmp_path, caplog):
    from tests.test_rl_experiment import tiny_config

    evaluation = load_script("evaluation_rl_experiment")
    config = tiny_config(tmp_path, "cartpole", calls=10, trials=2)
    run = tmp_path / "cartpole"
    assert run_rl.main(["-c", str(config)]) == 0
    clean = {p.name: dict(np.load(p)) for p in sorted(run.glob("trial[0-9][0-9][0-9].npz"))}
    assert evaluation.main(["-cs", str(config)]) == 0
    offline = {p.name: dict(np.load(p)) for p in sorted(run.glob("trial*.offline.npz"))}
    assert sorted(offline) == ["trial000.offline.npz", "trial001.offline.npz"]

    (run / "trial001.npz").write_text("trial\n")
    _truncate(run / "trial000.offline.npz")
    with pytest.raises(SystemExit) as info:  # the evaluation reads a damaged trial: one line naming it and the fix
        evaluation.main(["-cs", str(config)])
    message = str(info.value)
    assert "\n" not in message and "trial001.npz" in message and "--resume" in message

    caplog.clear()
    assert run_rl.main(["-c", str(config), "--resume", "--out-dir", str(run)]) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "trial001" in warnings[0] and "trial001.npz.damaged" in warnings[0]
    assert (run / "trial001.npz.damaged").read_text() == "trial\n"
    resumed = {p.name: dict(np.load(p)) for p in sorted(run.glob("trial[0-9][0-9][0-9].npz"))}
    assert sorted(resumed) == ["trial000.npz", "trial001.npz"]
    for name in clean:
        assert resumed[name].keys() == clean[name].keys()
        for key in clean[name]:
            np.testing.assert_array_equal(resumed[name][key], clean[name][key])

    caplog.clear()
    assert evaluation.main(["-cs", str(config)]) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert (
        len(warnings) == 1 and "trial000.offline.npz" in warnings[0] and "trial000.offline.npz.damaged" in warnings[0]
    )
    assert (run / "trial000.offline.npz.damaged").is_file()
    for name, arrays in offline.items():  # recomputed where damaged: the same offline rewards
        np.testing.assert_array_equal(np.load(run / name)["rewards"], arrays["rewards"])


LOCK_HOLDER = """
import sys, time
from pathlib import Path
from gibo.results import RunLock
locks = [RunLock.acquire(Path(d))[0] for d in sys.argv[1:]]
print("held" if all(locks) else "not held", flush=True)
time.sleep(120)
"""


def test_resume_into_a_directory_held_by_a_live_run_is_refused_and_a_stale_lock_is_taken_over(tiny, caplog):
    tmp, config, data = tiny
    run, empty = tmp / "held", tmp / "held_empty"
    common = ["-c", str(config), "-cd", str(data), "--max-calls", "6"]
    assert run_synthetic.main([*common, "--out-dir", str(run)]) == 0
    empty.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(run), str(empty)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(SystemExit) as info:
            run_synthetic.main([*common, "--out-dir", str(run), "--resume"])
        message = str(info.value)
        assert (
            "\n" not in message
            and str(run) in message
            and f"pid {holder.pid}" in message
            and "--resume refused" in message
        )
        caplog.clear()  # a new run does not take a directory another run holds, even an empty one
        assert run_synthetic.main([*common, "--out-dir", str(empty)]) == 0
        assert any(f"{empty} is in use by another run (pid {holder.pid}" in r.getMessage() for r in caplog.records)
        assert len(list((tmp / "held_empty-2").glob("dim*/*.npz"))) == 4 and [p.name for p in empty.iterdir()] == [
            "run.lock"
        ]
    finally:
        holder.kill()
        holder.wait()
    # the holder is gone, its lock file is left behind: stale, taken over with a warning
    assert json.loads((run / "run.lock").read_text())["pid"] == holder.pid
    caplog.clear()
    assert run_synthetic.main([*common, "--out-dir", str(run), "--resume"]) == 0
    assert any(
        "taking over the lock of a run that is gone" in r.getMessage() and f"pid {holder.pid}" in r.getMessage()
        for r in caplog.records
    )
    assert not (run / "run.lock").exists()


def test_a_policy_that_does_not_fit_the_environment_ends_before_any_unit(tmp_path, monkeypatch):
    from tests.test_rl_experiment import tiny_config

    config = tiny_config(tmp_path, "walker", environment_name="Walker2d-v5", mlp={"layers": [11, 3], "add_bias": False})
    monkeypatch.setattr(run_rl, "run_units", lambda *a, **k: pytest.fail("a unit started"))
    with pytest.raises(SystemExit) as info:
        run_rl.main(["-c", str(config)])
    message = str(info.value)
    assert message == (
        f"error: {config}: mlp.layers: the policy does not fit the environment: Walker2d-v5: "
        "observations of shape (17,), actions of shape (6,); the policy (layers [11, 3]) takes 11 inputs and gives 3 "
        "continuous outputs"
    )
    assert not (tmp_path / "walker").exists()  # nor was a result directory made


def test_resume_accepts_a_run_saved_before_a_setting_existed_and_refuses_another_config(tiny, capsys):
    """A saved config without a key added since (it takes its default) is the same run; a changed value is not."""
    tmp, config, data = tiny
    run = tmp / "older_record"
    common = ["-c", str(config), "-cd", str(data), "--out-dir", str(run)]
    assert run_synthetic.main(common) == 0
    saved = yaml.safe_load((run / "config.yaml").read_text())
    older = dict(saved)
    older["experiment"] = {**saved["experiment"], "optimizer_config": dict(saved["experiment"]["optimizer_config"])}
    assert older["experiment"]["optimizer_config"].pop("clip_to_bounds") is False  # as if saved before it existed
    older["resolved"] = {D: {k: v for k, v in r.items() if k != "clip_to_bounds"} for D, r in saved["resolved"].items()}
    (run / "config.yaml").write_text(yaml.safe_dump(older))
    assert run_synthetic.main([*common, "--resume"]) == 0
    assert yaml.safe_load((run / "config.yaml").read_text()) == saved  # rewritten in today's terms

    changed = dict(saved)
    changed["experiment"] = {**saved["experiment"], "optimizer_config": dict(saved["experiment"]["optimizer_config"])}
    changed["experiment"]["optimizer_config"]["delta"] = 0.123
    (run / "config.yaml").write_text(yaml.safe_dump(changed))
    with pytest.raises(SystemExit, match="the saved config differs from this run's config"):
        run_synthetic.main([*common, "--resume"])


def test_sigkill_of_the_run_then_resume_equals_an_uninterrupted_run(tiny, clean, caplog):
    """The driver killed (SIGKILL: no handler runs) just after its first unit was saved."""
    tmp, config, data = tiny
    run = tmp / "sigkilled"
    common = ["-c", str(config), "-cd", str(data), "--out-dir", str(run)]
    child = _script("run_synthetic_experiment", *common)
    first = run / "dim2" / "objective000.npz"
    deadline = time.monotonic() + 120
    while not first.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    child.communicate()
    saved = sorted(p.relative_to(run).as_posix() for p in run.glob("dim*/objective*.npz"))
    assert child.returncode == -signal.SIGKILL and 1 <= len(saved) < 4, saved  # killed mid-run
    assert (run / "run.lock").exists()  # left behind by the killed run

    caplog.clear()
    assert run_synthetic.main([*common, "--resume"]) == 0
    assert any("taking over the lock of a run that is gone" in r.getMessage() for r in caplog.records)
    assert_equal_runs(_arrays(run), clean)
    assert not [p for p in run.rglob("*") if "tmp" in p.name]  # no temporary file left


# ------------------------------------------------------------------------------------------------
# Output that cannot be written: disk full, permission denied, read-only file system
# ------------------------------------------------------------------------------------------------


def _failing_writer(monkeypatch, code: int, after: int):
    """np.savez as save_unit calls it: the first `after` files are written, then every write fails with `code`
    after a few bytes (as a full disk does). Checkpoints (written with np.savez too) are written as usual."""
    import gibo.results

    original, written = gibo.results.np.savez, []

    def savez(file, **arrays):
        if isinstance(file.name, str) and ".checkpoint." in file.name:  # save_unit opens by descriptor
            return original(file, **arrays)
        if len(written) >= after:
            file.write(b"PK\x03\x04 partial")
            raise OSError(code, os.strerror(code))
        written.append(file.name)
        return original(file, **arrays)

    monkeypatch.setattr(gibo.results.np, "savez", savez)


def test_disk_full_ends_in_one_line_listing_the_saved_units_and_resume_completes(tiny, clean, monkeypatch):
    tmp, config, data = tiny
    run = tmp / "disk_full"
    common = ["-c", str(config), "-cd", str(data), "--out-dir", str(run)]
    _failing_writer(monkeypatch, errno.ENOSPC, after=1)
    with pytest.raises(SystemExit) as info:
        run_synthetic.main(common)
    message = str(info.value.code)
    assert message == (
        f"error: {run / 'dim2' / 'objective001.npz'}: cannot write the unit's file (No space left on device); "
        f"1 of 4 units saved (dim2/objective000); once it can be written, rerun with --resume --out-dir {run}"
    )
    assert sorted(p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file()) == [
        "config.yaml",
        "dim2/objective000.npz",
        "dim2/objective001.checkpoint",  # the unit whose file could not be written: the resume continues it
    ]  # no temporary file, no lock left behind
    assert_equal_runs(_arrays(run), {"dim2/objective000.npz": clean["dim2/objective000.npz"]})

    monkeypatch.undo()  # space again
    assert run_synthetic.main([*common, "--resume"]) == 0
    assert_equal_runs(_arrays(run), clean)
    assert not list(run.rglob("*.checkpoint"))


@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS])
def test_a_unit_file_that_cannot_be_written_ends_the_run_at_once(tiny, monkeypatch, code):
    tmp, config, data = tiny
    run = tmp / f"unwritable{code}"
    _failing_writer(monkeypatch, code, after=0)
    calls = []
    original = SyntheticDataset.objective
    monkeypatch.setattr(SyntheticDataset, "objective", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    with pytest.raises(SystemExit) as info:
        run_synthetic.main(["-c", str(config), "-cd", str(data), "--out-dir", str(run)])
    message = str(info.value.code)
    assert "\n" not in message and str(run / "dim2" / "objective000.npz") in message
    assert f"({os.strerror(code)}); 0 of 4 units saved; once it can be written, rerun with --resume" in message
    assert len(calls) == 1  # the run stopped after the first unit instead of computing units it cannot save
    assert not list(run.rglob("*.npz")) and not (run / "run.lock").exists()


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES, errno.EROFS])
def test_an_out_dir_that_cannot_be_written_ends_the_run_before_any_unit(tiny, clean, monkeypatch, code):
    import gibo.results

    tmp, config, data = tiny
    run = tmp / "clean"  # resume into a finished run: the saved config is rewritten first
    monkeypatch.setattr(run_synthetic, "run_units", lambda *a, **k: pytest.fail("a unit started"))

    def write(path, text):
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(gibo.results, "write_atomically", write)
    for args in (["--out-dir", str(tmp / f"fresh{code}")], ["--resume", "--out-dir", str(run)]):
        with pytest.raises(SystemExit) as info:
            run_synthetic.main(["-c", str(config), "-cd", str(data), *args])
        assert str(info.value.code) == (
            f"error: {args[-1]}: cannot create or write the output directory ({os.strerror(code)})"
        )
    assert not (run / "run.lock").exists()


def test_write_atomically_leaves_the_previous_file_when_the_disk_is_full(tmp_path, monkeypatch):
    from gibo.results import write_atomically

    path = tmp_path / "config.yaml"
    write_atomically(path, "before\n")

    def full(self, text, *args, **kwargs):  # half the text reaches the disk, then it is full
        with open(self, "w") as file:
            file.write(text[: len(text) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(OSError, match="No space left"):
        write_atomically(path, "after\n")
    monkeypatch.undo()
    assert path.read_text() == "before\n" and [p.name for p in tmp_path.iterdir()] == ["config.yaml"]


# ------------------------------------------------------------------------------------------------
# The Python API: an objective that raises, Ctrl-C; the calls made are kept and the run continues
# ------------------------------------------------------------------------------------------------

OPTIMUM = np.array([0.3, -0.2, 0.1, 0.4])
API_RUN = dict(budget=25, bounds=(-1, 1), seed=5)  # GIBO at D = 4: 3 calls per iteration


def _quadratic(x):
    return -float(np.sum((x - OPTIMUM) ** 2))


def _breaking_at(k: int, exception: BaseException):
    """The quadratic, raising `exception` at call k."""
    calls = []

    def f(x):
        calls.append(1)
        if len(calls) == k:
            raise exception
        return _quadratic(x)

    return f


@pytest.fixture(scope="module")
def uninterrupted():
    import gibo

    return gibo.maximize(_quadratic, np.zeros(4), **API_RUN)


def _continue(run):
    while not run.done:
        x = run.ask()
        run.tell(x, _quadratic(x))
    return run


def _assert_continues_as_uninterrupted(run, uninterrupted, tmp_path):
    """The attached run, saved and loaded and also continued as it is, ends as the uninterrupted run did."""
    from gibo.api import AskTell

    loaded = AskTell.load(run.save(tmp_path / "interrupted.gibo"))
    for continued in (_continue(run), _continue(loaded)):
        result = continued.result()
        np.testing.assert_array_equal(result.history.x, uninterrupted.history.x)
        np.testing.assert_array_equal(result.history.values, uninterrupted.history.values)
        np.testing.assert_array_equal(result.x, uninterrupted.x)
        assert result.calls == uninterrupted.calls == API_RUN["budget"]


def test_maximize_with_f_raising_at_call_15_carries_the_14_evaluations_and_continues(uninterrupted, tmp_path):
    import gibo

    with pytest.raises(gibo.ObjectiveError) as info:
        gibo.maximize(_breaking_at(15, RuntimeError("robot fell over")), np.zeros(4), **API_RUN)
    error = info.value
    message = str(error)
    assert "\n" not in message and message.startswith("f raised RuntimeError at call 15 (x = [")
    assert message.endswith(
        "]): robot fell over; the 14 calls made are in error.result, error.asktell continues the run"
    )
    assert isinstance(error.__cause__, RuntimeError) and str(error.__cause__) == "robot fell over"
    assert error.call == 15 and error.result.calls == 14 and error.asktell.calls == 14
    np.testing.assert_array_equal(error.result.history.x, uninterrupted.history.x[:14])
    np.testing.assert_array_equal(error.result.history.values, uninterrupted.history.values[:14])
    np.testing.assert_array_equal(error.x, uninterrupted.history.x[14])
    np.testing.assert_array_equal(error.asktell.ask(), error.x)  # the run waits for the value f did not give
    _assert_continues_as_uninterrupted(error.asktell, uninterrupted, tmp_path)


def test_maximize_with_f_returning_nan_keeps_the_calls_made(uninterrupted, tmp_path):
    import gibo

    def f(x, calls=[]):  # noqa: B006  (the call counter)
        calls.append(1)
        return float("nan") if len(calls) == 15 else _quadratic(x)

    with pytest.raises(
        gibo.ObjectiveError, match=r"f returned nan at call 15 .* one finite number; the 14 calls"
    ) as info:
        gibo.maximize(f, np.zeros(4), **API_RUN)
    error = info.value
    assert error.result.calls == 14 and type(error.__cause__).__name__ == "AskTellError"
    error.asktell.tell(error.x, _quadratic(error.x))  # the call measured again
    _assert_continues_as_uninterrupted(error.asktell, uninterrupted, tmp_path)


def test_ctrl_c_in_f_keeps_its_type_and_carries_the_run(uninterrupted, tmp_path):
    import gibo

    with pytest.raises(KeyboardInterrupt) as info:
        gibo.maximize(_breaking_at(15, KeyboardInterrupt()), np.zeros(4), **API_RUN)
    interrupt = info.value
    assert type(interrupt) is KeyboardInterrupt and interrupt.call == 15
    assert interrupt.result.calls == 14
    np.testing.assert_array_equal(interrupt.result.history.x, uninterrupted.history.x[:14])
    np.testing.assert_array_equal(interrupt.x, uninterrupted.history.x[14])
    _assert_continues_as_uninterrupted(interrupt.asktell, uninterrupted, tmp_path)


def test_ctrl_c_inside_the_optimizer_keeps_the_value_just_told_and_the_run_continues(
    uninterrupted, tmp_path, monkeypatch
):
    """Ctrl-C while GIBO works out its next point (inside `tell`, after f returned): the iteration is lost midway,
    the value is kept, and the run is rebuilt by replaying its values before it goes on."""
    import gibo
    from gibo.loop import IterationDriver

    original = IterationDriver._advance

    def advance(self, value):
        if value is not None and self.calls == 15:
            self._points.throw(KeyboardInterrupt())  # raised inside the optimizer's generator, which ends
        return original(self, value)

    monkeypatch.setattr(IterationDriver, "_advance", advance)
    with pytest.raises(KeyboardInterrupt) as info:
        gibo.maximize(_quadratic, np.zeros(4), **API_RUN)
    monkeypatch.undo()
    interrupt = info.value
    assert not hasattr(interrupt, "x")  # f had returned: nothing is waiting for a value
    assert interrupt.result.calls == interrupt.asktell.calls == 15
    np.testing.assert_array_equal(interrupt.result.history.x, uninterrupted.history.x[:15])
    np.testing.assert_array_equal(interrupt.result.history.values, uninterrupted.history.values[:15])
    _assert_continues_as_uninterrupted(interrupt.asktell, uninterrupted, tmp_path)

"""Checkpoints inside RL and LQR trials: a trial resumed from its checkpoint ends with the same arrays as an
uninterrupted trial (bitwise), damaged or foreign checkpoints are moved aside, and a Hopper run killed with
SIGKILL at random moments and resumed ends with the uninterrupted run's trial file (3 kills here;
scripts/hopper_kill_resume.py runs 20 on demand)."""

import importlib.util
import itertools
import logging
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import gibo.checkpoint
import gibo.rl_experiment as rl
from gibo.checkpoint import CHECKPOINT_EVERY
from gibo.config import load_experiment_config

ROOT = Path(__file__).resolve().parents[1]


def short_config(relative: str, calls: int, samples: int):
    config = load_experiment_config(ROOT / "configs" / relative)
    config.max_objective_calls = calls
    config.optimizer_config.max_samples_per_iteration = samples  # type: ignore[union-attr]
    return config


def assert_same_arrays(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for name in a:
        x, y = np.asarray(a[name]), np.asarray(b[name])
        assert x.dtype == y.dtype and np.array_equal(x, y), name


@pytest.mark.parametrize(
    "relative,calls,samples",
    [
        ("rl_experiment/hopper/gibo.yaml", 20, 2),  # state normalisation, fitted hyperparameters, ε stop
        ("lqr_experiment/gibo_quick.yaml", 30, 2),
    ],
)
def test_a_trial_resumed_from_a_checkpoint_midway_equals_an_uninterrupted_one(
    tmp_path, monkeypatch, relative, calls, samples
):
    config = short_config(relative, calls, samples)
    trial = rl.trials(config)[0]
    plain = rl.run_trial(config, trial)
    midway = tmp_path / "midway.checkpoint"
    write = rl.write_checkpoint
    written = []

    def keep_the_second(path, digest, trial_, objective, iterations, optimizer):
        write(path, digest, trial_, objective, iterations, optimizer)
        written.append(iterations)
        if len(written) == 2:
            shutil.copy(path, midway)

    monkeypatch.setattr(rl, "write_checkpoint", keep_the_second)
    monkeypatch.setattr(gibo.checkpoint, "CHECKPOINT_COST", float("inf"))  # every N iterations, however fast
    checkpointed = rl.run_trial(config, trial, checkpoint_dir=tmp_path)
    assert_same_arrays(plain, checkpointed)  # writing checkpoints changes nothing
    n = CHECKPOINT_EVERY
    assert written == list(range(n, n * (len(written) + 1), n))  # after every N-th iteration, none skipped
    assert len(written) >= 3  # the midway checkpoint is not the last: the resumed trial has work left
    shutil.copy(midway, rl.checkpoint_file(tmp_path, trial))
    monkeypatch.setattr(rl, "write_checkpoint", write)
    calls_made = []
    objective_class = rl.EnvironmentObjective
    original_call = objective_class.__call__

    def counting(self, params):
        if self._replay is None or self.calls >= len(self._replay["values"]):
            calls_made.append(self.calls)
        return original_call(self, params)

    monkeypatch.setattr(objective_class, "__call__", counting)
    resumed = rl.run_trial(config, trial, checkpoint_dir=tmp_path)
    assert_same_arrays(plain, resumed)
    recorded = int(np.load(midway)["values"].shape[0])
    assert calls_made and calls_made[0] == recorded  # no episode of the checkpoint was run again


def test_a_damaged_or_foreign_checkpoint_is_moved_aside_and_the_trial_starts_again(tmp_path, caplog):
    config = short_config("lqr_experiment/gibo_quick.yaml", 12, 2)
    trial = rl.trials(config)[0]
    plain = rl.run_trial(config, trial)
    path = rl.checkpoint_file(tmp_path, trial)
    rl.run_trial(config, trial, checkpoint_dir=tmp_path)
    good = path.read_bytes()
    other = short_config("lqr_experiment/gibo_quick.yaml", 14, 2)
    cases = {
        "truncated": (good[: len(good) // 2], "not a readable checkpoint"),
        "garbage": (b"\x00" * 100, "not a readable checkpoint"),
    }
    for name, (content, message) in cases.items():
        path.write_bytes(content)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="gibo.rl_experiment"):
            assert_same_arrays(plain, rl.run_trial(config, trial, checkpoint_dir=tmp_path))
        lines = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert len(lines) == 1 and message in lines[0] and "moved aside" in lines[0], (name, lines)
    damaged = sorted(p.name for p in tmp_path.iterdir() if ".damaged" in p.name)
    assert damaged == ["trial000.checkpoint.damaged", "trial000.checkpoint.damaged-2"]
    path.write_bytes(good)  # a checkpoint of the run with another budget: another config
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gibo.rl_experiment"):
        rl.run_trial(other, rl.trials(other)[0], checkpoint_dir=tmp_path)
    assert any("another trial or config" in r.getMessage() for r in caplog.records)


def test_a_checkpoint_resumes_under_a_config_that_names_a_default_and_not_under_another_value(tmp_path, caplog):
    """A config that spells out a key at its default (as a later version adding that key resolves it) is the same
    config: the checkpoint is resumed; another value of the key makes it another config's."""
    config = short_config("lqr_experiment/gibo_quick.yaml", 12, 2)
    trial = rl.trials(config)[0]
    path = rl.checkpoint_file(tmp_path, trial)
    rl.run_trial(config, trial, checkpoint_dir=tmp_path)
    good = path.read_bytes()
    for factorization, same in (("full", True), ("incremental", False)):
        other = short_config("lqr_experiment/gibo_quick.yaml", 12, 2)
        other.optimizer_config.model_config_.factorization = factorization  # type: ignore[union-attr]
        path.write_bytes(good)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="gibo.rl_experiment"):
            rl.run_trial(other, rl.trials(other)[0], checkpoint_dir=tmp_path)
        foreign = any("another trial or config" in r.getMessage() for r in caplog.records)
        assert foreign != same, factorization


def test_the_interval_grows_where_a_write_costs_more_than_2_percent_and_no_due_write_is_skipped(monkeypatch, caplog):
    from types import SimpleNamespace

    from gibo.checkpoint import checkpointing, next_interval

    assert next_interval(0.001, 1.0) == CHECKPOINT_EVERY  # a write far cheaper than an iteration: every N
    assert next_interval(0.1, 1.0) == 5  # 0.1 s is 2 % of 5 one-second iterations
    clock = [0.0]  # seconds: an iteration takes 1 ms, a write 1.99 ms (2 % of 99.5 iterations)
    monkeypatch.setattr(gibo.checkpoint, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    written = []

    def write(path, iterations):
        clock[0] += 0.00199
        written.append(iterations)

    on_iteration = checkpointing(Path("unused"), "unit", write, None, lambda: None, lambda: False)
    driver = SimpleNamespace(iterations=0, calls=0)
    with caplog.at_level(logging.DEBUG, logger="gibo.checkpoint"):
        while driver.iterations < 300:
            clock[0] += 0.001
            driver.iterations += 1
            driver.calls += 1
            on_iteration(driver)
    intervals = {
        int(m.group(1)): int(m.group(2))
        for m in (re.search(r"at iteration (\d+) written .* after (\d+) more", r.getMessage()) for r in caplog.records)
        if m
    }
    assert written == [2, 102, 202] and intervals == {2: 100, 102: 100, 202: 100}
    for here, following in itertools.pairwise(written):
        assert following == here + intervals[here]  # each write where the previous one said: none skipped
    assert 0.00199 * len(written) <= 0.02 * clock[0]  # the writes cost at most 2 % of the unit's time


def load_kill_script():
    spec = importlib.util.spec_from_file_location("hopper_kill_resume", ROOT / "scripts" / "hopper_kill_resume.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_a_hopper_run_killed_at_random_moments_ends_with_the_uninterrupted_trial_file(tmp_path):
    result = load_kill_script().kill_and_resume(tmp_path, kills=3, calls=40, samples=2, seed=5)
    assert result["equal"]
    # a trial this short may end before its last kill (the machine's speed varies); the script asks for all
    assert any(held >= 0 for _, _, held, _, _ in result["kills"])  # at least one kill inside the trial's work
    assert all(redone is not None for _, _, _, redone, _ in result["kills"])
    assert result["within_bound"]  # no resume redid more iterations than its checkpoint's interval
    assert result["worst_repeat"] <= result["largest_interval"]
    assert result["leftovers"] == []  # the finished run removed its checkpoint, nothing temporary is left

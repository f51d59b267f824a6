"""run_units: serial vs Ray (identical files), kill and resume, a failing unit does not lose the others.

One local Ray instance (2 CPUs) serves the whole module: run_units uses an instance that is already
up and leaves it running.
"""

import errno
import functools
import logging
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

from gibo.results import DamagedUnit, load_unit, read_unit, save_unit, unit_files
from gibo.runner import OutputUnwritable, UnitsFailed, run_units

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------------
# Fake units (module level, so that Ray workers can import them)
# ------------------------------------------------------------------------------------------------


def fake_unit(seed: int, sleep: float = 0.0) -> dict:
    """A small seeded computation; also records the torch thread count it ran with."""
    time.sleep(sleep)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(60, 60, generator=generator, dtype=torch.float64)
    return dict(
        value=torch.linalg.cholesky(x @ x.T + torch.eye(60, dtype=torch.float64)).numpy(),
        seed=seed,
        threads=torch.get_num_threads(),
    )


def failing_unit(seed: int, bad: int) -> dict:
    if seed == bad:
        raise ValueError(f"boom at {seed}\nsecond line")
    return fake_unit(seed)


def logged_failing_unit(seed: int, bad: int, log: str) -> dict:
    if seed == bad:
        with open(log, "a") as file:
            file.write(f"{os.getpid()}\n")
    return failing_unit(seed, bad)


def crashing_unit(seed: int, bad: int) -> dict:
    if seed == bad:
        os._exit(3)  # the worker process dies, as if killed
    return fake_unit(seed)


def killed_unit(seed: int, bad: int, deaths: int, log: str) -> dict:
    """Unit `bad`'s worker process is killed (SIGKILL) on its first `deaths` attempts; each attempt is logged."""
    if seed == bad:
        with open(log, "a") as file:
            file.write(f"{os.getpid()}\n")
        if len(Path(log).read_text().split()) <= deaths:
            os.kill(os.getpid(), signal.SIGKILL)
    return fake_unit(seed)


def interrupted_unit(seed: int, at: int) -> dict:
    if seed == at:
        raise KeyboardInterrupt
    return fake_unit(seed)


def unit_path(directory: Path, seed: int) -> Path:
    return directory / f"unit{seed}.npz"


def run_fake(directory, run_unit=fake_unit, seeds=range(5), **kwargs):
    return run_units(
        list(seeds),
        run_unit,
        path_of=functools.partial(unit_path, Path(directory)),
        name_of=lambda s: f"unit{s}",
        progress=False,
        **kwargs,
    )


def assert_same_results(dir_a: Path, dir_b: Path) -> None:
    files_a = [p.relative_to(dir_a) for p in unit_files(dir_a)]
    files_b = [p.relative_to(dir_b) for p in unit_files(dir_b)]
    assert files_a == files_b and files_a
    for name in files_a:
        a, b = load_unit(dir_a / name), load_unit(dir_b / name)
        assert a.keys() == b.keys()
        for key in a:
            assert a[key].dtype == b[key].dtype, (name, key)
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{name}:{key}")


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield ray
    ray.shutdown()


# ------------------------------------------------------------------------------------------------
# Serial path
# ------------------------------------------------------------------------------------------------


def test_serial_runs_single_threaded_and_restores_threads(tmp_path):
    before = torch.get_num_threads()
    paths = run_fake(tmp_path)
    assert paths == [unit_path(tmp_path, s) for s in range(5)]
    assert all(int(load_unit(p)["threads"]) == 1 for p in paths)
    assert torch.get_num_threads() == before


def test_serial_failing_unit_keeps_the_others(tmp_path, caplog):
    with pytest.raises(UnitsFailed) as info:
        run_fake(tmp_path, functools.partial(failing_unit, bad=2))
    assert info.value.failures == {"unit2": "ValueError: boom at 2"}
    assert "unit2" in str(info.value)
    assert sorted(p.name for p in unit_files(tmp_path)) == ["unit0.npz", "unit1.npz", "unit3.npz", "unit4.npz"]
    assert "unit unit2 failed: ValueError: boom at 2" in caplog.text


def test_interrupt_then_resume_equals_uninterrupted_run(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        run_fake(tmp_path / "run", functools.partial(interrupted_unit, at=2))
    assert sorted(p.name for p in unit_files(tmp_path / "run")) == ["unit0.npz", "unit1.npz"]
    ran = []

    def counting_unit(seed):
        ran.append(seed)
        return fake_unit(seed)

    run_fake(tmp_path / "run", counting_unit)
    assert ran == [2, 3, 4]  # only what was missing
    run_fake(tmp_path / "reference")
    assert_same_results(tmp_path / "run", tmp_path / "reference")


CHILD = """
import functools, sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from gibo.runner import run_units
from tests.test_runner import fake_unit, unit_path
run_units([0], fake_unit, functools.partial(unit_path, Path({out!r}) / "probe"), progress=False)
print("ray imported:", "ray" in sys.modules, flush=True)
run_units(
    list(range(6)), functools.partial(fake_unit, sleep=0.3), functools.partial(unit_path, Path({out!r}) / "run"),
    progress=False,
)
"""


def run_child(out: Path) -> subprocess.Popen:
    """A serial run of 6 slow fake units in its own process (after a one-unit probe run)."""
    return subprocess.Popen(
        [sys.executable, "-c", CHILD.format(repo=str(REPO), out=str(out))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_killed_process_resumes_to_the_same_results(tmp_path):
    child = run_child(tmp_path)
    deadline = time.monotonic() + 60
    while len(list(unit_files(tmp_path / "run"))) < 2 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    stdout, stderr = child.communicate()
    assert "ray imported: False" in stdout, stderr  # the serial path never imports Ray
    done = list(unit_files(tmp_path / "run"))
    assert 2 <= len(done) < 6
    run_fake(tmp_path / "run", seeds=range(6))
    assert not list((tmp_path / "run").glob("*.tmp.npz"))
    run_fake(tmp_path / "reference", seeds=range(6))
    assert_same_results(tmp_path / "run", tmp_path / "reference")


def check_fake(directory: Path, seed: int) -> None:
    read_unit(unit_path(directory, seed), required=("value", "seed", "threads"))


def test_a_damaged_unit_file_is_set_aside_and_run_again(tmp_path, caplog):
    run_fake(tmp_path / "run")
    (tmp_path / "run" / "unit1.npz").write_bytes(b"")  # a copy that broke off
    (tmp_path / "run" / "unit3.npz").write_bytes(b"PK\x03\x04 not really a zip file")
    save_unit(tmp_path / "run" / "unit4.npz", value=np.zeros(2))  # arrays missing
    ran = []

    def counting_unit(seed):
        ran.append(seed)
        return fake_unit(seed)

    run_fake(tmp_path / "run", counting_unit, check=functools.partial(check_fake, tmp_path / "run"))
    assert ran == [1, 3, 4]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 3 and all("\n" not in w for w in warnings)
    assert "unit1" in warnings[0] and "empty" in warnings[0] and "unit1.npz.damaged" in warnings[0]
    assert "unit3" in warnings[1] and "not a readable npz file" in warnings[1]
    assert "unit4" in warnings[2] and "missing array(s) seed, threads" in warnings[2]
    assert sorted(p.name for p in (tmp_path / "run").glob("*.damaged")) == [
        "unit1.npz.damaged",
        "unit3.npz.damaged",
        "unit4.npz.damaged",
    ]
    run_fake(tmp_path / "reference")
    assert_same_results(tmp_path / "run", tmp_path / "reference")


def test_read_unit_checks_calls_against_the_budget_and_params(tmp_path):
    path = tmp_path / "unit.npz"
    save_unit(path, params=np.zeros((3, 2)), calls=np.array([0, 3, 6]))
    assert read_unit(path, ("params", "calls"), budget=6)["calls"][-1] == 6
    with pytest.raises(DamagedUnit, match="6 calls recorded, more than the run's budget of 5"):
        read_unit(path, budget=5)
    save_unit(path, params=np.zeros((2, 2)), calls=np.array([0, 3, 6]))
    with pytest.raises(DamagedUnit, match="one row per entry"):
        read_unit(path)
    save_unit(path, calls=np.array([0, 6, 3]))
    with pytest.raises(DamagedUnit, match="non-decreasing"):
        read_unit(path)


def test_rejects_zero_workers(tmp_path):
    with pytest.raises(ValueError, match="workers"):
        run_fake(tmp_path, workers=0)


# ------------------------------------------------------------------------------------------------
# Ray path
# ------------------------------------------------------------------------------------------------


def test_ray_gives_the_same_files_as_serial(tmp_path, local_ray):
    run_fake(tmp_path / "serial")
    run_fake(tmp_path / "ray", workers=2)
    assert_same_results(tmp_path / "serial", tmp_path / "ray")
    assert all(int(load_unit(p)["threads"]) == 1 for p in unit_files(tmp_path / "ray"))
    assert local_ray.is_initialized()  # an instance run_units did not start is left running


def test_ray_failing_unit_keeps_the_others(tmp_path, local_ray, caplog):
    with pytest.raises(UnitsFailed) as info:
        run_fake(tmp_path, functools.partial(failing_unit, bad=3), workers=2)
    assert info.value.failures == {"unit3": "ValueError: boom at 3"}
    assert sorted(p.name for p in unit_files(tmp_path)) == ["unit0.npz", "unit1.npz", "unit2.npz", "unit4.npz"]
    assert "unit unit3 failed: ValueError: boom at 3" in caplog.text


def test_ray_failing_unit_is_not_retried(tmp_path, local_ray, caplog):
    log = tmp_path / "attempts.txt"

    with pytest.raises(UnitsFailed):
        run_fake(tmp_path / "run", functools.partial(logged_failing_unit, bad=2, log=str(log)), workers=2)
    assert len(log.read_text().split()) == 1  # an error the unit raises is not retried
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


@pytest.mark.parametrize("deaths", [1])
def test_ray_killed_worker_is_retried_and_the_run_equals_a_clean_one(tmp_path, local_ray, caplog, deaths):
    log = tmp_path / "attempts.txt"
    run_fake(tmp_path / "run", functools.partial(killed_unit, bad=1, deaths=deaths, log=str(log)), workers=2)
    pids = [int(p) for p in log.read_text().split()]
    assert len(pids) == deaths + 1 and len(set(pids)) == deaths + 1  # each attempt in a fresh worker process
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        f"unit unit1: its worker process (pid {pids[k]}) died; Ray runs it again (attempt {k + 2} of 3)"
        for k in range(deaths)
    ]
    run_fake(tmp_path / "reference")
    assert_same_results(tmp_path / "run", tmp_path / "reference")


def test_ray_worker_that_dies_on_every_attempt_is_reported_and_resume_completes(tmp_path, local_ray, caplog):
    with pytest.raises(UnitsFailed) as info:
        run_fake(tmp_path / "run", functools.partial(crashing_unit, bad=1), workers=2)
    assert list(info.value.failures) == ["unit1"]
    message = info.value.failures["unit1"]
    assert "WorkerCrashedError" in message and message.endswith("(its worker died on each of 3 attempts)")
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 2 and all("unit unit1: its worker process" in w for w in warnings)
    assert sorted(p.name for p in unit_files(tmp_path / "run")) == ["unit0.npz", "unit2.npz", "unit3.npz", "unit4.npz"]
    run_fake(tmp_path / "run", workers=2)  # --resume: only unit1 is missing
    run_fake(tmp_path / "reference")
    assert_same_results(tmp_path / "run", tmp_path / "reference")


def test_ray_unit_file_that_cannot_be_written_stops_the_run(tmp_path, local_ray, monkeypatch):
    import gibo.results

    original, saved = gibo.results.np.savez, []

    def savez(file, **arrays):  # the disk is full after two files
        if len(saved) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        saved.append(file.name)
        return original(file, **arrays)

    monkeypatch.setattr(gibo.results.np, "savez", savez)
    with pytest.raises(OutputUnwritable) as info:
        run_fake(tmp_path, functools.partial(fake_unit, sleep=0.5), seeds=range(6), workers=2)
    error = info.value
    assert error.total == 6 and len(error.saved) == 2
    assert "(No space left on device); 2 of 6 units saved (" in str(error)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{name}.npz" for name in error.saved)


# ------------------------------------------------------------------------------------------------
# The experiment script end to end: tiny synthetic data (2 dims x 2 objectives), GIBO with fitting, 15 calls
# ------------------------------------------------------------------------------------------------


def test_synthetic_experiment_one_vs_two_workers_identical(tmp_path, local_ray):
    from gibo.config import load_data_config
    from gibo.synthetic_experiment import data_file, generate_data
    from tests.helpers import load_script

    data = dict(out_dir=str(tmp_path / "data"), dimensions=[2, 3], num_objectives=2, num_samples=64, n_max=3, seed=1)
    (tmp_path / "data.yaml").write_text(yaml.safe_dump(data))
    data_config = load_data_config(tmp_path / "data.yaml")
    for D in data_config.dimensions:
        data_file(data_config, D).parent.mkdir(parents=True, exist_ok=True)
        generate_data(data_config, D).save(data_file(data_config, D))
    config = yaml.safe_load((REPO / "configs/synthetic_experiment/gibo_learned_hypers.yaml").read_text())
    config["max_objective_calls"] = 15
    (tmp_path / "gibo.yaml").write_text(yaml.safe_dump(config))

    script = load_script("run_synthetic_experiment")
    common = ["-c", str(tmp_path / "gibo.yaml"), "-cd", str(tmp_path / "data.yaml")]
    assert script.main([*common, "--out-dir", str(tmp_path / "w1")]) == 0
    assert script.main([*common, "--out-dir", str(tmp_path / "w2"), "--workers", "2"]) == 0
    assert len(list(unit_files(tmp_path / "w1"))) == 4
    assert_same_results(tmp_path / "w1", tmp_path / "w2")


def test_unit_files_get_the_umask_permissions_not_private_ones(tmp_path):
    # private (0600) files would make results unreadable to collaborators sharing a results folder
    save_unit(tmp_path / "unit.npz", values=np.arange(3))
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "unit.npz").stat().st_mode & 0o777 == 0o666 & ~umask
    assert np.array_equal(load_unit(tmp_path / "unit.npz")["values"], np.arange(3))

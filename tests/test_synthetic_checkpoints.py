"""Checkpoints inside synthetic units: a unit resumed from its checkpoint ends with the same arrays as an
uninterrupted unit (bitwise) without evaluating the recorded calls again, a run interrupted by an error after some
iterations and resumed with --resume ends with the uninterrupted run's unit file and no checkpoint, and a damaged
checkpoint is moved aside."""

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

import gibo.checkpoint
import gibo.synthetic_experiment as synthetic
from gibo.checkpoint import CHECKPOINT_EVERY
from gibo.config import SyntheticDataConfig, load_experiment_config
from gibo.synthetic_functions import SyntheticObjective

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data_config(tmp_path_factory) -> SyntheticDataConfig:
    tmp = tmp_path_factory.mktemp("data")
    config = SyntheticDataConfig(out_dir=str(tmp), dimensions=[3], num_objectives=2, num_samples=100)
    synthetic.generate_data(config, 3).save(synthetic.data_file(config, 3))
    return config


def short_config(method: str, calls: int):
    config = load_experiment_config(ROOT / "configs" / "synthetic_experiment" / f"{method}.yaml")
    config.max_objective_calls = calls
    if method.startswith("les"):  # fewer and shorter ascents: the same code, a quicker test
        config.optimizer_config.num_paths = 16  # type: ignore[union-attr]
        config.optimizer_config.descent_steps = 40  # type: ignore[union-attr]
    return config


def assert_same_arrays(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for name in a:
        x, y = np.asarray(a[name]), np.asarray(b[name])
        assert x.dtype == y.dtype and np.array_equal(x, y), name


@pytest.mark.parametrize(
    "method,calls,keep",
    [
        ("gibo_learned_hypers", 24, 2),  # fits and acquisition optimisations left to the record
        ("cmaes_fixed_hypers", 60, 2),  # recomputes its own steps from the recorded values
        ("vbo_learned_hypers", 28, 12),  # fits (past 20 points) and acquisition optimisations skipped
        ("les_learned_hypers", 16, 4),  # fits and sample paths skipped
    ],
)
def test_a_unit_resumed_from_a_checkpoint_midway_equals_an_uninterrupted_one(
    tmp_path, monkeypatch, data_config, method, calls, keep
):
    config = short_config(method, calls)
    unit = synthetic.units(config, data_config)[1]
    evaluated = []
    original_call = SyntheticObjective.__call__

    def counting(self, params):
        evaluated.append(1)
        return original_call(self, params)

    monkeypatch.setattr(SyntheticObjective, "__call__", counting)
    plain = synthetic.run_unit(config, data_config, unit)
    calls_made = len(evaluated)  # the calls of an iteration the budget cut off included
    midway = tmp_path / "midway.checkpoint"
    write = synthetic.write_checkpoint
    written = []

    def keep_one(path, digest, unit_, objective, iterations, optimizer):
        write(path, digest, unit_, objective, iterations, optimizer)
        written.append(iterations)
        if len(written) == keep:
            shutil.copy(path, midway)

    monkeypatch.setattr(synthetic, "write_checkpoint", keep_one)
    monkeypatch.setattr(gibo.checkpoint, "CHECKPOINT_COST", float("inf"))  # every N iterations, however fast
    checkpointed = synthetic.run_unit(config, data_config, unit, checkpoint_dir=tmp_path)
    assert_same_arrays(plain, checkpointed)  # writing checkpoints changes nothing
    n = CHECKPOINT_EVERY
    assert written == list(range(n, n * (len(written) + 1), n))  # after every N-th iteration, none skipped
    assert len(written) > keep  # the midway checkpoint is not the last: the resumed unit has work left
    shutil.copy(midway, synthetic.checkpoint_file(tmp_path, unit))
    monkeypatch.setattr(synthetic, "write_checkpoint", write)
    evaluated.clear()
    resumed = synthetic.run_unit(config, data_config, unit, checkpoint_dir=tmp_path)
    assert_same_arrays(plain, resumed)
    recorded = int(np.load(midway)["values"].shape[0])
    assert 0 < recorded and len(evaluated) == calls_made - recorded  # the record is not evaluated again


def interrupted_run(tmp_path, monkeypatch, data_config) -> tuple[list[str], object]:
    """A plain run ("plain") and the same run ended by an error after the third checkpoint of its first unit
    ("resumed", its other unit finished); returns the CLI arguments and the config."""
    from run_synthetic_experiment import main

    config = short_config("gibo_learned_hypers", 24)
    config_path = tmp_path / "gibo.yaml"
    config_path.write_text(yaml.safe_dump(config.model_dump(mode="json", exclude_unset=True)))
    data_path = tmp_path / "data.yaml"
    data_path.write_text(yaml.safe_dump(data_config.model_dump(mode="json")))
    args = ["-c", str(config_path), "-cd", str(data_path)]
    assert main([*args, "--out-dir", str(tmp_path / "plain")]) == 0
    write = synthetic.write_checkpoint
    writes = []

    def interrupted_after_the_third(path, *rest):
        write(path, *rest)
        writes.append(path)
        if len(writes) == 3:
            raise RuntimeError("injected after a checkpoint")

    monkeypatch.setattr(synthetic, "write_checkpoint", interrupted_after_the_third)
    monkeypatch.setattr(gibo.checkpoint, "CHECKPOINT_COST", float("inf"))  # every N iterations, however fast
    with pytest.raises(SystemExit, match="1 unit"):
        main([*args, "--out-dir", str(tmp_path / "resumed")])
    monkeypatch.setattr(synthetic, "write_checkpoint", write)
    assert writes[2].name == "objective000.checkpoint" and writes[2].is_file()  # left for the resume
    assert not writes[-1].is_file()  # the other unit finished: its file saved, its checkpoint removed
    return args, config


def assert_same_unit_files(a: Path, b: Path, config, data_config) -> None:
    for unit in synthetic.units(config, data_config):
        assert synthetic.unit_file(a, unit).read_bytes() == synthetic.unit_file(b, unit).read_bytes(), unit.name
    left = sorted(p.name for p in b.rglob("*") if "checkpoint" in p.name or ".tmp" in p.name)
    assert left == []  # every checkpoint removed once its unit file is saved


def test_a_run_interrupted_after_some_iterations_and_resumed_ends_with_the_uninterrupted_unit_file(
    tmp_path, monkeypatch, data_config
):
    from run_synthetic_experiment import main

    args, config = interrupted_run(tmp_path, monkeypatch, data_config)
    assert main([*args, "--out-dir", str(tmp_path / "resumed"), "--resume"]) == 0
    assert_same_unit_files(tmp_path / "plain", tmp_path / "resumed", config, data_config)


def test_a_ray_worker_continues_from_the_checkpoint(tmp_path, monkeypatch, data_config):
    pytest.importorskip("ray")
    from run_synthetic_experiment import main

    args, config = interrupted_run(tmp_path, monkeypatch, data_config)
    checkpoint = synthetic.checkpoint_file(tmp_path / "resumed", synthetic.units(config, data_config)[0])
    shutil.copytree(tmp_path / "resumed", tmp_path / "altered")
    with np.load(checkpoint) as data:  # the same checkpoint with its first recorded value changed
        arrays = {name: data[name] for name in data.files}
    arrays["values"][0] += 1.0
    with open(synthetic.checkpoint_file(tmp_path / "altered", synthetic.units(config, data_config)[0]), "wb") as file:
        np.savez(file, **arrays)
    assert main([*args, "--out-dir", str(tmp_path / "resumed"), "--resume", "--workers", "2"]) == 0
    assert_same_unit_files(tmp_path / "plain", tmp_path / "resumed", config, data_config)
    # the worker answered the recorded calls from the checkpoint: the changed value changes the run
    (tmp_path / "altered" / "run.lock").unlink(missing_ok=True)
    assert main([*args, "--out-dir", str(tmp_path / "altered"), "--resume", "--workers", "2"]) == 0
    unit = synthetic.units(config, data_config)[0]
    altered = synthetic.read_unit_file(synthetic.unit_file(tmp_path / "altered", unit))
    plain = synthetic.read_unit_file(synthetic.unit_file(tmp_path / "plain", unit))
    assert not np.array_equal(altered["params"], plain["params"])


def test_a_damaged_checkpoint_is_moved_aside_and_the_unit_starts_again(tmp_path, caplog, data_config):
    config = short_config("cmaes_fixed_hypers", 12)
    unit = synthetic.units(config, data_config)[0]
    plain = synthetic.run_unit(config, data_config, unit)
    path = synthetic.checkpoint_file(tmp_path, unit)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x00" * 100)
    stale = path.with_name(f".{path.name}.123_abcd.tmp")  # what a writer killed midway leaves
    stale.write_bytes(b"half")
    with caplog.at_level(logging.WARNING, logger="gibo.synthetic_experiment"):
        assert_same_arrays(plain, synthetic.run_unit(config, data_config, unit, checkpoint_dir=tmp_path))
    lines = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(lines) == 1 and "not a readable checkpoint" in lines[0] and "moved aside" in lines[0], lines
    assert (path.parent / "objective000.checkpoint.damaged").is_file() and not stale.exists()

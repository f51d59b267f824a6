"""Every script and CLI run from a directory other than the repository root: relative paths (on the command
line and inside configs) are taken from the directory the command runs in, so inputs are found and results
land there."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


def run(args, cwd):
    result = subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory):
    """A working directory outside the repository holding tiny configs with relative paths."""
    cwd = tmp_path_factory.mktemp("elsewhere")
    (cwd / "data.yaml").write_text(
        yaml.safe_dump({"out_dir": "my_data", "dimensions": [2], "num_objectives": 2, "num_samples": 60})
    )
    gibo = yaml.safe_load((CONFIGS / "synthetic_experiment" / "gibo_default.yaml").read_text())
    gibo.update(out_dir="my_runs/gibo", max_objective_calls=12)
    (cwd / "gibo.yaml").write_text(yaml.safe_dump(gibo))
    cartpole = yaml.safe_load((CONFIGS / "rl_experiment" / "cartpole" / "gibo.yaml").read_text())
    cartpole.update(out_dir="my_runs/cartpole", trials=2, max_objective_calls=10)
    (cwd / "cartpole.yaml").write_text(yaml.safe_dump(cartpole))
    lqr = yaml.safe_load((CONFIGS / "lqr_experiment" / "gibo_quick.yaml").read_text())
    lqr.update(out_dir="my_runs/lqr", trials=2, max_objective_calls=20)
    (cwd / "lqr.yaml").write_text(yaml.safe_dump(lqr))
    return cwd


def test_synthetic_scripts_and_evaluation_from_another_directory(elsewhere):
    run([ROOT / "generate_data_synthetic_functions.py", "-c", "data.yaml"], elsewhere)
    assert (elsewhere / "my_data" / "data_dim2.npz").is_file()
    run([ROOT / "run_synthetic_experiment.py", "-c", "gibo.yaml", "-cd", "data.yaml"], elsewhere)
    assert len(list((elsewhere / "my_runs" / "gibo").glob("dim2/objective*.npz"))) == 2
    out = run(["-m", "gibo.evaluate", "synthetic", "my_runs/gibo", "--calls", "12"], elsewhere).stdout
    assert "my_runs/gibo" in out and "(2 objectives)" in out
    run(
        [
            "-m",
            "gibo.evaluate",
            "synthetic-figures",
            "--runs",
            "GIBO=my_runs/gibo",
            "--out",
            "figures",
            "--calls",
            "12",
        ],
        elsewhere,
    )
    assert (elsewhere / "figures" / "normalized_error_curves.png").is_file()


def test_rl_lqr_scripts_report_from_another_directory(elsewhere):
    run([ROOT / "run_rl_experiment.py", "-c", "cartpole.yaml"], elsewhere)
    assert sorted(p.name for p in (elsewhere / "my_runs" / "cartpole").glob("trial*.npz")) == [
        "trial000.npz",
        "trial001.npz",
    ]
    run(
        [
            ROOT / "evaluation_rl_experiment.py",
            "-cs",
            "cartpole.yaml",
            "--figure",
            "cartpole.png",
            "--report-calls",
            "5",
            "10",
        ],
        elsewhere,
    )
    assert (elsewhere / "cartpole.png").is_file() and (
        elsewhere / "my_runs" / "cartpole" / "trial000.offline.npz"
    ).is_file()
    run([ROOT / "run_rl_experiment.py", "-c", "lqr.yaml"], elsewhere)
    out = run(
        ["-m", "gibo.lqr", "figures", "my_runs/lqr", "--figure", "lqr.png", "--calls", "10", "20"], elsewhere
    ).stdout
    assert "my_runs/lqr: 2 trials" in out and (elsewhere / "lqr.png").is_file()
    run(["-m", "gibo.evaluate", "hypers", "my_runs/lqr"], elsewhere)
    run(["-m", "gibo.report", "my_runs", "--out", "report"], elsewhere)
    assert (elsewhere / "report" / "report.md").is_file() and (elsewhere / "report" / "report.html").is_file()

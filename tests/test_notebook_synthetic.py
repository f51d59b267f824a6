"""notebooks/evaluation_synthetic_experiment.ipynb runs headless, top to bottom, on tiny results made here."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from gibo.config import SyntheticDataConfig, load_experiment_config
from gibo.results import save_unit
from gibo.synthetic_experiment import data_file, generate_data, run_unit, unit_file, units

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "evaluation_synthetic_experiment.ipynb"
METHODS = {"GIBO": "gibo", "ARS": "rs", "vanilla BO": "vbo", "CMA-ES": "cmaes"}


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """Every method of the fixed-hyperparameter set on 2 dimensions x 2 objectives, 20 calls each."""
    tmp = tmp_path_factory.mktemp("synthetic")
    data_config = SyntheticDataConfig(out_dir=str(tmp / "data"), dimensions=[2, 3], num_objectives=2, num_samples=100)
    for D in data_config.dimensions:
        path = data_file(data_config, D)
        path.parent.mkdir(parents=True, exist_ok=True)
        generate_data(data_config, D).save(path)
    runs = {}
    for label, method in METHODS.items():
        config = load_experiment_config(ROOT / "configs" / "synthetic_experiment" / f"{method}_fixed_hypers.yaml")
        config.max_objective_calls = 20
        run_dir = tmp / method
        for unit in units(config, data_config):
            save_unit(unit_file(run_dir, unit), **run_unit(config, data_config, unit))
        runs[label] = run_dir
    return runs


def test_notebook_executes_on_tiny_results(tiny_runs, tmp_path, monkeypatch):
    monkeypatch.setenv("GIBO_SYNTHETIC_RUNS", ",".join(f"{label}={run_dir}" for label, run_dir in tiny_runs.items()))
    monkeypatch.setenv("GIBO_SYNTHETIC_FIGURES", str(tmp_path / "figures"))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    ).execute()

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    for label in METHODS:
        assert f"\n{label}" in "\n" + text  # a row of the mean-error table per method
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 2
    for name in ["normalized_error_curves", "final_error_boxes"]:
        assert (tmp_path / "figures" / f"{name}.png").stat().st_size > 0

"""notebooks/own_objective.ipynb runs headless, top to bottom, on a small budget."""

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "own_objective.ipynb"


def test_notebook_executes_on_a_small_budget(tmp_path, monkeypatch):
    monkeypatch.setenv("GIBO_OWN_BUDGET", "24")
    monkeypatch.setenv("GIBO_OWN_STATE", str(tmp_path / "run.gibo"))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "24 calls" in text and "theta_T =" in text  # maximize ran its whole budget
    assert "saved after 12 calls" in text and "loaded: 12 calls replayed" in text and "done: 24 calls" in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 1
    assert (tmp_path / "run.gibo").stat().st_size > 0

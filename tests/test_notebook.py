"""The notebook runs top to bottom on a small generated dataset, so it cannot rot (and is not saved here)."""

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "fruits_pipeline.ipynb"


@pytest.mark.slow
def test_notebook_executes_and_writes_a_complete_output(synthetic_photos, shared_weights, tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # The saved notebook may keep the parameters of the run that made its outputs (`make notebook` with --set).
    notebook.cells = [cell for cell in notebook.cells if "injected-parameters" not in cell.metadata.get("tags", [])]
    index = next(i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", []))
    # Injected after the parameter cell, the way papermill does it. The weights file, as the notebook's default,
    # rather than random weights: with its LiteRT model cached the kernel imports no TensorFlow.
    overrides = (f"INPUT = {str(synthetic_photos)!r}\nOUTPUT = {str(tmp_path / 'out')!r}\n"
                 f"WEIGHTS = {str(shared_weights)!r}\nIMAGE_SIZE = 64\nMASTER = 'local[2]'\n"
                 f"FIGURES_DIR = {str(tmp_path)!r}\n")
    notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(overrides))
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
                   ).execute()
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert (manifest["n_input"], manifest["n_features"], manifest["n_errors"]) == (40, 40, 0)
    assert (tmp_path / "variance_curve.png").stat().st_size > 10_000
    printed = "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                      for output in cell.outputs)
    assert f"k = {manifest['k']} composantes" in printed  # the narrative and the printed lines are in French
    # The steps' own code is shown (read from the installed package), not a copy that could drift.
    shown = "".join(output.get("data", {}).get("text/markdown", "") for cell in notebook.cells
                    if cell.cell_type == "code" for output in cell.outputs)
    for needle in ("sparkContext.broadcast(", "@pandas_udf", "eigh("):
        assert needle in shown

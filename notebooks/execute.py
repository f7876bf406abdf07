"""Execute notebooks/fruits_pipeline.ipynb top to bottom and save it with its outputs (`make notebook`).

    python notebooks/execute.py [--set NAME=PYTHON_VALUE ...] [--no-save] [--timeout SECONDS]

The kernel runs from the project root, so the parameter cell's relative paths (`../shared/...`, `out/...`) mean
the same as on the command line. `--set` overrides a parameter the way papermill does: a cell tagged
`injected-parameters` inserted after the one tagged `parameters`, and kept in the saved notebook, so that the saved
outputs say which parameters made them.
The libraries' log lines on stderr (TensorFlow, absl, XNNPACK, the JVM) are left out of the saved notebook; our
own lines (`fruits: ...`) and every result are kept.
"""

from __future__ import annotations

import argparse
import ast
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "fruits_pipeline.ipynb"


def parameter_index(notebook) -> int:
    for index, cell in enumerate(notebook.cells):
        if "parameters" in cell.metadata.get("tags", []):
            return index
    raise SystemExit(f"{NOTEBOOK}: no cell tagged 'parameters'")


def override_cell(assignments: list[str]) -> str:
    lines = []
    for assignment in assignments:
        name, sep, value = assignment.partition("=")
        if not sep or not name.isidentifier():
            raise SystemExit(f"--set wants NAME=PYTHON_VALUE, got {assignment!r}")
        ast.literal_eval(value)  # a literal only: this is a parameter, not code
        lines.append(f"{name} = {value}")
    return "\n".join(lines)


def is_library_noise(output) -> bool:
    """A stderr stream with none of our own `fruits:` lines (TensorFlow, absl, XNNPACK, JVM warnings)."""
    if output.get("output_type") != "stream" or output.get("name") != "stderr":
        return False
    return not any(line.startswith("fruits:") for line in output.get("text", "").splitlines())


def drop_library_noise(notebook) -> None:
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [output for output in cell.outputs if not is_library_noise(output)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--no-save", action="store_true", help="execute only; leave the saved notebook as it is")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    parser.add_argument("--save-as", type=Path, default=NOTEBOOK, help="where to save the executed notebook")
    args = parser.parse_args()

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # A previous run's overrides do not carry over: this run uses the parameter cell and its own --set only.
    notebook.cells = [cell for cell in notebook.cells if "injected-parameters" not in cell.metadata.get("tags", [])]
    index = parameter_index(notebook)
    injected = None
    if args.set:
        injected = nbformat.v4.new_code_cell(override_cell(args.set))
        injected.metadata["tags"] = ["injected-parameters"]
        notebook.cells.insert(index + 1, injected)
    started = time.monotonic()
    client = NotebookClient(notebook, timeout=args.timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}})
    client.execute()
    print(f"executed {NOTEBOOK.relative_to(ROOT)} in {time.monotonic() - started:.0f} s", file=sys.stderr)
    if not args.no_save:
        drop_library_noise(notebook)
        nbformat.write(notebook, args.save_as)
        print(f"saved {args.save_as} with its outputs", file=sys.stderr)


if __name__ == "__main__":
    main()

"""The bootstrap script (shellcheck, bash -n, what it installs) and the code shipped to the cluster (the wheel)."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import zipfile

import pytest

from fruits.cloud.package import bootstrap_script_path, build_wheel, entry_script_path


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def test_bootstrap_passes_bash_n():
    result = subprocess.run(["bash", "-n", str(bootstrap_script_path())], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_bootstrap_passes_shellcheck():
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        message = "shellcheck is not installed (apt-get install shellcheck); .ci/run installs it in CI"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    result = subprocess.run([shellcheck, "--severity=style", str(bootstrap_script_path())],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_bootstrap_installs_python_311_and_pinned_dependencies():
    text = bootstrap_script_path().read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert 'readonly PYTHON=python3.11' in text and 'dnf install -y -q "${PYTHON}"' in text
    pins = re.findall(r'^\s+"([A-Za-z0-9_.-]+)==([0-9][0-9A-Za-z.]*)"$', text, flags=re.MULTILINE)
    pinned = dict(pins)
    assert pinned["tensorflow-cpu"].startswith("2.21")  # needs Python >= 3.10, hence python3.11
    assert pinned["numpy"].startswith("1.")  # pyspark 3.5 on EMR 7 predates numpy 2
    assert {"pandas", "pyarrow", "pillow", "keras", "ai-edge-litert"} <= set(pinned)
    assert "pyspark" not in pinned  # Spark comes from EMR
    assert "--no-deps" in text


def test_bootstrap_refuses_a_bad_argument_before_touching_the_machine(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}  # no sudo, dnf or aws reachable: it must stop before them
    (tmp_path / "bash").symlink_to(shutil.which("bash"))
    for name in ("dirname", "basename", "mktemp", "rm", "cat", "printf"):
        if shutil.which(name):
            (tmp_path / name).symlink_to(shutil.which(name))
    missing = subprocess.run(["bash", str(bootstrap_script_path())], capture_output=True, text=True, env=env)
    assert missing.returncode != 0 and "usage: bootstrap.sh s3://BUCKET/code/" in missing.stderr
    wrong = subprocess.run(["bash", str(bootstrap_script_path()), "/tmp/fruits.whl"], capture_output=True, text=True,
                           env=env)
    assert wrong.returncode == 2 and "expected an s3:// URI of a .whl file" in wrong.stderr


def test_the_entry_script_runs_fruits_run_with_the_step_arguments(tmp_path):
    result = subprocess.run([sys.executable, str(entry_script_path()), "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "usage: fruits run" in result.stdout and "INPUT" in result.stdout


def test_the_wheel_is_built_from_this_checkout_with_the_cloud_files(tmp_path):
    from fruits.cloud.package import source_root

    had_build_dir = (source_root() / "build").exists()
    wheel = build_wheel(tmp_path)

    assert re.fullmatch(r"fruits-\d+\.\d+\.\d+-py3-none-any\.whl", wheel.name)
    names = zipfile.ZipFile(wheel).namelist()
    assert "fruits/cloud/bootstrap.sh" in names  # package data: what `up` uploads comes from the wheel's source
    assert "fruits/cloud/emr_entry.py" in names and "fruits/cli/main.py" in names
    assert (source_root() / "build").exists() == had_build_dir  # built in a scratch copy, the checkout untouched


# What the EMR node's venv holds, read from bootstrap.sh by bash itself (the tests never re-type the pins).
_READ_BOOTSTRAP = (
    'eval "$(sed -n -e "/^readonly PYTHON=/p" -e "/^readonly PINNED=(/,/^)/p" "$1")"\n'
    'printf "%s\\n" "${PYTHON}" "${PINNED[@]}"\n'
)


@functools.lru_cache(maxsize=1)
def bootstrap_python_and_pins() -> tuple[str, list[str]]:
    """(the interpreter bootstrap.sh installs, e.g. python3.11; its pinned requirements, e.g. numpy==1.26.4)."""
    result = subprocess.run(["bash", "-c", _READ_BOOTSTRAP, "bash", str(bootstrap_script_path())],
                            capture_output=True, text=True, check=True)
    python, *pins = result.stdout.split()
    return python, list(pins)


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\s;\[<>=!~(]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _closure(names: set[str]) -> set[str]:
    """These distributions and everything they require (extras left out), as far as this venv knows them."""
    from importlib import metadata

    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [_requirement_name(r) for r in requires if "extra ==" not in r]
    return seen


@functools.lru_cache(maxsize=1)
def modules_missing_on_the_node() -> list[str]:
    """Top-level modules fruits's own requirements bring here that the node's venv does not have at bootstrap
    time: boto3 and the web stack (not pinned there), and pyspark/py4j (EMR's Spark brings them only to a step)."""
    from importlib import metadata

    _, pins = bootstrap_python_and_pins()
    on_node = _closure({_requirement_name(pin) for pin in pins})
    wanted = _closure({_requirement_name(r) for r in metadata.requires("fruits") or [] if "extra ==" not in r})
    absent = (wanted - on_node - {"fruits"}) | {"pyspark", "py4j"}
    modules = {module for module, dists in metadata.packages_distributions().items()
               if any(_requirement_name(d) in absent for d in dists)}
    return sorted(m for m in modules if m.isidentifier())


_WITHOUT_MODULES = """
import runpy, sys
from importlib.abc import MetaPathFinder

missing = set(sys.argv[1].split(","))

class NotOnTheNode(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in missing:
            raise ModuleNotFoundError(f"No module named {name!r} (not on the EMR node)", name=name)
        return None

sys.meta_path.insert(0, NotOnTheNode())
sys.argv = ["fruits", *sys.argv[2:]]
runpy.run_module("fruits", run_name="__main__", alter_sys=True)
"""


def test_the_node_lacks_boto3_and_the_web_stack_but_has_the_pins():
    missing = modules_missing_on_the_node()
    assert {"boto3", "botocore", "fastapi", "uvicorn", "pyspark"} <= set(missing)
    assert not {"numpy", "pandas", "pyarrow", "PIL", "keras", "tensorflow", "fruits"} & set(missing)


@pytest.mark.parametrize("argv, usage", [
    (["run", "--help"], "usage: fruits run"),  # what the EMR step runs
    (["--help"], "usage: fruits"),
    (["cloud", "run", "--help"], "usage: fruits cloud run"),  # the parser is whole: AWS imports only where used
])
def test_the_cli_parser_builds_with_only_the_packages_of_the_emr_node(argv, usage, tmp_path):
    missing = modules_missing_on_the_node()
    result = subprocess.run([sys.executable, "-c", _WITHOUT_MODULES, ",".join(missing), *argv],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert usage in result.stdout


def _bootstrap_check_block() -> str:
    """The lines of bootstrap.sh that check the venv (its check_venv function and the `if` that calls it)."""
    text = bootstrap_script_path().read_text()
    match = re.search(r"^check_venv\(\) \{\n.*?^fi\n", text, flags=re.MULTILINE | re.DOTALL)
    assert match, "bootstrap.sh no longer checks its venv with check_venv"
    return match.group(0)


def test_the_bootstrap_fails_loudly_when_the_venv_cannot_run_fruits(tmp_path):
    venv = tmp_path / "venv"  # a real venv, but without the fruits wheel: `python -m fruits run --help` fails
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    program = f"set -euo pipefail\nlog() {{ printf 'fruits bootstrap: %s\\n' \"$*\" >&2; }}\nVENV={venv}\n"
    result = subprocess.run(["bash", "-c", program + _bootstrap_check_block() + "echo reached"],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "reached" not in result.stdout
    assert "fruits bootstrap: FAILED" in result.stderr and "python -m fruits run --help" in result.stderr
    assert "ModuleNotFoundError" in result.stderr  # the cause is shown, not just "failed"

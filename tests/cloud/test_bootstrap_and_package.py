"""The bootstrap script (shellcheck, bash -n, what it installs) and the code shipped to the cluster (the wheel)."""

from __future__ import annotations

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

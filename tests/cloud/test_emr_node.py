"""The EMR node, emulated: the step's `fruits run` in a venv built as bootstrap.sh builds it, on Spark 3.5.

On a cluster, bootstrap.sh builds /opt/fruits/venv with its PYTHON (python3.11) and its pinned packages, then
installs the fruits wheel with --no-deps; Spark is not in the venv. The step is `spark-submit ... fruits_emr_entry.py
INPUT OUTPUT [flags]`: the driver runs with the venv's Python (the cluster's spark-env and the step's --conf say so)
and finds pyspark through PYTHONPATH, where YARN puts Spark's pyspark.zip and py4j-*-src.zip.

Here the same: a venv from bootstrap.sh's own values (read by bash, not re-typed), the wheel with --no-deps,
Spark 3.5's pyspark.zip and py4j zip on PYTHONPATH, spark-submit with the arguments of `spark_step()` and the
environment of `spark_configurations()`, only the master changed to local[2]; the real entry script runs on a few
synthetic photos with random weights through to manifest.json. This is the test that failed with
"No module named 'botocore'" before the CLI imported the AWS SDK only where it is used.

Building the venv costs pip time (minutes, less from pip's cache): once per test session, in a temporary folder.
FRUITS_TEST_WHEEL=FILE puts that wheel on the node instead of one built from this checkout (to check the test
against another commit).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from fruits.cloud.cluster import VENV_PYTHON, spark_configurations, spark_step
from fruits.cloud.package import ENTRY_NAME, build_wheel, check_wheel, code_files

from .test_bootstrap_and_package import _in_ci, bootstrap_python_and_pins

pytestmark = pytest.mark.slow


def _require(condition: bool, message: str) -> None:
    if not condition:
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def spark35() -> Path:
    """The folder of the pyspark 3.5 this test session runs with (EMR 7's Spark): SPARK_HOME for spark-submit."""
    import pyspark

    if not pyspark.__version__.startswith("3.5."):
        pytest.skip(f"EMR 7 runs Spark 3.5, this venv has pyspark {pyspark.__version__}: `make test-spark35` runs this")
    _require(shutil.which("java") is not None, "no java: .ci/run installs openjdk-17-jre-headless")
    return Path(pyspark.__file__).parent


@pytest.fixture(scope="module")
def yarn_pythonpath(spark35) -> str:
    """PYTHONPATH as YARN sets it for a PySpark container: Spark's python/lib/pyspark.zip and py4j-*-src.zip
    (pip's pyspark ships both, as Spark's own distribution and EMR's /usr/lib/spark do), nothing else."""
    lib = spark35 / "python" / "lib"
    zips = [lib / "pyspark.zip", *sorted(lib.glob("py4j-*-src.zip"))[-1:]]
    assert len(zips) == 2 and all(z.is_file() for z in zips), f"no pyspark.zip and py4j zip in {lib}"
    return os.pathsep.join(str(z) for z in zips)


@pytest.fixture(scope="module")
def node(spark35, tmp_path_factory) -> dict:
    """The venv of an EMR node, built as bootstrap.sh builds it; returns its python and the wheel in it.
    Built only where the step can then run (pyspark 3.5, `make test-spark35`): it costs minutes of pip."""
    python, pins = bootstrap_python_and_pins()
    interpreter = shutil.which(python)
    _require(interpreter is not None, f"{python} is not on PATH: the node's venv needs the bootstrap's Python")
    root = tmp_path_factory.mktemp("emr-node")
    venv = root / "venv"
    venv_python = str(venv / "bin" / "python")
    wheel = (check_wheel(os.environ["FRUITS_TEST_WHEEL"]) if os.environ.get("FRUITS_TEST_WHEEL")
             else build_wheel(root / "wheel"))
    quiet = ["--quiet", "--disable-pip-version-check"]
    for command in (
        [interpreter, "-m", "venv", str(venv)],
        [venv_python, "-m", "pip", "install", *quiet, "--upgrade", "pip"],
        [venv_python, "-m", "pip", "install", *quiet, *pins],
        [venv_python, "-m", "pip", "install", *quiet, "--no-deps", str(wheel)],
    ):
        result = subprocess.run(command, capture_output=True, text=True, cwd=root)
        assert result.returncode == 0, f"{' '.join(command)}\n{result.stderr[-3000:]}"
    return {"python": venv_python, "venv": venv, "wheel": wheel, "pins": dict(p.split("==") for p in pins)}


def _node_env(node: dict, spark_home: Path, pythonpath: str | None) -> dict[str, str]:
    """A bare environment, plus what the cluster's spark-env exports (with this venv's Python)."""
    env = {name: os.environ[name] for name in ("PATH", "HOME", "JAVA_HOME", "TMPDIR", "LANG") if name in os.environ}
    env["SPARK_HOME"] = str(spark_home)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    [spark_env] = [c for c in spark_configurations() if c["Classification"] == "spark-env"]
    for export in spark_env["Configurations"]:
        env.update({k: v.replace(VENV_PYTHON, node["python"]) for k, v in export["Properties"].items()})
    return env


def test_the_bootstrap_check_passes_on_the_node(node, tmp_path):
    """What bootstrap.sh runs last (python -m fruits run --help, without pyspark): it must pass on a good venv."""
    from .test_bootstrap_and_package import _bootstrap_check_block

    program = (f"set -euo pipefail\nlog() {{ printf 'fruits bootstrap: %s\\n' \"$*\" >&2; }}\nVENV={node['venv']}\n"
               + _bootstrap_check_block() + "echo reached")
    result = subprocess.run(["bash", "-c", program], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0 and "reached" in result.stdout, result.stderr[-3000:]
    no_pyspark = subprocess.run([node["python"], "-c", "import pyspark"], capture_output=True, text=True)
    assert no_pyspark.returncode != 0  # like the node: Spark comes from EMR, not from the venv


def test_the_emr_step_runs_fruits_run_on_the_emulated_node(node, spark35, yarn_pythonpath, tmp_path):
    from fruits.sample import generate_sample

    photos, output = tmp_path / "photos", tmp_path / "output"
    counts = generate_sample(str(photos), n_per_class=3, test_fraction=0.34, seed=5)
    n_photos = counts["Training"] + counts["Test"]
    entry = code_files(node["wheel"])[ENTRY_NAME]  # the file `up` uploads as the step's application
    step = spark_step(f"s3://bucket/code/{ENTRY_NAME}", [
        str(photos), str(output), "--weights", "random:0", "--image-size", "96", "--k", "4"])
    args = step["HadoopJarStep"]["Args"]
    assert args[0] == "spark-submit"
    submit: list[str] = []
    rest = iter(args[1:])
    for arg in rest:
        if arg == "--deploy-mode":  # cluster mode needs YARN: in local mode the driver runs here
            next(rest)
        elif arg == "--master":
            assert next(rest) == "yarn"
            submit += ["--master", "local[2]"]
        elif arg == f"s3://bucket/code/{ENTRY_NAME}":
            submit.append(str(entry))
        else:
            submit.append(arg.replace(VENV_PYTHON, node["python"]))
    [defaults] = [c for c in spark_configurations() if c["Classification"] == "spark-defaults"]
    confs = [x for key, value in defaults["Properties"].items()
             for x in ("--conf", f"{key}={value.replace(VENV_PYTHON, node['python'])}")]

    result = subprocess.run([str(spark35 / "bin" / "spark-submit"), *confs, *submit],
                            env=_node_env(node, spark35, yarn_pythonpath), capture_output=True, text=True,
                            cwd=tmp_path, timeout=900)

    assert result.returncode == 0, result.stderr[-4000:]
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["status"] == "succeeded" and manifest["master"] == "local[2]"
    assert manifest["n_input"] == n_photos and manifest["n_features"] == n_photos and manifest["n_errors"] == 0
    assert manifest["k"] == 4 and manifest["weights"]["source"] == "random:0"
    versions = manifest["versions"]
    assert versions["spark"].startswith("3.5.")
    assert versions["tensorflow"] == node["pins"]["tensorflow-cpu"] and versions["keras"] == node["pins"]["keras"]
    assert versions["python"].rsplit(".", 1)[0] == bootstrap_python_and_pins()[0].removeprefix("python")

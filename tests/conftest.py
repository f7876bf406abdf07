"""Shared fixtures: one real Spark session (local[2]) per test session, the shared Fruits-360 sample."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The `fruits` processes the tests start neither map nor write the JVM's class archive (fruits.spark.class_archive):
# a process writing it runs slower and takes ~20 s more to exit, which timed tests must not depend on; the
# archive has tests of its own (tests/spark/test_class_archive.py), which pass its folder explicitly.
os.environ.setdefault("FRUITS_CLASS_ARCHIVE", "off")

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FRUITS_SHARED_DIR", ROOT.parent / "shared"))
SHARED_SAMPLE = SHARED / "data" / "fruits-360-sample"
SHARED_WEIGHTS = SHARED / "models" / "mobilenet_v2_backbone_160.weights.h5"


def _require_shared(path: Path) -> Path:
    """In CI a missing shared folder is a failure (the integration tests must run); elsewhere a skip."""
    if path.exists():
        return path
    message = f"shared test material not found: {path} (see ../shared/README.md)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def shared_sample() -> Path:
    return _require_shared(SHARED_SAMPLE)


@pytest.fixture(scope="session")
def shared_weights() -> Path:
    return _require_shared(SHARED_WEIGHTS)


@pytest.fixture(scope="session")
def spark():
    """The one SparkSession of the test run: starting Spark costs seconds, so every test shares it."""
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from fruits.spark.session import build_spark_session

    session = build_spark_session("local[2]", "fruits-tests", {"spark.sql.shuffle.partitions": "4"},
                                  driver_memory="2g")
    yield session
    session.stop()


def run_cli(capsys, *argv):
    """`fruits ARGV` in-process, as the console script runs it: argparse errors exit through SystemExit, ours
    return 2. Returns (exit code, stdout, stderr)."""
    from fruits.cli.main import main

    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_fixture_pipeline(spark, input_dir, output_dir, **overrides):
    """Run `fruits run` in-process on the shared test Spark session; return the manifest."""
    from fruits.config import RunConfig
    from fruits.spark.job import run_pipeline

    inputs = input_dir if isinstance(input_dir, (list, tuple)) else [input_dir]
    config = RunConfig(inputs=tuple(str(path) for path in inputs), output=str(output_dir), **overrides)
    return run_pipeline(config, spark)


@pytest.fixture(scope="session")
def synthetic_photos(tmp_path_factory) -> Path:
    """A small synthetic Fruits-360-style dataset: 5 kinds x 8 photos (6 Training, 2 Test)."""
    from fruits.sample import generate_sample

    directory = tmp_path_factory.mktemp("synthetic") / "photos"
    generate_sample(str(directory), n_per_class=8, test_fraction=0.25, seed=7)
    return directory


@pytest.fixture(scope="session")
def synthetic_run(spark, synthetic_photos, tmp_path_factory) -> Path:
    """A complete `fruits run` OUTPUT on the synthetic photos (random weights, 96 px: fast)."""
    output = tmp_path_factory.mktemp("synthetic-run") / "output"
    run_fixture_pipeline(spark, synthetic_photos, output, weights="random:3", image_size=96, k=8)
    return output


@pytest.fixture(scope="session")
def shared_run(spark, shared_sample, shared_weights, tmp_path_factory) -> Path:
    """A complete `fruits run` OUTPUT on the shared Fruits-360 sample with the shared pretrained weights.

    Computed once per test session (about a minute) and shared by the pipeline, evaluation and web tests.
    """
    output = tmp_path_factory.mktemp("shared-run") / "output"
    run_fixture_pipeline(spark, shared_sample, output, weights=str(shared_weights), image_size=224)
    return output

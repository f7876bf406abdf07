"""Shared fixtures: one real Spark session (local[2]) per test session, the shared Fruits-360 sample."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

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

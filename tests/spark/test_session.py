"""The Spark session: what the local JVM is launched with."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fruits.spark import session as spark_session


def test_the_local_jvm_runs_native_blas_one_thread_per_task_and_the_driver_keeps_its_environment(spark):
    # The JVM of local mode holds the executors: as on a cluster (SPARK-41188), OpenBLAS gets one thread per task.
    pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    environ = Path(f"/proc/{pid}/environ")
    if not environ.exists():
        pytest.skip("no /proc on this system")
    variables = dict(entry.split("=", 1) for entry in environ.read_text(errors="replace").split("\0") if "=" in entry)
    assert variables.get("OMP_NUM_THREADS") == spark.conf.get("spark.task.cpus", "1")
    assert "OMP_NUM_THREADS" not in os.environ or os.environ["OMP_NUM_THREADS"] == variables["OMP_NUM_THREADS"]


@pytest.mark.parametrize("before", [None, "4"], ids=["unset", "set-by-the-user"])
def test_the_jvm_environment_is_added_only_where_unset_and_removed_afterwards(monkeypatch, before):
    if before is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", before)
    with spark_session._local_jvm_environment({"OMP_NUM_THREADS": "1"}):
        assert os.environ["OMP_NUM_THREADS"] == (before or "1")
    assert os.environ.get("OMP_NUM_THREADS") == before


OWN = "-Dlog4j2.configurationFile=file:x"


@pytest.mark.parametrize("local, running, options, expected", [
    (True, False, OWN, True),
    (False, False, OWN, False),  # a cluster: spark-submit starts the JVMs
    (True, True, OWN, False),  # a JVM already running keeps the options it was started with
    (True, False, "-Xmx1g", False),  # the caller's Java options win, whole
], ids=["local", "cluster", "jvm-running", "caller-java-options"])
def test_a_class_archive_only_for_a_local_jvm_started_with_our_options(local, running, options, expected):
    settings = {"spark.driver.extraJavaOptions": options}
    assert spark_session.wants_class_archive(local, running, settings, OWN) is expected


def test_a_local_jvm_compiles_with_the_jits_first_tier_only(spark):
    options = spark.sparkContext.getConf().get("spark.driver.extraJavaOptions")
    assert spark_session.LOCAL_JIT in options.split()
    flags = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()
    assert spark_session.LOCAL_JIT in list(flags)
